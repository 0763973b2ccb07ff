#include <catch2/catch.hpp>

#include <set>
#include <stdexcept>
#include <vector>

#include "redpacket/red_packet_pool.hpp"

using namespace redpacket;
using namespace std::chrono_literals;

namespace {

PoolConfig config(ShardId shard = 7) {
    PoolConfig c;
    c.shard = shard;
    c.max_packets = 64;
    c.retention = 10s;
    c.seed = 12345;
    return c;
}

// Collects every event, to check what a journal would see.
struct Recorder {
    std::vector<PoolEvent> events;
    void on_pool_event(const PoolEvent& e) { events.push_back(e); }
};

void check_conservation(const RedPacketPool& pool) {
    const PoolStats& s = pool.stats();
    CHECK(s.amount_created == s.amount_claimed + s.amount_refunded + s.amount_outstanding);
    CHECK(s.shake_amount_offered ==
          s.shake_amount_issued + s.shake_amount_expired + s.shake_amount_queued);
}

}  // namespace

TEST_CASE("a packet id names its owning shard and is not a shake packet", "[pool]") {
    RedPacketPool pool{config(513)};
    auto id = pool.create(1, Cents{100}, 3, SplitPolicy::double_mean, 60s);
    REQUIRE(id.has_value());
    CHECK(packet_shard(*id) == 513);
    CHECK_FALSE(is_shake_packet(*id));
}

TEST_CASE("claims hand out every share once and then report sold out", "[pool]") {
    RedPacketPool pool{config()};
    auto id = pool.create(1, Cents{1000}, 5, SplitPolicy::line_cut, 60s);
    REQUIRE(id.has_value());
    std::int64_t sum = 0;
    for (UserId u = 100; u < 105; ++u) {
        const ClaimResult r = pool.claim(*id, u, 1s);
        REQUIRE(r.status == ClaimStatus::claimed);
        CHECK(r.share_index == u - 100);
        CHECK(r.amount >= Cents{1});
        sum += r.amount.value;
    }
    CHECK(sum == 1000);
    CHECK(pool.claim(*id, 999, 1s).status == ClaimStatus::sold_out);
    const auto info = pool.query(*id);
    REQUIRE(info.has_value());
    CHECK(info->state == PacketState::sold_out);
    CHECK(info->remaining == Cents{0});
    check_conservation(pool);
}

TEST_CASE("claim is idempotent for the same user", "[pool]") {
    RedPacketPool pool{config()};
    auto id = pool.create(1, Cents{1000}, 3, SplitPolicy::double_mean, 60s);
    const ClaimResult first = pool.claim(*id, 42, 1s);
    REQUIRE(first.status == ClaimStatus::claimed);
    const ClaimResult again = pool.claim(*id, 42, 2s);
    CHECK(again.status == ClaimStatus::already_claimed);
    CHECK(again.amount == first.amount);
    CHECK(again.share_index == first.share_index);
    // The retry took nothing: two shares are still there for others.
    CHECK(pool.query(*id)->claimed_count == 1);
    CHECK(pool.stats().claims == 1);
    // Still answered after the deadline, when new claims are refused.
    CHECK(pool.claim(*id, 42, 61s).status == ClaimStatus::already_claimed);
    CHECK(pool.claim(*id, 43, 61s).status == ClaimStatus::expired);
}

TEST_CASE("a packet with many shares tracks one share per user", "[pool]") {
    PoolConfig c = config();
    RedPacketPool pool{c};
    constexpr std::uint32_t n = 20000;
    auto id = pool.create(1, Cents{10'000'000}, n, SplitPolicy::double_mean, 60s);
    REQUIRE(id.has_value());
    std::int64_t sum = 0;
    for (UserId u = 0; u < n; ++u) {
        const ClaimResult r = pool.claim(*id, u * 7919, 1s);
        REQUIRE(r.status == ClaimStatus::claimed);
        sum += r.amount.value;
    }
    CHECK(sum == 10'000'000);
    for (UserId u = 0; u < n; u += 997) {
        const ClaimResult r = pool.claim(*id, u * 7919, 2s);
        CHECK(r.status == ClaimStatus::already_claimed);
        CHECK(r.share_index == u);
    }
    CHECK(pool.claim(*id, 1, 2s).status == ClaimStatus::sold_out);
}

