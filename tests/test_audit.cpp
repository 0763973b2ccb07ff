#include <catch2/catch.hpp>

#include <functional>
#include <set>

#include "journal_support.hpp"
#include "redpacket/audit.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/snapshot.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::TempDir;

namespace {

constexpr PacketId kPacket{(5ULL << 13) | 1};
constexpr PacketId kShake{(1ULL << 13) | (1ULL << 12) | 1};
constexpr PacketId kShake2{(2ULL << 13) | (1ULL << 12) | 1};

JournalRecord rec(PoolEventKind kind, PacketId packet, UserId user, std::int64_t amount,
                  std::uint32_t index, std::int64_t at_ms) {
    JournalRecord r;
    r.kind = kind;
    r.shard = 1;
    r.packet = packet;
    r.user = user;
    r.amount = Cents{amount};
    r.index = index;
    r.at = Time{at_ms};
    return r;
}

JournalRecord created(std::vector<std::int64_t> shares, std::int64_t total = 600) {
    JournalRecord r = rec(PoolEventKind::created, kPacket, 10, total,
                          static_cast<std::uint32_t>(shares.size()), 10'000);
    for (const std::int64_t s : shares) {
        r.shares.push_back(Cents{s});
    }
    return r;
}
JournalRecord claim(UserId user, std::uint32_t index, std::int64_t amount, std::int64_t at = 1000) {
    return rec(PoolEventKind::claimed, kPacket, user, amount, index, at);
}
JournalRecord refund(std::int64_t amount, std::uint32_t unclaimed, std::int64_t at = 10'000) {
    return rec(PoolEventKind::refunded, kPacket, 10, amount, unclaimed, at);
}
JournalRecord offer(PacketId id, std::int64_t amount, std::int64_t deadline) {
    return rec(PoolEventKind::shake_offered, id, 0, amount, 0, deadline);
}
JournalRecord issue(PacketId id, UserId user, std::int64_t amount, std::int64_t at) {
    return rec(PoolEventKind::shake_issued, id, user, amount, 0, at);
}
JournalRecord expire(PacketId id, std::int64_t amount, std::int64_t at) {
    return rec(PoolEventKind::shake_expired, id, 0, amount, 0, at);
}

// A correct history: a packet of three shares, two claimed, the rest refunded; one shake packet
// issued, one expired.
std::vector<JournalRecord> clean_history() {
    return {created({100, 200, 300}),
            claim(20, 0, 100),
            claim(21, 1, 200, 2000),
            refund(300, 1),
            offer(kShake, 50, 5000),
            issue(kShake, 30, 50, 3000),
            offer(kShake2, 40, 6000),
            expire(kShake2, 40, 6000)};
}

AuditReport audit_of(std::vector<JournalRecord> records, std::uint64_t skip_after = 0) {
    TempDir dir;
    std::uint64_t seq = 0;
    for (JournalRecord& r : records) {
        r.sequence = ++seq;
        if (skip_after != 0 && seq > skip_after) {
            r.sequence = ++seq;  // lose one number
            skip_after = 0;
        }
    }
    test_support::write_segment(dir.path(), records.front().sequence, records);
    auto report = audit_journal(posix_file_system(), dir.path());
    if (!report) {
        FAIL("audit failed: " << describe(report.error()));
    }
    return std::move(*report);
}

std::set<ViolationKind> kinds(const AuditReport& r) {
    std::set<ViolationKind> out;
    for (const Violation& v : r.violations) {
        out.insert(v.kind);
    }
    return out;
}

}  // namespace

TEST_CASE("a correct journal passes the audit with exact totals", "[audit]") {
    const AuditReport r = audit_of(clean_history());
    CHECK(r.ok());
    CHECK(r.violations.empty());
    CHECK(r.base == "journal");
    const AuditSummary& s = r.summary;
    CHECK(s.records == 8);
    CHECK(s.first_sequence == 1);
    CHECK(s.last_sequence == 8);
    CHECK(s.packets_created == 1);
    CHECK(s.packets_refunded == 1);
    CHECK(s.claims == 2);
    CHECK(s.amount_created == Cents{600});
    CHECK(s.amount_claimed == Cents{300});
    CHECK(s.amount_refunded == Cents{300});
    CHECK(s.amount_outstanding == Cents{0});
    CHECK(s.shake_offered == 2);
    CHECK(s.shake_issued == 1);
    CHECK(s.shake_expired == 1);
    CHECK(s.shake_amount_issued == Cents{50});
    CHECK(s.shake_amount_expired == Cents{40});
    CHECK(s.shake_amount_queued == Cents{0});
}

TEST_CASE("the audit catches each kind of seeded violation", "[audit]") {
    using Edit = std::function<void(std::vector<JournalRecord>&)>;
    struct Case {
        const char* what;
        Edit edit;
        ViolationKind expected;
    };
    const std::vector<Case> cases{
        {"refund that breaks conservation", [](auto& h) { h[3].amount = Cents{299}; },
         ViolationKind::refund_mismatch},
        {"refund to someone else", [](auto& h) { h[3].user = 11; }, ViolationKind::refund_mismatch},
        {"share below the minimum",
         [](auto& h) {
             h[0] = created({0, 300, 300});
             h[1].amount = Cents{0};
             h[2].amount = Cents{300};
         },
         ViolationKind::share_below_minimum},
        {"shares that do not add up",
         [](auto& h) {
             h[0] = created({100, 200, 301});
         },
         ViolationKind::bad_split},
        {"two shares for one user", [](auto& h) { h[2].user = 20; }, ViolationKind::duplicate_claimer},
        {"a claim after the refund",
         [](auto& h) {
             h[3] = refund(500, 2);
             std::swap(h[2], h[3]);
         },
         ViolationKind::claim_after_refund},
        {"a claim at the deadline", [](auto& h) { h[2].at = Time{10'000}; },
         ViolationKind::claim_after_expiry},
        {"share indices with a hole",
         [](auto& h) {
             h[2] = claim(21, 2, 300, 2000);
             h[3] = refund(200, 1);
         },
         ViolationKind::share_index_gap},
        {"a claim of another amount than its share",
         [](auto& h) {
             h[1].amount = Cents{101};
             h[3].amount = Cents{299};
         },
         ViolationKind::share_mismatch},
        {"more claims than shares",
         [](auto& h) {
             h[3] = claim(22, 2, 300, 3000);
             h.insert(h.begin() + 4, claim(23, 3, 1, 3000));
         },
         ViolationKind::oversold},
        {"a claim of a packet never created",
         [](auto& h) {
             h.insert(h.begin() + 3,
                      rec(PoolEventKind::claimed, PacketId{(6ULL << 13) | 1}, 22, 5, 0, 2500));
         },
         ViolationKind::unknown_packet},
        {"a second refund", [](auto& h) { h.insert(h.begin() + 4, refund(300, 1, 11'000)); },
         ViolationKind::double_refund},
        {"a refund before the deadline", [](auto& h) { h[3].at = Time{9'999}; },
         ViolationKind::refund_before_expiry},
        {"a packet created twice", [](auto& h) { h.insert(h.begin() + 1, created({600}, 600)); },
         ViolationKind::duplicate_packet},
        {"an allowed list that repeats a user",
         [](auto& h) { h[0].allowed = {20, 21, 21}; },
         ViolationKind::bad_allowed_list},
        {"a claim by a user the packet is not restricted to",
         [](auto& h) { h[0].allowed = {20, 22}; },  // user 21 claims share 1
         ViolationKind::claimer_not_allowed},
        {"a shake packet issued twice", [](auto& h) { h.push_back(issue(kShake, 31, 50, 3500)); },
         ViolationKind::shake_issued_twice},
        {"a shake packet issued at its deadline", [](auto& h) { h[5].at = Time{5000}; },
         ViolationKind::shake_issued_after_expiry},
        {"a shake packet issued after its expiry",
         [](auto& h) { h.push_back(issue(kShake2, 31, 40, 5500)); },
         ViolationKind::shake_issued_after_expiry},
        {"a shake packet never offered", [](auto& h) { h.erase(h.begin() + 4); },
         ViolationKind::shake_unknown},
        {"a shake packet offered twice", [](auto& h) { h.insert(h.begin() + 5, offer(kShake, 50, 5000)); },
         ViolationKind::shake_duplicate_offer},
        {"a shake packet issued with another amount", [](auto& h) { h[5].amount = Cents{51}; },
         ViolationKind::shake_amount_mismatch},
        {"a shake packet expired after being issued",
         [](auto& h) { h.push_back(expire(kShake, 50, 6000)); },
         ViolationKind::shake_expiry_mismatch},
    };
    for (const Case& c : cases) {
        std::vector<JournalRecord> history = clean_history();
        c.edit(history);
        const AuditReport r = audit_of(history);
        INFO(c.what);
        CHECK_FALSE(r.ok());
        CHECK(kinds(r) == std::set<ViolationKind>{c.expected});
        for (const Violation& v : r.violations) {
            CHECK_FALSE(v.detail.empty());
            CHECK(v.sequence != 0);
        }
    }
}

TEST_CASE("the audit reports a hole in the sequence numbers", "[audit]") {
    const AuditReport r = audit_of(clean_history(), 4);
    CHECK(kinds(r) == std::set<ViolationKind>{ViolationKind::sequence_gap});
    CHECK(r.violation_count == 1);
    CHECK(r.violations[0].sequence == 6);
}

TEST_CASE("a journal written by real pools passes and adds up to their stats", "[audit]") {
    TempDir dir;
    JournalWriterOptions o;
    o.fsync = FsyncPolicy::off;
    o.segment_bytes = 8 * 1024;
    auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, o);
    REQUIRE(w.has_value());
    RedPacketPool pool{test_support::replay_config(1)};
    PoolJournal journal{**w, 1};
    pool.set_observer(PoolObserver::bind(journal));
    test_support::Workload work{pool, 3};
    work.run(3000);

    SECTION("the whole journal") {
        REQUIRE((*w)->close().has_value());
        const auto r = audit_journal(posix_file_system(), dir.path());
        REQUIRE(r.has_value());
        CHECK(r->ok());
        CHECK(r->base == "journal");
        CHECK(r->summary.records == (*w)->last_sequence());
        const PoolStats& s = pool.stats();
        CHECK(r->summary.amount_created == s.amount_created);
        CHECK(r->summary.amount_claimed == s.amount_claimed);
        CHECK(r->summary.amount_refunded == s.amount_refunded);
        CHECK(r->summary.amount_outstanding == s.amount_outstanding);
        CHECK(r->summary.claims == s.claims);
        CHECK(r->summary.shake_issued == s.shake_issued);
        CHECK(r->summary.shake_amount_queued == s.shake_amount_queued);
    }
    SECTION("from a snapshot after the old segments were pruned") {
        Snapshot snap;
        snap.sequence = (*w)->last_sequence();
        snap.pools.push_back(capture(pool));
        REQUIRE((*w)->wait_durable(snap.sequence, 20s));
        const auto path = write_snapshot(posix_file_system(), dir.path(), snap);
        REQUIRE(path.has_value());
        work.run(1000);
        REQUIRE((*w)->close().has_value());
        const auto pruned = prune_journal(posix_file_system(), dir.path(), 1);
        REQUIRE(pruned.has_value());
        REQUIRE_FALSE(pruned->removed_segments.empty());
        const auto r = audit_journal(posix_file_system(), dir.path());
        REQUIRE(r.has_value());
        CHECK(r->ok());
        CHECK(r->base == *path);
        CHECK(r->base_sequence == snap.sequence);
        CHECK(r->summary.last_sequence == (*w)->last_sequence());
        CHECK(r->summary.amount_outstanding == pool.stats().amount_outstanding);
        CHECK(r->summary.shake_amount_queued == pool.stats().shake_amount_queued);
    }
}

TEST_CASE("an unreadable journal is an error, not a pass", "[audit]") {
    TempDir dir;
    auto history = clean_history();
    std::uint64_t seq = 0;
    for (JournalRecord& r : history) {
        r.sequence = ++seq;
    }
    test_support::write_segment(dir.path(), 1, history);
    const std::string file = dir.sub(segment_name(1));
    auto bytes = test_support::read_bytes(file);
    bytes[kRecordFixedSize + 100] ^= 0x04;  // the length of the third record
    test_support::write_bytes(file, bytes);
    const auto r = audit_journal(posix_file_system(), dir.path());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Error::corrupt);
    CHECK(r.error().file == file);
}
