#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "redpacket/rate_counter.hpp"

using namespace redpacket;

TEST_CASE("a rate counter counts named events per second", "[rate]") {
    RateCounter rc{{"requests", "errors"}, 1};
    const EventId req = *rc.event("requests");
    const EventId err = *rc.event("errors");
    CHECK_FALSE(rc.event("nope").has_value());
    CHECK(rc.history_seconds() == 128);
    CHECK_FALSE(rc.last_complete_second().has_value());

    auto& w = rc.writer(0);
    w.add(req, 100);
    w.add(req, 100, 4);
    w.add(err, 100);
    CHECK(rc.total(req, 100) == 5U);  // partial: second 100 is still open
    CHECK_FALSE(rc.is_complete(100));
    w.add(req, 101, 2);
    CHECK(rc.is_complete(100));
    CHECK(rc.last_complete_second() == 100);
    CHECK(rc.total(req, 100) == 5U);
    CHECK(rc.total(err, 100) == 1U);
    CHECK(rc.total(req, 101) == 2U);
    CHECK(rc.total(req, 102) == 0U);
    CHECK(rc.total(99, 100) == std::nullopt);  // unknown event
}

TEST_CASE("a late event counts in the open second, never in a complete one", "[rate]") {
    RateCounter rc{{"x"}, 1};
    auto& w = rc.writer(0);
    w.add(0, 10);
    w.add(0, 11);
    w.add(0, 10);  // clock went backwards
    CHECK(rc.total(0, 10) == 1U);
    CHECK(rc.total(0, 11) == 2U);
}

TEST_CASE("skipped seconds read as zero and old seconds leave the ring", "[rate]") {
    RateCounter rc{{"x"}, 1, 100};  // rounded up to 128
    auto& w = rc.writer(0);
    w.add(0, 5, 3);
    w.add(0, 9, 1);
    CHECK(rc.total(0, 5) == 3U);
    CHECK(rc.total(0, 7) == 0U);
    w.advance(5 + 128);
    CHECK(rc.total(0, 5) == std::nullopt);  // recycled
    CHECK(rc.total(0, 9) == 1U);
    w.advance(1000);  // a jump far ahead clears everything
    CHECK(rc.total(0, 9) == std::nullopt);
    CHECK(rc.total(0, 999) == 0U);
}

TEST_CASE("rate averages the complete seconds of a window", "[rate]") {
    RateCounter rc{{"x"}, 2};
    auto& a = rc.writer(0);
    auto& b = rc.writer(1);
    for (std::int64_t s = 0; s < 10; ++s) {
        a.add(0, s, 10);
        b.add(0, s, static_cast<std::uint64_t>(s));
    }
    // Writer b has opened second 9, a too: seconds ≤ 8 are complete.
    CHECK(rc.last_complete_second() == 8);
    const auto r = rc.rate(0, 4);  // seconds 5..8: 10 + s each
    REQUIRE(r.has_value());
    CHECK(*r == Approx((15 + 16 + 17 + 18) / 4.0));
    CHECK_FALSE(rc.rate(0, 0).has_value());
    CHECK_FALSE(rc.rate(0, 128).has_value());
    // Seconds before the first add read as zero: seconds -11..8 hold 10 + s for s = 0..8.
    CHECK(*rc.rate(0, 20) == Approx((90 + 36) / 20.0));
}

TEST_CASE("an idle writer holds back completeness until it advances", "[rate]") {
    RateCounter rc{{"x"}, 2};
    rc.writer(0).add(0, 50, 7);
    rc.writer(0).add(0, 51);
    CHECK_FALSE(rc.last_complete_second().has_value());
    CHECK_FALSE(rc.is_complete(50));
    rc.writer(1).advance(51);
    CHECK(rc.last_complete_second() == 50);
    CHECK(rc.total(0, 50) == 7U);
}

TEST_CASE("a rate counter refuses a bad configuration", "[rate]") {
    CHECK_THROWS_AS(RateCounter({}, 1), std::invalid_argument);
    CHECK_THROWS_AS(RateCounter({"a"}, 0), std::invalid_argument);
    CHECK_THROWS_AS(RateCounter({"a", "b", "a"}, 1), std::invalid_argument);
}

TEST_CASE("concurrent writers and a reader see exact totals for complete seconds",
          "[rate][mt]") {
    constexpr std::uint32_t kWriters = 2;
    constexpr std::int64_t kSeconds = 300;  // more than the ring, so buckets are recycled
    RateCounter rc{{"a", "b"}, kWriters};
    std::atomic<bool> done{false};
    std::vector<std::thread> writers;
    for (std::uint32_t w = 0; w < kWriters; ++w) {
        writers.emplace_back([&, w] {
            auto& slot = rc.writer(w);
            for (std::int64_t s = 0; s < kSeconds; ++s) {
                // Second s carries s + 1 events of "a" and 2 of "b" from each writer.
                for (std::int64_t i = 0; i <= s; ++i) {
                    slot.add(0, s);
                }
                slot.add(1, s, 2);
            }
            slot.advance(kSeconds);
        });
    }
    std::uint64_t checked = 0;
    std::uint64_t wrong = 0;
    std::int64_t last_seen = -1;
    while (!done.load()) {
        const auto last = rc.last_complete_second();
        if (last && *last > last_seen) {
            for (std::int64_t s = last_seen + 1; s <= *last; ++s) {
                const auto a = rc.total(0, s);
                const auto b = rc.total(1, s);
                if (a && b) {  // may have left the ring already if we fell behind
                    wrong += (*a == kWriters * static_cast<std::uint64_t>(s + 1)) ? 0U : 1U;
                    wrong += (*b == kWriters * 2U) ? 0U : 1U;
                    ++checked;
                }
            }
            last_seen = *last;
        }
        done.store(last_seen == kSeconds - 1);
    }
    for (auto& t : writers) {
        t.join();
    }
    CHECK(wrong == 0);
    CHECK(checked > 0);
    CHECK(rc.total(0, kSeconds - 1) == kWriters * static_cast<std::uint64_t>(kSeconds));
}
