// Fuzz target: the journal record codec, `decode_record` and `encode_record`
// (include/redpacket/journal_record.hpp).
//
// Input layout: byte 0 is the mode, the rest the record bytes.
// - mode & 3 == 0: the bytes as they are (what a damaged or hostile file holds);
// - mode & 3 == 1: the length field forced to the largest valid length that fits and both CRCs
//   recomputed, so that the field checks behind the CRC are reached;
// - mode & 3 == 2: a record built field by field from the bytes (kind, policy and shares kept
//   in range), encoded with encode_record and with encode_event;
// - mode & 3 == 3: as 1, with the header CRC recomputed but the trailing CRC left as it is.
// Bits 2–7 of the mode seed the bit positions flipped below.
//
// Properties:
// - decode never accepts a record whose stored CRCs (length field and whole record) do not
//   match crc32c of the bytes they cover, recomputed here;
// - an accepted record lies inside the input, has the size its share count implies, carries
//   shares only if it is a `created` record, and re-encodes byte-exact; peek_record_length
//   agrees with it;
// - flipping any one bit of an accepted record makes it rejected (checked at up to 8 positions
//   derived from the input, always including one in the length field and one in the CRC);
// - every proper prefix of an accepted record is `truncated`, and encode refuses a buffer one
//   byte short;
// - a record built from fields encodes the same through encode_record and encode_event, and
//   decodes back to the same fields.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/journal_record.hpp"

