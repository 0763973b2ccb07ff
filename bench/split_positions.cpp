// split_positions: the share by claim position, over many seeded packets, for each policy —
// the data of bench/experiments/fairness.py's figures.
//
//   split_positions [packets] [total] [count]     (defaults 1000000 10000 10)
//
// Each packet's split comes from its own seed exactly as a verifiable packet's does
// (rng_from_seed, docs/fairness.md); seeds are SplitMix64 of the packet number, so a run is
// reproducible. Prints CSV: policy,position,mean,stddev,min,max,expected_mean,expected_stddev
// (the last two from expected_moments, the closed forms the statistics tests check).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <limits>
#include <string>
#include <vector>

#include "redpacket/proof.hpp"
#include "redpacket/split.hpp"

namespace {

using redpacket::Cents;
using redpacket::SplitPolicy;

redpacket::Seed seed_of(std::uint64_t n) {
    redpacket::Seed s{};
    for (std::size_t w = 0; w < 4; ++w) {
        std::uint64_t z = (n * 4 + w + 1) * 0x9e3779b97f4a7c15ULL;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        for (std::size_t b = 0; b < 8; ++b) {
            s[w * 8 + b] = static_cast<std::uint8_t>(z >> (8 * b));
        }
    }
    return s;
}

struct Moments {
    double sum{0};
    double sum_sq{0};
    std::int64_t min{std::numeric_limits<std::int64_t>::max()};
    std::int64_t max{std::numeric_limits<std::int64_t>::min()};
};

}  // namespace

int main(int argc, char** argv) {
    const std::uint64_t packets = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1'000'000;
    const std::int64_t total = argc > 2 ? std::strtoll(argv[2], nullptr, 10) : 10'000;
    const auto count = static_cast<std::uint32_t>(argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 10);
    if (packets == 0 || count < 2 || total / count < 1) {
        std::fprintf(stderr, "split_positions: need packets > 0, count >= 2, total >= count\n");
        return 2;
    }
    std::printf("policy,position,mean,stddev,min,max,expected_mean,expected_stddev\n");
    for (const SplitPolicy policy :
         {SplitPolicy::double_mean, SplitPolicy::line_cut, SplitPolicy::equal}) {
        std::vector<Moments> at(count);
        std::vector<Cents> shares(count);
        for (std::uint64_t n = 0; n < packets; ++n) {
            redpacket::Rng rng = redpacket::rng_from_seed(seed_of(n));
            if (!redpacket::split_into(policy, Cents{total}, shares, Cents{1}, rng)) {
                return 1;
            }
            for (std::uint32_t i = 0; i < count; ++i) {
                const auto v = shares[i].value;
                Moments& m = at[i];
                m.sum += static_cast<double>(v);
                m.sum_sq += static_cast<double>(v) * static_cast<double>(v);
                m.min = std::min(m.min, v);
                m.max = std::max(m.max, v);
            }
        }
        for (std::uint32_t i = 0; i < count; ++i) {
            const Moments& m = at[i];
            const double mean = m.sum / static_cast<double>(packets);
            const double var = std::max(0.0, m.sum_sq / static_cast<double>(packets) - mean * mean);
            const auto e = redpacket::expected_moments(policy, Cents{total}, count, Cents{1}, i);
            std::printf("%s,%u,%.3f,%.3f,%lld,%lld,%.3f,%.3f\n",
                        std::string(redpacket::to_string(policy)).c_str(), i, mean, std::sqrt(var),
                        static_cast<long long>(m.min), static_cast<long long>(m.max), e.mean,
                        std::sqrt(e.variance));
        }
    }
    return 0;
}
