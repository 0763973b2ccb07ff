#include "isolation.hpp"

#include <pthread.h>
#include <sched.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <future>
#include <ranges>
#include <thread>

#include <fmt/format.h>

namespace redpacketd {
namespace {

std::expected<int, std::string> parse_cpu(std::string_view s, std::string_view list) {
    int cpu = -1;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), cpu);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || cpu < 0 ||
        cpu >= CPU_SETSIZE) {
        return std::unexpected(fmt::format(
            "\"cpu_affinity\" must be a CPU list like 0,2-3 of CPUs in [0, {}], got \"{}\"",
            CPU_SETSIZE - 1, list));
    }
    return cpu;
}

std::expected<std::vector<int>, std::string> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        return std::unexpected(fmt::format("sched_getaffinity: {}", std::strerror(errno)));
    }
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(static_cast<std::size_t>(cpu), &set)) {
            cpus.push_back(cpu);
        }
    }
    return cpus;
}

/// Whether this process may run a thread with SCHED_FIFO at `priority`: a short-lived thread
/// asks for it (the same call the workers make), so the answer is the kernel's, not a guess
/// from capabilities and rlimits.
std::expected<void, std::string> probe_realtime(int priority) {
    std::expected<void, std::string> result;
    std::thread probe([&] { result = make_this_thread_realtime(priority); });
    probe.join();
    return result;
}

}  // namespace

std::expected<std::vector<int>, std::string> parse_cpu_list(std::string_view list) {
    if (list.empty()) {
        return std::unexpected(std::string("\"cpu_affinity\" lists no CPU"));
    }
    std::vector<int> cpus;
    for (const auto piece : std::views::split(list, ',')) {
        const std::string_view range(piece.begin(), piece.end());
        const auto dash = range.find('-');
        auto first = parse_cpu(range.substr(0, dash), list);
        auto last = dash == range.npos ? first : parse_cpu(range.substr(dash + 1), list);
        if (!first || !last) {
            return std::unexpected(first ? last.error() : first.error());
        }
        if (*last < *first || (!cpus.empty() && *first <= cpus.back())) {
            return std::unexpected(fmt::format(
                "\"cpu_affinity\" must list CPUs in ascending order without repeats, got \"{}\"",
                list));
        }
        for (int cpu = *first; cpu <= *last; ++cpu) {
            cpus.push_back(cpu);
        }
    }
    return cpus;
}

std::expected<IsolationPlan, std::string> plan_isolation(std::string_view cpu_affinity,
                                                        int realtime_priority,
                                                        std::uint32_t workers) {
    IsolationPlan plan;
    plan.realtime_priority = realtime_priority;
    if (!cpu_affinity.empty()) {
        auto cores = parse_cpu_list(cpu_affinity);
        auto allowed = allowed_cpus();
        if (!cores || !allowed) {
            return std::unexpected(cores ? allowed.error() : cores.error());
        }
        for (const int cpu : *cores) {
            if (!std::ranges::binary_search(*allowed, cpu)) {
                return std::unexpected(fmt::format(
                    "\"cpu_affinity\": CPU {} is not one this process may run on", cpu));
            }
        }
        std::ranges::set_difference(*allowed, *cores, std::back_inserter(plan.other_cores));
        plan.worker_cores = std::move(*cores);
    }
    if (realtime_priority > 0 && plan.worker_cores.size() < workers) {
        return std::unexpected(fmt::format(
            "\"realtime_priority\" needs \"cpu_affinity\" to list a CPU for each of the {} "
            "workers ({} listed): real-time workers sharing a CPU do not take turns",
            workers, plan.worker_cores.size()));
    }
    return plan;
}

std::expected<void, std::string> check_realtime_permitted(int priority) {
    if (priority <= 0) {
        return {};
    }
    if (auto permitted = probe_realtime(priority); !permitted) {
        return std::unexpected(fmt::format(
            "\"realtime_priority\" {}: {} — run as root, or give redpacketd CAP_SYS_NICE "
            "(systemd: AmbientCapabilities=CAP_SYS_NICE) or an RLIMIT_RTPRIO of at least {} "
            "(LimitRTPRIO=), or set it to 0",
            priority, permitted.error(), priority));
    }
    return {};
}

std::expected<void, std::string> pin_this_thread(const std::vector<int>& cores) {
    if (cores.empty()) {
        return {};
    }
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const int cpu : cores) {
        CPU_SET(static_cast<std::size_t>(cpu), &set);
    }
    if (const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0) {
        return std::unexpected(fmt::format("pthread_setaffinity_np: {}", std::strerror(rc)));
    }
    return {};
}

std::expected<void, std::string> make_this_thread_realtime(int priority) {
    if (priority <= 0) {
        return {};
    }
    sched_param param{};
    param.sched_priority = priority;
    if (const int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param); rc != 0) {
        return std::unexpected(
            fmt::format("pthread_setschedparam(SCHED_FIFO, {}): {}", priority, std::strerror(rc)));
    }
    return {};
}

IsolatedThread start_isolated_thread(std::string name, std::vector<int> cores, int priority,
                                     std::function<void()> body) {
    std::promise<std::expected<void, std::string>> isolated;
    std::future<std::expected<void, std::string>> result = isolated.get_future();
    std::thread thread{[name = std::move(name), cores = std::move(cores), priority,
                        done = std::move(isolated), body = std::move(body)]() mutable {
        pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
        auto pinned = pin_this_thread(cores);
        done.set_value(pinned ? make_this_thread_realtime(priority) : pinned);
        body();
    }};
    return IsolatedThread{std::move(thread), result.get()};
}

std::expected<void, std::string> start_libuv_thread_pool() {
    uv_loop_t loop;
    if (const int rc = uv_loop_init(&loop); rc != 0) {
        return std::unexpected(fmt::format("uv_loop_init: {}", uv_strerror(rc)));
    }
    uv_work_t nothing{};
    const int rc = uv_queue_work(&loop, &nothing, [](uv_work_t*) {}, nullptr);
    if (rc == 0) {
        uv_run(&loop, UV_RUN_DEFAULT);  // until the pool has run it
    }
    (void)uv_loop_close(&loop);
    if (rc != 0) {
        return std::unexpected(fmt::format("uv_queue_work: {}", uv_strerror(rc)));
    }
    return {};
}

RtThrottling rt_throttling() {
    long runtime = 0;
    long period = 0;
    std::ifstream("/proc/sys/kernel/sched_rt_runtime_us") >> runtime;
    std::ifstream("/proc/sys/kernel/sched_rt_period_us") >> period;
    if (runtime < 0 || period <= 0) {
        return {false, "RT throttling is OFF (kernel.sched_rt_runtime_us = -1): a busy real-time "
                       "worker can starve every other thread of its core"};
    }
    return {true, fmt::format("RT throttling is on: real-time threads get at most {} of every {} "
                              "µs of a core ({:.0f} %), the rest is left to everything else",
                              runtime, period, 100.0 * static_cast<double>(runtime) /
                                                   static_cast<double>(period))};
}

}  // namespace redpacketd
