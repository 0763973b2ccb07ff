// LoopLag: the tick's lateness and the longest iteration's work (before the wait plus after
// the first event's callback), published per second.
#include <catch2/catch.hpp>

#include "loop_lag.hpp"

namespace {
constexpr std::uint64_t kMs = 1'000'000;  // ns
}

TEST_CASE("an iteration's work leaves out its wait for events", "[loop_lag]") {
    redpacketd::LoopLag lag;
    redpacketd::PublishedLoopLag out;
    lag.roll(1, out);
    lag.on_check(100 * kMs);  // the first check starts the count
    // 2 ms of timers, a 50 ms wait, then 3 ms from the first read's callback to the check.
    lag.before_wait(102 * kMs);
    lag.woke(152 * kMs);
    lag.woke(153 * kMs);  // a later callback of the same iteration does not restart it
    lag.on_check(155 * kMs);
    // A wait that ends on a timeout: no callback, only the 1 ms before the wait counts.
    lag.before_wait(156 * kMs);
    lag.on_check(400 * kMs);
    lag.roll(2, out);
    CHECK(out.iteration_max_us.load() == 5'000);
    // The next second starts from zero.
    lag.before_wait(400 * kMs);
    lag.woke(401 * kMs);
    lag.on_check(402 * kMs);
    lag.roll(3, out);
    CHECK(out.iteration_max_us.load() == 1'000);
}

TEST_CASE("a callback before the wait does not count the wait as work", "[loop_lag]") {
    redpacketd::LoopLag lag;
    redpacketd::PublishedLoopLag out;
    lag.roll(1, out);
    lag.on_check(100 * kMs);
    // A timer completes a store operation (1 ms), then the loop waits 200 ms for nothing.
    lag.woke(100 * kMs);
    lag.before_wait(101 * kMs);
    lag.on_check(301 * kMs);
    lag.roll(2, out);
    CHECK(out.iteration_max_us.load() == 1'000);
}

TEST_CASE("a late tick is the time past its period", "[loop_lag]") {
    redpacketd::LoopLag lag;
    redpacketd::PublishedLoopLag out;
    lag.on_tick(1000 * kMs, 10 * kMs);
    lag.on_tick(1010 * kMs, 10 * kMs);  // on time
    lag.on_tick(1045 * kMs, 10 * kMs);  // 25 ms late
    lag.on_tick(1057 * kMs, 10 * kMs);  // 2 ms late
    lag.roll(7, out);
    CHECK(out.tick_late_max_us.load() == 25'000);
    CHECK(out.tick_late_peak_us.load() == 25'000);
    lag.on_tick(1067 * kMs, 10 * kMs);
    lag.roll(8, out);
    CHECK(out.tick_late_max_us.load() == 0);
    CHECK(out.tick_late_peak_us.load() == 25'000);  // since start
}
