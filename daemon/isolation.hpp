// Running the workers isolated from the rest of the machine, as latency-critical servers do:
// each worker thread pinned to a core of `cpu_affinity` (worker i on the list's i-th core,
// modulo its length), the other threads (admin loop, journal writers, snapshots) kept off those
// cores, and optionally SCHED_FIFO at `realtime_priority` for the workers.
//
// Why: on a shared machine the scheduler puts other processes on whatever core is idle or not
// busy-polling — the daemon's, when a load generator busy-polls the other one — and a 20 ms
// burst of theirs becomes 20 ms of our tail latency (README, Performance). A real-time worker
// preempts them; the kernel's RT throttling (sched_rt_runtime_us, 950,000 of every 1,000,000 µs
// by default) still leaves them 5 % of each second, so a busy worker cannot hang the machine.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <thread>
#include <string_view>
#include <vector>

namespace redpacketd {

/// A Linux CPU list ("0", "0,2", "1-3,6"): ascending, no duplicates. Error: what is wrong.
[[nodiscard]] std::expected<std::vector<int>, std::string> parse_cpu_list(std::string_view list);

/// What the daemon's threads run on.
struct IsolationPlan {
    std::vector<int> worker_cores;  ///< worker i on worker_cores[i % size]; empty: not pinned
    std::vector<int> other_cores;   ///< everyone else; empty: not pinned
    int realtime_priority{0};       ///< SCHED_FIFO priority of workers; 0: normal scheduling
};

/// Checks the settings against this machine: the CPUs must be in the calling thread's
/// affinity mask, and real-time workers need a CPU each (`workers` ≤ the CPUs listed: two
/// SCHED_FIFO threads of one priority on one CPU never time-slice, so a busy one would starve
/// the other). Error: a message saying what to change; never a fallback.
[[nodiscard]] std::expected<IsolationPlan, std::string> plan_isolation(
    std::string_view cpu_affinity, int realtime_priority, std::uint32_t workers);
/// Whether this process may run threads SCHED_FIFO at `priority` (0: nothing to check): a
/// short-lived thread asks the kernel and gives it back. Error: what to grant, or to change.
[[nodiscard]] std::expected<void, std::string> check_realtime_permitted(int priority);

/// Pins the calling thread to `cores` (nothing if empty). Error: the failing call and errno.
[[nodiscard]] std::expected<void, std::string> pin_this_thread(const std::vector<int>& cores);
/// SCHED_FIFO at `priority` for the calling thread (nothing if 0).
[[nodiscard]] std::expected<void, std::string> make_this_thread_realtime(int priority);

/// A thread started by start_isolated_thread, and whether it got the CPUs and priority asked.
struct IsolatedThread {
    std::thread thread;
    std::expected<void, std::string> isolated;
};
/// Starts `body` on a new thread named `name` (ps, top and perf show 15 characters), pinned to
/// `cores` and SCHED_FIFO at `priority` (as pin_this_thread and make_this_thread_realtime) before
/// `body` runs; returns once it is. A refusal does not stop the thread: plan_isolation checked
/// both beforehand, so the caller reports it loudly and the thread runs as it can rather than
/// leaving its work undone.
[[nodiscard]] IsolatedThread start_isolated_thread(std::string name, std::vector<int> cores,
                                                   int priority, std::function<void()> body);

/// Starts libuv's thread pool (which snapshot writes use) from the calling thread. The pool
/// starts on the process's first uv_queue_work and its threads inherit the CPUs and the
/// scheduling policy of the thread that asks; called from the main thread once it is pinned,
/// they never land on a worker's CPU at its real-time priority. Error: the libuv call.
[[nodiscard]] std::expected<void, std::string> start_libuv_thread_pool();

/// One line on the kernel's RT throttling, for the start-up log: on (with its share) or off.
/// `on` tells which; a daemon with real-time workers warns when it is off.
struct RtThrottling {
    bool on{false};
    std::string description;
};
[[nodiscard]] RtThrottling rt_throttling();

}  // namespace redpacketd
