// Split policies: how fast a packet's total becomes N shares.
//
// BM_Split/<policy>/N calls split_into on a preallocated span with the library's Rng, as
// RedPacketPool::create does. BM_SplitNaive_DoubleMean/N is the textbook version of the same
// rule (WeChat's double mean): std::mt19937_64, a fresh std::uniform_int_distribution per draw
// and a std::vector allocated per packet. Items are shares, so items/s compare across N.
// Every packet has an average share of 10.00 (total = 1000 × N cents), which puts line_cut on
// its sparse draw-sort path (line length ≫ 4N) — its costlier one.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "redpacket/split.hpp"

namespace {

using redpacket::Cents;
using redpacket::SplitPolicy;

constexpr std::int64_t kCentsPerShare = 1000;

void set_shares_processed(benchmark::State& state, std::int64_t shares_per_packet) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * shares_per_packet);
}

void BM_Split(benchmark::State& state, SplitPolicy policy) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const Cents total{kCentsPerShare * state.range(0)};
    std::vector<Cents> shares(n);
    redpacket::Rng rng{42};
    for (auto _ : state) {
        auto ok = redpacket::split_into(policy, total, std::span<Cents>{shares}, Cents{1}, rng);
        benchmark::DoNotOptimize(ok);
        benchmark::DoNotOptimize(shares.data());
        benchmark::ClobberMemory();
        if (!ok) {
            state.SkipWithError("split_into refused valid input");
            break;
        }
    }
    set_shares_processed(state, state.range(0));
}

// The naive double mean: same rule and bounds as the library, textbook tools.
std::vector<std::int64_t> naive_double_mean(std::int64_t total, std::int64_t count,
                                            std::mt19937_64& engine) {
    std::vector<std::int64_t> shares;
    shares.reserve(static_cast<std::size_t>(count));
    std::int64_t rest = total;
    for (std::int64_t left = count; left > 1; --left) {
        const std::int64_t hi = std::min(2 * rest / left, rest - (left - 1));
        std::uniform_int_distribution<std::int64_t> draw{1, hi};
        const std::int64_t share = draw(engine);
        shares.push_back(share);
        rest -= share;
    }
    shares.push_back(rest);
    return shares;
}

void BM_SplitNaive_DoubleMean(benchmark::State& state) {
    const std::int64_t n = state.range(0);
    std::mt19937_64 engine{42};
    for (auto _ : state) {
        auto shares = naive_double_mean(kCentsPerShare * n, n, engine);
        benchmark::DoNotOptimize(shares.data());
        benchmark::ClobberMemory();
    }
    set_shares_processed(state, n);
}

void share_counts(benchmark::internal::Benchmark* b) {
    for (std::int64_t n : {1, 10, 100, 1000}) {
        b->Arg(n);
    }
    b->ArgName("N");
}

}  // namespace

BENCHMARK_CAPTURE(BM_Split, double_mean, SplitPolicy::double_mean)->Apply(share_counts);
BENCHMARK_CAPTURE(BM_Split, line_cut, SplitPolicy::line_cut)->Apply(share_counts);
BENCHMARK_CAPTURE(BM_Split, equal, SplitPolicy::equal)->Apply(share_counts);
BENCHMARK_CAPTURE(BM_Split, fixed, SplitPolicy::fixed)->Arg(1)->ArgName("N");
BENCHMARK(BM_SplitNaive_DoubleMean)->Apply(share_counts);

BENCHMARK_MAIN();
