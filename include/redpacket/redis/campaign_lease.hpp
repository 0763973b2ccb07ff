// Which process of a cluster runs the campaigns: the holder of a lease kept in Redis
// (rp_lease), as each process sees it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace redpacket::redis {

/// The campaign lease as this process sees it, shared by its stores: held until a time on the
/// monotonic clock (ms). A renewal sent at `s` and granted holds it until `s + ttl - ttl/10`:
/// Redis counts the ttl from when it ran the renewal, never before `s`, so this process stops
/// before another can take the lease, whether or not the next renewal's answer ever arrives (a
/// renewal lost in a partition changes nothing). The tenth covers clocks that run at slightly
/// different rates; a wall-clock step on the lease key's node (Redis expires keys by its wall
/// clock) is not covered. A grant also needs the WAIT money writes need, so that a failover of
/// the lease key's master cannot hand the lease to another process while this one holds it.
class CampaignLease {
public:
    [[nodiscard]] bool held(std::int64_t now_ms) const noexcept {
        return now_ms < until_ms_.load(std::memory_order_relaxed);
    }
    /// A renewal sent at `sent_ms` was granted (late or out of order is fine: each grant is
    /// true of its own interval).
    void granted(std::int64_t sent_ms, std::chrono::milliseconds ttl) noexcept {
        const std::int64_t until = sent_ms + ttl.count() - ttl.count() / 10;
        std::int64_t was = until_ms_.load(std::memory_order_relaxed);
        while (was < until && !until_ms_.compare_exchange_weak(was, until)) {
        }
    }
    /// Another process holds it.
    void refused() noexcept { until_ms_.store(0, std::memory_order_relaxed); }

private:
    std::atomic<std::int64_t> until_ms_{0};
};

}  // namespace redpacket::redis
