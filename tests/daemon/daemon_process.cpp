// DaemonProcess: posix_spawn, the ready line, SIGTERM / SIGKILL, and a Catch listener that
// prints the log tail of every live daemon when an assertion fails.
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // for Catch::TestEventListenerBase
#include "daemon_process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace redpacketd::testing {
namespace {

using Clock = std::chrono::steady_clock;

#ifdef REDPACKETD_BINARY
constexpr const char* kBuiltBinary = REDPACKETD_BINARY;
#else
constexpr const char* kBuiltBinary = "";
#endif

std::string binary_path() {
    if (const char* env = std::getenv("REDPACKETD_BINARY"); env != nullptr && *env != '\0') {
        return env;
    }
    return kBuiltBinary;
}

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::chrono::milliseconds since(Clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Live daemons, so the listener can print their logs when an assertion fails.
std::mutex g_live_mutex;
std::set<const DaemonProcess*> g_live;
std::set<const DaemonProcess*> g_dumped;  // logs already printed for the current test case

void dump_live_logs() {
    const std::lock_guard lock(g_live_mutex);
    for (const DaemonProcess* d : g_live) {
        if (!g_dumped.insert(d).second) {
            continue;
        }
        std::fprintf(stderr,
                     "---- redpacketd log tail (pid %d: %s) ----\n%s\n---- end of log ----\n",
                     static_cast<int>(d->pid()), d->command_line().c_str(), d->log_tail().c_str());
    }
}

/// Prints the daemon logs once per test case, at the first failed assertion or exception.
struct DaemonLogListener : Catch::TestEventListenerBase {
    using TestEventListenerBase::TestEventListenerBase;

    void testCaseStarting(const Catch::TestCaseInfo& info) override {
        TestEventListenerBase::testCaseStarting(info);
        const std::lock_guard lock(g_live_mutex);
        g_dumped.clear();
    }

    bool assertionEnded(const Catch::AssertionStats& stats) override {
        if (!stats.assertionResult.isOk()) {
            dump_live_logs();
        }
        return true;
    }
};

}  // namespace

CATCH_REGISTER_LISTENER(DaemonLogListener)

DaemonProcess::DaemonProcess(std::vector<std::string> args,
                             std::chrono::milliseconds ready_timeout) {
    const std::string binary = binary_path();
    if (binary.empty()) {
        throw std::runtime_error("REDPACKETD_BINARY is not defined: build the redpacketd target");
    }
    // The built daemon keeps the 2017 protocol's login (compat mode, off by default) unless the
    // test says otherwise: most tests log in that way. A binary from REDPACKETD_BINARY (the
    // installed package) runs with the test's flags alone.
    const char* chosen = std::getenv("REDPACKETD_BINARY");
    const bool built = chosen == nullptr || *chosen == '\0';  // as binary_path() reads it
    if (built && std::ranges::none_of(args, [](const std::string& a) {
            return a.starts_with("--compat-mode");
        })) {
        args.insert(args.begin(), {"--compat-mode", "true"});
    }
    args.insert(args.begin(), {binary, "--port", "0", "--admin-port", "0"});
    for (const std::string& a : args) {
        command_line_ += (command_line_.empty() ? "" : " ") + a;
    }

    char log_template[] = "/tmp/redpacketd-test-XXXXXX.log";
    const int log_fd = ::mkostemps(log_template, 4, O_CLOEXEC);
    if (log_fd < 0) {
        fail_errno("mkostemps");
    }
    log_path_ = log_template;
    int out[2] = {-1, -1};
    if (::pipe2(out, O_CLOEXEC) != 0) {
        ::close(log_fd);
        ::unlink(log_path_.c_str());
        fail_errno("pipe2");
    }

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);  // dup2 clears O_CLOEXEC
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    std::vector<char*> argv;
    for (std::string& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int rc = ::posix_spawn(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(log_fd);
    if (rc != 0) {
        ::close(out[0]);
        ::unlink(log_path_.c_str());
        throw std::runtime_error("posix_spawn " + binary + ": " + std::strerror(rc));
    }
    pid_ = pid;
    stdout_fd_ = out[0];
    {
        const std::lock_guard lock(g_live_mutex);
        g_live.insert(this);
    }
    try {
        read_ready_line(ready_timeout);
    } catch (...) {
        stop(std::chrono::seconds{1});
        const std::lock_guard lock(g_live_mutex);
        g_live.erase(this);
        g_dumped.erase(this);
        ::close(stdout_fd_);
        ::unlink(log_path_.c_str());
        throw;
    }
}

DaemonProcess::~DaemonProcess() noexcept {
    try {
        stop();
    } catch (...) {
        // A destructor must not throw; a leftover child is reaped by the test runner's exit.
    }
    {
        const std::lock_guard lock(g_live_mutex);
        g_live.erase(this);
        g_dumped.erase(this);
    }
    if (stdout_fd_ >= 0) {
        ::close(stdout_fd_);
    }
    ::unlink(log_path_.c_str());
}

void DaemonProcess::read_ready_line(std::chrono::milliseconds timeout) {
    const auto start = Clock::now();
    std::string line;
    while (line.find('\n') == std::string::npos) {
        const auto left = timeout - since(start);
        if (left.count() <= 0) {
            throw std::runtime_error("no ready line within " + std::to_string(timeout.count()) +
                                     " ms from `" + command_line_ + "`; log:\n" + log_tail());
        }
        pollfd p{stdout_fd_, POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) {
            fail_errno("poll");
        }
        if (n <= 0) {
            continue;
        }
        char buf[256];
        const ssize_t got = ::read(stdout_fd_, buf, sizeof buf);
        if (got < 0 && errno != EINTR) {
            fail_errno("read");
        }
        if (got == 0) {
            reap(std::chrono::milliseconds{500});
            throw std::runtime_error("`" + command_line_ + "` exited (status " +
                                     std::to_string(exit_status_) +
                                     ") before its ready line; log:\n" + log_tail());
        }
        if (got > 0) {
            line.append(buf, static_cast<std::size_t>(got));
        }
    }
    line.resize(line.find('\n'));
    std::istringstream words(line);
    std::string word;
    words >> word;
    std::string ready;
    words >> ready;
    if (word != "redpacketd" || ready != "ready") {
        throw std::runtime_error("unexpected first stdout line: \"" + line + "\"");
    }
    const auto parse = [&](std::string_view text, auto& field) {
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), field);
        if (ec != std::errc{} || end != text.data() + text.size()) {
            throw std::runtime_error("bad number in ready line: \"" + line + "\"");
        }
    };
    while (words >> word) {
        const auto eq = word.find('=');
        const std::string_view key = std::string_view(word).substr(0, eq);
        const std::string_view value =
            eq == std::string::npos ? std::string_view{} : std::string_view(word).substr(eq + 1);
        if (key == "port") {
            parse(value, port_);
        } else if (key == "admin_port") {
            parse(value, admin_port_);
        } else if (key == "workers") {
            parse(value, workers_);
        } else if (key == "sets") {
            parse(value, sets_);
        }
    }
    if (port_ == 0 || admin_port_ == 0 || workers_ == 0 || sets_ == 0) {
        throw std::runtime_error("incomplete ready line: \"" + line + "\"");
    }
}

