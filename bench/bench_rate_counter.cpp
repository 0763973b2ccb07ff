// RateCounter::Writer::add — the per-event counting cost on a worker's hot path.
//
// BM_RateCounter_Add runs 1 and 2 threads, each on its own writer slot (the intended use: one
// slot per worker), so 2 threads should scale with no shared cache line. The baseline is one
// shared std::atomic<uint64_t> incremented with fetch_add(relaxed): free of contention with one
// thread, a cache-line ping-pong with two. The second is fixed, as it is for ~10^8 consecutive
// adds on a busy worker; BM_RateCounter_AddNewSecond shows the once-a-second bucket switch.
//
// Goal: add ≤ 2 ns uncontended.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "redpacket/rate_counter.hpp"

namespace {

constexpr std::int64_t kSecond = 1'700'000'000;

redpacket::RateCounter& shared_counter() {
    static redpacket::RateCounter counter{{"claim", "shake", "create", "refund"}, 2};
    return counter;
}

alignas(redpacket::kCacheLine) std::atomic<std::uint64_t> g_shared_total{0};

void BM_RateCounter_Add(benchmark::State& state) {
    auto& writer = shared_counter().writer(static_cast<std::uint32_t>(state.thread_index()));
    writer.advance(kSecond);
    for (auto _ : state) {
        writer.add(0, kSecond);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (state.thread_index() == 0) {
        const auto total = shared_counter().total(0, kSecond);
        benchmark::DoNotOptimize(total);
    }
}

// Every add opens a new second: the bucket switch (zeroing E counters under the seqlock stamp)
// that a real worker pays once per second.
void BM_RateCounter_AddNewSecond(benchmark::State& state) {
    redpacket::RateCounter counter{{"claim", "shake", "create", "refund"}, 1};
    auto& writer = counter.writer(0);
    std::int64_t second = kSecond;
    for (auto _ : state) {
        writer.add(0, ++second);
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

void BM_NaiveAtomic_FetchAdd(benchmark::State& state) {
    for (auto _ : state) {
        g_shared_total.fetch_add(1, std::memory_order_relaxed);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

}  // namespace

BENCHMARK(BM_RateCounter_Add)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_RateCounter_AddNewSecond);
BENCHMARK(BM_NaiveAtomic_FetchAdd)->Threads(1)->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
