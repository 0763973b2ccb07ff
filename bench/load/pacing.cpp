// Pacing arithmetic; see pacing.hpp for the schemes.
#include "pacing.hpp"

#include <algorithm>

namespace redpacket::load {

std::string_view to_string(Mode m) noexcept {
    switch (m) {
        case Mode::seed: return "seed";
        case Mode::smooth: return "smooth";
        case Mode::closed: return "closed";
    }
    return "unknown";
}

std::optional<Mode> mode_from_string(std::string_view s) noexcept {
    for (Mode m : {Mode::seed, Mode::smooth, Mode::closed}) {
        if (to_string(m) == s) {
            return m;
        }
    }
    return std::nullopt;
}

std::uint64_t seed_group(std::uint64_t users, std::uint64_t qps) noexcept {
    return qps == 0 ? 1 : std::max<std::uint64_t>(1, users / qps);
}

bool seed_sends(std::uint64_t user, std::uint64_t second, std::uint64_t users,
                std::uint64_t qps) noexcept {
    const std::uint64_t g = seed_group(users, qps);
    return user % g == second % g;
}

std::uint64_t requests_in_second(Mode mode, std::uint64_t users, std::uint64_t qps,
                                 std::uint64_t second) noexcept {
    switch (mode) {
        case Mode::seed: {
            const std::uint64_t g = seed_group(users, qps);
            const std::uint64_t r = second % g;
            return r < users ? (users - 1 - r) / g + 1 : 0;
        }
        case Mode::smooth: return users == 0 ? 0 : qps;
        case Mode::closed: return 0;
    }
    return 0;
}

Slot slot_of(Mode mode, std::uint64_t users, std::uint64_t qps, std::uint64_t second,
             std::uint64_t i) noexcept {
    if (mode == Mode::seed) {
        const std::uint64_t g = seed_group(users, qps);
        return Slot{static_cast<std::uint32_t>(second % g + i * g), 0};
    }
    if (users == 0 || qps == 0) {
        return Slot{};
    }
    const std::uint64_t user = ((second % users) * (qps % users) + i) % users;
    return Slot{static_cast<std::uint32_t>(user), i * 1'000'000'000ULL / qps};
}

}  // namespace redpacket::load
