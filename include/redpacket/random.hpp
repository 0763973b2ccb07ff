// The random engine every split policy draws from.
//
// `Rng` is xoshiro256** (Blackman & Vigna, 2018), seeded through SplitMix64. Why this engine:
// it is well known and well tested (passes BigCrush and PractRand), its state is 32 bytes (one
// per pool fits in the pool's cache line, where std::mt19937_64 needs 2.5 KiB), and one draw
// is a handful of shifts and a multiply — several times faster than mt19937_64. It is not
// cryptographic: packet amounts need fairness, not secrecy. Integer ranges are drawn with
// Lemire's multiply-shift rejection method, so every value is exactly equally likely and no
// floating point touches money. Not thread-safe: one engine per owner.
#pragma once

#include <cstdint>
#include <limits>

namespace redpacket {

namespace detail {
__extension__ typedef unsigned __int128 uint128;  // GCC/Clang builtin; __extension__ for -Wpedantic
}  // namespace detail

/// xoshiro256** — a fast, seedable UniformRandomBitGenerator.
class Rng {
public:
    using result_type = std::uint64_t;

    /// Seeds the 256-bit state from one 64-bit seed via SplitMix64 (any seed is valid).
    explicit constexpr Rng(std::uint64_t seed = 0x9e3779b97f4a7c15ULL) noexcept {
        for (auto& word : s_) {
            seed += 0x9e3779b97f4a7c15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
            z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
            word = z ^ (z >> 31);
        }
    }

    /// An engine with exactly this state (it must not be all zero: xoshiro would then return
    /// zeros forever). Used by verifiable splits (proof.hpp), whose state comes from a seed.
    [[nodiscard]] static constexpr Rng from_state(std::uint64_t s0, std::uint64_t s1,
                                                  std::uint64_t s2, std::uint64_t s3) noexcept {
        return Rng{s0, s1, s2, s3};
    }

    static constexpr result_type min() noexcept { return 0; }
    static constexpr result_type max() noexcept { return std::numeric_limits<result_type>::max(); }

    /// Next 64 random bits.
    constexpr result_type operator()() noexcept {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    /// Uniform integer in [0, bound) — exact (Lemire 2019); `bound` must be > 0.
    constexpr std::uint64_t below(std::uint64_t bound) noexcept {
        detail::uint128 m = static_cast<detail::uint128>((*this)()) * bound;
        auto low = static_cast<std::uint64_t>(m);
        if (low < bound) {
            const std::uint64_t threshold = (0 - bound) % bound;
            while (low < threshold) {
                m = static_cast<detail::uint128>((*this)()) * bound;
                low = static_cast<std::uint64_t>(m);
            }
        }
        return static_cast<std::uint64_t>(m >> 64);
    }

    /// Uniform integer in [lo, hi], inclusive; requires lo ≤ hi.
    constexpr std::int64_t between(std::int64_t lo, std::int64_t hi) noexcept {
        // Unsigned arithmetic: the span of the full int64_t range does not overflow.
        const std::uint64_t span = static_cast<std::uint64_t>(hi) - static_cast<std::uint64_t>(lo);
        const std::uint64_t offset =
            span == std::numeric_limits<std::uint64_t>::max() ? (*this)() : below(span + 1);
        return static_cast<std::int64_t>(static_cast<std::uint64_t>(lo) + offset);
    }

private:
    static constexpr std::uint64_t rotl(std::uint64_t x, int k) noexcept {
        return (x << k) | (x >> (64 - k));
    }

    // from_state's: the state as given, without the SplitMix64 seeding it would overwrite.
    constexpr Rng(std::uint64_t s0, std::uint64_t s1, std::uint64_t s2, std::uint64_t s3) noexcept
        : s_{s0, s1, s2, s3} {}

    std::uint64_t s_[4]{};
};

}  // namespace redpacket
