// How late a worker's loop runs, per second: the lateness of its 10 ms tick timer (a timer is
// late when the thread was not running — preempted — or busy in a long callback) and the
// longest loop iteration's work (its callbacks, without the wait for events, from libuv's
// idle-time metric), an upper bound of the longest callback. Maxima of the last complete
// second, published with the other per-worker statistics for /stats and /metrics.
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
    /// An iteration's check phase at `now_ns`, with the loop's idle time so far.
    void on_check(std::uint64_t now_ns, std::uint64_t idle_ns) noexcept {
        if (last_check_ns_ != 0) {
            const std::uint64_t span = now_ns - last_check_ns_;
            const std::uint64_t idle = idle_ns - last_idle_ns_;
            iteration_ns_ = std::max(iteration_ns_, span > idle ? span - idle : 0);
        }
        last_check_ns_ = now_ns;
        last_idle_ns_ = idle_ns;
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
    std::uint64_t last_idle_ns_{0};
    std::uint64_t tick_late_ns_{0};
    std::uint64_t iteration_ns_{0};
};

}  // namespace redpacketd