namespace {

using namespace redpacket;
using redpacket::fuzz::InputReader;

std::uint32_t load_u32(const std::byte* p) noexcept {
    std::uint32_t v = 0;
    std::memcpy(&v, p, 4);  // little-endian host; the format is little-endian
    return v;
}
void store_u32(std::byte* p, std::uint32_t v) noexcept { std::memcpy(p, &v, 4); }

/// Forces a structurally valid length and recomputes the header CRC, and the trailing one if
/// `trailing`.
void fix_up(std::vector<std::byte>& bytes, bool trailing) {
    if (bytes.size() < kRecordFixedSize) {
        return;
    }
    const std::size_t shares = std::min<std::size_t>((bytes.size() - kRecordFixedSize) / 8,
                                                     kMaxShares);
    const std::size_t length = record_size(shares);
    store_u32(bytes.data(), static_cast<std::uint32_t>(length));
    store_u32(bytes.data() + 4, crc32c(std::span{bytes}.first(4)));
    if (trailing) {
        store_u32(bytes.data() + length - 4, crc32c(std::span{bytes}.first(length - 4)));
    }
}

/// A record from fields taken off the input, every field in its domain.
JournalRecord build_record(InputReader& in) {
    JournalRecord r;
    r.sequence = in.uint<std::uint64_t>();
    r.kind = static_cast<PoolEventKind>(in.byte() % (static_cast<unsigned>(kLastPoolEventKind) + 1));
    r.policy = static_cast<SplitPolicy>(in.byte() % 4U);
    r.shard = in.uint<std::uint32_t>();
    r.packet = PacketId{in.uint<std::uint64_t>()};
    r.user = in.uint<std::uint64_t>();
    r.amount = Cents{static_cast<std::int64_t>(in.uint<std::uint64_t>())};
    r.index = in.uint<std::uint32_t>();
    r.at = Time{static_cast<std::int64_t>(in.uint<std::uint64_t>())};
    r.request_id = in.uint<std::uint64_t>();
    if (r.kind == PoolEventKind::created) {
        const std::size_t allowed = in.byte() % 8U;
        while (!in.empty() && r.allowed.size() < allowed) {
            r.allowed.push_back(in.uint<std::uint64_t>());
        }
        while (!in.empty() && r.shares.size() < 64) {
            r.shares.push_back(Cents{static_cast<std::int64_t>(in.uint<std::uint64_t>())});
        }
    }
    return r;
}

void check_built(InputReader& in) {
    const JournalRecord r = build_record(in);
    const std::size_t size = record_size(r);
    std::vector<std::byte> a(size);
    std::vector<std::byte> b(size);
    REDPACKET_FUZZ_CHECK(encode_record(r, a) == size, "encode_record writes record_size bytes");
    REDPACKET_FUZZ_CHECK(encode_event(r.sequence, r.shard, r.request_id, to_event(r), b) == size &&
                             a == b,
                         "encode_event writes what encode_record writes");
    JournalRecord back;
    const auto n = decode_record(a, back);
    REDPACKET_FUZZ_CHECK(n && *n == size && back == r, "an encoded record decodes to itself");
}

/// The properties of a record decode accepted: `size` bytes at the start of `bytes`.
void check_accepted(std::span<const std::byte> bytes, std::size_t size, const JournalRecord& r,
                    std::uint8_t seed) {
    REDPACKET_FUZZ_CHECK(size >= kRecordFixedSize && size <= bytes.size(),
                         "an accepted record lies inside the input");
    REDPACKET_FUZZ_CHECK(load_u32(bytes.data() + 4) == crc32c(bytes.first(4)),
                         "an accepted record's length CRC matches");
    REDPACKET_FUZZ_CHECK(load_u32(bytes.data() + size - 4) == crc32c(bytes.first(size - 4)),
                         "an accepted record's CRC matches");
    REDPACKET_FUZZ_CHECK(size == record_size(r),
                         "the size follows the share and allowed counts");
    REDPACKET_FUZZ_CHECK((r.shares.empty() && r.allowed.empty()) ||
                             r.kind == PoolEventKind::created,
                         "only created records carry shares and allowed claimers");
    REDPACKET_FUZZ_CHECK(r.allowed.size() <= kMaxAllowedClaimers,
                         "no record carries more than kMaxAllowedClaimers");
    const auto peeked = peek_record_length(bytes);
    REDPACKET_FUZZ_CHECK(peeked && *peeked == size, "peek_record_length agrees with decode");

    std::vector<std::byte> out(size);
    REDPACKET_FUZZ_CHECK(encode_record(r, std::span{out}.first(size - 1)) == 0,
                         "encode refuses a buffer one byte short");
    REDPACKET_FUZZ_CHECK(encode_record(r, out) == size &&
                             std::equal(out.begin(), out.end(), bytes.begin()),
                         "decode then encode gives back the same bytes");

    // One record alone in a block of its exact size, so that ASan sees any read past it.
    std::vector<std::byte> copy(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size));
    JournalRecord scratch;
    const std::size_t bits = size * 8;
    const std::size_t positions[] = {
        seed % 32U,                        // in the length field or its CRC
        bits - 1 - seed % 32U,             // in the trailing CRC
        (seed * 2654435761U) % bits,       // anywhere
        (seed * 40503U + 17U) % bits,
        (static_cast<std::size_t>(r.sequence) ^ seed) % bits,
        static_cast<std::size_t>(r.user) % bits,
        (size / 2) * 8 + seed % 8U,
        64 + seed % 64U,                   // the sequence
    };
    for (const std::size_t bit : positions) {
        copy[bit / 8] ^= std::byte{static_cast<std::uint8_t>(1U << (bit % 8))};
        REDPACKET_FUZZ_CHECK(!decode_record(copy, scratch),
                             "a record with any one bit flipped is rejected");
        copy[bit / 8] ^= std::byte{static_cast<std::uint8_t>(1U << (bit % 8))};
    }
    for (const std::size_t cut : {std::size_t{0}, std::size_t{7}, std::size_t{8}, size / 2,
                                  size - 1}) {
        std::vector<std::byte> prefix(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(cut));
        const auto d = decode_record(prefix, scratch);
        REDPACKET_FUZZ_CHECK(!d && d.error() == RecordError::truncated,
                             "a proper prefix of a record is truncated");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    InputReader in{redpacket::fuzz::as_bytes(data, size)};
    const std::uint8_t mode = in.byte();
    if ((mode & 3U) == 2) {
        check_built(in);
        return 0;
    }
    std::vector<std::byte> bytes(in.rest().begin(), in.rest().end());
    if ((mode & 3U) != 0) {
        fix_up(bytes, (mode & 3U) == 1);
    }
    JournalRecord r;
    const auto decoded = decode_record(bytes, r);
    if (decoded) {
        check_accepted(bytes, *decoded, r, static_cast<std::uint8_t>(mode >> 2U));
    } else if (bytes.size() >= kRecordHeaderSize &&
               load_u32(bytes.data() + 4) == crc32c(std::span{bytes}.first(4))) {
        REDPACKET_FUZZ_CHECK(decoded.error() != RecordError::bad_header,
                             "a length with a matching CRC is not bad_header");
    }
    return 0;
}
