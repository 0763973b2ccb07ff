// Shake packets are provable: a verifiable pool commits a seed to each at its offer, the journal
// and snapshots carry it, replay hands an issued one to the archive hook, and the memory store
// archives it at issue and answers it by full and by compact id.
#include <catch2/catch.hpp>

#include <chrono>
#include <vector>

#include "journal_support.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/proof_archive.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::TempDir;

namespace {

PoolConfig shake_pool(bool verifiable) {
    PoolConfig c;
    c.shard = 5;
    c.shake_capacity = 8;
    c.verifiable = verifiable;
    return c;
}

/// The proof of an issued shake packet checks: commitment, seed and the single share.
void check_proof(const PacketInfo& info, PacketId id, Cents amount, UserId taker) {
    CHECK(info.id == id);
    CHECK(info.policy == SplitPolicy::fixed);
    CHECK(info.count == 1);
    CHECK(info.total == amount);
    REQUIRE(info.seed.has_value());
    CHECK(info.min_share == Cents{1});
    REQUIRE(info.claims.size() == 1);
    CHECK(info.claims[0].user == taker);
    CHECK(info.claims[0].amount == amount);
    const SplitTerms terms{id, amount, 1, SplitPolicy::fixed, Cents{1}};
    CHECK(verify_claim(terms, commitment(terms, *info.seed), *info.seed, 0, amount).ok);
    // A different amount, or another id, does not check against the same commitment.
    const SplitTerms other{id, amount + Cents{1}, 1, SplitPolicy::fixed, Cents{1}};
    CHECK_FALSE(verify_claim(other, commitment(terms, *info.seed), *info.seed, 0, amount + Cents{1}).ok);
}

struct Recorder {
    std::vector<JournalRecord> records;
    void on_pool_event(const PoolEvent& e) noexcept { records.push_back(to_record(e, 5, 0, records.size() + 1)); }
};

}  // namespace

TEST_CASE("a verifiable pool commits a seed to each shake packet, and the journal and replay keep it",
          "[shake][proof]") {
    RedPacketPool pool{shake_pool(true)};
    Recorder rec;
    pool.set_observer(PoolObserver::bind(rec));
    const auto a = pool.offer(Cents{42}, 60s);
    const auto b = pool.offer(Cents{43}, 60s);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    const auto hit = pool.take(900, 1s);
    REQUIRE(hit.has_value());
    REQUIRE(valid_seed(hit->seed));
    CHECK(hit->expires_at == Time{60s});
    check_proof(issued_shake_info(*hit, 900), *a, Cents{42}, 900);

    // The offer's record carries the seed through the byte codec (and only it: not the issue).
    REQUIRE(rec.records.size() == 3);
    std::vector<std::byte> bytes(kRecordFixedSize + kRecordProofSize);
    REQUIRE(encode_record(rec.records[0], bytes) == bytes.size());
    JournalRecord back;
    REQUIRE(decode_record(bytes, back).has_value());
    REQUIRE(back.seed.has_value());
    CHECK(*back.seed == hit->seed);
    CHECK(back.min_share == Cents{1});
    CHECK_FALSE(rec.records[2].seed.has_value());
    // Each packet its own seed.
    REQUIRE(rec.records[1].seed.has_value());
    CHECK(*rec.records[1].seed != hit->seed);

    // Replay into a new pool: the issue hands the packet, with its seed, to the hook; the packet
    // still queued keeps its seed for its own take.
    RedPacketPool replayed{shake_pool(true)};
    std::vector<PacketInfo> handed;
    replayed.set_on_replay_retire([&](const PacketInfo& info) { handed.push_back(info); });
    for (const JournalRecord& r : rec.records) {
        REQUIRE(replayed.replay(to_event(r)).has_value());
    }
    REQUIRE(handed.size() == 1);
    check_proof(handed[0], *a, Cents{42}, 900);
    CHECK(*handed[0].seed == hit->seed);
    const auto second = replayed.take(901, 2s);
    REQUIRE(second.has_value());
    CHECK(second->packet == *b);
    CHECK(second->seed == *rec.records[1].seed);

    // A snapshot's events carry the queued packet's seed too.
    std::vector<const std::array<std::uint8_t, 32>*> seeds;
    pool.for_each_live([&](const PoolEvent& e) { seeds.push_back(e.seed); });
    REQUIRE(seeds.size() == 1);
    REQUIRE(seeds[0] != nullptr);
    CHECK(*seeds[0] == *rec.records[1].seed);
}

TEST_CASE("a pool without verifiable splits offers shake packets without a seed",
          "[shake][proof]") {
    RedPacketPool pool{shake_pool(false)};
    Recorder rec;
    pool.set_observer(PoolObserver::bind(rec));
    REQUIRE(pool.offer(Cents{42}, 60s).has_value());
    const auto hit = pool.take(900, 1s);
    REQUIRE(hit.has_value());
    CHECK_FALSE(valid_seed(hit->seed));
    CHECK_FALSE(issued_shake_info(*hit, 900).seed.has_value());
    CHECK_FALSE(rec.records[0].seed.has_value());
}

