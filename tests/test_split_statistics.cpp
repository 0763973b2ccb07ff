// Statistical checks of the documented per-position moments, over 100,000 seeded packets each.
// Seeds are fixed, so these are deterministic; tolerances are several standard errors wide.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <vector>

#include "redpacket/split.hpp"

using namespace redpacket;

namespace {

constexpr int kPackets = 100'000;
constexpr std::uint32_t kShares = 10;
constexpr Cents kTotal{100'000};

struct PositionStats {
    std::vector<double> mean;
    std::vector<double> variance;
    std::vector<std::vector<std::int64_t>> samples;  // per position
};

PositionStats sample(SplitPolicy policy, std::uint64_t seed) {
    Rng rng{seed};
    PositionStats st;
    st.samples.assign(kShares, {});
    for (auto& s : st.samples) {
        s.reserve(kPackets);
    }
    std::vector<Cents> shares(kShares);
    for (int p = 0; p < kPackets; ++p) {
        REQUIRE(split_into(policy, kTotal, shares, Cents{1}, rng).has_value());
        for (std::uint32_t i = 0; i < kShares; ++i) {
            st.samples[i].push_back(shares[i].value);
        }
    }
    for (const auto& s : st.samples) {
        double sum = 0;
        for (auto v : s) {
            sum += static_cast<double>(v);
        }
        const double mean = sum / kPackets;
        double sq = 0;
        for (auto v : s) {
            sq += (static_cast<double>(v) - mean) * (static_cast<double>(v) - mean);
        }
        st.mean.push_back(mean);
        st.variance.push_back(sq / (kPackets - 1));
    }
    return st;
}

// Fraction of a position's samples at or below `t`.
double cdf(const std::vector<std::int64_t>& s, std::int64_t t) {
    return static_cast<double>(std::count_if(s.begin(), s.end(), [t](auto v) { return v <= t; })) /
           static_cast<double>(s.size());
}

}  // namespace

TEST_CASE("double_mean: every position averages M/N and variance grows with position",
          "[split][statistics]") {
    const PositionStats st = sample(SplitPolicy::double_mean, 20240101);
    const double fair = static_cast<double>(kTotal.value) / kShares;
    for (std::uint32_t i = 0; i < kShares; ++i) {
        INFO("position " << i);
        CHECK(std::abs(st.mean[i] - fair) / fair < 0.01);
        const ShareMoments want = expected_moments(SplitPolicy::double_mean, kTotal, kShares,
                                                   Cents{1}, i);
        CHECK(std::abs(st.mean[i] - want.mean) / want.mean < 0.01);
        CHECK(std::abs(st.variance[i] - want.variance) / want.variance < 0.05);
    }
    // The known position effect: later claimers see wider swings.
    for (std::uint32_t i = 0; i + 2 < kShares; ++i) {
        INFO("positions " << i << " and " << i + 1);
        CHECK(st.variance[i + 1] > st.variance[i]);
    }
    CHECK(st.variance[kShares - 1] > 1.6 * st.variance[0]);  // 1.77× documented
    // The last two positions have the same distribution.
    CHECK(std::abs(st.variance[kShares - 1] - st.variance[kShares - 2]) / st.variance[kShares - 1] <
          0.05);
}

TEST_CASE("line_cut: every position has the same mean, variance and distribution",
          "[split][statistics]") {
    const PositionStats st = sample(SplitPolicy::line_cut, 777);
    const ShareMoments want = expected_moments(SplitPolicy::line_cut, kTotal, kShares, Cents{1}, 0);
    for (std::uint32_t i = 0; i < kShares; ++i) {
        INFO("position " << i);
        CHECK(std::abs(st.mean[i] - want.mean) / want.mean < 0.01);
        CHECK(std::abs(st.variance[i] - want.variance) / want.variance < 0.05);
    }
    // Indistinguishable: empirical CDFs of the first and every other position agree within a
    // two-sample Kolmogorov–Smirnov bound (α = 0.001 gives 1.95·sqrt(2/n) ≈ 0.0087).
    for (std::int64_t t : {1000, 3000, 6000, 10000, 15000, 25000, 40000}) {
        const double first = cdf(st.samples[0], t);
        for (std::uint32_t i = 1; i < kShares; ++i) {
            INFO("threshold " << t << " position " << i);
            CHECK(std::abs(cdf(st.samples[i], t) - first) < 0.0087);
        }
    }
}

TEST_CASE("line_cut with a minimum share matches its documented variance",
          "[split][statistics]") {
    Rng rng{99};
    const Cents total{5000};
    const Cents min_share{100};
    constexpr std::uint32_t n = 5;
    std::vector<Cents> shares(n);
    double sum = 0;
    double sq = 0;
    for (int p = 0; p < kPackets; ++p) {
        REQUIRE(split_into(SplitPolicy::line_cut, total, shares, min_share, rng).has_value());
        const auto v = static_cast<double>(shares[2].value);
        sum += v;
        sq += v * v;
    }
    const double mean = sum / kPackets;
    const double variance = sq / kPackets - mean * mean;
    const ShareMoments want = expected_moments(SplitPolicy::line_cut, total, n, min_share, 2);
    CHECK(std::abs(mean - want.mean) / want.mean < 0.01);
    CHECK(std::abs(variance - want.variance) / want.variance < 0.05);
}

TEST_CASE("equal has exact per-position amounts over many packets", "[split][statistics]") {
    const PositionStats st = sample(SplitPolicy::equal, 1);
    for (std::uint32_t i = 0; i < kShares; ++i) {
        const ShareMoments want = expected_moments(SplitPolicy::equal, kTotal, kShares, Cents{1}, i);
        CHECK(st.mean[i] == want.mean);
        CHECK(st.variance[i] == 0.0);
    }
}
