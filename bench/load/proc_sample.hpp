// Resource use of another process (the daemon under load) from Linux /proc: CPU time
// (utime + stime) and resident set size. Pure functions plus one reader; thread-safe.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>

namespace redpacket::load {

struct ProcSample {
    std::uint64_t cpu_ms{0};  ///< user + system CPU time since the process started
    std::uint64_t rss_kb{0};  ///< resident set size (VmRSS)
};

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
