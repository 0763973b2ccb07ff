// Counting per-second rates from several threads with RateCounter, and latencies with
// LatencyHistogram. Run: ./example_count_rates
#include <cstdio>
#include <thread>
#include <vector>

#include "redpacket/latency_histogram.hpp"
#include "redpacket/rate_counter.hpp"

using namespace redpacket;

int main() {
    // One writer slot per worker thread; names are resolved to ids once, outside hot paths.
    RateCounter rates{{"shake", "shake_hit", "bytes_in"}, /*writers=*/2};
    const EventId shake = *rates.event("shake");
    const EventId hit = *rates.event("shake_hit");
    const EventId bytes = *rates.event("bytes_in");

    // Simulated clock: each worker handles 5 seconds of traffic, 1000 + 100·w shakes a second.
    std::vector<LatencyHistogram> latency(2);
    std::vector<std::thread> workers;
    for (std::uint32_t w = 0; w < 2; ++w) {
        workers.emplace_back([&, w] {
            RateCounter::Writer& out = rates.writer(w);
            for (std::int64_t second = 0; second < 5; ++second) {
                for (int i = 0; i < 1000 + 100 * static_cast<int>(w); ++i) {
                    out.add(shake, second);
                    out.add(bytes, second, 16);
                    if (i % 10 == 0) {
                        out.add(hit, second);
                    }
                    latency[w].record(20'000 + static_cast<std::uint64_t>(i) * 50);
                }
            }
            out.advance(5);  // close second 4: nothing more will be counted in it
        });
    }
    for (auto& t : workers) {
        t.join();
    }

    const auto last = rates.last_complete_second();
    std::printf("last complete second: %lld\n", static_cast<long long>(*last));
    for (std::int64_t s = 0; s <= *last; ++s) {
        std::printf("second %lld: shakes %llu, hits %llu, bytes %llu\n",
                    static_cast<long long>(s), static_cast<unsigned long long>(*rates.total(shake, s)),
                    static_cast<unsigned long long>(*rates.total(hit, s)),
                    static_cast<unsigned long long>(*rates.total(bytes, s)));
    }
    std::printf("shake rate over 5 s: %.0f/s\n", *rates.rate(shake, 5));

    LatencyHistogram all = latency[0];
    all.merge(latency[1]);
    const LatencySummary s = all.summary();
    std::printf("latency: n=%llu p50=%lluns p99=%lluns p99.9=%lluns max=%lluns\n",
                static_cast<unsigned long long>(s.count), static_cast<unsigned long long>(s.p50),
                static_cast<unsigned long long>(s.p99), static_cast<unsigned long long>(s.p999),
                static_cast<unsigned long long>(s.max));
    return *rates.total(shake, 0) == 2100 ? 0 : 1;
}