TEST_CASE("users whose ids differ only in high bits still claim in a big packet", "[pool]") {
    RedPacketPool pool{config()};
    constexpr std::uint32_t n = 5000;
    auto id = pool.create(1, Cents{1'000'000}, n, SplitPolicy::line_cut, 60s);
    REQUIRE(id.has_value());
    for (UserId u = 0; u < n; ++u) {
        REQUIRE(pool.claim(*id, u << 18, 1s).status == ClaimStatus::claimed);
    }
    CHECK(pool.claim(*id, UserId{4999} << 18, 1s).share_index == 4999);
    CHECK(pool.query(*id)->claimed_amount == Cents{1'000'000});
}

TEST_CASE("reused slots start with a clean claimer index", "[pool]") {
    PoolConfig c = config();
    c.max_packets = 1;
    c.retention = 0ms;
    RedPacketPool pool{c};
    auto big = pool.create(1, Cents{100000}, 1000, SplitPolicy::equal, 10s);
    for (UserId u = 0; u < 1000; ++u) {
        REQUIRE(pool.claim(*big, u, 1s).status == ClaimStatus::claimed);
    }
    (void)pool.expire(10s);
    auto small = pool.create(1, Cents{1700}, 17, SplitPolicy::equal, 20s);
    REQUIRE(small.has_value());
    for (UserId u = 0; u < 17; ++u) {
        const ClaimResult r = pool.claim(*small, u, 11s);
        REQUIRE(r.status == ClaimStatus::claimed);
        CHECK(r.amount == Cents{100});
    }
    CHECK(pool.claim(*small, 3, 11s).status == ClaimStatus::already_claimed);
}

TEST_CASE("create refuses when live shares reach their bound", "[pool]") {
    PoolConfig c = config();
    c.max_shares = 100;
    c.max_live_shares = 150;
    c.retention = 0ms;
    RedPacketPool pool{c};
    REQUIRE(pool.create(1, Cents{1000}, 100, SplitPolicy::equal, 10s).has_value());
    CHECK(pool.create(1, Cents{1000}, 51, SplitPolicy::equal, 10s).error() == Error::pool_full);
    REQUIRE(pool.create(1, Cents{1000}, 50, SplitPolicy::equal, 10s).has_value());
    CHECK(pool.stats().shares_live == 150);
    (void)pool.expire(10s);
    CHECK(pool.stats().shares_live == 0);
    CHECK(pool.create(1, Cents{1000}, 100, SplitPolicy::equal, 20s).has_value());
}

TEST_CASE("slot generations wrap without ever naming packet 0 or an old packet", "[pool]") {
    PoolConfig c;
    c.shard = 0;
    c.max_packets = 1;
    c.retention = 0ms;
    RedPacketPool pool{c};
    auto first = pool.create(1, Cents{10}, 1, SplitPolicy::fixed, 1ms);
    REQUIRE(first.has_value());
    CHECK(first->value != 0);
    std::set<std::uint64_t> seen{first->value};
    for (int i = 2; i < 3000; ++i) {
        (void)pool.expire(Time{i - 1});
        auto id = pool.create(1, Cents{10}, 1, SplitPolicy::fixed, Time{i});
        REQUIRE(id.has_value());
        CHECK(id->value != 0);
        CHECK(seen.insert(id->value).second);
        CHECK(pool.claim(*first, 5, Time{i - 1}).status == ClaimStatus::not_found);
    }
}

