#include "redpacket/journal_record.hpp"

#include <cstring>

#include "byte_io.hpp"
#include "redpacket/crc32c.hpp"

namespace redpacket {
namespace {

using detail::load_le;
using detail::store_le;

// Field offsets (docs/journal.md).
constexpr std::size_t kOffLength = 0;
constexpr std::size_t kOffHeaderCrc = 4;
constexpr std::size_t kOffSequence = 8;
constexpr std::size_t kOffKind = 16;
constexpr std::size_t kOffPolicy = 17;
constexpr std::size_t kOffAllowedCount = 18;  // u16; reserved (0) before allowed lists
constexpr std::size_t kOffShard = 20;
constexpr std::size_t kOffPacket = 24;
constexpr std::size_t kOffUser = 32;
constexpr std::size_t kOffAmount = 40;
constexpr std::size_t kOffIndex = 48;
constexpr std::size_t kOffShareCount = 52;
constexpr std::size_t kOffTime = 56;
constexpr std::size_t kOffRequest = 64;
constexpr std::size_t kOffShares = 72;
static_assert(kOffShares + 4 == kRecordFixedSize);

// The fields of a record, whichever form they come from.
struct Fields {
    std::uint64_t sequence;
    PoolEventKind kind;
    SplitPolicy policy;
    ShardId shard;
    PacketId packet;
    UserId user;
    Cents amount;
    std::uint32_t index;
    Time at;
    std::uint64_t request_id;
    std::span<const Cents> shares;
    std::span<const UserId> allowed;
    const std::array<std::uint8_t, 32>* seed;
    Cents min_share;
};

constexpr std::uint8_t kPolicyProofFlag = 0x80;  // policy byte: a seed follows the lists

std::uint32_t header_crc(const std::byte* p) noexcept {
    return crc32c(std::span<const std::byte>{p, 4});
}

std::size_t encode_fields(const Fields& f, std::span<std::byte> out) noexcept {
    if (f.shares.size() > kMaxShares || f.allowed.size() > kMaxAllowedClaimers) {
        return 0;
    }
    const std::size_t size = record_size(f.shares.size(), f.allowed.size(), f.seed != nullptr);
    if (out.size() < size) {
        return 0;
    }
    std::byte* p = out.data();
    store_le(p + kOffLength, static_cast<std::uint32_t>(size));
    store_le(p + kOffHeaderCrc, header_crc(p));
    store_le(p + kOffSequence, f.sequence);
    p[kOffKind] = static_cast<std::byte>(f.kind);
    p[kOffPolicy] = static_cast<std::byte>(static_cast<std::uint8_t>(f.policy) |
                                           (f.seed != nullptr ? kPolicyProofFlag : 0));
    store_le(p + kOffAllowedCount, static_cast<std::uint16_t>(f.allowed.size()));
    store_le(p + kOffShard, f.shard);
    store_le(p + kOffPacket, f.packet.value);
    store_le(p + kOffUser, f.user);
    store_le(p + kOffAmount, static_cast<std::uint64_t>(f.amount.value));
    store_le(p + kOffIndex, f.index);
    store_le(p + kOffShareCount, static_cast<std::uint32_t>(f.shares.size()));
    store_le(p + kOffTime, static_cast<std::uint64_t>(f.at.count()));
    store_le(p + kOffRequest, f.request_id);
    std::byte* s = p + kOffShares;
    for (const Cents c : f.shares) {
        store_le(s, static_cast<std::uint64_t>(c.value));
        s += 8;
    }
    for (const UserId u : f.allowed) {
        store_le(s, std::uint64_t{u});
        s += 8;
    }
    if (f.seed != nullptr) {
        std::memcpy(s, f.seed->data(), 32);
        store_le(s + 32, static_cast<std::uint64_t>(f.min_share.value));
        s += kRecordProofSize;
    }
    store_le(s, crc32c(std::span<const std::byte>{p, size - 4}));
    return size;
}

// Known kind and policy, lists within bounds that fill the record exactly; shares and allowed
// claimers only on created, a proof only on created and shake_offered.
bool fields_valid(std::uint8_t kind, std::uint8_t policy, std::uint32_t share_count,
                  std::uint16_t allowed_count, bool proof, std::size_t size) noexcept {
    if (kind > static_cast<std::uint8_t>(kLastPoolEventKind) ||
        policy > static_cast<std::uint8_t>(SplitPolicy::fixed) || share_count > kMaxShares ||
        allowed_count > kMaxAllowedClaimers ||
        record_size(share_count, allowed_count, proof) != size) {
        return false;
    }
    const auto k = static_cast<PoolEventKind>(kind);
    return ((share_count == 0 && allowed_count == 0) || k == PoolEventKind::created) &&
           (!proof || k == PoolEventKind::created || k == PoolEventKind::shake_offered);
}

}  // namespace

JournalRecord to_record(const PoolEvent& event, ShardId shard, std::uint64_t request_id,
                        std::uint64_t sequence) {
    JournalRecord r;
    r.sequence = sequence;
    r.kind = event.kind;
    r.policy = event.policy;
    r.shard = shard;
    r.packet = event.packet;
    r.user = event.user;
    r.amount = event.amount;
    r.index = event.index;
    r.at = event.at;
    r.request_id = request_id;
    r.shares.assign(event.shares.begin(), event.shares.end());
    r.allowed.assign(event.allowed.begin(), event.allowed.end());
    if (event.seed != nullptr) {
        r.seed = *event.seed;
        r.min_share = event.min_share;
    }
    return r;
}

PoolEvent to_event(const JournalRecord& r) noexcept {
    PoolEvent e{r.kind,   r.packet, r.user,
                r.amount, r.index,  r.at,
                r.policy, std::span<const Cents>{r.shares}, std::span<const UserId>{r.allowed}};
    if (r.seed) {
        e.seed = &*r.seed;
        e.min_share = r.min_share;
    }
    return e;
}

std::size_t encode_record(const JournalRecord& r, std::span<std::byte> out) noexcept {
    return encode_fields(Fields{r.sequence, r.kind, r.policy, r.shard, r.packet, r.user, r.amount,
                                r.index, r.at, r.request_id, std::span<const Cents>{r.shares},
                                std::span<const UserId>{r.allowed}, r.seed ? &*r.seed : nullptr,
                                r.min_share},
                         out);
}

std::size_t encode_event(std::uint64_t sequence, ShardId shard, std::uint64_t request_id,
                         const PoolEvent& e, std::span<std::byte> out) noexcept {
    return encode_fields(Fields{sequence, e.kind, e.policy, shard, e.packet, e.user, e.amount,
                                e.index, e.at, request_id, e.shares, e.allowed, e.seed,
                                e.min_share},
                         out);
}

std::string_view to_string(RecordError e) noexcept {
    switch (e) {
        case RecordError::truncated: return "truncated";
        case RecordError::bad_header: return "bad_header";
        case RecordError::bad_length: return "bad_length";
        case RecordError::bad_crc: return "bad_crc";
        case RecordError::bad_field: return "bad_field";
    }
    return "unknown_record_error";
}

std::expected<std::size_t, RecordError> peek_record_length(
    std::span<const std::byte> in) noexcept {
    if (in.size() < kRecordHeaderSize) {
        return std::unexpected(RecordError::truncated);
    }
    const auto length = load_le<std::uint32_t>(in.data() + kOffLength);
    if (load_le<std::uint32_t>(in.data() + kOffHeaderCrc) != header_crc(in.data())) {
        return std::unexpected(RecordError::bad_header);
    }
    if (length < kRecordFixedSize || length > kMaxRecordSize ||
        (length - kRecordFixedSize) % 8 != 0) {
        return std::unexpected(RecordError::bad_length);
    }
    return std::size_t{length};
}

std::expected<std::size_t, RecordError> decode_record(std::span<const std::byte> in,
                                                      JournalRecord& out) {
    const auto length = peek_record_length(in);
    if (!length) {
        return length;
    }
    const std::size_t size = *length;
    if (in.size() < size) {
        return std::unexpected(RecordError::truncated);
    }
    const std::byte* p = in.data();
    if (load_le<std::uint32_t>(p + size - 4) != crc32c(std::span<const std::byte>{p, size - 4})) {
        return std::unexpected(RecordError::bad_crc);
    }
    const auto kind = static_cast<std::uint8_t>(p[kOffKind]);
    const auto policy_byte = static_cast<std::uint8_t>(p[kOffPolicy]);
    const bool proof = (policy_byte & kPolicyProofFlag) != 0;
    const auto policy = static_cast<std::uint8_t>(policy_byte & ~kPolicyProofFlag);
    const auto share_count = load_le<std::uint32_t>(p + kOffShareCount);
    const auto allowed_count = load_le<std::uint16_t>(p + kOffAllowedCount);
    if (!fields_valid(kind, policy, share_count, allowed_count, proof, size)) {
        return std::unexpected(RecordError::bad_field);
    }
    out.sequence = load_le<std::uint64_t>(p + kOffSequence);
    out.kind = static_cast<PoolEventKind>(kind);
    out.policy = static_cast<SplitPolicy>(policy);
    out.shard = load_le<std::uint32_t>(p + kOffShard);
    out.packet = PacketId{load_le<std::uint64_t>(p + kOffPacket)};
    out.user = load_le<std::uint64_t>(p + kOffUser);
    out.amount = Cents{static_cast<std::int64_t>(load_le<std::uint64_t>(p + kOffAmount))};
    out.index = load_le<std::uint32_t>(p + kOffIndex);
    out.at = Time{static_cast<std::int64_t>(load_le<std::uint64_t>(p + kOffTime))};
    out.request_id = load_le<std::uint64_t>(p + kOffRequest);
    out.shares.resize(share_count);
    const std::byte* s = p + kOffShares;
    for (Cents& c : out.shares) {
        c = Cents{static_cast<std::int64_t>(load_le<std::uint64_t>(s))};
        s += 8;
    }
    out.allowed.resize(allowed_count);
    for (UserId& u : out.allowed) {
        u = load_le<std::uint64_t>(s);
        s += 8;
    }
    out.seed.reset();
    out.min_share = Cents{0};
    if (proof) {
        std::array<std::uint8_t, 32> seed{};
        std::memcpy(seed.data(), s, 32);
        out.seed = seed;
        out.min_share = Cents{static_cast<std::int64_t>(load_le<std::uint64_t>(s + 32))};
    }
    return size;
}

}  // namespace redpacket
