// Resource use of another process (the daemon under load) from Linux /proc: CPU time
// (utime + stime), resident set size, and what the scheduler did to it — time its serving
// threads were runnable but not running (schedstat's run-queue wait) and involuntary context
// switches: the evidence that a slow second was a preempted one. Pure functions
// plus one reader; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace redpacket::load {

struct ProcSample {
    std::uint64_t cpu_ms{0};  ///< user + system CPU time since the process started
    std::uint64_t rss_kb{0};  ///< resident set size (VmRSS)
    /// Of the threads that serve requests — redpacketd's rp-worker-N threads, or the main
    /// thread of a process without them — alive now (an exited thread's share leaves the sum:
    /// differences of two samples are clamped at 0 by their users).
    std::uint64_t runq_wait_us{0};  ///< runnable, not running (schedstat field 2)
    std::uint64_t nvcsw{0};         ///< involuntary context switches (preemptions)
};

/// Run-queue wait in ns from the text of /proc/<pid>/task/<tid>/schedstat ("run wait slices");
/// nullopt if malformed.
[[nodiscard]] std::optional<std::uint64_t> parse_schedstat_wait_ns(std::string_view schedstat);
/// nonvoluntary_ctxt_switches from the text of a status file; nullopt if absent.
[[nodiscard]] std::optional<std::uint64_t> parse_status_nvcsw(std::string_view status);

/// CPU ms from the text of /proc/<pid>/stat (fields 14 and 15, in clock ticks of
/// `ticks_per_second`). The command name (field 2) may hold spaces and parentheses: fields are
/// counted from its LAST ')'. nullopt if the text is malformed.
[[nodiscard]] std::optional<std::uint64_t> parse_stat_cpu_ms(std::string_view stat,
                                                             std::uint64_t ticks_per_second);
/// VmRSS in kB from the text of /proc/<pid>/status; nullopt if absent.
[[nodiscard]] std::optional<std::uint64_t> parse_status_rss_kb(std::string_view status);

/// Reads both files of `pid`; nullopt if the process is gone or the files are unreadable.
[[nodiscard]] std::optional<ProcSample> sample_process(pid_t pid);

}  // namespace redpacket::load