TEST_CASE("retention counts from the refund, so a late expire keeps retries answered",
          "[pool]") {
    RedPacketPool pool{config()};  // retention 10 s
    auto id = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s);
    REQUIRE(pool.claim(*id, 8, 1s).status == ClaimStatus::claimed);
    CHECK(pool.expire(100s).size() == 1);  // ran 90 s late
    CHECK(pool.claim(*id, 8, 101s).status == ClaimStatus::already_claimed);
    CHECK(pool.expire(109s).empty());
    CHECK(pool.query(*id).has_value());
    (void)pool.expire(110s);
    CHECK(pool.query(*id).error() == Error::not_found);
}

TEST_CASE("a restricted packet hands shares only to its allowed claimers", "[pool]") {
    RedPacketPool pool{config()};
    const UserId members[] = {7, 3, 5};
    const auto id = pool.create(1, Cents{600}, 2, SplitPolicy::equal, Time{10'000}, members);
    REQUIRE(id.has_value());
    const PoolStats before = pool.stats();
    CHECK(pool.claim(*id, 4, Time{1}).status == ClaimStatus::not_allowed);
    CHECK(pool.stats() == before);  // a refused claimer changes nothing
    const ClaimResult a = pool.claim(*id, 3, Time{1});
    CHECK(a.status == ClaimStatus::claimed);
    CHECK(pool.claim(*id, 5, Time{2}).status == ClaimStatus::claimed);
    CHECK(pool.claim(*id, 7, Time{3}).status == ClaimStatus::sold_out);
    CHECK(pool.claim(*id, 4, Time{3}).status == ClaimStatus::not_allowed);
    const ClaimResult again = pool.claim(*id, 3, Time{4});
    CHECK(again.status == ClaimStatus::already_claimed);
    CHECK(again.amount == a.amount);
    const auto info = pool.query(*id);
    REQUIRE(info.has_value());
    CHECK(info->allowed == std::vector<UserId>{3, 5, 7});
    CHECK(info->claimed_count == 2);

    // An unrestricted packet next to it is open to anyone.
    const auto open = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10'000});
    REQUIRE(open.has_value());
    CHECK(pool.query(*open)->allowed.empty());
    CHECK(pool.claim(*open, 4, Time{5}).status == ClaimStatus::claimed);
}

TEST_CASE("a restricted packet's slot is open to anyone once reused", "[pool]") {
    PoolConfig c = config();
    c.max_packets = 1;
    c.retention = Time{0};
    RedPacketPool pool{c};
    const UserId members[] = {1};
    const auto first = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, members);
    REQUIRE(first.has_value());
    CHECK(pool.claim(*first, 2, Time{1}).status == ClaimStatus::not_allowed);
    (void)pool.expire(Time{10});  // refunded and, with no retention, retired
    const auto second = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{20});
    REQUIRE(second.has_value());
    REQUIRE(*second != *first);
    CHECK(pool.query(*second)->allowed.empty());
    CHECK(pool.claim(*second, 2, Time{11}).status == ClaimStatus::claimed);
    (void)pool.expire(Time{20});

    // Reused again by a packet restricted to someone else: the old list is gone.
    const UserId others[] = {3};
    const auto third = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{30}, others);
    REQUIRE(third.has_value());
    CHECK(pool.query(*third)->allowed == std::vector<UserId>{3});
    CHECK(pool.claim(*third, 1, Time{21}).status == ClaimStatus::not_allowed);
    CHECK(pool.claim(*third, 3, Time{21}).status == ClaimStatus::claimed);
}

TEST_CASE("allowed lists of live packets are bounded by max_live_allowed", "[pool]") {
    PoolConfig c = config();
    c.max_live_allowed = 3;
    c.retention = Time{0};
    RedPacketPool pool{c};
    const UserId two[] = {1, 2};
    const auto first = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, two);
    REQUIRE(first.has_value());
    CHECK(pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, two).error() ==
          Error::pool_full);
    CHECK(pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}).has_value());  // unrestricted
    (void)pool.expire(Time{10});  // retires the first packet and frees its list
    CHECK(pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{20}, two).has_value());
}

