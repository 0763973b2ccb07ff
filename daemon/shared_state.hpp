// What the Server and its Workers share: the configuration, the connection registry, the
// workers' mailboxes, the per-second counters, the campaign settings the admin thread
// publishes, and each worker's published statistics.
//
// Thread-safety: set up on the main thread before the workers start; afterwards the registry
// tables belong to their SETs' owners, mailboxes take posts from any thread, and everything
// else is an atomic or guarded by `campaign_lock`.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "config.hpp"
#include "redpacket/mailbox.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/sharded_connection_set.hpp"
#include "redpacket/worker_mailboxes.hpp"
#include "worker_messages.hpp"

namespace redpacketd {

class Worker;

/// Spin lock around Shared's campaign settings: held for a struct copy, on the admin thread's
/// rare updates and when a worker sees a new generation.
class CampaignLock {
public:
    explicit CampaignLock(std::atomic_flag& flag) noexcept : flag_{flag} {
        while (flag_.test_and_set(std::memory_order_acquire)) {
        }
    }
    ~CampaignLock() { flag_.clear(std::memory_order_release); }
    CampaignLock(const CampaignLock&) = delete;
    CampaignLock& operator=(const CampaignLock&) = delete;

private:
    std::atomic_flag& flag_;
};

/// State shared by every worker, owned by the Server.
struct Shared {
    Config config;
    std::unique_ptr<redpacket::ConnectionRegistry> registry;
    std::unique_ptr<redpacket::WorkerMailboxes<WorkerMessage>> mailboxes;
    std::unique_ptr<redpacket::RateCounter> rates;
    std::atomic<std::uint64_t> connections{0};
    std::vector<Worker*> workers;
    // Campaign settings: written by the admin thread, read by workers each tick.
    std::atomic<std::uint64_t> shake_generation{0};
    std::atomic<std::uint64_t> send_generation{0};
    ShakeCampaignConfig shake;  // guarded by campaign_lock
    SendCampaignConfig send;    // guarded by campaign_lock
    std::atomic_flag campaign_lock = ATOMIC_FLAG_INIT;
    // Workers whose shutdown drain is not complete yet; each worker closes its connections once
    // it reaches 0 (so it keeps answering the others' forwarded requests until then) or at its
    // drain deadline.
    std::atomic<std::uint32_t> draining_workers{0};
};

/// Money and packet totals of one worker's store, and the queues a peer can grow, published
/// once per 100 ms.
struct alignas(redpacket::kCacheLine) PublishedStats {
    std::atomic<std::int64_t> amount_created{0};
    std::atomic<std::int64_t> amount_claimed{0};
    std::atomic<std::int64_t> amount_refunded{0};
    std::atomic<std::int64_t> amount_outstanding{0};
    std::atomic<std::int64_t> shake_amount_offered{0};
    std::atomic<std::int64_t> shake_amount_issued{0};
    std::atomic<std::int64_t> shake_amount_expired{0};
    std::atomic<std::uint64_t> packets_live{0};
    std::atomic<std::uint64_t> shake_queued{0};
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> invariant_violations{0};
    std::atomic<std::uint64_t> shake_campaign_done{0};
    std::atomic<std::uint64_t> send_campaign_done{0};
    // Queues a peer can grow, with their high-water marks since start.
    std::atomic<std::uint64_t> output_queued_bytes{0};  // replies waiting in uv_write queues
    std::atomic<std::uint64_t> output_queued_peak{0};
    std::atomic<std::uint64_t> forwarded_in_flight{0};  // forwarded requests awaiting a reply
    std::atomic<std::uint64_t> forwarded_peak{0};
    std::atomic<std::uint64_t> reply_retry_queued{0};   // replies a full mailbox refused
    std::atomic<std::uint64_t> reply_retry_peak{0};
    std::atomic<std::uint64_t> held_bytes{0};  // replies waiting for their journal records
    std::atomic<std::uint64_t> held_bytes_peak{0};
    // Publishes so far, stored last with release: a reader that sees it advance sees every
    // value above from that publish or a later one.
    std::atomic<std::uint64_t> publishes{0};
};

}  // namespace redpacketd