TEST_CASE("the memory store archives a shake packet at issue and answers it by full and compact "
          "id, after a restart too",
          "[shake][proof][archive][store]") {
    TempDir dir;
    MemoryStoreOptions o;
    o.sets = {3};
    o.journal_dir = dir.path() + "/store";
    o.proof_retention = 3600s;
    o.archive.commit_interval = 20ms;
    o.archive.clock = [] { return Time{5'000}; };
    const auto open = [&] {
        auto s = MemoryStore::open(o, Time{1'000});
        REQUIRE(s.has_value());
        return std::move(*s);
    };
    auto store = open();
    std::vector<PacketId> ids;
    for (std::int64_t amount = 10; amount < 13; ++amount) {
        auto offered = store->offer(1, OfferOp{3, Cents{amount}, Time{60'000}}).get().result;
        REQUIRE(offered.has_value());
        ids.push_back(*offered);
    }
    const auto got = store->take(2, TakeOp{3, 700, Time{1'500}}).get().result;
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    CHECK((*got)->packet == ids[0]);
    // Queued packets are not answered (nobody holds their id); the issued one is, at once.
    CHECK_FALSE(store->query(3, ids[1]).get().result.has_value());
    const auto at_once = store->query(4, ids[0]).get().result;
    REQUIRE(at_once.has_value());
    check_proof(*at_once, ids[0], Cents{10}, 700);

    REQUIRE(store->close().has_value());
    store.reset();
    store = open();
    const auto by_full = store->query(5, ids[0]).get().result;
    REQUIRE(by_full.has_value());
    check_proof(*by_full, ids[0], Cents{10}, 700);
    CHECK(by_full->seed == at_once->seed);
    // The shake response's compact id (the low 32 bits) finds it too, in the archive.
    const auto by_compact =
        store->query(6, PacketId{static_cast<std::uint32_t>(ids[0].value)}).get().result;
    REQUIRE(by_compact.has_value());
    CHECK(by_compact->id == ids[0]);

    // The next one issued after the restart (its seed came back through the journal).
    const auto next = store->take(7, TakeOp{3, 701, Time{1'600}}).get().result;
    REQUIRE(next.has_value());
    REQUIRE(next->has_value());
    CHECK((*next)->packet == ids[1]);
    const auto second = store->query(8, ids[1]).get().result;
    REQUIRE(second.has_value());
    check_proof(*second, ids[1], Cents{11}, 701);
}

TEST_CASE("a compact shake id names the newest archived shake packet with those low 32 bits",
          "[shake][proof][archive]") {
    TempDir dir;
    auto opened = ProofArchive::open(ProofArchiveOptions{dir.path() + "/p.sqlite", 3600s, 64, 20ms,
                                                         512, [] { return Time{5'000}; }});
    REQUIRE(opened.has_value());
    ProofArchive& archive = **opened;
    const auto shake = [](std::uint64_t serial) {
        return PacketId{(serial << 13) | (std::uint64_t{1} << 12) | 3};
    };
    const auto put = [&](PacketId id, Time finished) {
        ShakeHit hit{id, Cents{9}, finished};
        hit.seed[0] = 1;
        REQUIRE(archive.put(issued_shake_info(hit, 1), finished));
    };
    // Serials 7 and 7 + 2^19 share their low 32 bits; a group packet with them does not count.
    const PacketId older = shake(7);
    const PacketId newer = shake(7 + (std::uint64_t{1} << 19));
    const auto compact = static_cast<std::uint32_t>(older.value);
    REQUIRE(static_cast<std::uint32_t>(newer.value) == compact);
    put(older, Time{4'000});
    CHECK(archive.find_shake(compact)->value().id == older);  // from the queue
    REQUIRE(archive.flush(5s));
    CHECK(archive.find_shake(compact)->value().id == older);  // from the database
    put(newer, Time{4'500});
    REQUIRE(archive.flush(5s));
    CHECK(archive.find_shake(compact)->value().id == newer);
    CHECK_FALSE(archive.find_shake(compact + (1U << 13))->has_value());        // another serial
    CHECK_FALSE(archive.find_shake(compact & ~(1U << 12))->has_value());       // no shake bit
}

TEST_CASE("recovery forgets an archived shake packet the journal still has in the supply",
          "[shake][proof][archive][store]") {
    // The race it covers: a take queues the issued packet for the archive, the archive commits,
    // and the process dies before the take's journal record is durable.
    TempDir dir;
    MemoryStoreOptions o;
    o.sets = {3};
    o.journal_dir = dir.path() + "/store";
    o.proof_retention = 3600s;
    o.archive.commit_interval = 20ms;
    o.archive.clock = [] { return Time{5'000}; };
    const auto open = [&] {
        auto s = MemoryStore::open(o, Time{1'000});
        REQUIRE(s.has_value());
        return std::move(*s);
    };
    auto store = open();
    const auto offered = store->offer(1, OfferOp{3, Cents{10}, Time{60'000}}).get().result;
    REQUIRE(offered.has_value());
    ShakeHit never_told{*offered, Cents{10}, Time{60'000}};
    never_told.seed[0] = 7;
    REQUIRE(store->archive()->put(issued_shake_info(never_told, 700), Time{60'000}));
    REQUIRE(store->archive()->flush(5s));
    REQUIRE(store->query(2, *offered).get().result.has_value());  // the row the race leaves
    REQUIRE(store->close().has_value());
    store.reset();
    store = open();
    CHECK_FALSE(store->query(3, *offered).get().result.has_value());
    REQUIRE(store->archive()->flush(5s));
    CHECK_FALSE(store->archive()->get(*offered)->has_value());
    // Taken now, it is archived as usual, with its own seed and winner.
    const auto got = store->take(4, TakeOp{3, 701, Time{1'500}}).get().result;
    REQUIRE(got.has_value());
    REQUIRE(got->has_value());
    const auto now_won = store->query(5, *offered).get().result;
    REQUIRE(now_won.has_value());
    check_proof(*now_won, *offered, Cents{10}, 701);
    CHECK(now_won->seed != never_told.seed);
}

TEST_CASE("without an archive the memory store keeps an issued shake packet until its deadline "
          "plus the retention, by full and compact id",
          "[shake][proof][store]") {
    MemoryStoreOptions o;  // no journal, so no archive
    o.sets = {3};
    o.pool.retention = 10s;
    o.pool.max_packets = 2;  // and so at most 2 issued shake packets kept
    auto opened = MemoryStore::open(o, Time{1'000});
    REQUIRE(opened.has_value());
    MemoryStore& store = **opened;
    REQUIRE(store.archive() == nullptr);
    std::vector<PacketId> ids;
    for (std::int64_t amount = 10; amount < 14; ++amount) {
        const auto offered = store.offer(1, OfferOp{3, Cents{amount}, Time{60'000}}).get().result;
        REQUIRE(offered.has_value());
        ids.push_back(*offered);
    }
    const auto take = [&](UserId user) {
        const auto got = store.take(2, TakeOp{3, user, Time{1'500}}).get().result;
        REQUIRE(got.has_value());
        REQUIRE(got->has_value());
        return (*got)->packet;
    };
    REQUIRE(take(700) == ids[0]);
    CHECK(store.kept_shakes() == 1);
    const auto compact = [](PacketId id) { return PacketId{static_cast<std::uint32_t>(id.value)}; };
    const auto query = [&](PacketId id, Time now) {
        (void)store.expire(3, ExpireOp{3, now});
        return store.query(4, id).get().result;
    };
    for (const PacketId asked : {ids[0], compact(ids[0])}) {
        const auto info = query(asked, Time{69'999});  // deadline 60 s + retention 10 s
        REQUIRE(info.has_value());
        check_proof(*info, ids[0], Cents{10}, 700);
    }
    CHECK_FALSE(query(ids[1], Time{69'999}).has_value());  // still in the supply: nobody's
    CHECK_FALSE(query(ids[0], Time{70'000}).has_value());
    CHECK_FALSE(query(compact(ids[0]), Time{70'000}).has_value());
    CHECK(store.kept_shakes() == 0);

    // At most max_packets × SETs are kept: a third issue forgets the oldest early, counted.
    auto again = MemoryStore::open(o, Time{1'000});
    REQUIRE(again.has_value());
    MemoryStore& s2 = **again;
    std::vector<PacketId> offered;
    for (std::int64_t amount = 20; amount < 23; ++amount) {
        offered.push_back(*s2.offer(1, OfferOp{3, Cents{amount}, Time{60'000}}).get().result);
    }
    for (UserId u = 800; u < 803; ++u) {
        REQUIRE(s2.take(2, TakeOp{3, u, Time{1'500}}).get().result->has_value());
    }
    CHECK(s2.kept_shakes() == 2);
    CHECK(s2.kept_shakes_dropped() == 1);
    CHECK_FALSE(s2.query(5, offered[0]).get().result.has_value());
    const auto newest = s2.query(6, offered[2]).get().result;
    REQUIRE(newest.has_value());
    check_proof(*newest, offered[2], Cents{22}, 802);
    // Past their time (deadline 60 s + 10 s), with no expiry tick since: the next issue forgets
    // them as due, not early.
    const auto late = s2.offer(7, OfferOp{3, Cents{30}, Time{200'000}}).get().result;
    REQUIRE(late.has_value());
    REQUIRE(s2.take(8, TakeOp{3, 900, Time{80'000}}).get().result->has_value());
    CHECK(s2.kept_shakes() == 1);
    CHECK(s2.kept_shakes_dropped() == 1);
}