TEST_CASE("expiry at the end of the clock retires at Time::max() instead of overflowing",
          "[pool]") {
    RedPacketPool pool{config()};
    const auto id = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time::max() - Time{5});
    REQUIRE(id.has_value());
    const Time late = Time::max() - Time{1};
    const auto refunds = pool.expire(late);  // late + retention saturates at Time::max()
    REQUIRE(refunds.size() == 1);
    CHECK(refunds[0].amount == Cents{100});
    CHECK(pool.claim(*id, 2, late).status == ClaimStatus::expired);
    CHECK(pool.query(*id).has_value());  // retained until Time::max()
    CHECK(pool.expire(Time::max()).empty());
    CHECK_FALSE(pool.query(*id).has_value());  // retired at the end of the clock
}

TEST_CASE("create refuses an allowed list with a user twice or over the limit", "[pool]") {
    RedPacketPool pool{config()};
    const UserId twice[] = {4, 9, 4};
    CHECK(pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, twice).error() ==
          Error::invalid_argument);
    std::vector<UserId> many(kMaxAllowedClaimers + 1);
    for (std::size_t i = 0; i < many.size(); ++i) {
        many[i] = i;
    }
    CHECK(pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, many).error() ==
          Error::invalid_argument);
    CHECK(pool.stats().create_rejected == 2);
    CHECK(pool.stats().packets_live == 0);
    many.pop_back();  // exactly the limit is fine
    const auto id = pool.create(1, Cents{100}, 1, SplitPolicy::fixed, Time{10}, many);
    REQUIRE(id.has_value());
    CHECK(pool.claim(*id, kMaxAllowedClaimers - 1, Time{1}).status == ClaimStatus::claimed);
}

TEST_CASE("create refuses bad amounts, bad counts and a full pool", "[pool]") {
    PoolConfig c = config();
    c.max_packets = 2;
    c.max_shares = 10;
    c.max_total = Cents{1'000'000};
    c.min_share = Cents{5};
    RedPacketPool pool{c};
    CHECK(pool.create(1, Cents{0}, 1, SplitPolicy::equal, 60s).error() == Error::invalid_amount);
    CHECK(pool.create(1, Cents{-1}, 1, SplitPolicy::equal, 60s).error() == Error::invalid_amount);
    CHECK(pool.create(1, Cents{1'000'001}, 1, SplitPolicy::equal, 60s).error() ==
          Error::invalid_amount);
    CHECK(pool.create(1, Cents{49}, 10, SplitPolicy::equal, 60s).error() == Error::invalid_amount);
    CHECK(pool.create(1, Cents{100}, 0, SplitPolicy::equal, 60s).error() == Error::invalid_count);
    CHECK(pool.create(1, Cents{1000}, 11, SplitPolicy::equal, 60s).error() ==
          Error::invalid_count);
    CHECK(pool.create(1, Cents{100}, 2, SplitPolicy::fixed, 60s).error() == Error::invalid_count);
    REQUIRE(pool.create(1, Cents{50}, 10, SplitPolicy::equal, 60s).has_value());
    REQUIRE(pool.create(1, Cents{50}, 10, SplitPolicy::equal, 60s).has_value());
    CHECK(pool.create(1, Cents{50}, 10, SplitPolicy::equal, 60s).error() == Error::pool_full);
    CHECK(pool.stats().create_rejected == 8);
    CHECK(pool.stats().packets_created == 2);
    check_conservation(pool);
}

TEST_CASE("an inconsistent pool config is refused at construction", "[pool]") {
    auto bad = [](auto mutate) {
        PoolConfig c;
        mutate(c);
        return c;
    };
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.max_packets = 0; })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.shard = kMaxShard + 1; })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.min_share = Cents{0}; })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.max_shares = kMaxShares + 1; })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.shake_capacity = 0; })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.retention = -1ms; })},
                    std::invalid_argument);
    // Money held at once could overflow int64_t.
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) {
                        c.max_total = kMaxPacketTotal;
                        c.max_packets = 1U << 16;
                    })},
                    std::invalid_argument);
    CHECK_THROWS_AS(RedPacketPool{bad([](PoolConfig& c) { c.max_live_shares = 10; })},
                    std::invalid_argument);
    CHECK_NOTHROW(RedPacketPool{PoolConfig{}});
}

