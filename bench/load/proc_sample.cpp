// /proc parsing for ProcSample.
#include "proc_sample.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace redpacket::load {
namespace {

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
        return std::nullopt;
    }
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::optional<std::uint64_t> to_u64(std::string_view s) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

}  // namespace

std::optional<std::uint64_t> parse_stat_cpu_ms(std::string_view stat,
                                               std::uint64_t ticks_per_second) {
    const auto close = stat.rfind(')');
    if (close == std::string_view::npos || ticks_per_second == 0) {
        return std::nullopt;
    }
    // After "pid (comm)" come fields 3, 4, ...: utime is field 14, stime field 15.
    std::string_view rest = stat.substr(close + 1);
    std::uint64_t ticks = 0;
    for (int field = 3; field <= 15; ++field) {
        const auto begin = rest.find_first_not_of(' ');
        if (begin == std::string_view::npos) {
            return std::nullopt;
        }
        rest.remove_prefix(begin);
        const auto end = rest.find_first_of(" \n");
        const std::string_view token = rest.substr(0, end);
        if (field >= 14) {
            const auto v = to_u64(token);
            if (!v) {
                return std::nullopt;
            }
            ticks += *v;
        }
        rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
    }
    return ticks * 1000 / ticks_per_second;
}

namespace {

/// The number after `key` on its line of a status file.
std::optional<std::uint64_t> status_field(std::string_view status, std::string_view key) {
    std::size_t at = 0;
    while (at < status.size()) {
        const auto eol = status.find('\n', at);
        const std::string_view line =
            status.substr(at, eol == std::string_view::npos ? std::string_view::npos : eol - at);
        if (line.starts_with(key)) {
            std::string_view v = line.substr(key.size());
            v.remove_prefix(std::min(v.find_first_not_of(" \t"), v.size()));
            v = v.substr(0, v.find(' '));
            return to_u64(v);
        }
        if (eol == std::string_view::npos) {
            break;
        }
        at = eol + 1;
    }
    return std::nullopt;
}

/// Adds the run-queue wait and involuntary switches of the threads that serve requests:
/// redpacketd's workers (named rp-worker-N) if `base` (/proc/<pid>) has any, else its main
/// thread (the generator's and the echo server's loop). Its admin thread and journal writers
/// are left out on purpose: they wait behind the busy-polling generator on the other core
/// without delaying a single reply.
void add_threads(const std::string& base, pid_t pid, ProcSample& out) {
    struct Task {
        bool worker{false};
        bool main{false};
        std::uint64_t wait_ns{0};
        std::uint64_t nvcsw{0};
    };
    std::vector<Task> tasks;
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
        const std::string dir = task.path().string();
        const auto comm = read_file(dir + "/comm");
        const auto schedstat = read_file(dir + "/schedstat");
        const auto status = read_file(dir + "/status");
        // A thread gone meanwhile counts 0.
        tasks.push_back({comm && comm->starts_with("rp-worker"),
                         task.path().filename() == std::to_string(pid),
                         (schedstat ? parse_schedstat_wait_ns(*schedstat) : std::nullopt).value_or(0),
                         (status ? parse_status_nvcsw(*status) : std::nullopt).value_or(0)});
    }
    const bool workers = std::ranges::any_of(tasks, &Task::worker);
    for (const Task& t : tasks) {
        if (workers ? t.worker : t.main) {
            out.runq_wait_us += t.wait_ns / 1000;
            out.nvcsw += t.nvcsw;
        }
    }
}

}  // namespace

std::optional<std::uint64_t> parse_status_rss_kb(std::string_view status) {
    return status_field(status, "VmRSS:");
}

std::optional<std::uint64_t> parse_status_nvcsw(std::string_view status) {
    return status_field(status, "nonvoluntary_ctxt_switches:");
}

std::optional<std::uint64_t> parse_schedstat_wait_ns(std::string_view schedstat) {
    const auto first = schedstat.find(' ');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view rest = schedstat.substr(first + 1);
    return to_u64(rest.substr(0, rest.find(' ')));
}

std::optional<ProcSample> sample_process(pid_t pid) {
    const std::string base = "/proc/" + std::to_string(pid);
    const auto stat = read_file(base + "/stat");
    const auto status = read_file(base + "/status");
    if (!stat || !status) {
        return std::nullopt;
    }
    const long ticks = sysconf(_SC_CLK_TCK);
    const auto cpu = parse_stat_cpu_ms(*stat, ticks > 0 ? static_cast<std::uint64_t>(ticks) : 100);
    const auto rss = parse_status_rss_kb(*status);
    if (!cpu || !rss) {
        return std::nullopt;
    }
    ProcSample sample{*cpu, *rss};
    add_threads(base, pid, sample);
    return sample;
}

}  // namespace redpacket::load
