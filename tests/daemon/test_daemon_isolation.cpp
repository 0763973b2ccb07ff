// Isolation settings: CPU lists parsed strictly; a daemon with --cpu-affinity pins each worker
// to its CPU and keeps its other threads off it; --realtime-priority gives the workers
// SCHED_FIFO, or refuses to start — with what to change — when the process may not have it.
#include <catch2/catch.hpp>

#include <sched.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.hpp"
#include "isolation.hpp"
#include "test_support.hpp"

using redpacketd::parse_cpu_list;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::run_command;

namespace {

/// One thread of a process, from /proc/<pid>/task/<tid>.
struct TaskInfo {
    std::string name;  // comm
    bool main{false};
    std::string cpus;  // Cpus_allowed_list
    int policy{-1};    // stat field 41: 0 normal, 1 SCHED_FIFO
    int priority{0};   // stat field 40: rt_priority
    std::uint64_t blocked{0};  // SigBlk: the thread's blocked-signal mask, bit n-1 for signal n
};

std::vector<TaskInfo> tasks_of(pid_t pid) {
    std::vector<TaskInfo> tasks;
    for (const auto& dir :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task")) {
        TaskInfo t;
        std::getline(std::ifstream(dir.path() / "comm"), t.name);
        t.main = dir.path().filename() == std::to_string(pid);
        std::ifstream status(dir.path() / "status");
        for (std::string line; std::getline(status, line);) {
            if (line.starts_with("Cpus_allowed_list:")) {
                std::istringstream(line.substr(18)) >> t.cpus;
            } else if (line.starts_with("SigBlk:")) {
                t.blocked = std::stoull(line.substr(7), nullptr, 16);
            }
        }
        std::ifstream stat_file(dir.path() / "stat");
        std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
        std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
        std::vector<std::string> f{std::istream_iterator<std::string>(fields), {}};
        REQUIRE(f.size() > 38);
        t.priority = std::stoi(f[37]);  // field 40, counted from field 3
        t.policy = std::stoi(f[38]);    // field 41
        tasks.push_back(t);
    }
    return tasks;
}

bool realtime_permitted() {
    bool ok = false;
    std::thread([&] { ok = redpacketd::make_this_thread_realtime(1).has_value(); }).join();
    return ok;
}

}  // namespace

TEST_CASE("cpu lists are parsed strictly", "[isolation]") {
    CHECK(parse_cpu_list("0") == std::vector<int>{0});
    CHECK(parse_cpu_list("0,2-4,7") == std::vector<int>{0, 2, 3, 4, 7});
    CHECK(parse_cpu_list("3-3") == std::vector<int>{3});
    for (const std::string bad : {"", ",", "a", "1,", "-1", "2-1", "1,1", "2,1", "0-", "1 ",
                                  "99999", "0x1"}) {
        INFO("'" << bad << "'");
        const auto parsed = parse_cpu_list(bad);
        REQUIRE_FALSE(parsed.has_value());
        CHECK_THAT(parsed.error(), Catch::Contains("cpu_affinity"));
    }
}

TEST_CASE("a CPU affinity pins the worker to its CPU and the other threads off it, and a "
          "realtime priority makes the worker SCHED_FIFO",
          "[isolation][integration]") {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    REQUIRE(sched_getaffinity(0, sizeof allowed, &allowed) == 0);
    if (CPU_COUNT(&allowed) < 2 || !CPU_ISSET(0, &allowed)) {
        WARN("needs CPU 0 and another one: nothing to keep the other threads on");
        return;
    }
    const bool realtime = realtime_permitted();
    if (!realtime) {
        WARN("SCHED_FIFO is not permitted here: the real-time half is not checked");
    }
    DaemonProcess d({"--workers", "1", "--cpu-affinity", "0", "--realtime-priority",
                     realtime ? "3" : "0"});
    const auto tasks = tasks_of(d.pid());
    int on_cpu0 = 0;
    for (const TaskInfo& t : tasks) {
        // The daemon's own threads; a sanitizer's helper threads follow their own rules.
        if (!t.main && !t.name.starts_with("rp-")) {
            continue;
        }
        INFO(t.name << ": cpus " << t.cpus << " policy " << t.policy << " priority " << t.priority);
        if (t.cpus == "0") {
            ++on_cpu0;
            CHECK(t.policy == (realtime ? 1 : 0));
            CHECK(t.priority == (realtime ? 3 : 0));
        } else {
            CHECK(t.cpus.find('0') != 0);  // the others may not run on CPU 0
            CHECK(t.policy == 0);
        }
    }
    CHECK(on_cpu0 == 1);  // the one worker
    CHECK(tasks.size() >= 2);
    CHECK_THAT(d.log_tail(), Catch::Contains("workers pinned to CPUs 0"));
    if (realtime) {
        CHECK_THAT(d.log_tail(), Catch::Contains("SCHED_FIFO at priority 3") &&
                                     Catch::Contains("RT throttling is"));
    }
}

