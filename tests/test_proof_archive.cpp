// The proof archive: rows round-trip, are found before and after they are committed and after a
// reopen, leave at their retention, and a full queue drops and counts; the memory store answers
// a retired packet's query from it, also after a restart, and not without it.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <string>

#include "journal_support.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/proof_archive.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::TempDir;

namespace {

PacketInfo finished_packet(std::uint64_t id, std::uint32_t claims) {
    PacketInfo info;
    info.id = PacketId{id};
    info.sender = 77;
    info.policy = SplitPolicy::line_cut;
    info.state = PacketState::expired;
    info.total = Cents{1'000};
    info.count = claims + 1;
    info.claimed_count = claims;
    info.expires_at = Time{123'456};
    info.min_share = Cents{1};
    info.seed = std::array<std::uint8_t, 32>{};
    (*info.seed)[0] = 0xAB;
    (*info.seed)[31] = 0xCD;
    for (std::uint32_t k = 0; k < claims; ++k) {
        info.claims.push_back(ClaimRecord{1000 + k, Cents{100 + 7 * (k % 3)}});
        info.claimed_amount = info.claimed_amount + info.claims.back().amount;
    }
    info.refunded = info.total - info.claimed_amount;
    return info;
}

void check_same(const PacketInfo& a, const PacketInfo& b) {
    CHECK(a.id == b.id);
    CHECK(a.sender == b.sender);
    CHECK(a.policy == b.policy);
    CHECK(a.state == b.state);
    CHECK(a.total == b.total);
    CHECK(a.count == b.count);
    CHECK(a.claimed_count == b.claimed_count);
    CHECK(a.claimed_amount == b.claimed_amount);
    CHECK(a.remaining == b.remaining);
    CHECK(a.refunded == b.refunded);
    CHECK(a.expires_at == b.expires_at);
    CHECK(a.seed == b.seed);
    CHECK(a.min_share == b.min_share);
    REQUIRE(a.claims.size() == b.claims.size());
    for (std::size_t k = 0; k < a.claims.size(); ++k) {
        CHECK(a.claims[k].user == b.claims[k].user);
        CHECK(a.claims[k].amount == b.claims[k].amount);
    }
}

/// The clock the archives of these tests read by (unix ms).
Time test_now{1'000'000};

std::unique_ptr<ProofArchive> open_archive(const std::string& path, std::chrono::seconds retention,
                                           std::size_t max_pending = 1024,
                                           std::chrono::milliseconds interval = 20ms) {
    auto a = ProofArchive::open(ProofArchiveOptions{path, retention, max_pending, interval, 512,
                                                    [] { return test_now; }});
    REQUIRE(a.has_value());
    return std::move(*a);
}

/// A journaled store of SET 0 in `dir` with a proof archive (an hour's retention).
MemoryStoreOptions archived_store(const TempDir& dir) {
    MemoryStoreOptions o;
    o.sets = {0};
    o.journal_dir = dir.path() + "/store";
    o.proof_retention = 3600s;
    o.archive.clock = [] { return Time{5'000}; };
    return o;
}

std::unique_ptr<MemoryStore> open_store(const MemoryStoreOptions& o) {
    auto opened = MemoryStore::open(o, Time{1'000});
    REQUIRE(opened.has_value());
    return std::move(*opened);
}

}  // namespace

TEST_CASE("an archived packet's row round-trips, and a damaged row does not decode", "[archive]") {
    const PacketInfo info = finished_packet(42, 5);
    const std::string row = ProofArchive::encode(info);
    CHECK(row.size() == 104 + 16 * 5);
    const auto back = ProofArchive::decode(PacketId{42}, row);
    REQUIRE(back.has_value());
    check_same(*back, info);
    CHECK(back->best_luck == std::optional<std::uint32_t>{2});  // 114 cents
    CHECK_FALSE(ProofArchive::decode(PacketId{42}, row.substr(0, row.size() - 1)).has_value());
    CHECK_FALSE(ProofArchive::decode(PacketId{42}, row + "x").has_value());
    std::string wrong = row;
    wrong[0] = 9;  // another row version
    CHECK_FALSE(ProofArchive::decode(PacketId{42}, wrong).has_value());
    PacketInfo unseeded = finished_packet(43, 0);
    unseeded.seed.reset();
    CHECK_FALSE(ProofArchive::decode(PacketId{43}, ProofArchive::encode(unseeded))->seed.has_value());
}

TEST_CASE("the archive finds a packet queued or committed, after a reopen, and until its retention",
          "[archive]") {
    TempDir dir;
    const std::string path = dir.path() + "/proofs.sqlite";
    const PacketInfo a = finished_packet(1 << 13, 3), b = finished_packet(2 << 13, 2);
    {
        auto archive = open_archive(path, 3600s, 1024, 10s);  // nothing commits on its own
        REQUIRE(archive->put(PacketInfo{a}, Time{1'000'000}));
        const auto queued = archive->get(a.id);  // not committed yet: from the queue
        REQUIRE(queued.has_value());
        REQUIRE(queued->has_value());
        check_same(**queued, a);
        REQUIRE(archive->flush(5s));
        CHECK(archive->stats().archived == 1);
        CHECK(archive->stats().pending == 0);
        REQUIRE(archive->put(PacketInfo{b}, Time{1'000'000 + 3'599'000}));
        const auto unknown = archive->get(PacketId{3 << 13});
        REQUIRE(unknown.has_value());
        CHECK_FALSE(unknown->has_value());
    }  // closing commits b
    auto archive = open_archive(path, 3600s);
    for (const PacketInfo* p : {&a, &b}) {
        const auto found = archive->get(p->id);
        REQUIRE(found.has_value());
        REQUIRE(found->has_value());
        check_same(**found, *p);
    }
    // An hour after a finished, a is no longer answered even before anything deletes it.
    test_now = Time{1'000'000 + 3'600'001};
    CHECK_FALSE(archive->get(a.id)->has_value());
    CHECK(archive->get(b.id)->has_value());
    CHECK(archive->stats().deleted == 0);
    test_now = Time{1'000'000};
    CHECK(archive->get(a.id)->has_value());
    // Deleted: a goes, b (finished 1 s before the cut) stays.
    archive->expire(Time{1'000'000 + 3'600'001});
    REQUIRE(archive->flush(5s));
    CHECK(archive->stats().deleted == 1);
    CHECK_FALSE(archive->get(a.id)->has_value());
    CHECK(archive->get(b.id)->has_value());
    // A put of a later packet sweeps what its finish puts past the retention.
    REQUIRE(archive->put(finished_packet(4 << 13, 1), Time{1'000'000 + 3'599'000 + 3'600'001}));
    REQUIRE(archive->flush(5s));
    CHECK_FALSE(archive->get(b.id)->has_value());
    CHECK(archive->stats().deleted == 2);
}

TEST_CASE("a full archive queue refuses and counts", "[archive]") {
    TempDir dir;
    auto archive = open_archive(dir.path() + "/proofs.sqlite", 3600s, 2, 10s);
    CHECK(archive->put(finished_packet(1 << 13, 1), Time{1}));
    CHECK(archive->put(finished_packet(2 << 13, 1), Time{2}));
    CHECK_FALSE(archive->put(finished_packet(3 << 13, 1), Time{3}));
    CHECK(archive->stats().dropped == 1);
    REQUIRE(archive->flush(5s));
    CHECK(archive->put(finished_packet(3 << 13, 1), Time{3}));  // room again
}

TEST_CASE("the memory store answers a retired packet from its archive, after a restart too, and "
          "without one it is gone",
          "[archive][store]") {
    TempDir dir;
    const auto run = [&](std::chrono::seconds proof_retention, bool restart) {
        MemoryStoreOptions o;
        o.sets = {0};
        o.journal_dir = dir.path() + "/" + std::to_string(proof_retention.count());
        o.pool.retention = 0ms;
        o.proof_retention = proof_retention;
        o.archive.commit_interval = 20ms;
        o.archive.clock = [] { return Time{5'000}; };
        const auto open = [&](Time now) {
            auto s = MemoryStore::open(o, now);
            REQUIRE(s.has_value());
            return std::move(*s);
        };
        auto store = open(Time{1'000});
        auto made = store->create(1, CreateOp{0, 5, 0, Cents{600}, 3, SplitPolicy::double_mean,
                                                    Time{2'000}});
        REQUIRE(made.get().result.has_value());
        const PacketId id = made.get().result->packet;
        std::vector<Cents> got;
        for (UserId u = 10; u < 12; ++u) {
            got.push_back(store->claim(2, ClaimOp{id, false, u, 0, Time{1'500}}).get().result->result.amount);
        }
        const auto before = store->query(3, id).get().result;
        REQUIRE(before.has_value());
        (void)store->expire(4, ExpireOp{0, Time{2'000}});  // refunded (and archived)
        (void)store->expire(5, ExpireOp{0, Time{2'001}});  // retired from memory
        CHECK_FALSE(store->pool(0)->query(id).has_value());
        if (restart) {
            REQUIRE(store->close().has_value());
            store.reset();
            store = open(Time{5'000});
        }
        const auto after = store->query(6, id).get().result;
        if (proof_retention.count() == 0) {
            CHECK_FALSE(after.has_value());
            return;
        }
        REQUIRE(after.has_value());
        CHECK(after->state == PacketState::expired);
        CHECK(after->seed == before->seed);
        CHECK(after->refunded == Cents{600} - got[0] - got[1]);
        REQUIRE(after->claims.size() == 2);
        const SplitTerms terms{id, Cents{600}, 3, SplitPolicy::double_mean, after->min_share};
        for (std::uint32_t k = 0; k < 2; ++k) {
            CHECK(after->claims[k].amount == got[k]);
            CHECK(verify_claim(terms, commitment(terms, *before->seed), *after->seed, k, got[k]).ok);
        }
    };
    SECTION("archive, same process") { run(3600s, false); }
    SECTION("archive, after a restart") { run(3600s, true); }
    SECTION("no archive") { run(0s, false); }
}

TEST_CASE("a commit that fails is counted, fails the flush, and is tried again", "[archive]") {
    TempDir dir;
    const std::string path = dir.path() + "/proofs.sqlite";
    auto archive = open_archive(path, 3600s);
    // Another connection holds the write lock: the archive's commits fail (busy past 2 s).
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    const PacketInfo a = finished_packet(5 << 13, 2);
    REQUIRE(archive->put(PacketInfo{a}, Time{10}));
    CHECK_FALSE(archive->flush(3s));
    CHECK(archive->stats().errors >= 1);
    CHECK_THAT(archive->stats().last_error, Catch::Contains("locked"));
    CHECK(archive->get(a.id)->has_value());  // still queued, still found
    REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    CHECK(archive->flush(10s));
    CHECK(archive->stats().archived == 1);
    archive.reset();
    CHECK(open_archive(path, 3600s)->get(a.id)->has_value());  // committed this time
}

TEST_CASE("a memory store refuses new packets while its archive's queue is half full",
          "[archive][store]") {
    TempDir dir;
    MemoryStoreOptions o = archived_store(dir);
    o.pool.max_packets = 3;
    o.pool.shake_capacity = 1;
    o.pool.retention = 0ms;
    o.archive.max_pending = 4;        // raised to twice the live packets, group and shake: 8
    o.archive.commit_interval = 60s;  // nothing commits unless flushed
    const auto opened = open_store(o);
    MemoryStore& store = *opened;
    const auto create = [&](Time deadline) {
        auto made = store.create(1, CreateOp{0, 5, 0, Cents{100}, 2, SplitPolicy::equal, deadline});
        return made.get().result;
    };
    for (int i = 0; i < 3; ++i) {
        REQUIRE(create(Time{2'000}).has_value());
    }
    // Another connection holds the write lock while the queue fills and the store refuses: the
    // writer, whenever something wakes it, waits on the lock (busy for up to 2 s) with the rows
    // still counted, so what the store sees does not depend on when the writer thread runs.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open((o.journal_dir + "/proofs.sqlite").c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
    (void)store.expire(2, ExpireOp{0, Time{2'000}});  // all finish: the queue holds 3 of 8
    CHECK(store.archive()->options().max_pending == 8);
    CHECK_FALSE(store.archive()->backlogged());
    REQUIRE(store.offer(3, OfferOp{0, Cents{9}, Time{9'000}}).get().result.has_value());
    REQUIRE(store.take(4, TakeOp{0, 44, Time{2'000}}).get().result->has_value());  // a 4th
    CHECK(store.archive()->backlogged());
    const auto refused = create(Time{3'000});
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == Error::unavailable);
    const auto offer_refused = store.offer(5, OfferOp{0, Cents{9}, Time{9'000}}).get().result;
    REQUIRE_FALSE(offer_refused.has_value());
    CHECK(offer_refused.error() == Error::unavailable);
    REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    REQUIRE(store.archive()->flush(5s));
    CHECK_FALSE(store.archive()->backlogged());
    (void)store.expire(3, ExpireOp{0, Time{2'001}});  // retired: their slots are free again
    CHECK(create(Time{3'000}).has_value());
    CHECK(store.archive()->stats().dropped == 0);
}

TEST_CASE("a full id below 2^32 names its archived packet, not the live one whose compact id it "
          "also is",
          "[archive][store]") {
    TempDir dir;
    MemoryStoreOptions o = archived_store(dir);
    o.pool.max_packets = 4096;  // 12 slot bits: a slot's generation 129 has generation 1's low bits
    const auto opened = open_store(o);
    MemoryStore& store = *opened;
    const PacketId old_id{std::uint64_t{4096 + 5} << 13};          // slot 5, generation 1
    const PacketId live_id{(std::uint64_t{129} * 4096 + 5) << 13};  // slot 5, generation 129
    REQUIRE(old_id.value < (std::uint64_t{1} << 32));
    REQUIRE(static_cast<std::uint32_t>(live_id.value) == old_id.value);
    PacketInfo archived = finished_packet(old_id.value, 1);
    REQUIRE(store.archive()->put(PacketInfo{archived}, Time{1'500}));
    REQUIRE(store.archive()->flush(5s));
    const std::array<Cents, 2> shares{Cents{60}, Cents{40}};
    REQUIRE(store.pool(0)->replay(PoolEvent{PoolEventKind::created, live_id, 7, Cents{100}, 2,
                                            Time{900'000}, SplitPolicy::equal, shares})
                .has_value());
    const auto by_old = store.query(1, old_id).get().result;
    REQUIRE(by_old.has_value());
    CHECK(by_old->id == old_id);
    CHECK(by_old->total == archived.total);
    const auto by_live = store.query(2, live_id).get().result;
    REQUIRE(by_live.has_value());
    CHECK(by_live->id == live_id);
    // A compact id that names no packet of its own still finds the live one.
    const PacketId other{(std::uint64_t{129} * 4096 + 6) << 13};
    REQUIRE(store.pool(0)->replay(PoolEvent{PoolEventKind::created, other, 7, Cents{100}, 2,
                                            Time{900'000}, SplitPolicy::equal, shares})
                .has_value());
    const auto by_compact = store.query(3, PacketId{static_cast<std::uint32_t>(other.value)}).get().result;
    REQUIRE(by_compact.has_value());
    CHECK(by_compact->id == other);
}
