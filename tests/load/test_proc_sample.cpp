// /proc parsing for the daemon-side CPU and RSS columns.
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "proc_sample.hpp"

using redpacket::load::parse_stat_cpu_ms;
using redpacket::load::parse_schedstat_wait_ns;
using redpacket::load::parse_status_nvcsw;
using redpacket::load::parse_status_rss_kb;
using redpacket::load::sample_process;

TEST_CASE("CPU time is utime plus stime, counted after the last parenthesis", "[load]") {
    // comm "red) packet" holds a space and a ')': fields must be counted from the LAST ')'.
    const std::string stat =
        "4242 (red) packet) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 130 0 0 20 0 3 0 "
        "12345 1000000 500 18446744073709551615\n";
    CHECK(parse_stat_cpu_ms(stat, 100) == 3800U);  // (250 + 130) ticks at 100 Hz
    CHECK(parse_stat_cpu_ms(stat, 1000) == 380U);
    CHECK_FALSE(parse_stat_cpu_ms("4242 (x) S 1 2", 100).has_value());  // too few fields
    CHECK_FALSE(parse_stat_cpu_ms("no parenthesis", 100).has_value());
    CHECK_FALSE(parse_stat_cpu_ms(stat, 0).has_value());
}

TEST_CASE("RSS comes from the VmRSS line", "[load]") {
    CHECK(parse_status_rss_kb("Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    5120 kB\nThreads:\t1\n") ==
          5120U);
    CHECK_FALSE(parse_status_rss_kb("Name:\tx\nVmPeak:\t9000 kB\n").has_value());
    CHECK_FALSE(parse_status_rss_kb("VmRSS:\tlots kB\n").has_value());
}

TEST_CASE("sampling this process sees its memory grow and its CPU time advance", "[load]") {
    const auto before = sample_process(getpid());
    REQUIRE(before.has_value());
    CHECK(before->rss_kb > 0);
    // Touch 64 MiB and burn CPU until the clock-tick counter moves.
    std::vector<char> block(64U << 20U, 1);
    volatile std::uint64_t sink = 0;
    auto after = sample_process(getpid());
    for (int i = 0; i < 200 && after && after->cpu_ms == before->cpu_ms; ++i) {
        for (std::size_t j = 0; j < block.size(); j += 64) {
            sink = sink + static_cast<std::uint64_t>(block[j]);
        }
        after = sample_process(getpid());
    }
    REQUIRE(after.has_value());
    CHECK(after->rss_kb >= before->rss_kb + 60'000);
    CHECK(after->cpu_ms > before->cpu_ms);
    CHECK_FALSE(sample_process(-1).has_value());
}

TEST_CASE("run-queue wait is schedstat's second field and preemptions the nonvoluntary line",
          "[load]") {
    CHECK(parse_schedstat_wait_ns("123456789 987654 42\n") == 987654U);
    CHECK_FALSE(parse_schedstat_wait_ns("123456789").has_value());
    CHECK_FALSE(parse_schedstat_wait_ns("1 x 3\n").has_value());
    CHECK(parse_status_nvcsw("voluntary_ctxt_switches:\t10\nnonvoluntary_ctxt_switches:\t3\n") ==
          3U);
    CHECK_FALSE(parse_status_nvcsw("voluntary_ctxt_switches:\t10\n").has_value());
}

TEST_CASE("two threads spinning on one CPU wait in the run queue and are preempted", "[load]") {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
    std::size_t cpu = 0;
    while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &allowed)) {
        ++cpu;
    }
    REQUIRE(cpu < CPU_SETSIZE);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    std::atomic<bool> stop{false};
    std::atomic<int> pin_failures{0};  // Catch2's assertions are for the test's own thread
    const auto spin = [&] {
        // The sample counts only a process's serving threads (named rp-worker-N here).
        pthread_setname_np(pthread_self(), "rp-worker-t");
        if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0) {
            ++pin_failures;
        }
        while (!stop.load(std::memory_order_relaxed)) {
        }
    };
    std::thread a(spin);
    std::thread b(spin);
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    // Sampled while both still exist: an exited thread's counts leave the sum.
    const auto during = sample_process(getpid());
    stop = true;
    a.join();
    b.join();
    CHECK(pin_failures == 0);
    REQUIRE(during.has_value());
    // Each could run at most half of the 400 ms: together well over 100 ms of waiting.
    CHECK(during->runq_wait_us >= 100'000);
    CHECK(during->nvcsw > 0);
}