TEST_CASE("a realtime priority without the privilege refuses to start and says what to change",
          "[isolation][integration]") {
    if (::geteuid() != 0 || !std::filesystem::exists("/usr/bin/setpriv")) {
        WARN("needs root and setpriv to take the privilege away from a daemon");
        return;
    }
    // Root without CAP_SYS_NICE (gone from the bounding set, so exec cannot regain it) and
    // with RLIMIT_RTPRIO 0: what an unprivileged service account has.
    const auto [status, out] =
        run_command("ulimit -r 0; timeout 20 setpriv --bounding-set=-sys_nice --inh-caps=-sys_nice " +
                    std::string(REDPACKETD_BINARY) +
                    " --workers 1 --port 0 --admin-port 0 --compat-mode true --cpu-affinity 0 --realtime-priority 5 2>&1");
    INFO(out);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("\"realtime_priority\" 5") &&
                        Catch::Contains("Operation not permitted") &&
                        Catch::Contains("CAP_SYS_NICE"));
    CHECK(out.find("redpacketd ready") == std::string::npos);
}

TEST_CASE("a stopped daemon's workers report their ticks late in /stats and /metrics",
          "[isolation][integration]") {
    DaemonProcess d({"--workers", "2"});
    const auto before = redpacketd::testing::get_json(d.admin_port(), "/stats")["loop"];
    REQUIRE(before["workers"].size() == 2);
    // Not running for 300 ms is what preemption looks like from inside: every tick late.
    REQUIRE(::kill(d.pid(), SIGSTOP) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    REQUIRE(::kill(d.pid(), SIGCONT) == 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // past a second's roll
    const auto after = redpacketd::testing::get_json(d.admin_port(), "/stats")["loop"];
    INFO(after.dump());
    CHECK(after["tick_late_peak_us"].get<std::uint64_t>() >= 250'000);
    for (const auto& w : after["workers"]) {
        CHECK(w["tick_late_peak_us"].get<std::uint64_t>() >= 250'000);
    }
    const auto metrics = redpacketd::testing::http_request(d.admin_port(), "GET", "/metrics").body;
    CHECK_THAT(metrics, Catch::Contains("# TYPE redpacketd_loop_tick_lateness_peak_seconds gauge") &&
                            Catch::Contains("redpacketd_loop_iteration_max_seconds{worker=\"0\"} "));
    CHECK(redpacketd::testing::metric_sum(metrics, "redpacketd_loop_tick_lateness_peak_seconds",
                                          {R"(worker="0")"}) >= 0.25);
}

TEST_CASE("real-time workers need a CPU each: two on one listed CPU refuse to start",
          "[isolation][integration]") {
    const auto [status, out] = run_command(
        "timeout 20 " + std::string(REDPACKETD_BINARY) +
        " --workers 2 --port 0 --admin-port 0 --compat-mode true --cpu-affinity 0 --realtime-priority 1 2>&1");
    INFO(out);
    CHECK(status == 1);
    CHECK_THAT(out, Catch::Contains("list a CPU for each of the 2 workers (1 listed)"));
    CHECK(out.find("redpacketd ready") == std::string::npos);
}

TEST_CASE("every thread of the daemon blocks SIGINT, SIGTERM and SIGHUP: the main loop reads "
          "them from a signalfd",
          "[isolation][integration]") {
    // A stop signal taken by a thread's handler instead was lost under ThreadSanitizer
    // (daemon/signal_watch.hpp); blocked everywhere, it waits in the kernel for the signalfd.
    const auto bit = [](int signum) { return std::uint64_t{1} << (signum - 1); };
    const std::uint64_t stop_signals = bit(SIGINT) | bit(SIGTERM) | bit(SIGHUP);
    const auto dir = redpacketd::testing::fresh_temp_dir("rp-sigmask");
    DaemonProcess d({"--workers", "2", "--journal-dir", dir.string()});
    // Each thread names itself once it runs: wait for the six (two workers, two journal writers,
    // two proof-archive writers).
    std::vector<TaskInfo> tasks;
    (void)redpacketd::testing::eventually(
        [&] {
            tasks = tasks_of(d.pid());
            return std::ranges::count_if(tasks, [](const TaskInfo& t) {
                       return t.name.starts_with("rp-");
                   }) == 6;
        },
        std::chrono::seconds{5}, std::chrono::milliseconds{10});
    int ours = 0;
    for (const TaskInfo& t : tasks) {
        if (!t.main && !t.name.starts_with("rp-")) {
            continue;  // a sanitizer's helper thread
        }
        INFO(t.name << ": SigBlk " << std::hex << t.blocked);
        ++ours;
        CHECK((t.blocked & stop_signals) == stop_signals);
    }
    CHECK(ours == 7);  // main, two workers, two journal writers, two archive writers
    CHECK(d.stop(std::chrono::seconds{5}) == 0);
    CHECK_THAT(d.log_tail(4096), Catch::Contains("signal 15: shutting down"));
}
