// PublishedStats: what a worker publishes for the admin thread every 100 ms — one table of
// gauges (kGauges): a row each, naming the value and how the workers' values combine (summed,
// or the largest one worker had). The worker sets a gauge by its row; /stats reads the combined
// values by the same rows. Adding a gauge is one row and one `set`.
//
// Thread-safety: the owning worker writes, any thread reads (relaxed atomics; `publishes`, stored
// last with release, says a whole round is visible).
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

#include "redpacket/mailbox.hpp"

namespace redpacketd {

enum class Gauge : std::uint8_t {
    // Money and packets of the worker's store (cents; packets).
    amount_created, amount_claimed, amount_refunded, amount_outstanding,
    shake_amount_offered, shake_amount_issued, shake_amount_expired,
    packets_live, shake_queued, logged_in, invariant_violations,
    shake_campaign_done, send_campaign_done,
    // Queues a peer can grow, now and at their peak since start.
    output_bytes, output_bytes_peak,    // replies waiting in uv_write queues
    forwarded, forwarded_peak,          // forwarded requests awaiting a reply
    reply_retry, reply_retry_peak,      // replies a full mailbox refused
    held_bytes, held_bytes_peak,        // replies waiting for their journal records
    // A remote store's counters (zero for the memory store).
    store_round_trips, store_commands, store_moved, store_ask, store_retries, store_failures,
    store_timeouts, store_refusals, store_short_waits, store_shakes_known_empty,
    store_notices_received, store_connects, store_lease_held,
    store_latency_count, store_latency_p50, store_latency_p99, store_masters_short,
    count_  // not a gauge
};
inline constexpr std::size_t kGaugeCount = static_cast<std::size_t>(Gauge::count_);

/// How the workers' values of a gauge make the daemon's.
enum class Combine : std::uint8_t { sum, max };
inline constexpr auto kMaxGauges = std::to_array<Gauge>(
    {Gauge::output_bytes_peak, Gauge::forwarded_peak, Gauge::reply_retry_peak,
     Gauge::held_bytes_peak, Gauge::store_lease_held, Gauge::store_latency_p50,
     Gauge::store_latency_p99, Gauge::store_masters_short});
[[nodiscard]] constexpr Combine combine_of(Gauge g) noexcept {
    return std::ranges::find(kMaxGauges, g) != kMaxGauges.end() ? Combine::max : Combine::sum;
}

/// One worker's gauges.
struct alignas(redpacket::kCacheLine) PublishedStats {
    std::array<std::atomic<std::int64_t>, kGaugeCount> values{};
    std::atomic<std::uint64_t> publishes{0};  ///< rounds published so far

    void set(Gauge g, std::int64_t v) noexcept {
        values[static_cast<std::size_t>(g)].store(v, std::memory_order_relaxed);
    }
    [[nodiscard]] std::int64_t get(Gauge g) const noexcept {
        return values[static_cast<std::size_t>(g)].load(std::memory_order_relaxed);
    }
    /// Ends a round: a reader that sees `publishes` advance sees every value of it.
    void published() noexcept { publishes.fetch_add(1, std::memory_order_release); }
};

/// Every worker's gauges combined by their rows, and the rounds all of them have published.
struct GaugeTotals {
    std::array<std::int64_t, kGaugeCount> values{};
    std::uint64_t publish_rounds{UINT64_MAX};

    void add(const PublishedStats& p) noexcept {
        publish_rounds = std::min(publish_rounds, p.publishes.load(std::memory_order_acquire));
        for (std::size_t i = 0; i < kGaugeCount; ++i) {
            const std::int64_t v = p.values[i].load(std::memory_order_relaxed);
            values[i] = combine_of(static_cast<Gauge>(i)) == Combine::max
                            ? std::max(values[i], v)
                            : values[i] + v;
        }
    }
    [[nodiscard]] std::int64_t operator[](Gauge g) const noexcept {
        return values[static_cast<std::size_t>(g)];
    }
};

}  // namespace redpacketd
