#include <catch2/catch.hpp>

#include "journal_support.hpp"
#include "redpacket/red_packet_pool.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::EventLog;
using test_support::Workload;

namespace {

// Replays `log` into a fresh pool of the same config.
RedPacketPool replayed(const PoolConfig& config, const EventLog& log) {
    RedPacketPool pool{config};
    for (const JournalRecord& r : log.records) {
        INFO("record " << r.sequence << " " << to_string(r.kind));
        REQUIRE(pool.replay(to_event(r)).has_value());
    }
    return pool;
}

struct Counter {
    int events{0};
    void on_pool_event(const PoolEvent&) noexcept { ++events; }
};

}  // namespace

TEST_CASE("a created event carries every share, the policy and the deadline", "[pool][replay]") {
    RedPacketPool pool{test_support::replay_config()};
    EventLog log{pool.config().shard, {}};
    pool.set_observer(PoolObserver::bind(log));
    auto id = pool.create(3, Cents{1000}, 4, SplitPolicy::line_cut, 9s);
    REQUIRE(id.has_value());
    REQUIRE(log.records.size() == 1);
    const JournalRecord r = log.records[0];  // a copy: claims append to the log
    CHECK(r.policy == SplitPolicy::line_cut);
    CHECK(r.at == 9s);
    CHECK(r.index == 4);
    REQUIRE(r.shares.size() == 4);
    CHECK(r.allowed.empty());
    for (std::uint32_t i = 0; i < 4; ++i) {
        CHECK(pool.claim(*id, 100 + i, 1s).amount == r.shares[i]);
    }

    const UserId members[] = {70, 12, 41};
    REQUIRE(pool.create(3, Cents{300}, 2, SplitPolicy::equal, 9s, members).has_value());
    CHECK(log.records.back().allowed == std::vector<UserId>{12, 41, 70});  // sorted
}

TEST_CASE("replaying a pool's events rebuilds the same packets, ids and stats", "[pool][replay]") {
    const PoolConfig config = test_support::replay_config();
    for (std::uint64_t seed : {1U, 2U, 3U}) {
        RedPacketPool original{config};
        EventLog log{config.shard, {}};
        original.set_observer(PoolObserver::bind(log));
        Workload work{original, seed};
        work.run(3000);

        RedPacketPool copy = replayed(config, log);
        // Retirement is not an event: both pools retire what is due at the same `now`.
        const Time end = work.now() + 1ms;
        CHECK(original.expire(end).size() == copy.expire(end).size());
        test_support::check_same_packets(original, copy, work.ids());
        CHECK(test_support::event_stats(copy.stats()) == test_support::event_stats(original.stats()));
        test_support::check_same_shake_supply(original, copy, end);

        // Every free slot is usable again, and new packets never take an id handed out
        // before, live or retired.
        const std::uint64_t free = config.max_packets - copy.stats().packets_live;
        for (std::uint64_t i = 0; i < free; ++i) {
            auto id = copy.create(1, Cents{100}, 2, SplitPolicy::equal, end + 60s);
            REQUIRE(id.has_value());
            CHECK(work.ids().count(*id) == 0);
        }
        CHECK(copy.create(1, Cents{100}, 2, SplitPolicy::equal, end + 60s).error() ==
              Error::pool_full);
    }
}

TEST_CASE("replay does not notify the observer", "[pool][replay]") {
    RedPacketPool original{test_support::replay_config()};
    EventLog log{original.config().shard, {}};
    original.set_observer(PoolObserver::bind(log));
    Workload work{original, 7};
    work.run(500);

    RedPacketPool copy{test_support::replay_config()};
    Counter counter;
    copy.set_observer(PoolObserver::bind(counter));
    for (const JournalRecord& r : log.records) {
        REQUIRE(copy.replay(to_event(r)).has_value());
    }
    CHECK(counter.events == 0);
    CHECK_FALSE(log.records.empty());
}

