#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "redpacket/latency_histogram.hpp"
#include "redpacket/random.hpp"

using namespace redpacket;

TEST_CASE("bucket bounds tile the value range without gaps", "[histogram]") {
    for (std::size_t i = 0; i + 1 < LatencyHistogram::kBucketCount; ++i) {
        INFO("bucket " << i);
        REQUIRE(LatencyHistogram::lower_bound(i) + LatencyHistogram::width(i) ==
                LatencyHistogram::lower_bound(i + 1));
        REQUIRE(LatencyHistogram::index_of(LatencyHistogram::lower_bound(i)) == i);
        REQUIRE(LatencyHistogram::index_of(LatencyHistogram::lower_bound(i + 1) - 1) == i);
    }
    CHECK(LatencyHistogram::index_of(UINT64_MAX) == LatencyHistogram::kBucketCount - 1);
    CHECK(LatencyHistogram::index_of(0) == 0);
}

TEST_CASE("an empty histogram reports zeros", "[histogram]") {
    LatencyHistogram h;
    CHECK(h.count() == 0);
    CHECK(h.min() == 0);
    CHECK(h.percentile(99) == 0);
    CHECK(h.summary().p50 == 0);
}

TEST_CASE("percentiles are within 1% of the exact order statistics", "[histogram]") {
    LatencyHistogram h;
    std::vector<std::uint64_t> values;
    Rng rng{8};
    for (int i = 0; i < 200000; ++i) {
        // Log-uniform from 100 ns to ~100 ms: every bucket scale gets exercised.
        const std::uint64_t v = 100 + (rng.below(1U << 20) << rng.below(17));
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    auto exact = [&](double p) {
        const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
        return values[std::max<std::size_t>(rank, 1) - 1];
    };
    const LatencySummary s = h.summary();
    const std::pair<double, std::uint64_t> cases[] = {
        {50.0, s.p50}, {90.0, s.p90}, {99.0, s.p99}, {99.9, s.p999}};
    for (const auto& [p, got] : cases) {
        INFO("p" << p);
        const double want = static_cast<double>(exact(p));
        CHECK(std::abs(static_cast<double>(got) - want) / want <= 0.01);
        CHECK(h.percentile(p) == got);
    }
    CHECK(s.count == values.size());
    CHECK(s.max == values.back());
    CHECK(s.min == values.front());
    CHECK(h.percentile(100) == values.back());
    CHECK(h.percentile(0) == values.front());
}

TEST_CASE("merging histograms equals recording everything in one", "[histogram]") {
    LatencyHistogram a;
    LatencyHistogram b;
    LatencyHistogram all;
    for (std::uint64_t v = 1; v < 100000; v += 7) {
        (v % 2 == 0 ? a : b).record(v * 13);
        all.record(v * 13);
    }
    LatencyHistogram merged = a;
    merged.merge(b);
    CHECK(merged.count() == all.count());
    CHECK(merged.max() == all.max());
    CHECK(merged.min() == all.min());
    const LatencySummary x = merged.summary();
    const LatencySummary y = all.summary();
    CHECK(x.p50 == y.p50);
    CHECK(x.p99 == y.p99);
    CHECK(x.p999 == y.p999);
    merged.reset();
    CHECK(merged.count() == 0);
    CHECK(merged.max() == 0);
}

TEST_CASE("huge values are clamped into the top bucket but the max stays exact", "[histogram]") {
    LatencyHistogram h;
    h.record(std::uint64_t{1} << 50);
    h.record(5);
    CHECK(h.max() == std::uint64_t{1} << 50);
    CHECK(h.percentile(100) == std::uint64_t{1} << 50);
    CHECK(h.percentile(50) == 5);
}

TEST_CASE("a reader may summarise while the writer records", "[histogram][mt]") {
    LatencyHistogram h;
    std::thread writer([&] {
        for (std::uint64_t i = 0; i < 200000; ++i) {
            h.record(1000 + i % 5000);
        }
    });
    std::uint64_t last = 0;
    bool monotonic = true;
    while (last < 200000) {
        const LatencySummary s = h.summary();
        monotonic = monotonic && s.count >= last;
        last = s.count;
    }
    writer.join();
    CHECK(monotonic);
    CHECK(h.count() == 200000);
    CHECK(h.max() == 5999);
}

TEST_CASE("percentile ranks do not round up on binary fractions", "[histogram]") {
    LatencyHistogram h;
    for (std::uint64_t v = 1; v <= 100; ++v) {
        h.record(v);
    }
    for (std::uint64_t p : {7U, 14U, 28U, 55U, 56U, 99U}) {
        CHECK(h.percentile(static_cast<double>(p)) == p);
    }
    LatencyHistogram outlier;
    for (int i = 0; i < 999; ++i) {
        outlier.record(1000);
    }
    outlier.record(1'000'000'000);
    CHECK(outlier.summary().p999 < 1100);
}

TEST_CASE("counts below bounds are cumulative and exact at bucket boundaries", "[histogram]") {
    redpacket::LatencyHistogram h;
    for (std::uint64_t ns : {10ULL, 100ULL, 255ULL, 256ULL, 1000ULL, 1023ULL, 1024ULL, 50'000ULL,
                             3'000'000'000ULL}) {
        h.record(ns);
    }
    // 256 and 1024 start buckets; 256 lies in [256, 258), so "below 257" leaves it out (one
    // bucket's width); 1000 starts [1000, 1004).
    const std::vector<std::uint64_t> bounds{1, 11, 256, 257, 1000, 1024, 1025, 1'000'000,
                                            UINT64_MAX};
    const auto counts = h.counts_below(bounds);
    CHECK(counts == std::vector<std::uint64_t>{0, 1, 3, 3, 4, 6, 6, 8, 9});
    CHECK(h.counts_below({}).empty());
}

TEST_CASE("the approximate sum is exact below 256 ns and within 0.4 % above", "[histogram]") {
    redpacket::LatencyHistogram h;
    CHECK(h.approximate_sum() == 0.0);
    double exact = 0;
    for (std::uint64_t ns = 1; ns < 256; ++ns) {
        h.record(ns);
        exact += static_cast<double>(ns);
    }
    CHECK(h.approximate_sum() == exact);
    std::uint64_t x = 12345;
    for (int i = 0; i < 10'000; ++i) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const std::uint64_t ns = 256 + (x >> 40) % 10'000'000;
        h.record(ns);
        exact += static_cast<double>(ns);
    }
    CHECK(h.approximate_sum() == Approx(exact).epsilon(0.004));
}

TEST_CASE("since() holds exactly the samples recorded after the earlier copy", "[histogram]") {
    redpacket::LatencyHistogram h;
    for (std::uint64_t ns = 1'000; ns < 2'000; ++ns) {
        h.record(ns);
    }
    h.record(9'000'000);  // an old outlier: not in the window
    const redpacket::LatencyHistogram before = h;
    CHECK(h.since(before).count() == 0);
    CHECK(h.since(before).max() == 0);
    for (int i = 0; i < 100; ++i) {
        h.record(50'000 + static_cast<std::uint64_t>(i));
    }
    const redpacket::LatencyHistogram window = h.since(before);
    CHECK(window.count() == 100);
    const auto s = window.summary();
    CHECK(s.p50 == Approx(50'050).epsilon(0.005));
    CHECK(s.max >= 50'099);
    CHECK(s.max <= 50'299);  // within 0.4 %
    CHECK(window.min() >= 49'800);
    CHECK(window.min() <= 50'000);
    CHECK(h.count() == 1'101);  // the histogram itself is unchanged
}
