// How late a worker's loop runs, per second: the lateness of its 10 ms tick timer (a timer is
// late when the thread was not running — preempted — or busy in a long callback) and the
// longest loop iteration's work. Maxima of the last complete second, published with the other
// per-worker statistics for /stats and /metrics.
//
// An iteration's work is what runs before its wait for events (from the last check phase to
// the prepare phase: timers, closes) plus what runs after it (from the first of the worker's
// own callbacks — a read, an accept, the mailbox, a store completion — to the check phase).
// Work done after the wait before any of those (libuv finishing a queued write, a remote
// store's client parsing a reply) is not counted. The worker stamps that first callback itself
// (`woke`) instead of asking libuv for its idle time: UV_METRICS_IDLE_TIME makes every wait a
// non-blocking epoll_wait first and takes a mutex three times per iteration, a syscall per
// paced request that redpacket-echo does not make (docs/perf/paced-profile-2026-12-07.md).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace redpacketd {

/// The last complete second's maxima, in microseconds, readable from any thread.
struct PublishedLoopLag {
    std::atomic<std::uint64_t> tick_late_max_us{0};
    std::atomic<std::uint64_t> iteration_max_us{0};
    std::atomic<std::uint64_t> tick_late_peak_us{0};  // since start
};

/// Owned by the worker's thread.
class LoopLag {
public:
    /// The tick fired at `now_ns` (uv_hrtime), `period_ns` after it was due to.
    void on_tick(std::uint64_t now_ns, std::uint64_t period_ns) noexcept {
        if (last_tick_ns_ != 0 && now_ns > last_tick_ns_ + period_ns) {
            tick_late_ns_ = std::max(tick_late_ns_, now_ns - last_tick_ns_ - period_ns);
        }
        last_tick_ns_ = now_ns;
    }
    /// The loop is about to wait for events (its prepare phase) at `now_ns`. A callback stamped
    /// before it (a timer's, e.g. a remote store's deadline completing an operation) ran before
    /// the wait and is counted there.
    void before_wait(std::uint64_t now_ns) noexcept {
        wait_ns_ = now_ns;
        woke_ns_ = 0;
    }
    /// A callback of an event the wait returned started at `now_ns`; the iteration's first
    /// one counts.
    void woke(std::uint64_t now_ns) noexcept {
        if (woke_ns_ == 0) {
            woke_ns_ = now_ns;
        }
    }
    /// An iteration's check phase at `now_ns`.
    void on_check(std::uint64_t now_ns) noexcept {
        if (last_check_ns_ != 0) {
            const std::uint64_t before = wait_ns_ > last_check_ns_ ? wait_ns_ - last_check_ns_ : 0;
            const std::uint64_t after = woke_ns_ != 0 && now_ns > woke_ns_ ? now_ns - woke_ns_ : 0;
            iteration_ns_ = std::max(iteration_ns_, before + after);
        }
        last_check_ns_ = now_ns;
        woke_ns_ = 0;
    }
    /// At a new `second`: publishes the one that ended and starts over.
    void roll(std::int64_t second, PublishedLoopLag& out) noexcept {
        if (second == second_) {
            return;
        }
        const auto rel = std::memory_order_relaxed;
        out.tick_late_max_us.store(tick_late_ns_ / 1000, rel);
        out.iteration_max_us.store(iteration_ns_ / 1000, rel);
        out.tick_late_peak_us.store(
            std::max(out.tick_late_peak_us.load(rel), tick_late_ns_ / 1000), rel);
        second_ = second;
        tick_late_ns_ = 0;
        iteration_ns_ = 0;
    }

private:
    std::int64_t second_{0};
    std::uint64_t last_tick_ns_{0};
    std::uint64_t last_check_ns_{0};
    std::uint64_t wait_ns_{0};
    std::uint64_t woke_ns_{0};
    std::uint64_t tick_late_ns_{0};
    std::uint64_t iteration_ns_{0};
};

}  // namespace redpacketd