bool DaemonProcess::reap(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) {
        return true;
    }
    const auto start = Clock::now();
    for (;;) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_status_ = WIFEXITED(status)     ? WEXITSTATUS(status)
                           : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                                 : kKilled;
            pid_ = -1;
            return true;
        }
        if (r < 0 && errno != EINTR) {
            pid_ = -1;  // not our child any more (should not happen)
            exit_status_ = kKilled;
            return true;
        }
        if (since(start) >= timeout) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{5});
    }
}

int DaemonProcess::stop(std::chrono::milliseconds grace) {
    if (pid_ <= 0) {
        return exit_status_;
    }
    const auto start = Clock::now();
    ::kill(pid_, SIGTERM);
    if (!reap(grace)) {
        ::kill(pid_, SIGKILL);
        reap(std::chrono::seconds{5});
        exit_status_ = kKilled;
    }
    stopped_in_ = since(start);
    return exit_status_;
}

int DaemonProcess::kill_hard() {
    if (pid_ <= 0) {
        return exit_status_;
    }
    const auto start = Clock::now();
    ::kill(pid_, SIGKILL);
    reap(std::chrono::seconds{5});
    stopped_in_ = since(start);
    return exit_status_;
}

std::string DaemonProcess::log_tail(std::size_t bytes) const {
    std::ifstream in(log_path_, std::ios::binary);
    if (!in) {
        return "(no log file)";
    }
    std::string all{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    return all.size() <= bytes ? all : all.substr(all.size() - bytes);
}

std::filesystem::path fresh_temp_dir(std::string_view name) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("redpacketd-" + std::string{name} + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    return dir;
}

}  // namespace redpacketd::testing
