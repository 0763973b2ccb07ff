// Split policies: how a packet of M cents becomes N shares.
//
// Every policy returns shares that sum to exactly M, each at least `min_share`, in the order
// they will be handed out (position i goes to the i-th claimer). Invalid input is an error
// value: M ≤ 0, M > kMaxPacketTotal, N = 0, N > kMaxShares, min_share < 1, M < N × min_share,
// or a policy-specific count rule (fixed needs N = 1). Deterministic: the same engine state
// gives the same shares. Pure functions; thread-safe as long as each thread uses its own Rng.
//
// Per-position moments (m = min_share, M' = M − N·m, position i counted from 1):
//
// * double_mean — WeChat's rule. Share i < N is uniform on [m, min(⌊2R/n⌋, R − (n−1)·m)],
//   R the money left and n = N − i + 1 the shares left; share N takes the rest.
//   Mean: M/N at every position (to within half a cent of rounding per draw).
//   Variance grows with position — the known position effect, later claimers see wider
//   swings. In the continuous limit (m → 0), with q_1 = 1 and
//   q_{i+1} = q_i · (1 − 2/n_i + 4/(3·n_i²)):  Var_i = q_i·M²·4/(3·n_i²) − (M/N)²  for i < N,
//   and Var_N = Var_{N−1}. For N = 2 both are M²/12; for N = 10 position 1 has M²/300,
//   position 5 about 1.10× that and positions 9 and 10 about 1.77×.
// * line_cut — N−1 distinct cut points chosen uniformly on the integer line of length
//   M' + N − 1; the shares are the gaps plus m. Every position has the same distribution:
//   mean M/N, variance M'·(M'+N)·(N−1) / (N²·(N+1)) (a uniform weak composition of M').
// * equal — ⌊M/N⌋ each, and the M mod N remainder cents one each to the first shares:
//   mean ⌊M/N⌋ + [i ≤ M mod N], variance 0.
// * fixed — exactly one share of M (shake packets). Mean M, variance 0.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/money.hpp"
#include "redpacket/random.hpp"

namespace redpacket {

/// The most shares one packet may have.
inline constexpr std::uint32_t kMaxShares = 100'000;

/// How a packet's total is divided among its shares.
enum class SplitPolicy : std::uint8_t { double_mean, line_cut, equal, fixed };

/// A stable name: "double_mean", "line_cut", "equal" or "fixed".
[[nodiscard]] std::string_view to_string(SplitPolicy p) noexcept;
/// Parses a name produced by `to_string`.
[[nodiscard]] std::optional<SplitPolicy> parse_split_policy(std::string_view name) noexcept;

/// Checks the arguments of a split without drawing anything.
[[nodiscard]] std::expected<void, Error> validate_split(SplitPolicy policy, Cents total,
                                                        std::uint32_t count,
                                                        Cents min_share = Cents{1}) noexcept;

/// Writes `out.size()` shares of `total` into `out`. Complexity: O(N) for double_mean and
/// equal; O(N log N) expected for line_cut (draw, sort, redraw duplicates).
[[nodiscard]] std::expected<void, Error> split_into(SplitPolicy policy, Cents total,
                                                    std::span<Cents> out, Cents min_share,
                                                    Rng& rng) noexcept;

/// Returns `count` shares of `total` (allocates the vector).
[[nodiscard]] std::expected<std::vector<Cents>, Error> split(SplitPolicy policy, Cents total,
                                                             std::uint32_t count, Cents min_share,
                                                             Rng& rng);

/// Mean and variance of one position's share, as documented above (statistics, not money).
struct ShareMoments {
    double mean;
    double variance;
};

/// The documented moments of position `index` (0-based) — double_mean uses its continuous
/// approximation. Used by the statistical tests and to document behaviour. {0, 0} for
/// arguments `validate_split` refuses or an index ≥ count.
[[nodiscard]] ShareMoments expected_moments(SplitPolicy policy, Cents total, std::uint32_t count,
                                            Cents min_share, std::uint32_t index) noexcept;

}  // namespace redpacket
