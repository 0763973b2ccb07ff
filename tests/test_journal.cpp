#include <catch2/catch.hpp>
#include <cerrno>

#include "journal_support.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/journal_record.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::claim_record;
using test_support::TempDir;
using Op = FaultInjectingFileSystem::Op;

namespace {

JournalRecord created_record() {
    JournalRecord r;
    r.sequence = 42;
    r.kind = PoolEventKind::created;
    r.policy = SplitPolicy::line_cut;
    r.shard = 17;
    r.packet = PacketId{0x1234'5678'9abcULL};
    r.user = 987654321;
    r.amount = Cents{600};
    r.index = 3;
    r.at = Time{1'700'000'000'123};
    r.request_id = 0xfeedfaceULL;
    r.shares = {Cents{100}, Cents{200}, Cents{300}};
    return r;
}

std::vector<std::byte> encoded(const JournalRecord& r) {
    std::vector<std::byte> out(record_size(r));
    REQUIRE(encode_record(r, out) == out.size());
    return out;
}

}  // namespace

// --- CRC-32C -------------------------------------------------------------------------------

TEST_CASE("crc32c gives the standard check value", "[crc32c]") {
    const std::string_view check = "123456789";
    CHECK(crc32c(std::as_bytes(std::span{check})) == 0xE3069283U);
    CHECK(crc32c({}) == 0U);
    const auto bytes = std::as_bytes(std::span{check});
    CHECK(crc32c_extend(crc32c(bytes.first(4)), bytes.subspan(4)) == 0xE3069283U);
}

// --- records -------------------------------------------------------------------------------

TEST_CASE("records round-trip through the codec, every kind", "[journal][record]") {
    JournalRecord restricted = created_record();
    restricted.allowed = {5, 77, 987654322};
    std::vector<JournalRecord> all{created_record(), restricted, claim_record()};
    for (PoolEventKind k : {PoolEventKind::refunded, PoolEventKind::shake_offered,
                            PoolEventKind::shake_issued, PoolEventKind::shake_expired}) {
        JournalRecord r = claim_record(99);
        r.kind = k;
        r.at = Time{-5};  // times before the epoch survive too
        all.push_back(r);
    }
    for (const JournalRecord& r : all) {
        const auto bytes = encoded(r);
        CHECK(bytes.size() == kRecordFixedSize + 8 * (r.shares.size() + r.allowed.size()));
        JournalRecord back;
        const auto n = decode_record(bytes, back);
        REQUIRE(n.has_value());
        CHECK(*n == bytes.size());
        CHECK(back == r);
    }
}

TEST_CASE("encoding an event gives the bytes of its record", "[journal][record]") {
    const JournalRecord r = created_record();
    std::vector<std::byte> direct(record_size(3));
    REQUIRE(encode_event(r.sequence, r.shard, r.request_id, to_event(r), direct) == direct.size());
    CHECK(direct == encoded(r));
    std::vector<std::byte> small(record_size(3) - 1);
    CHECK(encode_record(r, small) == 0);
}

TEST_CASE("every single-bit flip of a record is rejected", "[journal][record]") {
    JournalRecord restricted = created_record();
    restricted.allowed = {5, 77};
    for (const JournalRecord& r : {created_record(), restricted, claim_record()}) {
        const auto good = encoded(r);
        JournalRecord out;
        for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
            auto bad = good;
            bad[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
            INFO("bit " << bit);
            CHECK_FALSE(decode_record(bad, out).has_value());
        }
    }
}

TEST_CASE("a record cut short is truncated, never read past its end", "[journal][record]") {
    const auto good = encoded(created_record());
    JournalRecord out;
    for (std::size_t n = 0; n < good.size(); ++n) {
        const std::vector<std::byte> prefix(good.begin(),
                                            good.begin() + static_cast<std::ptrdiff_t>(n));
        const auto r = decode_record(prefix, out);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == RecordError::truncated);
    }
}

TEST_CASE("a CRC-valid record with an unknown kind is a bad field", "[journal][record]") {
    auto bytes = encoded(claim_record());
    bytes[16] = std::byte{9};  // kind
    const std::size_t body = bytes.size() - 4;
    const std::uint32_t crc = crc32c(std::span<const std::byte>{bytes}.first(body));
    for (int i = 0; i < 4; ++i) {
        bytes[body + static_cast<std::size_t>(i)] = static_cast<std::byte>(crc >> (8 * i));
    }
    JournalRecord out;
    const auto r = decode_record(bytes, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == RecordError::bad_field);
}

