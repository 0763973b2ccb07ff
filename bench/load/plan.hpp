// Plan: the phases of a load run — connect N users at R/s, hold, then paced request phases —
// parsed from the `--plan` text ("connect 2000 @ 1000/s; hold 2s; qps 3000 for 10s") or from a
// JSON list. Pure values and pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace redpacket::load {

/// What a phase does.
enum class PhaseKind : std::uint8_t {
    connect,  ///< open and log in `count` connections at `rate` per second
    hold,     ///< stay connected, send nothing, for `duration_ms`
    qps,      ///< send `qps` requests per second for `duration_ms`
};

/// A stable name: "connect", "hold" or "qps".
[[nodiscard]] std::string_view to_string(PhaseKind k) noexcept;

/// One step of a plan.
struct Phase {
    PhaseKind kind{PhaseKind::hold};
    std::uint32_t count{0};        ///< connect: connections to open
    std::uint32_t rate{0};         ///< connect: connections per second
    std::uint32_t qps{0};          ///< qps: target requests per second
    std::uint64_t duration_ms{0};  ///< hold and qps
    friend bool operator==(const Phase&, const Phase&) = default;
};

/// A validated plan: exactly one connect phase, and it comes first.
struct Plan {
    std::vector<Phase> phases;
    /// The connections the plan opens.
    [[nodiscard]] std::uint32_t connections() const noexcept {
        return phases.empty() ? 0 : phases.front().count;
    }
};

/// Parses "connect N @ R/s; hold Ts; qps Q for Ts" (durations in s or ms; "/s" optional).
[[nodiscard]] std::expected<Plan, std::string> parse_plan(std::string_view text);

/// Parses a JSON list such as [{"connect": 2000, "rate": 1000}, {"hold": "2s"},
/// {"qps": 3000, "for": "10s"}]; durations are strings as in the text form or numbers of seconds.
[[nodiscard]] std::expected<Plan, std::string> parse_plan_json(std::string_view json);

/// Checks the cross-phase rules (one connect phase, first; limits) shared by both parsers.
[[nodiscard]] std::expected<Plan, std::string> validate_plan(std::vector<Phase> phases);

/// Parses "2s", "500ms", "1.5s" or a bare number of seconds, into milliseconds.
[[nodiscard]] std::expected<std::uint64_t, std::string> parse_duration_ms(std::string_view text);

}  // namespace redpacket::load
