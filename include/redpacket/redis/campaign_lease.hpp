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
/// *deciding* campaign work before another can take the lease, whether or not the next
/// renewal's answer ever arrives (a renewal lost in a partition changes nothing). What it
/// decided just before may still run in Redis afterwards (a command in flight, or queued in a
/// cut connection's socket until the heal): Redis Cluster cannot check a lease in another slot,
/// so nothing fences the commands themselves.
/// Assumed: the clocks run at rates within a tenth of each other, and the wall clocks of the
/// lease key's master and of the replica a failover promotes agree (Redis expires keys by wall
/// clock, and replicates the expiry as an absolute time). A grant needs the WAIT money writes
/// need (with `wait_all_replicas`, every listed replica), so that a failover of the lease key's
/// master cannot hand the lease on; while that WAIT falls short no process holds the lease and
/// campaigns and expiry sweeps pause (a due packet still answers expired; its refund waits).
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