TEST_CASE("allowed claimers on a record that is not a create are a bad field",
          "[journal][record]") {
    JournalRecord r = claim_record();
    r.allowed = {1};
    const auto bytes = encoded(r);  // the encoder writes what it is given; decode judges
    JournalRecord out;
    const auto decoded = decode_record(bytes, out);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error() == RecordError::bad_field);

    JournalRecord big = created_record();
    big.allowed.assign(kMaxAllowedClaimers + 1, 1);
    std::vector<std::byte> room(record_size(big));
    CHECK(encode_record(big, room) == 0);  // over the limit: not encoded at all
}

TEST_CASE("a CRC-valid record with more than kMaxShares shares is a bad field",
          "[journal][record]") {
    // kMaxShares shares and one allowed claimer, relabelled as kMaxShares + 1 shares: the length
    // is within kMaxRecordSize and agrees with the counts, but no encoder writes it.
    JournalRecord r = created_record();
    r.shares.assign(kMaxShares, Cents{1});
    r.index = kMaxShares;
    r.allowed = {9};
    auto bytes = encoded(r);
    const auto put = [&bytes](std::size_t at, std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) {
            bytes[at + static_cast<std::size_t>(i)] = static_cast<std::byte>(v >> (8 * i));
        }
    };
    put(18, 0, 2);               // allowed claimers
    put(52, kMaxShares + 1, 4);  // shares
    const std::size_t body = bytes.size() - 4;
    put(body, crc32c(std::span<const std::byte>{bytes}.first(body)), 4);
    JournalRecord out;
    const auto decoded = decode_record(bytes, out);
    REQUIRE_FALSE(decoded.has_value());
    CHECK(decoded.error() == RecordError::bad_field);
}

TEST_CASE("segment names sort by sequence and parse back", "[journal]") {
    CHECK(segment_name(1) == "journal-00000000000000000001.log");
    CHECK(parse_segment_name(segment_name(18446744073709551615ULL)) == 18446744073709551615ULL);
    CHECK_FALSE(parse_segment_name("journal-1.log").has_value());
    CHECK_FALSE(parse_segment_name("journal-0000000000000000000x.log").has_value());
    CHECK(segment_name(9) < segment_name(10));
}

// --- reading -------------------------------------------------------------------------------

namespace {

// Ten claim records 1..10 in one segment; returns its path.
std::string ten_records(const TempDir& dir) {
    std::vector<JournalRecord> records;
    for (std::uint64_t s = 1; s <= 10; ++s) {
        records.push_back(claim_record(s));
    }
    test_support::write_segment(dir.path(), 1, records);
    return dir.sub(segment_name(1));
}

}  // namespace

TEST_CASE("a torn last record is reported and truncated", "[journal][reader]") {
    TempDir dir;
    const std::string file = ten_records(dir);
    SECTION("cut short") {
        auto bytes = test_support::read_bytes(file);
        bytes.resize(bytes.size() - 5);
        test_support::write_bytes(file, bytes);
    }
    SECTION("failing its CRC in the final bytes") {
        auto bytes = test_support::read_bytes(file);
        bytes[bytes.size() - 10] ^= 0x40;
        test_support::write_bytes(file, bytes);
    }
    SECTION("followed by zeros") {
        auto bytes = test_support::read_bytes(file);
        bytes.resize(bytes.size() - 30);
        bytes.resize(bytes.size() + 4096, 0);
        test_support::write_bytes(file, bytes);
    }
    std::uint64_t visited = 0;
    const auto scan = scan_journal(
        posix_file_system(), dir.path(),
        [&](const JournalRecord&, const RecordLocation&) -> std::expected<void, JournalError> {
            ++visited;
            return {};
        });
    REQUIRE(scan.has_value());
    CHECK(visited == 9);
    CHECK(scan->last_sequence == 9);
    REQUIRE(scan->torn_tail.has_value());
    CHECK(scan->torn_tail->file == file);
    CHECK(scan->torn_tail->offset == 9 * kRecordFixedSize);
    CHECK(std::filesystem::file_size(file) == 9 * kRecordFixedSize);
    // The truncated journal reads clean.
    CHECK(test_support::read_journal(posix_file_system(), dir.path()).size() == 9);
}

