#include <catch2/catch.hpp>

#include "redpacket/red_packet_pool.hpp"

using namespace redpacket;
using namespace std::chrono_literals;

namespace {
RedPacketPool make_pool(std::uint32_t capacity) {
    PoolConfig c;
    c.shard = 12;
    c.shake_capacity = capacity;
    return RedPacketPool{c};
}
}  // namespace

TEST_CASE("shake packets are handed out oldest first, each once", "[shake]") {
    RedPacketPool pool = make_pool(8);
    auto a = pool.offer(Cents{10}, 60s);
    auto b = pool.offer(Cents{20}, 60s);
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    CHECK(is_shake_packet(*a));
    CHECK(packet_shard(*a) == 12);
    CHECK(*a != *b);
    CHECK(pool.shake_size() == 2);

    auto first = pool.take(100, 1s);
    REQUIRE(first.has_value());
    CHECK(first->packet == *a);
    CHECK(first->amount == Cents{10});
    auto second = pool.take(100, 1s);
    REQUIRE(second.has_value());
    CHECK(second->packet == *b);
    CHECK_FALSE(pool.take(100, 1s).has_value());
    CHECK(pool.stats().shake_empty == 1);
    CHECK(pool.stats().shake_issued == 2);
    CHECK(pool.stats().shake_amount_issued == Cents{30});
}

TEST_CASE("a full shake supply refuses offers and counts them", "[shake]") {
    RedPacketPool pool = make_pool(2);
    REQUIRE(pool.offer(Cents{1}, 60s).has_value());
    REQUIRE(pool.offer(Cents{2}, 60s).has_value());
    CHECK(pool.offer(Cents{3}, 60s).error() == Error::queue_full);
    CHECK(pool.stats().shake_refused == 1);
    CHECK(pool.stats().shake_offered == 2);
    // Taking one makes room; the ring wraps around correctly.
    REQUIRE(pool.take(1, 1s)->amount == Cents{1});
    REQUIRE(pool.offer(Cents{4}, 60s).has_value());
    CHECK(pool.take(1, 1s)->amount == Cents{2});
    CHECK(pool.take(1, 1s)->amount == Cents{4});
}

TEST_CASE("expired shake packets are skipped, counted and never issued", "[shake]") {
    RedPacketPool pool = make_pool(8);
    REQUIRE(pool.offer(Cents{5}, 10s).has_value());
    REQUIRE(pool.offer(Cents{6}, 10s).has_value());
    REQUIRE(pool.offer(Cents{7}, 30s).has_value());
    auto hit = pool.take(1, 10s);
    REQUIRE(hit.has_value());
    CHECK(hit->amount == Cents{7});
    const PoolStats& s = pool.stats();
    CHECK(s.shake_expired == 2);
    CHECK(s.shake_amount_expired == Cents{11});
    CHECK(s.shake_amount_offered == s.shake_amount_issued + s.shake_amount_expired +
                                        s.shake_amount_queued);

    REQUIRE(pool.offer(Cents{8}, 40s).has_value());
    (void)pool.expire(40s);  // expire() drops them too
    CHECK(pool.shake_size() == 0);
    CHECK(pool.stats().shake_amount_queued == Cents{0});
}

TEST_CASE("offers outside the allowed amounts are refused", "[shake]") {
    PoolConfig c;
    c.min_share = Cents{10};
    c.max_total = Cents{100};
    RedPacketPool pool{c};
    CHECK(pool.offer(Cents{9}, 60s).error() == Error::invalid_amount);
    CHECK(pool.offer(Cents{101}, 60s).error() == Error::invalid_amount);
    CHECK(pool.offer(Cents{0}, 60s).error() == Error::invalid_amount);
    CHECK(pool.offer(Cents{10}, 60s).has_value());
    CHECK(pool.offer(Cents{100}, 60s).has_value());
}

TEST_CASE("an offer with an earlier deadline than the last one is refused", "[shake]") {
    RedPacketPool pool = make_pool(8);
    REQUIRE(pool.offer(Cents{5}, 30s).has_value());
    CHECK(pool.offer(Cents{5}, 29s).error() == Error::invalid_argument);
    CHECK(pool.offer(Cents{5}, 30s).has_value());
    CHECK(pool.stats().shake_offered == 2);
}
