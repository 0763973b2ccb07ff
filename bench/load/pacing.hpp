// Pacing: which user sends the i-th request of second s of a qps phase, and when. Pure
// arithmetic, no clock; the load generator walks (second, index) with it. Thread-safe.
//
// seed   — the original 2017 client's scheme: group g = max(1, N / qps); user u sends once in
//          second s when u % g == s % g, at the start of the second. So a second carries
//          about N / g requests — ≈ qps when qps ≤ N, and N when qps > N (each user then
//          sends once a second, as the original did).
// smooth — exactly qps requests a second, request i at i / qps s into the second, users taken
//          round-robin over the whole phase.
// closed — no schedule: each connection keeps K requests in flight (see LoadGenerator).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace redpacket::load {

/// How requests are paced in a qps phase.
enum class Mode : std::uint8_t { seed, smooth, closed };

/// "seed", "smooth" or "closed".
[[nodiscard]] std::string_view to_string(Mode m) noexcept;
/// The mode named `s`, or nullopt.
[[nodiscard]] std::optional<Mode> mode_from_string(std::string_view s) noexcept;

/// One scheduled request: who sends it and how far into its second.
struct Slot {
    std::uint32_t user{0};        ///< connection index, 0..N-1
    std::uint64_t offset_ns{0};   ///< from the start of the second
    friend bool operator==(const Slot&, const Slot&) = default;
};

/// The seed scheme's group size: max(1, users / qps).
[[nodiscard]] std::uint64_t seed_group(std::uint64_t users, std::uint64_t qps) noexcept;

/// True if `user` sends in `second` under the seed scheme (user % g == second % g).
[[nodiscard]] bool seed_sends(std::uint64_t user, std::uint64_t second, std::uint64_t users,
                              std::uint64_t qps) noexcept;

/// Requests scheduled in `second` of a phase: the seed count, or qps for smooth (0 for closed).
[[nodiscard]] std::uint64_t requests_in_second(Mode mode, std::uint64_t users, std::uint64_t qps,
                                               std::uint64_t second) noexcept;

/// The i-th request (0 ≤ i < requests_in_second) of `second`. Seed: users s % g, s % g + g, …
/// all at offset 0. Smooth: user (second · qps + i) mod N at offset ⌊i · 10⁹ / qps⌋ ns.
[[nodiscard]] Slot slot_of(Mode mode, std::uint64_t users, std::uint64_t qps, std::uint64_t second,
                           std::uint64_t i) noexcept;

}  // namespace redpacket::load