TEST_CASE("replay hands over a refunded packet whose slot a replayed create takes", "[pool][replay]") {
    PoolConfig config = test_support::replay_config();
    config.max_packets = 1;  // one slot: the second packet takes the first one's
    config.retention = 0ms;
    RedPacketPool original{config};
    EventLog log{original.config().shard, {}};
    original.set_observer(PoolObserver::bind(log));
    const auto first = original.create(5, Cents{300}, 3, SplitPolicy::equal, Time{1'000});
    REQUIRE(first.has_value());
    REQUIRE(original.claim(*first, 40, Time{500}).status == ClaimStatus::claimed);
    (void)original.expire(Time{1'000});  // refunded, and retired (no retention)
    REQUIRE(original.create(5, Cents{100}, 1, SplitPolicy::fixed, Time{9'000}).has_value());

    RedPacketPool copy{config};
    std::vector<PacketInfo> handed;
    copy.set_on_replay_retire([&](const PacketInfo& info) { handed.push_back(info); });
    for (const JournalRecord& r : log.records) {
        REQUIRE(copy.replay(to_event(r)).has_value());
    }
    REQUIRE(handed.size() == 1);
    CHECK(handed[0].id == *first);
    CHECK(handed[0].state == PacketState::expired);
    CHECK(handed[0].refunded == Cents{200});
    REQUIRE(handed[0].claims.size() == 1);
    CHECK(handed[0].claims[0].user == 40);
    CHECK_FALSE(copy.query(*first).has_value());  // gone, as in the original
}

TEST_CASE("replay refuses events that contradict the state and changes nothing", "[pool][replay]") {
    const PoolConfig config = test_support::replay_config();
    RedPacketPool original{config};
    EventLog log{config.shard, {}};
    original.set_observer(PoolObserver::bind(log));
    const PacketId id = *original.create(1, Cents{900}, 3, SplitPolicy::double_mean, 10s);
    REQUIRE(original.claim(id, 50, 1s).status == ClaimStatus::claimed);
    const PacketId shake = *original.offer(Cents{30}, 5s);
    REQUIRE(original.take(60, 1s).has_value());
    REQUIRE(log.records.size() == 4);
    const JournalRecord created = log.records[0];
    const JournalRecord claim = log.records[1];
    const JournalRecord offered = log.records[2];
    const JournalRecord issued = log.records[3];

    RedPacketPool pool{config};
    const auto expect = [&pool](const JournalRecord& r, Error e) {
        const PoolStats before = pool.stats();
        const auto result = pool.replay(to_event(r));
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error() == e);
        CHECK(pool.stats() == before);
    };

    SECTION("a claim of a packet never created") { expect(claim, Error::not_found); }
    SECTION("a created event whose shares do not add up") {
        JournalRecord bad = created;
        bad.shares[0] += Cents{1};
        expect(bad, Error::corrupt);
    }
    SECTION("a created event with fewer shares than its count") {
        JournalRecord bad = created;
        bad.shares.pop_back();
        expect(bad, Error::corrupt);
    }
    SECTION("an id of another shard") {
        JournalRecord bad = created;
        bad.packet = PacketId{created.packet.value + 1};
        expect(bad, Error::invalid_argument);
    }
    SECTION("a created event whose allowed claimers are not ascending, or repeat one") {
        JournalRecord bad = created;
        bad.allowed = {9, 3};
        expect(bad, Error::corrupt);
        bad.allowed = {3, 3};
        expect(bad, Error::corrupt);
    }
    SECTION("a claim by a user the packet is not restricted to") {
        JournalRecord restricted = created;
        restricted.allowed = {49, 51};  // the claim is user 50's
        RedPacketPool other{config};
        REQUIRE(other.replay(to_event(restricted)).has_value());
        const PoolStats before = other.stats();
        const auto result = other.replay(to_event(claim));
        REQUIRE_FALSE(result.has_value());
        CHECK(result.error() == Error::corrupt);
        CHECK(other.stats() == before);
        JournalRecord allowed = claim;
        allowed.user = 51;
        CHECK(other.replay(to_event(allowed)).has_value());
    }
    REQUIRE(pool.replay(to_event(created)).has_value());
    SECTION("the same packet created twice") { expect(created, Error::already_exists); }
    SECTION("a share index that is not the next one") {
        JournalRecord bad = claim;
        bad.index = 1;
        bad.amount = created.shares[1];
        expect(bad, Error::corrupt);
    }
    SECTION("an amount that differs from the recorded share") {
        JournalRecord bad = claim;
        bad.amount += Cents{1};
        expect(bad, Error::corrupt);
    }
    SECTION("a claim at the deadline") {
        JournalRecord bad = claim;
        bad.at = 10s;
        expect(bad, Error::corrupt);
    }
    SECTION("a second claim by the same user") {
        REQUIRE(pool.replay(to_event(claim)).has_value());
        JournalRecord again = claim;
        again.index = 1;
        again.amount = created.shares[1];
        expect(again, Error::already_exists);
    }
    SECTION("a claim after the refund") {
        JournalRecord refund = created;
        refund.kind = PoolEventKind::refunded;
        refund.shares.clear();
        refund.index = 3;
        refund.at = 10s;
        REQUIRE(pool.replay(to_event(refund)).has_value());
        JournalRecord late = claim;
        late.at = 9s;
        expect(late, Error::corrupt);
        expect(refund, Error::corrupt);  // and no second refund
    }
    SECTION("a refund so late that its retention would overflow the clock") {
        // Found by fuzz_journal_scan: replay added the retention to this time (signed
        // overflow, undefined behaviour) instead of refusing the record.
        JournalRecord refund = created;
        refund.kind = PoolEventKind::refunded;
        refund.shares.clear();
        refund.index = 3;
        refund.at = Time::max() - Time{1};
        expect(refund, Error::corrupt);
    }
    SECTION("a refund that does not match the claims") {
        JournalRecord refund = created;
        refund.kind = PoolEventKind::refunded;
        refund.shares.clear();
        refund.index = 3;
        refund.at = 10s;
        refund.amount -= Cents{1};
        expect(refund, Error::corrupt);
    }
    SECTION("a shake packet issued twice, or never offered") {
        expect(issued, Error::not_found);
        REQUIRE(pool.replay(to_event(offered)).has_value());
        expect(offered, Error::corrupt);  // offered twice
        REQUIRE(pool.replay(to_event(issued)).has_value());
        expect(issued, Error::not_found);
        CHECK(is_shake_packet(shake));
    }
    SECTION("a shake packet issued after its deadline") {
        REQUIRE(pool.replay(to_event(offered)).has_value());
        JournalRecord late = issued;
        late.at = 5s;
        expect(late, Error::corrupt);
    }
}

TEST_CASE("live events plus a checkpoint restore a pool exactly", "[pool][replay]") {
    const PoolConfig config = test_support::replay_config();
    RedPacketPool original{config};
    Workload work{original, 11};
    work.run(2500);

    RedPacketPool copy{config};
    std::vector<JournalRecord> live;
    original.for_each_live([&](const PoolEvent& e) { live.push_back(to_record(e, 5, 0, 0)); });
    for (const JournalRecord& r : live) {
        REQUIRE(copy.replay(to_event(r)).has_value());
    }
    REQUIRE(copy.restore(original.checkpoint()).has_value());

    CHECK(copy.stats() == original.stats());  // every counter, lifetime ones included
    CHECK(copy.checkpoint() == original.checkpoint());
    test_support::check_same_packets(original, copy, work.ids());
    const Time end = work.now() + 1ms;
    CHECK(original.expire(end).size() == copy.expire(end).size());
    CHECK(copy.stats() == original.stats());
    test_support::check_same_shake_supply(original, copy, end);
    const std::uint64_t free = config.max_packets - copy.stats().packets_live;
    REQUIRE(free > 0);
    for (std::uint64_t i = 0; i < free; ++i) {
        const auto a = copy.create(1, Cents{10}, 1, SplitPolicy::fixed, end + 60s);
        REQUIRE(a.has_value());
        CHECK(work.ids().count(*a) == 0);
    }
    for (int i = 0; i < 5; ++i) {
        const auto s = copy.offer(Cents{5}, end + 60s);
        REQUIRE(s.has_value());
        CHECK(original.offer(Cents{5}, end + 60s) == s);  // the same serials continue
    }
}

TEST_CASE("a checkpoint that does not match the replayed state is refused", "[pool][replay]") {
    const PoolConfig config = test_support::replay_config();
    RedPacketPool original{config};
    Workload work{original, 5};
    work.run(800);
    REQUIRE(original.stats().packets_live > 0);

    RedPacketPool copy{config};
    std::vector<JournalRecord> live;
    original.for_each_live([&](const PoolEvent& e) { live.push_back(to_record(e, 5, 0, 0)); });
    live.pop_back();  // one event short
    for (const JournalRecord& r : live) {
        REQUIRE(copy.replay(to_event(r)).has_value());
    }
    const PoolStats before = copy.stats();
    const auto result = copy.restore(original.checkpoint());
    REQUIRE_FALSE(result.has_value());
    CHECK(result.error() == Error::corrupt);
    CHECK(copy.stats() == before);
}