TEST_CASE("unknown, foreign-shard and shake ids are not found", "[pool]") {
    RedPacketPool pool{config(3)};
    RedPacketPool other{config(4)};
    auto mine = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 60s);
    auto theirs = other.create(1, Cents{100}, 2, SplitPolicy::equal, 60s);
    auto shake = pool.offer(Cents{10}, 60s);
    REQUIRE(mine.has_value());
    REQUIRE(theirs.has_value());
    REQUIRE(shake.has_value());
    CHECK(pool.claim(*theirs, 9, 1s).status == ClaimStatus::not_found);
    CHECK(pool.claim(*shake, 9, 1s).status == ClaimStatus::not_found);
    CHECK(pool.claim(PacketId{mine->value + (std::uint64_t{1} << 40)}, 9, 1s).status ==
          ClaimStatus::not_found);
    CHECK(pool.claim(PacketId{0}, 9, 1s).status == ClaimStatus::not_found);
    CHECK(pool.query(*theirs).error() == Error::not_found);
    CHECK(pool.query(*shake).error() == Error::not_found);
}

TEST_CASE("expiry refunds the unclaimed remainder to the sender exactly once", "[pool]") {
    RedPacketPool pool{config()};
    auto a = pool.create(77, Cents{1000}, 4, SplitPolicy::equal, 10s);
    auto b = pool.create(78, Cents{600}, 2, SplitPolicy::equal, 20s);
    auto c = pool.create(79, Cents{500}, 1, SplitPolicy::equal, 30s);
    REQUIRE(pool.claim(*a, 1, 1s).status == ClaimStatus::claimed);
    REQUIRE(pool.claim(*c, 1, 1s).status == ClaimStatus::claimed);

    CHECK(pool.expire(9999ms).empty());
    // A claim at the deadline is refused even before expire() runs.
    CHECK(pool.claim(*a, 2, 10s).status == ClaimStatus::expired);

    auto refunds = pool.expire(10s);
    REQUIRE(refunds.size() == 1);
    CHECK(refunds[0].packet == *a);
    CHECK(refunds[0].sender == 77);
    CHECK(refunds[0].amount == Cents{750});
    CHECK(refunds[0].unclaimed_shares == 3);
    CHECK(pool.expire(15s).empty());  // never twice
    const auto info = pool.query(*a);  // still retained for 10 s after the refund
    REQUIRE(info.has_value());
    CHECK(info->state == PacketState::expired);
    CHECK(info->refunded == Cents{750});
    CHECK(info->remaining == Cents{0});
    CHECK(pool.claim(*a, 3, 15s).status == ClaimStatus::expired);

    refunds = pool.expire(35s);  // b (nothing claimed) and c (sold out: refund 0)
    REQUIRE(refunds.size() == 2);
    CHECK(refunds[0].packet == *b);
    CHECK(refunds[0].amount == Cents{600});
    CHECK(refunds[1].packet == *c);
    CHECK(refunds[1].amount == Cents{0});


    const PoolStats& s = pool.stats();
    CHECK(s.amount_refunded == Cents{1350});
    CHECK(s.amount_claimed == Cents{750});
    CHECK(s.amount_outstanding == Cents{0});
    CHECK(s.packets_expired == 3);
    check_conservation(pool);
}

TEST_CASE("retired packets free their slot and the old id stays dead", "[pool]") {
    PoolConfig c = config();
    c.max_packets = 1;
    c.retention = 5s;
    RedPacketPool pool{c};
    auto first = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s);
    REQUIRE(first.has_value());
    CHECK(pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s).error() == Error::pool_full);
    CHECK(pool.expire(10s).size() == 1);
    CHECK(pool.query(*first).has_value());  // retained
    CHECK(pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s).error() == Error::pool_full);
    CHECK(pool.expire(15s).empty());  // retirement reports no refund
    CHECK(pool.stats().packets_live == 0);
    CHECK(pool.query(*first).error() == Error::not_found);

    auto second = pool.create(2, Cents{100}, 2, SplitPolicy::equal, 30s);
    REQUIRE(second.has_value());
    CHECK(*second != *first);
    CHECK(pool.claim(*first, 5, 16s).status == ClaimStatus::not_found);
    CHECK(pool.claim(*second, 5, 16s).status == ClaimStatus::claimed);
}