TEST_CASE("a corrupt record in the middle is an error naming file and offset",
          "[journal][reader]") {
    TempDir dir;
    const std::string file = ten_records(dir);
    auto bytes = test_support::read_bytes(file);
    bytes[4 * kRecordFixedSize + 30] ^= 0x01;  // inside record 5
    test_support::write_bytes(file, bytes);
    const auto scan =
        scan_journal(posix_file_system(), dir.path(),
                     [](const JournalRecord&,
                        const RecordLocation&) -> std::expected<void, JournalError> { return {}; });
    REQUIRE_FALSE(scan.has_value());
    CHECK(scan.error().code == Error::corrupt);
    CHECK(scan.error().file == file);
    CHECK(scan.error().offset == 4 * kRecordFixedSize);
    const std::string text = describe(scan.error());
    CHECK(text.find(file) != std::string::npos);
    CHECK(text.find("at byte 304") != std::string::npos);
    CHECK(test_support::read_bytes(file) == bytes);  // nothing was cut
}

TEST_CASE("repair cuts at the corruption and drops the later segments", "[journal][reader]") {
    TempDir dir;
    std::vector<JournalRecord> first, second;
    for (std::uint64_t s = 1; s <= 10; ++s) {
        first.push_back(claim_record(s));
        second.push_back(claim_record(s + 10));
    }
    test_support::write_segment(dir.path(), 1, first);
    test_support::write_segment(dir.path(), 11, second);
    const std::string file = dir.sub(segment_name(1));
    auto bytes = test_support::read_bytes(file);
    bytes[6 * kRecordFixedSize + 2] ^= 0x10;  // the length of record 7
    test_support::write_bytes(file, bytes);

    const auto strict =
        scan_journal(posix_file_system(), dir.path(),
                     [](const JournalRecord&,
                        const RecordLocation&) -> std::expected<void, JournalError> { return {}; });
    REQUIRE_FALSE(strict.has_value());
    CHECK(strict.error().file == file);  // a torn tail only ends the last segment

    JournalScanOptions repair;
    repair.repair = true;
    std::uint64_t visited = 0;
    const auto scan = scan_journal(
        posix_file_system(), dir.path(),
        [&](const JournalRecord&, const RecordLocation&) -> std::expected<void, JournalError> {
            ++visited;
            return {};
        },
        repair);
    REQUIRE(scan.has_value());
    CHECK(visited == 6);
    REQUIRE(scan->repaired.has_value());
    CHECK(scan->repaired->file == file);
    CHECK(scan->repaired->offset == 6 * kRecordFixedSize);
    CHECK(scan->repaired->bytes == 4 * kRecordFixedSize);
    CHECK(scan->repaired->reason == RecordError::bad_header);
    REQUIRE(scan->repaired->removed_segments.size() == 1);
    CHECK(scan->repaired->removed_segments[0] == dir.sub(segment_name(11)));
    CHECK(scan->repaired->removed_bytes == 10 * kRecordFixedSize);
    CHECK_FALSE(std::filesystem::exists(dir.sub(segment_name(11))));
    CHECK(test_support::read_journal(posix_file_system(), dir.path()).size() == 6);
}

TEST_CASE("a sequence gap is an error, or reported when continuity is not required",
          "[journal][reader]") {
    TempDir dir;
    test_support::write_segment(dir.path(), 1, {claim_record(1), claim_record(2)});
    test_support::write_segment(dir.path(), 3, {claim_record(4), claim_record(5)});
    const auto noop = [](const JournalRecord&,
                         const RecordLocation&) -> std::expected<void, JournalError> { return {}; };
    const auto strict = scan_journal(posix_file_system(), dir.path(), noop);
    REQUIRE_FALSE(strict.has_value());
    CHECK(strict.error().message.find("expected 3") != std::string::npos);
    JournalScanOptions lenient;
    lenient.require_continuity = false;
    const auto scan = scan_journal(posix_file_system(), dir.path(), noop, lenient);
    REQUIRE(scan.has_value());
    REQUIRE(scan->gaps.size() == 1);
    CHECK(scan->gaps[0].expected == 3);
    CHECK(scan->gaps[0].found == 4);
    CHECK(scan->records == 4);
}
