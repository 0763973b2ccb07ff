// One-line logs with level and UTC timestamp, formatted with fmt, written to stderr.
//
// Thread-safety: each line is formatted first and written with one fwrite, so lines from
// different threads do not interleave. Not for hot paths: log notable events only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string_view>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace redpacketd {

enum class LogLevel : int { debug = 0, info = 1, warn = 2, error = 3 };

/// The least severe level written; set once at start-up.
inline std::atomic<int> g_log_level{static_cast<int>(LogLevel::info)};

/// Parses "debug", "info", "warn" or "error" (anything else: info).
inline LogLevel parse_log_level(std::string_view s) noexcept {
    if (s == "debug") {
        return LogLevel::debug;
    }
    if (s == "warn") {
        return LogLevel::warn;
    }
    if (s == "error") {
        return LogLevel::error;
    }
    return LogLevel::info;
}

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (static_cast<int>(level) < g_log_level.load(std::memory_order_relaxed)) {
        return;
    }
    static constexpr std::string_view names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{:%Y-%m-%dT%H:%M:%S}.{:03}Z {} ",
                   std::chrono::floor<std::chrono::seconds>(now), ms.count() % 1000,
                   names[static_cast<int>(level)]);
    fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace redpacketd