TEST_CASE("zero retention retires a packet at its deadline", "[pool]") {
    PoolConfig c = config();
    c.retention = 0ms;
    RedPacketPool pool{c};
    auto id = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s);
    CHECK(pool.expire(10s).size() == 1);
    CHECK(pool.query(*id).error() == Error::not_found);
    CHECK(pool.stats().packets_live == 0);
}

TEST_CASE("query reports claims in order and the best luck with ties to the earliest", "[pool]") {
    RedPacketPool pool{config()};
    auto id = pool.create(5, Cents{40}, 4, SplitPolicy::equal, 60s);  // 10 each: all tie
    CHECK_FALSE(pool.query(*id)->best_luck.has_value());
    for (UserId u : {30U, 10U, 20U}) {
        REQUIRE(pool.claim(*id, u, 1s).status == ClaimStatus::claimed);
    }
    const auto info = pool.query(*id);
    REQUIRE(info.has_value());
    CHECK(info->sender == 5);
    CHECK(info->policy == SplitPolicy::equal);
    CHECK(info->total == Cents{40});
    CHECK(info->count == 4);
    CHECK(info->claimed_count == 3);
    CHECK(info->claimed_amount == Cents{30});
    CHECK(info->remaining == Cents{10});
    CHECK(info->expires_at == 60s);
    REQUIRE(info->claims.size() == 3);
    CHECK(info->claims[0].user == 30);
    CHECK(info->claims[1].user == 10);
    CHECK(info->claims[2].user == 20);
    REQUIRE(info->best_luck.has_value());
    CHECK(*info->best_luck == 0);

    auto uneven = pool.create(5, Cents{43}, 4, SplitPolicy::equal, 60s);  // 11, 11, 11, 10
    for (UserId u = 1; u <= 4; ++u) {
        REQUIRE(pool.claim(*uneven, u, 1s).status == ClaimStatus::claimed);
    }
    CHECK(*pool.query(*uneven)->best_luck == 0);

    auto lucky = pool.create(5, Cents{1000}, 5, SplitPolicy::double_mean, 60s);
    std::int64_t best = -1;
    std::uint32_t best_index = 0;
    for (UserId u = 1; u <= 5; ++u) {
        const ClaimResult r = pool.claim(*lucky, u, 1s);
        if (r.amount.value > best) {
            best = r.amount.value;
            best_index = r.share_index;
        }
    }
    CHECK(*pool.query(*lucky)->best_luck == best_index);
}

TEST_CASE("the observer sees every state change with its amounts", "[pool]") {
    RedPacketPool pool{config()};
    Recorder rec;
    pool.set_observer(PoolObserver::bind(rec));
    auto id = pool.create(9, Cents{300}, 3, SplitPolicy::equal, 10s);
    (void)pool.claim(*id, 1, 1s);
    (void)pool.claim(*id, 1, 1s);  // retry: no event
    (void)pool.expire(10s);
    auto shake = pool.offer(Cents{25}, 20s);
    (void)pool.take(4, 11s);
    (void)pool.offer(Cents{30}, 12s);
    (void)pool.expire(13s);

    REQUIRE(rec.events.size() == 7);
    CHECK(rec.events[0].kind == PoolEventKind::created);
    CHECK(rec.events[0].user == 9);
    CHECK(rec.events[0].amount == Cents{300});
    CHECK(rec.events[0].index == 3);
    CHECK(rec.events[1].kind == PoolEventKind::claimed);
    CHECK(rec.events[1].user == 1);
    CHECK(rec.events[1].amount == Cents{100});
    CHECK(rec.events[2].kind == PoolEventKind::refunded);
    CHECK(rec.events[2].amount == Cents{200});
    CHECK(rec.events[2].index == 2);
    CHECK(rec.events[3].kind == PoolEventKind::shake_offered);
    CHECK(rec.events[3].packet == *shake);
    CHECK(rec.events[4].kind == PoolEventKind::shake_issued);
    CHECK(rec.events[4].user == 4);
    CHECK(rec.events[4].amount == Cents{25});
    CHECK(rec.events[5].kind == PoolEventKind::shake_offered);
    CHECK(rec.events[6].kind == PoolEventKind::shake_expired);
    CHECK(rec.events[6].amount == Cents{30});

    pool.set_observer({});
    (void)pool.create(9, Cents{300}, 3, SplitPolicy::equal, 10s);
    CHECK(rec.events.size() == 7);
}

