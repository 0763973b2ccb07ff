// Plan parsing: a tiny tokenizer for the text form and nlohmann::json for the file form.
#include "plan.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace redpacket::load {
namespace {

constexpr std::uint32_t kMaxConnections = 1'000'000;
constexpr std::uint32_t kMaxRate = 10'000'000;
constexpr std::uint64_t kMaxDurationMs = 24ULL * 3600 * 1000;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) {
        s.remove_suffix(1);
    }
    return s;
}

// Splits on blanks, with '@' a token of its own ("2000@1000/s" reads as "2000 @ 1000/s").
std::vector<std::string_view> tokens_of(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < s.size()) {
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n') {
            ++i;
        } else if (s[i] == '@') {
            out.push_back(s.substr(i++, 1));
        } else {
            const std::size_t start = i;
            while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '@') {
                ++i;
            }
            out.push_back(s.substr(start, i - start));
        }
    }
    return out;
}

std::expected<std::uint32_t, std::string> parse_count(std::string_view s, std::string_view what,
                                                      std::uint32_t max) {
    std::uint64_t v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size()) {
        return std::unexpected(fmt::format("{}: '{}' is not a whole number", what, s));
    }
    if (v == 0 || v > max) {
        return std::unexpected(fmt::format("{}: {} is out of range 1..{}", what, v, max));
    }
    return static_cast<std::uint32_t>(v);
}

std::expected<Phase, std::string> parse_phase(std::string_view text) {
    const auto t = tokens_of(text);
    const auto usage = [&] {
        return std::unexpected(fmt::format(
            "cannot read phase '{}': expected 'connect N @ R/s', 'hold Ts' or 'qps Q for Ts'",
            text));
    };
    if (t.empty()) {
        return usage();
    }
    Phase p;
    if (t[0] == "connect" && t.size() == 4 && t[2] == "@") {
        std::string_view rate = t[3];
        if (rate.ends_with("/s")) {
            rate.remove_suffix(2);
        }
        auto n = parse_count(t[1], "connect count", kMaxConnections);
        auto r = n ? parse_count(rate, "connect rate", kMaxRate) : n;
        if (!r) {
            return std::unexpected(r.error());
        }
        p.kind = PhaseKind::connect;
        p.count = *n;
        p.rate = *r;
        return p;
    }
    if (t[0] == "hold" && t.size() == 2) {
        auto d = parse_duration_ms(t[1]);
        if (!d) {
            return std::unexpected(d.error());
        }
        p.kind = PhaseKind::hold;
        p.duration_ms = *d;
        return p;
    }
    if (t[0] == "qps" && t.size() == 4 && t[2] == "for") {
        auto q = parse_count(t[1], "qps", kMaxRate);
        if (!q) {
            return std::unexpected(q.error());
        }
        auto d = parse_duration_ms(t[3]);
        if (!d) {
            return std::unexpected(d.error());
        }
        p.kind = PhaseKind::qps;
        p.qps = *q;
        p.duration_ms = *d;
        return p;
    }
    return usage();
}

std::expected<Phase, std::string> phase_from_json(const nlohmann::json& j) {
    const auto duration = [](const nlohmann::json& v) -> std::expected<std::uint64_t, std::string> {
        if (v.is_number()) {
            return parse_duration_ms(fmt::format("{}s", v.get<double>()));
        }
        if (v.is_string()) {
            return parse_duration_ms(v.get<std::string>());
        }
        return std::unexpected(std::string("a duration must be a string or a number of seconds"));
    };
    const auto count = [](const nlohmann::json& v) -> std::uint64_t {
        return v.is_number_unsigned() ? v.get<std::uint64_t>() : 0;
    };
    if (!j.is_object()) {
        return std::unexpected(std::string("each phase must be a JSON object"));
    }
    if (j.contains("connect")) {
        return parse_phase(fmt::format("connect {} @ {}", count(j["connect"]),
                                       j.contains("rate") ? count(j["rate"]) : 0));
    }
    if (j.contains("hold")) {
        auto d = duration(j["hold"]);
        return d ? std::expected<Phase, std::string>{Phase{PhaseKind::hold, 0, 0, 0, *d}}
                 : std::unexpected(d.error());
    }
    if (j.contains("qps") && j.contains("for")) {
        auto d = duration(j["for"]);
        if (!d) {
            return std::unexpected(d.error());
        }
        return parse_phase(fmt::format("qps {} for {}ms", count(j["qps"]), *d));
    }
    return std::unexpected(fmt::format("unknown phase {}: expected a 'connect', 'hold' or "
                                       "'qps'+'for' key", j.dump()));
}

}  // namespace

std::string_view to_string(PhaseKind k) noexcept {
    switch (k) {
        case PhaseKind::connect: return "connect";
        case PhaseKind::hold: return "hold";
        case PhaseKind::qps: return "qps";
    }
    return "unknown";
}

std::expected<std::uint64_t, std::string> parse_duration_ms(std::string_view text) {
    std::string_view s = trim(text);
    double scale = 1000.0;
    if (s.ends_with("ms")) {
        s.remove_suffix(2);
        scale = 1.0;
    } else if (s.ends_with("s")) {
        s.remove_suffix(1);
    }
    double v = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || !std::isfinite(v)) {
        return std::unexpected(fmt::format("'{}' is not a duration (e.g. 10s, 500ms)", text));
    }
    const double ms = v * scale;
    if (ms < 1.0 || ms > static_cast<double>(kMaxDurationMs)) {
        return std::unexpected(fmt::format("duration '{}' is out of range 1ms..24h", text));
    }
    return static_cast<std::uint64_t>(std::llround(ms));
}

std::expected<Plan, std::string> validate_plan(std::vector<Phase> phases) {
    if (phases.empty()) {
        return std::unexpected(std::string("the plan is empty"));
    }
    if (phases.front().kind != PhaseKind::connect) {
        return std::unexpected(std::string("the plan must start with a connect phase"));
    }
    for (std::size_t i = 1; i < phases.size(); ++i) {
        if (phases[i].kind == PhaseKind::connect) {
            return std::unexpected(
                fmt::format("phase {}: only one connect phase is allowed (the first)", i + 1));
        }
    }
    return Plan{std::move(phases)};
}

std::expected<Plan, std::string> parse_plan(std::string_view text) {
    std::vector<Phase> phases;
    std::size_t start = 0;
    while (start <= text.size()) {
        std::size_t end = text.find(';', start);
        if (end == std::string_view::npos) {
            end = text.size();
        }
        const std::string_view part = trim(text.substr(start, end - start));
        if (!part.empty()) {
            auto p = parse_phase(part);
            if (!p) {
                return std::unexpected(fmt::format("phase {}: {}", phases.size() + 1, p.error()));
            }
            phases.push_back(*p);
        }
        start = end + 1;
    }
    return validate_plan(std::move(phases));
}

std::expected<Plan, std::string> parse_plan_json(std::string_view json) {
    const auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded() || !j.is_array()) {
        return std::unexpected(std::string("the plan file must hold a JSON list of phases"));
    }
    std::vector<Phase> phases;
    for (const auto& item : j) {
        auto p = phase_from_json(item);
        if (!p) {
            return std::unexpected(fmt::format("phase {}: {}", phases.size() + 1, p.error()));
        }
        phases.push_back(*p);
    }
    return validate_plan(std::move(phases));
}

}  // namespace redpacket::load
