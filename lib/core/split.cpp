// Split policies. Integer arithmetic only: every share is computed in cents from the engine's
// integer draws, so the sum is exact by construction (the last share, or the gaps of a line,
// take whatever is left).
#include "redpacket/split.hpp"

#include <algorithm>
#include <cassert>

namespace redpacket {
namespace {

void split_double_mean(Cents total, std::span<Cents> out, Cents min_share, Rng& rng) noexcept {
    std::int64_t rest = total.value;
    const std::int64_t m = min_share.value;
    const auto n_total = static_cast<std::int64_t>(out.size());
    for (std::int64_t i = 0; i + 1 < n_total; ++i) {
        const std::int64_t left = n_total - i;  // shares still to draw, ≥ 2
        const std::int64_t hi = std::min(2 * rest / left, rest - (left - 1) * m);
        const std::int64_t share = rng.between(m, hi);
        out[static_cast<std::size_t>(i)] = Cents{share};
        rest -= share;
    }
    out.back() = Cents{rest};
}

void split_equal(Cents total, std::span<Cents> out) noexcept {
    const auto n = static_cast<std::int64_t>(out.size());
    const std::int64_t each = total.value / n;
    const std::int64_t extra = total.value % n;
    for (std::int64_t i = 0; i < n; ++i) {
        out[static_cast<std::size_t>(i)] = Cents{each + (i < extra ? 1 : 0)};
    }
}

// Cut points are drawn into `out` (as raw values) and turned into gaps in place.
// The line is {1, …, L} with L = M' + N − 1 and M' = M − N·min; k = N − 1 distinct points.
void choose_sorted_points(std::span<Cents> pts, std::int64_t line, Rng& rng) noexcept {
    const auto k = static_cast<std::int64_t>(pts.size());
    if (k == 0) {
        return;
    }
    if (line <= 4 * k) {
        // Dense: selection sampling (Knuth's Algorithm S), exact and already sorted.
        std::int64_t needed = k;
        std::size_t at = 0;
        for (std::int64_t v = 1; v <= line && needed > 0; ++v) {
            const std::int64_t remaining = line - v + 1;
            if (static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(remaining))) <
                needed) {
                pts[at++] = Cents{v};
                --needed;
            }
        }
        return;
    }
    // Sparse: draw, sort, drop duplicates, redraw the missing ones. The final set is the set of
    // the first k distinct values of an i.i.d. uniform stream, hence a uniform k-subset.
    std::size_t have = 0;
    while (have < pts.size()) {
        for (std::size_t i = have; i < pts.size(); ++i) {
            pts[i] = Cents{rng.between(1, line)};
        }
        std::sort(pts.begin(), pts.end());
        have = static_cast<std::size_t>(std::unique(pts.begin(), pts.end()) - pts.begin());
    }
}

void split_line_cut(Cents total, std::span<Cents> out, Cents min_share, Rng& rng) noexcept {
    const auto n = static_cast<std::int64_t>(out.size());
    const std::int64_t spare = total.value - n * min_share.value;  // M'
    const std::int64_t line = spare + n - 1;
    auto points = out.first(out.size() - 1);
    choose_sorted_points(points, line, rng);
    // Gaps between consecutive points (with virtual points 0 and L + 1), minus the cut itself.
    std::int64_t prev = 0;
    for (std::size_t i = 0; i < points.size(); ++i) {
        const std::int64_t p = points[i].value;
        out[i] = Cents{p - prev - 1 + min_share.value};
        prev = p;
    }
    out.back() = Cents{line + 1 - prev - 1 + min_share.value};
}

}  // namespace

std::string_view to_string(SplitPolicy p) noexcept {
    switch (p) {
        case SplitPolicy::double_mean: return "double_mean";
        case SplitPolicy::line_cut: return "line_cut";
        case SplitPolicy::equal: return "equal";
        case SplitPolicy::fixed: return "fixed";
    }
    return "unknown";
}

std::optional<SplitPolicy> parse_split_policy(std::string_view name) noexcept {
    for (auto p : {SplitPolicy::double_mean, SplitPolicy::line_cut, SplitPolicy::equal,
                   SplitPolicy::fixed}) {
        if (to_string(p) == name) {
            return p;
        }
    }
    return std::nullopt;
}

