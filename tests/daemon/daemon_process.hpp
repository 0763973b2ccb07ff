// DaemonProcess: one real `redpacketd` child process for an integration test.
//
// The constructor spawns the binary (REDPACKETD_BINARY, or the REDPACKETD_BINARY environment
// variable when set) with `--port 0 --admin-port 0` plus the test's flags (and, for the built
// binary, `--compat-mode true` unless the flags set it), reads the single
// "redpacketd ready port=P admin_port=A workers=W sets=S" line from its stdout within a
// deadline and exposes the bound ports. The daemon's stderr (its log) goes to a temporary
// file; while a DaemonProcess is alive, a failed assertion prints the tail of that log (see
// the Catch listener in daemon_process.cpp). `stop()` sends SIGTERM and returns the exit
// status; the destructor stops a daemon that is still running, escalating to SIGKILL.
//
// Thread-safety: a DaemonProcess belongs to the test thread that made it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace redpacketd::testing {

/// A running redpacketd child process, stopped by the destructor at the latest.
class DaemonProcess {
public:
    /// Exit status `stop()` reports when the daemon had to be killed after its grace period.
    static constexpr int kKilled = -1;

    /// Spawns the daemon with `args` after `--port 0 --admin-port 0` and waits for its ready
    /// line. Throws std::runtime_error (with the log tail) if it exits or stays silent.
    explicit DaemonProcess(std::vector<std::string> args,
                           std::chrono::milliseconds ready_timeout = std::chrono::seconds{5});
    /// Stops the daemon if it still runs and removes its log file.
    ~DaemonProcess() noexcept;
    DaemonProcess(const DaemonProcess&) = delete;
    DaemonProcess& operator=(const DaemonProcess&) = delete;

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::uint16_t admin_port() const noexcept { return admin_port_; }
    [[nodiscard]] std::uint32_t workers() const noexcept { return workers_; }
    [[nodiscard]] std::uint32_t sets() const noexcept { return sets_; }
    [[nodiscard]] pid_t pid() const noexcept { return pid_; }
    /// True until the child has been reaped.
    [[nodiscard]] bool running() const noexcept { return pid_ > 0; }

    /// Sends SIGTERM and waits up to `grace` for the exit. Returns the exit code, 128 + the
    /// signal number if a signal ended it, or kKilled if it had to be SIGKILLed. Idempotent:
    /// later calls return the first result.
    int stop(std::chrono::milliseconds grace = std::chrono::seconds{5});
    /// SIGKILL now (a crash: nothing is flushed or closed) and reap. Idempotent like stop().
    int kill_hard();
    /// How long the last `stop()` waited for the exit.
    [[nodiscard]] std::chrono::milliseconds stop_duration() const noexcept { return stopped_in_; }

    /// The last `bytes` of the daemon's stderr log.
    [[nodiscard]] std::string log_tail(std::size_t bytes = 4096) const;
    /// The command line, for messages.
    [[nodiscard]] const std::string& command_line() const noexcept { return command_line_; }

private:
    void read_ready_line(std::chrono::milliseconds timeout);
    /// Waits up to `timeout` for the child; true once reaped (status in exit_status_).
    bool reap(std::chrono::milliseconds timeout);

    pid_t pid_{-1};
    int stdout_fd_{-1};
    std::string log_path_;
    std::string command_line_;
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
    std::uint32_t workers_{0};
    std::uint32_t sets_{0};
    int exit_status_{kKilled};
    std::chrono::milliseconds stopped_in_{0};
};

/// An empty directory of this test process for a daemon's journal:
/// `<temp>/redpacketd-<name>-<pid>`, removed first if an earlier run left it.
[[nodiscard]] std::filesystem::path fresh_temp_dir(std::string_view name);

}  // namespace redpacketd::testing
