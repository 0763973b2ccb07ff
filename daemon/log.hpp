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

/// The least severe level written; set at start-up and by SIGHUP.
inline std::atomic<int> g_log_level{static_cast<int>(LogLevel::info)};
/// One JSON object per line ({"time", "level", "msg"}) instead of text; set like the level.
inline std::atomic<bool> g_log_json{false};

/// Length of the well-formed UTF-8 sequence starting `text` (1..4), or 0 if it is ill-formed.
inline std::size_t utf8_sequence_length(std::string_view text) noexcept {
    const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    if (lead < 0x80) {
        return 1;
    }
    const std::size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3
                          : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
    if (n == 0 || text.size() < n) {
        return 0;
    }
    for (std::size_t i = 1; i < n; ++i) {
        if ((byte(i) & 0xC0) != 0x80) {
            return 0;
        }
    }
    const unsigned char second = byte(1);
    const bool overlong_or_surrogate = (lead == 0xE0 && second < 0xA0) ||
                                       (lead == 0xED && second > 0x9F) ||
                                       (lead == 0xF0 && second < 0x90) ||
                                       (lead == 0xF4 && second > 0x8F);
    return overlong_or_surrogate ? 0 : n;
}

/// Appends `text` as the inside of a JSON string: quotes, backslashes and control characters
/// escaped, each byte of an ill-formed UTF-8 sequence replaced by U+FFFD, so the line is
/// always valid JSON (a message may quote bytes from a config file or a peer).
inline void append_json_escaped(fmt::memory_buffer& out, std::string_view text) {
    while (!text.empty()) {
        const char c = text.front();
        const std::size_t n = utf8_sequence_length(text);
        if (n == 0) {
            out.append(std::string_view("\\ufffd"));
            text.remove_prefix(1);
            continue;
        }
        if (c == '"' || c == '\\') {
            out.push_back('\\');
            out.push_back(c);
        } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
            fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
            out.append(text.substr(0, n));
        }
        text.remove_prefix(n);
    }
}

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

/// Sets the level ("debug".."error") and format ("text" or "json") of the lines that follow:
/// at start-up and on SIGHUP.
inline void set_log_settings(std::string_view level, std::string_view format) noexcept {
    g_log_level.store(static_cast<int>(parse_log_level(level)));
    g_log_json.store(format == "json");
}

template <class... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
    if (static_cast<int>(level) < g_log_level.load(std::memory_order_relaxed)) {
        return;
    }
    static constexpr std::string_view names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    static constexpr std::string_view json_names[] = {"debug", "info", "warn", "error"};
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    const auto seconds = std::chrono::floor<std::chrono::seconds>(now);
    const auto index = static_cast<std::size_t>(level);
    fmt::memory_buffer line;
    if (g_log_json.load(std::memory_order_relaxed)) {
        fmt::memory_buffer message;
        fmt::format_to(std::back_inserter(message), format, std::forward<Args>(args)...);
        fmt::format_to(std::back_inserter(line),
                       R"({{"time":"{:%Y-%m-%dT%H:%M:%S}.{:03}Z","level":"{}","msg":")", seconds,
                       ms.count() % 1000, json_names[index]);
        append_json_escaped(line, std::string_view(message.data(), message.size()));
        line.append(std::string_view("\"}"));
    } else {
        fmt::format_to(std::back_inserter(line), "{:%Y-%m-%dT%H:%M:%S}.{:03}Z {} ", seconds,
                       ms.count() % 1000, names[index]);
        fmt::format_to(std::back_inserter(line), format, std::forward<Args>(args)...);
    }
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace redpacketd
