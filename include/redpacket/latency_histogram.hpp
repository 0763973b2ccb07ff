// LatencyHistogram: a fixed-size, mergeable log-linear histogram of durations in nanoseconds.
//
// Values below 256 ns are counted exactly; above, each power of two is split into 128 equal
// sub-buckets, so a bucket is at most 1/128 of its lower bound wide and a reported percentile
// (the bucket midpoint) is within 0.4% of the true sample. Values up to 2^40 ns (~18 min) are
// resolved; larger ones land in the top bucket (the exact maximum is kept separately). Memory
// is fixed at construction: about 36 KiB, no allocation after.
//
// Thread-safety: one writer thread calls `record`/`merge`/`reset`; any thread may read
// (counters are atomics, so a concurrent read is never a data race; it is a snapshot that may
// lag the writer by a few samples, and one taken during `reset` may mix old and new).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace redpacket {

/// Percentiles of a histogram, in nanoseconds.
struct LatencySummary {
    std::uint64_t count{0};
    std::uint64_t min{0};
    std::uint64_t p50{0};
    std::uint64_t p90{0};
    std::uint64_t p99{0};
    std::uint64_t p999{0};
    std::uint64_t max{0};
};

/// Log-linear histogram of nanosecond durations.
class LatencyHistogram {
public:
    static constexpr int kExactBits = 8;  // values < 256 exact
    static constexpr int kSubBits = 7;    // 128 sub-buckets per power of two above
    static constexpr int kMaxBits = 40;   // resolved up to 2^40 ns
    static constexpr std::size_t kBucketCount =
        (1U << kExactBits) + static_cast<std::size_t>(kMaxBits - kExactBits) * (1U << kSubBits);

    LatencyHistogram() = default;
    LatencyHistogram(const LatencyHistogram& other) noexcept;
    LatencyHistogram& operator=(const LatencyHistogram& other) noexcept;

    /// Records one duration. Complexity: O(1), no allocation.
    void record(std::uint64_t ns) noexcept {
        // Extremes and bucket first, count last (release): a reader that sees the count
        // (acquire) sees the samples it counts.
        if (ns > max_.load(std::memory_order_relaxed)) {
            max_.store(ns, std::memory_order_relaxed);
        }
        if (ns < min_.load(std::memory_order_relaxed)) {
            min_.store(ns, std::memory_order_relaxed);
        }
        auto& b = buckets_[index_of(ns)];
        b.store(b.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
        count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    }
    /// Adds every sample of `other` to this histogram.
    void merge(const LatencyHistogram& other) noexcept;
    /// Forgets every sample.
    void reset() noexcept;
    /// The samples recorded since `earlier`, a copy of this histogram taken before: bucket by
    /// bucket, this one's counts less `earlier`'s. Its min and max are the bounds of the lowest
    /// and highest buckets that grew, inside this histogram's exact extremes (within one bucket:
    /// < 0.8 %; in the top bucket, past 2^40 ns, the max may be low).
    /// Complexity: O(buckets).
    [[nodiscard]] LatencyHistogram since(const LatencyHistogram& earlier) const noexcept;

    [[nodiscard]] std::uint64_t count() const noexcept {
        return count_.load(std::memory_order_acquire);
    }
    [[nodiscard]] std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }
    /// The smallest sample, or 0 if empty.
    [[nodiscard]] std::uint64_t min() const noexcept;
    /// The value at percentile `p` in [0, 100] (0 if empty); within 0.4% of a true sample.
    [[nodiscard]] std::uint64_t percentile(double p) const noexcept;
    /// count, min, p50, p90, p99, p99.9 and max in one pass.
    [[nodiscard]] LatencySummary summary() const noexcept;
    /// Cumulative counts for exporters (Prometheus histograms): for each bound in `bounds`
    /// (ascending, ns), the samples in the buckets that end at or below it — every sample
    /// < bound counted, within one bucket's width (< 0.8 % of the bound above 256 ns).
    [[nodiscard]] std::vector<std::uint64_t> counts_below(
        std::span<const std::uint64_t> bounds) const;
    /// The sum of all samples, each taken at its bucket's midpoint (within 0.4 %, exact below
    /// 256 ns).
    [[nodiscard]] double approximate_sum() const noexcept;

    /// Bucket of a value (exposed for tests and exporters).
    [[nodiscard]] static constexpr std::size_t index_of(std::uint64_t ns) noexcept {
        if (ns < (1U << kExactBits)) {
            return static_cast<std::size_t>(ns);
        }
        int msb = 63 - __builtin_clzll(ns);
        if (msb >= kMaxBits) {
            return kBucketCount - 1;
        }
        const int shift = msb - kSubBits;  // ≥ 1
        const auto sub = static_cast<std::size_t>((ns >> shift) - (1U << kSubBits));
        return (1U << kExactBits) + static_cast<std::size_t>(shift - 1) * (1U << kSubBits) + sub;
    }
    /// Smallest value that falls into bucket `i`.
    [[nodiscard]] static constexpr std::uint64_t lower_bound(std::size_t i) noexcept {
        if (i < (1U << kExactBits)) {
            return i;
        }
        const std::size_t j = i - (1U << kExactBits);
        const int shift = static_cast<int>(j >> kSubBits) + 1;
        const std::uint64_t sub = (j & ((1U << kSubBits) - 1)) + (1U << kSubBits);
        return sub << shift;
    }
    /// Width of bucket `i` (1 for exact buckets).
    [[nodiscard]] static constexpr std::uint64_t width(std::size_t i) noexcept {
        if (i < (1U << kExactBits)) {
            return 1;
        }
        return std::uint64_t{1} << (((i - (1U << kExactBits)) >> kSubBits) + 1);
    }

private:
    std::array<std::atomic<std::uint64_t>, kBucketCount> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> max_{0};
    std::atomic<std::uint64_t> min_{UINT64_MAX};
};

}  // namespace redpacket