TEST_CASE("money is conserved through a seeded random workload", "[pool]") {
    PoolConfig c = config();
    c.max_packets = 512;
    c.retention = 2s;
    RedPacketPool pool{c};
    Rng rng{4242};
    std::vector<PacketId> ids;
    std::set<std::pair<std::uint64_t, UserId>> holders;
    std::int64_t handed_out = 0;
    for (int step = 0; step < 20000; ++step) {
        const Time now{step * 10};
        const std::uint64_t op = rng.below(10);
        if (op < 2) {
            auto id = pool.create(rng.below(100), Cents{rng.between(50, 5000)},
                                  static_cast<std::uint32_t>(rng.between(1, 40)),
                                  static_cast<SplitPolicy>(rng.below(3)),
                                  now + Time{rng.between(100, 3000)});
            if (id) {
                ids.push_back(*id);
            }
        } else if (op < 9 && !ids.empty()) {
            const PacketId id = ids[rng.below(ids.size())];
            const UserId user = rng.below(60);
            const ClaimResult r = pool.claim(id, user, now);
            if (r.status == ClaimStatus::claimed) {
                CHECK(holders.insert({id.value, user}).second);
                handed_out += r.amount.value;
            } else if (r.status == ClaimStatus::already_claimed) {
                CHECK(holders.count({id.value, user}) == 1);
            }
        } else {
            (void)pool.expire(now);
        }
    }
    (void)pool.expire(Time{1'000'000});
    (void)pool.expire(Time{1'000'000} + c.retention);  // retire what the refunds retained
    check_conservation(pool);
    CHECK(pool.stats().amount_claimed.value == handed_out);
    CHECK(pool.stats().amount_outstanding == Cents{0});
    CHECK(pool.stats().packets_live == 0);
}

TEST_CASE("a compact 32-bit id resolves to its live packet and nothing else", "[pool]") {
    PoolConfig c = config(300);
    c.max_packets = 4096;
    c.retention = 0ms;
    RedPacketPool pool{c};
    RedPacketPool other{config(301)};
    auto a = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 10s);
    auto b = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 20s);
    auto foreign = other.create(1, Cents{100}, 2, SplitPolicy::equal, 20s);
    auto shake = pool.offer(Cents{5}, 20s);
    const auto compact = [](PacketId id) { return static_cast<std::uint32_t>(id.value); };
    CHECK(pool.resolve_compact(compact(*a)) == *a);
    CHECK(pool.resolve_compact(compact(*b)) == *b);
    CHECK_FALSE(pool.resolve_compact(compact(*foreign)).has_value());
    CHECK_FALSE(pool.resolve_compact(compact(*shake)).has_value());
    CHECK_FALSE(pool.resolve_compact(0).has_value());
    (void)pool.expire(10s);  // a is refunded and retired at once
    CHECK_FALSE(pool.resolve_compact(compact(*a)).has_value());
    auto c2 = pool.create(1, Cents{100}, 2, SplitPolicy::equal, 30s);  // reuses a's slot
    CHECK(pool.resolve_compact(compact(*c2)) == *c2);
    CHECK(compact(*c2) != compact(*a));
}
