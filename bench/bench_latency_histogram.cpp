// LatencyHistogram: record and summary.
//
// Samples are pregenerated (64 Ki of them, cycled) from a log-uniform distribution over
// 100 ns … 10 ms, so consecutive records hit unrelated buckets as real latencies do.
//
// Baseline: the naive exact approach — keep every sample in a std::vector<uint64_t>
// (push_back) and, to report, copy the window and std::nth_element it for p50, p90, p99 and
// p99.9 (each selection on the part left above the previous one), plus min/max. The copy is
// part of the fair cost: recording continues while a report is made, so the samples cannot be
// reordered in place. Its memory is 8 B per sample; the histogram's is fixed (~35 KiB).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "redpacket/latency_histogram.hpp"
#include "redpacket/random.hpp"

namespace {

using redpacket::LatencyHistogram;

constexpr std::size_t kSampleCount = 1U << 16;

const std::vector<std::uint64_t>& samples() {
    static const std::vector<std::uint64_t> values = [] {
        redpacket::Rng rng{2024};
        std::vector<std::uint64_t> v(kSampleCount);
        const double lo = std::log(100.0);
        const double hi = std::log(10'000'000.0);
        for (auto& x : v) {
            const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
            x = static_cast<std::uint64_t>(std::exp(lo + u * (hi - lo)));
        }
        return v;
    }();
    return values;
}

void BM_Histogram_Record(benchmark::State& state) {
    const auto& v = samples();
    auto h = std::make_unique<LatencyHistogram>();
    std::size_t i = 0;
    for (auto _ : state) {
        h->record(v[i++ & (kSampleCount - 1)]);
    }
    benchmark::DoNotOptimize(h->count());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["bytes"] = static_cast<double>(sizeof(LatencyHistogram));
}

void BM_NaiveVector_Record(benchmark::State& state) {
    const auto& v = samples();
    std::vector<std::uint64_t> window;
    std::size_t i = 0;
    for (auto _ : state) {
        window.push_back(v[i++ & (kSampleCount - 1)]);
        if (window.size() == (std::size_t{1} << 24)) {
            window.clear();  // a reporting interval ends; capacity is kept, as a real one would
        }
    }
    benchmark::DoNotOptimize(window.data());
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.counters["bytes_per_sample"] = static_cast<double>(sizeof(std::uint64_t));
}

// summary() over range(0) recorded samples: cost is per bucket, not per sample.
void BM_Histogram_Summary(benchmark::State& state) {
    const auto& v = samples();
    auto h = std::make_unique<LatencyHistogram>();
    for (std::int64_t i = 0; i < state.range(0); ++i) {
        h->record(v[static_cast<std::size_t>(i) & (kSampleCount - 1)]);
    }
    for (auto _ : state) {
        const redpacket::LatencySummary s = h->summary();
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

redpacket::LatencySummary naive_summary(const std::vector<std::uint64_t>& window,
                                        std::vector<std::uint64_t>& scratch) {
    scratch.assign(window.begin(), window.end());
    redpacket::LatencySummary s;
    s.count = scratch.size();
    const auto [lo, hi] = std::minmax_element(scratch.begin(), scratch.end());
    s.min = *lo;
    s.max = *hi;
    const double ps[] = {50.0, 90.0, 99.0, 99.9};
    std::uint64_t* outs[] = {&s.p50, &s.p90, &s.p99, &s.p999};
    auto from = scratch.begin();
    for (std::size_t k = 0; k < 4; ++k) {
        // Same rank rule as the histogram: the smallest r with r ≥ p% · count (1-based).
        const auto rank = static_cast<std::size_t>(
            std::ceil(ps[k] / 100.0 * static_cast<double>(scratch.size())));
        const auto nth = scratch.begin() + static_cast<std::ptrdiff_t>(std::max<std::size_t>(rank, 1) - 1);
        std::nth_element(from, nth, scratch.end());
        *outs[k] = *nth;
        from = nth;
    }
    return s;
}

void BM_NaiveVector_Summary(benchmark::State& state) {
    const auto& v = samples();
    std::vector<std::uint64_t> window(static_cast<std::size_t>(state.range(0)));
    for (std::size_t i = 0; i < window.size(); ++i) {
        window[i] = v[i & (kSampleCount - 1)];
    }
    std::vector<std::uint64_t> scratch;
    for (auto _ : state) {
        const redpacket::LatencySummary s = naive_summary(window, scratch);
        benchmark::DoNotOptimize(s);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

// Accuracy check for the report: the histogram's p99 against the exact one, in parts per
// million of the exact value (the header promises within 0.4%, i.e. ≤ 4000 ppm).
void BM_Histogram_P99ErrorPpm(benchmark::State& state) {
    const auto& v = samples();
    auto h = std::make_unique<LatencyHistogram>();
    for (const std::uint64_t x : v) {
        h->record(x);
    }
    std::vector<std::uint64_t> scratch;
    redpacket::LatencySummary exact;
    redpacket::LatencySummary approx;
    for (auto _ : state) {
        exact = naive_summary(v, scratch);
        approx = h->summary();
    }
    const auto err = [](std::uint64_t a, std::uint64_t e) {
        return std::abs(static_cast<double>(a) - static_cast<double>(e)) /
               static_cast<double>(e) * 1e6;
    };
    state.counters["p50_err_ppm"] = err(approx.p50, exact.p50);
    state.counters["p99_err_ppm"] = err(approx.p99, exact.p99);
    state.counters["p999_err_ppm"] = err(approx.p999, exact.p999);
}

}  // namespace

BENCHMARK(BM_Histogram_Record);
BENCHMARK(BM_NaiveVector_Record);
BENCHMARK(BM_Histogram_Summary)->ArgName("samples")->Arg(10'000)->Arg(1'000'000);
BENCHMARK(BM_NaiveVector_Summary)
    ->ArgName("samples")
    ->Arg(10'000)
    ->Arg(1'000'000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Histogram_P99ErrorPpm)->Iterations(1);

BENCHMARK_MAIN();