std::expected<void, Error> validate_split(SplitPolicy policy, Cents total, std::uint32_t count,
                                          Cents min_share) noexcept {
    if (count == 0 || count > kMaxShares) {
        return std::unexpected(Error::invalid_count);
    }
    if (policy == SplitPolicy::fixed && count != 1) {
        return std::unexpected(Error::invalid_count);
    }
    if (min_share.value < 1 || min_share > kMaxPacketTotal) {
        return std::unexpected(Error::invalid_argument);
    }
    if (total.value <= 0 || total > kMaxPacketTotal) {
        return std::unexpected(Error::invalid_amount);
    }
    // count ≤ 1e5 and min_share ≤ 1e15 would overflow the product: compare by division.
    if (total.value / static_cast<std::int64_t>(count) < min_share.value) {
        return std::unexpected(Error::invalid_amount);
    }
    if (policy != SplitPolicy::double_mean && policy != SplitPolicy::line_cut &&
        policy != SplitPolicy::equal && policy != SplitPolicy::fixed) {
        return std::unexpected(Error::invalid_argument);
    }
    return {};
}

std::expected<void, Error> split_into(SplitPolicy policy, Cents total, std::span<Cents> out,
                                      Cents min_share, Rng& rng) noexcept {
    if (out.size() > kMaxShares) {
        return std::unexpected(Error::invalid_count);
    }
    if (auto ok = validate_split(policy, total, static_cast<std::uint32_t>(out.size()), min_share);
        !ok) {
        return ok;
    }
    switch (policy) {
        case SplitPolicy::double_mean: split_double_mean(total, out, min_share, rng); break;
        case SplitPolicy::line_cut: split_line_cut(total, out, min_share, rng); break;
        case SplitPolicy::equal: split_equal(total, out); break;
        case SplitPolicy::fixed: out[0] = total; break;
    }
    return {};
}

std::expected<std::vector<Cents>, Error> split(SplitPolicy policy, Cents total,
                                               std::uint32_t count, Cents min_share, Rng& rng) {
    if (auto ok = validate_split(policy, total, count, min_share); !ok) {
        return std::unexpected(ok.error());
    }
    std::vector<Cents> shares(count);
    if (auto ok = split_into(policy, total, shares, min_share, rng); !ok) {
        return std::unexpected(ok.error());
    }
    return shares;
}

ShareMoments expected_moments(SplitPolicy policy, Cents total, std::uint32_t count,
                              Cents min_share, std::uint32_t index) noexcept {
    if (!validate_split(policy, total, count, min_share) || index >= count) {
        return {0.0, 0.0};
    }
    const double m = static_cast<double>(total.value);
    const double n = static_cast<double>(count);
    switch (policy) {
        case SplitPolicy::double_mean: {
            double q = 1.0;  // E[R_i^2] / M^2
            const std::uint32_t last_drawn = std::min(index, count >= 2 ? count - 2 : 0U);
            for (std::uint32_t i = 0; i < last_drawn; ++i) {
                const double left = n - static_cast<double>(i);
                q *= 1.0 - 2.0 / left + 4.0 / (3.0 * left * left);
            }
            if (count == 1) {
                return {m, 0.0};
            }
            const double left = n - static_cast<double>(last_drawn);
            const double second_moment = q * m * m * 4.0 / (3.0 * left * left);
            return {m / n, second_moment - (m / n) * (m / n)};
        }
        case SplitPolicy::line_cut: {
            const double spare = m - n * static_cast<double>(min_share.value);
            return {m / n, spare * (spare + n) * (n - 1.0) / (n * n * (n + 1.0))};
        }
        case SplitPolicy::equal: {
            const std::int64_t each = total.value / count;
            const bool extra = index < static_cast<std::uint64_t>(total.value % count);
            return {static_cast<double>(each + (extra ? 1 : 0)), 0.0};
        }
        case SplitPolicy::fixed: return {m, 0.0};
    }
    return {0.0, 0.0};
}

}  // namespace redpacket
