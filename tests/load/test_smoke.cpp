// Loopback smoke test: a real redpacketd and a short redpacket-load run against it.
#include <catch2/catch.hpp>

#include "redpacket_build_info.hpp"

#if defined(REDPACKET_LOAD_BINARY) && defined(REDPACKETD_BINARY)

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

extern char** environ;

namespace {

// Spawns `argv` with stdout on a pipe (if `out_fd`) and stderr to /dev/null.
pid_t spawn(std::vector<std::string> args, int* out_fd) {
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    int pipe_fds[2] = {-1, -1};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    if (out_fd != nullptr) {
        REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
        posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (out_fd != nullptr) {
        ::close(pipe_fds[1]);
        *out_fd = pipe_fds[0];
    }
    REQUIRE(rc == 0);
    return pid;
}

// Reads one line from `fd` within `timeout_ms` (empty on timeout or EOF).
std::string read_line(int fd, int timeout_ms) {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) {
            continue;
        }
        char ch = 0;
        if (::read(fd, &ch, 1) != 1) {
            break;
        }
        if (ch == '\n') {
            return line;
        }
        line.push_back(ch);
    }
    return {};
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// Waits for `pid` up to `timeout_ms`; returns its exit status or -1 (then kills it).
int wait_for(pid_t pid, int timeout_ms) {
    for (int waited = 0; waited < timeout_ms; waited += 20) {
        int status = 0;
        if (::waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        ::usleep(20'000);
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return -1;
}

}  // namespace

TEST_CASE("a short loopback run logs every user in and accounts for every reply", "[load]") {
    int daemon_out = -1;
    const pid_t daemon = spawn({REDPACKETD_BINARY, "--port", "0", "--admin-port", "0", "--compat-mode", "true",
                                "--workers", "1", "--shake-enabled", "true", "--shake-rate",
                                "500"},
                               &daemon_out);
    const std::string ready = read_line(daemon_out, 5000);
    std::smatch m;
    const std::regex re{R"(redpacketd ready port=(\d+) admin_port=(\d+))"};
    const bool matched = std::regex_search(ready, m, re);
    if (!matched) {
        ::kill(daemon, SIGKILL);
        ::waitpid(daemon, nullptr, 0);
    }
    REQUIRE(matched);
    const std::string port = m[1].str();
    const std::string admin = m[2].str();

    char dir_template[] = "/tmp/redpacket-load-smoke-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string dir = dir_template;
    const std::string csv = dir + "/run.csv";
    const std::string json = dir + "/run.json";
    const pid_t load = spawn({REDPACKET_LOAD_BINARY, "--port", port, "--admin-port", admin,
                              "--mode", "smooth", "--quiet", "--max-seconds", "20", "--plan",
                              "connect 200 @ 2000/s; qps 400 for 3s", "--csv", csv, "--json",
                              json},
                             nullptr);
    const int load_rc = wait_for(load, 15'000);
    ::kill(daemon, SIGTERM);
    const int daemon_rc = wait_for(daemon, 5'000);
    ::close(daemon_out);

    CHECK(load_rc == 0);
    CHECK(daemon_rc == 0);
    const auto j = nlohmann::json::parse(slurp(json), nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["logged_in"] == 200);
    CHECK(j["login_failures"] == 0);
    const auto& qps = j["phases"][1];
    CHECK(qps["kind"] == "qps");
    CHECK(qps["requests"].get<std::uint64_t>() > 0);
    CHECK(qps["requests"] == 1200);
    CHECK(qps["errors"] == 0);
    CHECK(qps["responses"].get<std::uint64_t>() ==
          qps["got"].get<std::uint64_t>() + qps["none"].get<std::uint64_t>() +
              qps["overloaded"].get<std::uint64_t>());
    CHECK(qps["responses"] == qps["requests"]);
    CHECK(qps["latency_us"]["count"] == qps["responses"]);

    // Header + 1 connect row + 3 qps rows.
    const std::string rows = slurp(csv);
    CHECK(std::count(rows.begin(), rows.end(), '\n') == 5);
    CHECK(rows.find(",qps,2,1000,400,") != std::string::npos);
    std::remove(csv.c_str());
    std::remove(json.c_str());
    ::rmdir(dir.c_str());
}

namespace {

/// 40 connections of `workload` (claim or cycle, with `extra` options) against a fresh daemon,
/// smooth at 300 requests/s for 2 s; the load's JSON summary.
nlohmann::json run_workload(const std::string& workload, const std::vector<std::string>& extra) {
    int daemon_out = -1;
    const pid_t daemon = spawn({REDPACKETD_BINARY, "--port", "0", "--admin-port", "0", "--compat-mode", "true",
                                "--workers", "2", "--rate-limit", "100000"},
                               &daemon_out);
    const std::string ready = read_line(daemon_out, 5000);
    std::smatch m;
    const bool matched = std::regex_search(ready, m, std::regex{R"(ready port=(\d+))"});
    if (!matched) {
        ::kill(daemon, SIGKILL);
        ::waitpid(daemon, nullptr, 0);
    }
    REQUIRE(matched);
    char dir_template[] = "/tmp/redpacket-load-claims-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string json = std::string(dir_template) + "/run.json";
    std::vector<std::string> argv = {REDPACKET_LOAD_BINARY, "--port", m[1].str(), "--request", workload,
                                     "--mode", "smooth", "--quiet", "--max-seconds", "20", "--plan",
                                     "connect 40 @ 400/s; qps 300 for 2s", "--json", json};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const pid_t load = spawn(argv, nullptr);
    const int load_rc = wait_for(load, 15'000);
    ::kill(daemon, SIGTERM);
    CHECK(wait_for(daemon, 5'000) == 0);
    ::close(daemon_out);
    CHECK(load_rc == 0);
    auto j = nlohmann::json::parse(slurp(json), nullptr, false);
    std::remove(json.c_str());
    ::rmdir(dir_template);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["logged_in"] == 40);
    return j;
}

}  // namespace

TEST_CASE("the claim workload creates a packet per connection and claims the others' shares",
          "[load]") {
    // 40 packets of 40 shares; 600 claims, each a new (user, packet) pair until every
    // connection has claimed the 39 others (1,560 pairs).
    const auto j = run_workload("claim", {});
    const auto& qps = j["phases"][1];
    CHECK(qps["requests"] == 600);
    CHECK(qps["responses"] == 600);
    CHECK(qps["got"] == 600);  // every claim a share: claimed, none already_claimed
    CHECK(qps["errors"] == 0);
    // Each share is at least a cent; 40 packets of 4,000 cents hold all that was won.
    CHECK(qps["shake_cents"].get<std::uint64_t>() >= 600);
    CHECK(qps["shake_cents"].get<std::uint64_t>() <= 40 * 4000);
}

TEST_CASE("the claim workload with --claim-packets 1 puts every connection on one hot packet",
          "[load]") {
    // One packet of 40 shares (4,000 cents): each connection's first claim gets a share, every
    // later one is answered already_claimed.
    const auto j = run_workload("claim", {"--claim-packets", "1"});
    const auto& qps = j["phases"][1];
    CHECK(qps["responses"] == 600);
    CHECK(qps["got"] == 40);
    CHECK(qps["none"] == 560);
    CHECK(qps["errors"] == 0);
    CHECK(qps["shake_cents"] == 4000);  // the one packet, all of it
}

TEST_CASE("the cycle workload creates a one-share packet and claims it with the connection's next "
          "request",
          "[load]") {
    // Each connection alternates: a create (answered with the packet: counted "none"), then a
    // claim of that packet, which takes its one share, all 100 cents. A connection whose last
    // request was a create leaves one packet unclaimed: at most one per connection.
    const auto j = run_workload("cycle", {});
    const auto& qps = j["phases"][1];
    CHECK(qps["responses"] == 600);
    CHECK(qps["errors"] == 0);
    const auto claims = qps["got"].get<std::uint64_t>();
    const auto creates = qps["none"].get<std::uint64_t>();
    CHECK(claims + creates == 600);
    CHECK(creates >= claims);
    CHECK(creates - claims <= 40);
    // A claim that failed (already claimed, not found, expired) is counted "none" with the
    // creates: at about 15 requests per connection, 7 or so of each are claims that took.
    CHECK(claims >= 270);
    CHECK(qps["shake_cents"].get<std::uint64_t>() == 100 * claims);
}

TEST_CASE("closed loop against the echo server keeps every connection's requests in flight",
          "[load]") {
    int echo_out = -1;
    const pid_t echo = spawn({REDPACKET_ECHO_BINARY, "--port", "0"}, &echo_out);
    const std::string ready = read_line(echo_out, 5000);
    std::smatch m;
    const bool matched = std::regex_search(ready, m, std::regex{R"(ready port=(\d+))"});
    if (!matched) {
        ::kill(echo, SIGKILL);
        ::waitpid(echo, nullptr, 0);
    }
    REQUIRE(matched);

    char dir_template[] = "/tmp/redpacket-load-echo-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    const std::string json = std::string(dir_template) + "/run.json";
    const pid_t load = spawn({REDPACKET_LOAD_BINARY, "--port", m[1].str(), "--echo", "--mode",
                              "closed", "--inflight", "4", "--quiet", "--max-seconds", "20", "--spin",
                              "--server-pid", std::to_string(echo), "--plan",
                              "connect 20 @ 1000/s; qps 1 for 2s", "--json", json},
                             nullptr);
    const int load_rc = wait_for(load, 15'000);
    ::kill(echo, SIGTERM);
    const int echo_rc = wait_for(echo, 5'000);
    ::close(echo_out);

    CHECK(load_rc == 0);
    CHECK(echo_rc == 0);
    const auto j = nlohmann::json::parse(slurp(json), nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    CHECK(j["logged_in"] == 20);  // echoed logins count
    const auto& closed = j["phases"][1];
    // 20 connections x 4 in flight are primed at once; every echo refills its slot.
    CHECK(closed["requests"].get<std::uint64_t>() > 80);
    CHECK(closed["errors"] == 0);
    CHECK(closed["responses"] == closed["requests"]);  // the drain waits for the last ones
    CHECK(closed["none"] == closed["responses"]);
    CHECK(closed["target_qps"] == 0);
    CHECK(j["spin"] == true);  // busy-polled: the generator's own CPU shows it
    CHECK(closed["load_cpu_ms"].get<std::int64_t>() > 0);
    // The echo server's CPU time and memory were sampled at the phase edges.
    CHECK(closed["server_rss_end_kb"].get<std::int64_t>() > 0);
    CHECK(closed["server_cpu_ms"].get<std::int64_t>() >= 0);
    std::remove(json.c_str());
    ::rmdir(dir_template);
}

#endif

#if defined(REDPACKET_LOAD_BINARY)
TEST_CASE("redpacket-load and redpacket-echo print their version, commit and build type",
          "[load][version]") {
    for (const auto& [name, binary] : {std::pair{"redpacket-load", REDPACKET_LOAD_BINARY},
                                       std::pair{"redpacket-echo", REDPACKET_ECHO_BINARY}}) {
        INFO(name);
        FILE* pipe = ::popen((std::string(binary) + " --version").c_str(), "r");
        REQUIRE(pipe != nullptr);
        std::string out;
        std::array<char, 256> buffer{};
        while (std::fgets(buffer.data(), static_cast<int>(buffer.size()), pipe) != nullptr) {
            out += buffer.data();
        }
        const int status = ::pclose(pipe);
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
        CHECK(out == redpacket::build_info::version_line(name) + "\n");
    }
}
#endif
