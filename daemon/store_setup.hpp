// From configuration to a worker's library objects: its PacketStore (which store, which SETs,
// which journal directory and limits) and its RequestService's rules. Main thread, at start-up.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <memory>

#include "config.hpp"
#include "published_stats.hpp"
#include "redpacket/latency_histogram.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/request_service.hpp"
#include "redpacket/redis/campaign_lease.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace redpacketd {

/// The request rules' settings.
[[nodiscard]] redpacket::ServiceConfig service_config(const Config& config);

/// Creates the journal directory and checks (or writes) its LAYOUT file: the journal records
/// packet ids that depend on workers, SETs and max_packets_per_set, so recovery with another
/// layout is refused. No-op without a journal directory. Throws std::runtime_error.
void prepare_journal_dir(const Config& config);

/// What a worker's store counts beyond the store's own totals (the Redis Cluster store's
/// round trips, redirects, retries and refusals), for /stats and /metrics.
struct StoreCounters {
    std::uint64_t round_trips{0}, commands{0}, moved{0}, ask{0}, retries{0}, failures{0},
        timeouts{0}, refusals{0}, short_waits{0}, shakes_known_empty{0}, notices_received{0},
        connects{0};
    bool lease_held{false};
    redpacket::LatencySummary latency;  // ns per store command, retries included
    /// Masters with fewer replicas than redis_wait_replicas in the last slot map: on their
    /// slots WAIT falls short and every payout is refused.
    std::uint64_t masters_short_of_replicas{0};
};

/// A worker's store and what it needs on the worker's loop: nothing more for the memory store;
/// the cluster client and the shard-channel subscriber for Redis Cluster. Lives on the
/// worker's loop thread (built on the main thread before the loop runs).
class StoreHandle {
public:
    virtual ~StoreHandle() = default;
    [[nodiscard]] virtual redpacket::PacketStore& store() noexcept = 0;
    /// The memory store, if that is what this is (its journal and snapshots).
    [[nodiscard]] virtual redpacket::MemoryStore* memory() noexcept { return nullptr; }
    /// Starts what needs the loop (called on the main thread before the loop runs).
    virtual void start() {}
    /// Releases every loop handle and the journal; `done` once libuv has.
    virtual void close(std::function<void()> done) = 0;
    /// The counters above (cluster store only; zero otherwise).
    [[nodiscard]] virtual StoreCounters counters() const { return {}; }
    /// Sets the store's gauges (money, packets, the counters above) in `p`.
    void publish(PublishedStats& p);
};

/// The store of worker `worker` on `loop`. Memory: a MemoryStore of the SETs the registry gives
/// it, journaled in `journal_dir/worker-<worker>` when configured, its writer calling `wake`
/// after each batch; recovery is logged. Redis Cluster: a ClusterClient, a ShardedSubscriber for
/// the worker's SET channels and a RedisStore over them; `lease` is shared by the
/// process's workers and renewed by worker 0's store. Throws std::runtime_error naming what
/// failed.
[[nodiscard]] std::unique_ptr<StoreHandle> open_store(
    const Config& config, const redpacket::ConnectionRegistry& registry, redpacket::WorkerId worker,
    uv_loop_t* loop, std::function<void()> wake, std::shared_ptr<redpacket::redis::CampaignLease> lease);

/// With store redis-cluster: connects to the seed nodes, learns the slot map and loads (or
/// checks the version of) the redpacket Functions library on every master, on a private loop,
/// within the Redis timeout. Throws std::runtime_error naming what failed. No-op for memory.
void prepare_cluster(const Config& config);

}  // namespace redpacketd
