#include "redpacket/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace redpacket {
namespace {

std::uint64_t load(const std::atomic<std::uint64_t>& a) noexcept {
    return a.load(std::memory_order_relaxed);
}
void store(std::atomic<std::uint64_t>& a, std::uint64_t v) noexcept {
    a.store(v, std::memory_order_relaxed);
}

// The rank (1-based) of percentile p among `count` samples: the smallest r with r ≥ p% · count.
// Multiplying first and trimming a relative 1e-12 keeps 7% of 100 at rank 7, not 8.
std::uint64_t rank_of(double p, std::uint64_t count) noexcept {
    const double clamped = std::clamp(p, 0.0, 100.0);
    const double exact = clamped * static_cast<double>(count) / 100.0;
    const auto r = static_cast<std::uint64_t>(std::ceil(exact * (1.0 - 1e-12)));
    return std::clamp<std::uint64_t>(r, 1, count);
}

// A bucket's reported value: its midpoint, inside the exact extremes when they are consistent
// (a reader racing the writer may see min > max for a moment).
std::uint64_t representative(std::size_t i, std::uint64_t lo, std::uint64_t hi) noexcept {
    const std::uint64_t mid =
        LatencyHistogram::lower_bound(i) + (LatencyHistogram::width(i) - 1) / 2;
    return lo <= hi ? std::clamp(mid, lo, hi) : mid;
}

}  // namespace

LatencyHistogram::LatencyHistogram(const LatencyHistogram& other) noexcept { *this = other; }

LatencyHistogram& LatencyHistogram::operator=(const LatencyHistogram& other) noexcept {
    if (this != &other) {
        for (std::size_t i = 0; i < kBucketCount; ++i) {
            store(buckets_[i], load(other.buckets_[i]));
        }
        store(count_, load(other.count_));
        store(max_, load(other.max_));
        store(min_, load(other.min_));
    }
    return *this;
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        if (const std::uint64_t n = load(other.buckets_[i]); n != 0) {
            store(buckets_[i], load(buckets_[i]) + n);
        }
    }
    store(count_, load(count_) + load(other.count_));
    store(max_, std::max(load(max_), load(other.max_)));
    store(min_, std::min(load(min_), load(other.min_)));
}

LatencyHistogram LatencyHistogram::since(const LatencyHistogram& earlier) const noexcept {
    LatencyHistogram d;
    std::uint64_t count = 0;
    std::size_t lowest = kBucketCount;
    std::size_t highest = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        const std::uint64_t now = load(buckets_[i]);
        const std::uint64_t then = std::min(load(earlier.buckets_[i]), now);
        if (now != then) {
            store(d.buckets_[i], now - then);
            count += now - then;
            lowest = std::min(lowest, i);
            highest = i;
        }
    }
    if (count != 0) {
        store(d.min_, std::max(lower_bound(lowest), load(min_)));
        store(d.max_, std::min(lower_bound(highest) + width(highest) - 1, load(max_)));
    }
    store(d.count_, count);
    return d;
}

void LatencyHistogram::reset() noexcept {
    for (auto& b : buckets_) {
        store(b, 0);
    }
    store(count_, 0);
    store(max_, 0);
    store(min_, UINT64_MAX);
}

std::uint64_t LatencyHistogram::min() const noexcept {
    return count() == 0 ? 0 : load(min_);
}

std::uint64_t LatencyHistogram::percentile(double p) const noexcept {
    const std::uint64_t total = count();
    if (total == 0) {
        return 0;
    }
    const std::uint64_t rank = rank_of(p, total);
    if (rank == total) {
        return max();  // the top rank is known exactly
    }
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        seen += load(buckets_[i]);
        if (seen >= rank) {
            return representative(i, min(), max());
        }
    }
    return max();
}

std::vector<std::uint64_t> LatencyHistogram::counts_below(
    std::span<const std::uint64_t> bounds) const {
    std::vector<std::uint64_t> counts(bounds.size(), 0);
    std::uint64_t running = 0;
    std::size_t b = 0;
    for (std::size_t i = 0; i < kBucketCount && b < bounds.size(); ++i) {
        while (b < bounds.size() && lower_bound(i) + width(i) > bounds[b]) {
            counts[b++] = running;  // bucket i reaches past bounds[b]: not counted below it
        }
        running += buckets_[i].load(std::memory_order_relaxed);
    }
    for (; b < bounds.size(); ++b) {
        counts[b] = running;
    }
    return counts;
}

double LatencyHistogram::approximate_sum() const noexcept {
    double sum = 0;
    for (std::size_t i = 0; i < kBucketCount; ++i) {
        const std::uint64_t n = buckets_[i].load(std::memory_order_relaxed);
        if (n != 0) {
            const double mid = static_cast<double>(lower_bound(i)) +
                               static_cast<double>(width(i) - 1) / 2.0;
            sum += static_cast<double>(n) * mid;
        }
    }
    return sum;
}

LatencySummary LatencyHistogram::summary() const noexcept {
    LatencySummary s;
    s.count = count();
    if (s.count == 0) {
        return s;
    }
    s.min = min();
    s.max = max();
    const std::uint64_t ranks[] = {rank_of(50.0, s.count), rank_of(90.0, s.count),
                                   rank_of(99.0, s.count), rank_of(99.9, s.count)};
    std::uint64_t* outs[] = {&s.p50, &s.p90, &s.p99, &s.p999};
    std::uint64_t seen = 0;
    std::size_t next = 0;
    for (std::size_t i = 0; i < kBucketCount && next < 4; ++i) {
        seen += load(buckets_[i]);
        while (next < 4 && seen >= ranks[next]) {
            *outs[next] = ranks[next] == s.count ? s.max : representative(i, s.min, s.max);
            ++next;
        }
    }
    return s;
}

}  // namespace redpacket
