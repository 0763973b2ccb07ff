// What the Server and its Workers share: the configuration, the connection registry, the
// workers' mailboxes, the per-second counters, the campaign settings the admin thread
// publishes, and each worker's published statistics.
//
// Thread-safety: set up on the main thread before the workers start; afterwards the registry
// tables belong to their SETs' owners, mailboxes take posts from any thread, and everything
// else is an atomic or the CampaignBoard's.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "redpacket/mailbox.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/sharded_connection_set.hpp"
#include "redpacket/worker_mailboxes.hpp"
#include "store_setup.hpp"
#include "worker_messages.hpp"

namespace redpacketd {

class Worker;

/// The campaign settings the admin thread posts and the workers pick up on their tick. Each
/// campaign has a generation, bumped with its settings under a spin lock held only for a struct
/// copy, so a worker never runs new settings under an old generation.
/// Thread-safety: every member from any thread.
class CampaignBoard {
public:
    CampaignBoard(const ShakeCampaignConfig& shake, const SendCampaignConfig& send)
        : shake_{shake}, send_{send} {}

    void post(const ShakeCampaignConfig& c) { post(shake_, shake_generation_, c); }
    void post(const SendCampaignConfig& c) { post(send_, send_generation_, c); }
    [[nodiscard]] ShakeCampaignConfig shake() const { return read(shake_); }
    [[nodiscard]] SendCampaignConfig send() const { return read(send_); }
    /// The settings posted since generation `seen` (then updated), if any.
    [[nodiscard]] std::optional<ShakeCampaignConfig> shake_since(std::uint64_t& seen) const {
        return since(shake_, shake_generation_, seen);
    }
    [[nodiscard]] std::optional<SendCampaignConfig> send_since(std::uint64_t& seen) const {
        return since(send_, send_generation_, seen);
    }

private:
    struct Lock {
        explicit Lock(std::atomic_flag& f) noexcept : flag{f} {
            while (flag.test_and_set(std::memory_order_acquire)) {
            }
        }
        ~Lock() { flag.clear(std::memory_order_release); }
        std::atomic_flag& flag;
    };
    template <class T>
    void post(T& slot, std::atomic<std::uint64_t>& generation, const T& value) {
        Lock lock{lock_};
        slot = value;
        generation.fetch_add(1, std::memory_order_release);
    }
    template <class T>
    [[nodiscard]] T read(const T& slot) const {
        Lock lock{lock_};
        return slot;
    }
    template <class T>
    [[nodiscard]] std::optional<T> since(const T& slot, const std::atomic<std::uint64_t>& generation,
                                         std::uint64_t& seen) const {
        if (generation.load(std::memory_order_acquire) == seen) {
            return std::nullopt;
        }
        Lock lock{lock_};
        seen = generation.load(std::memory_order_relaxed);
        return slot;
    }

    mutable std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
    std::atomic<std::uint64_t> shake_generation_{1};  // workers start at 0: they take the first
    std::atomic<std::uint64_t> send_generation_{1};
    ShakeCampaignConfig shake_;
    SendCampaignConfig send_;
};

/// The queues a peer can grow in one worker, now and at their peak since start.
struct WorkerQueues {
    std::uint64_t output_bytes{0}, output_peak{0};    // replies waiting in uv_write queues
    std::uint64_t forwarded{0}, forwarded_peak{0};    // forwarded requests awaiting a reply
    std::uint64_t reply_retry{0}, reply_retry_peak{0};  // replies a full mailbox refused
    std::uint64_t held_bytes{0}, held_peak{0};        // replies waiting for the journal
};

/// The connection limits SIGHUP may change while the daemon runs (server_reload.cpp). The
/// main thread stores them; workers load them where they apply one, so a change takes effect
/// at the next connection, deadline or reply.
struct RuntimeLimits {
    std::atomic<std::uint32_t> max_connections{0};
    std::atomic<std::uint32_t> login_timeout_ms{0};
    std::atomic<std::uint32_t> idle_timeout_ms{0};
    std::atomic<std::uint32_t> output_cap{0};
    std::atomic<std::uint32_t> max_forwarded{0};
    std::atomic<std::uint32_t> shutdown_grace_ms{0};

    /// Each limit: its config key (as changed_settings() names it), its Config field, its atomic
    /// here — the one list that storing, reloading and reporting a limit read.
    struct Field {
        std::string_view key;
        std::uint32_t Config::*config;
        std::atomic<std::uint32_t> RuntimeLimits::*value;
    };
    static constexpr std::array<Field, 6> kFields{{
        {"max_connections", &Config::max_connections, &RuntimeLimits::max_connections},
        {"login_timeout_ms", &Config::login_timeout_ms, &RuntimeLimits::login_timeout_ms},
        {"idle_timeout_ms", &Config::idle_timeout_ms, &RuntimeLimits::idle_timeout_ms},
        {"output_cap", &Config::output_cap, &RuntimeLimits::output_cap},
        {"max_forwarded", &Config::max_forwarded, &RuntimeLimits::max_forwarded},
        {"shutdown_grace_ms", &Config::shutdown_grace_ms, &RuntimeLimits::shutdown_grace_ms},
    }};

    /// True if `key` is one of the limits. Each is a `runtime` row of the option table (checked
    /// at compile time in server_reload.cpp, and by the configuration tests).
    [[nodiscard]] static constexpr bool has(std::string_view key) noexcept {
        return std::ranges::any_of(kFields, [key](const Field& f) { return f.key == key; });
    }

    void store(const Config& c) noexcept {
        for (const Field& f : kFields) {
            (this->*f.value).store(c.*f.config, std::memory_order_relaxed);
        }
    }

    /// Copies the limits of `from` into `to`, the rest of `to` as it is.
    static void copy(const Config& from, Config& to) noexcept {
        for (const Field& f : kFields) {
            to.*f.config = from.*f.config;
        }
    }
};

/// Reads a runtime limit (relaxed: each is a value on its own, with nothing to order).
[[nodiscard]] inline std::uint32_t limit(const std::atomic<std::uint32_t>& value) noexcept {
    return value.load(std::memory_order_relaxed);
}

/// State shared by every worker, owned by the Server.
struct Shared {
    Config config;
    RuntimeLimits limits;  // what of `config` SIGHUP may change: use these, not config's
    std::unique_ptr<redpacket::ConnectionRegistry> registry;
    std::unique_ptr<redpacket::WorkerMailboxes<WorkerMessage>> mailboxes;
    std::unique_ptr<redpacket::RateCounter> rates;
    std::atomic<std::uint64_t> connections{0};
    std::vector<Worker*> workers;
    std::unique_ptr<CampaignBoard> campaigns;
    // With a store shared by several daemons: whether this daemon holds the campaign lease
    // (renewed by worker 0's store, read by every worker's).
    std::shared_ptr<std::atomic<bool>> lease_held = std::make_shared<std::atomic<bool>>(false);
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
    // A remote store's counters (StoreCounters, in that order; zero for the memory store).
    static constexpr std::size_t kStoreCounters = 16;
    std::array<std::atomic<std::uint64_t>, kStoreCounters> store{};
    // Publishes so far, stored last with release: a reader that sees it advance sees every
    // value above from that publish or a later one.
    std::atomic<std::uint64_t> publishes{0};

    /// The store counters, as published.
    [[nodiscard]] StoreCounters store_counters() const noexcept {
        const auto at = [&](std::size_t i) { return store[i].load(std::memory_order_relaxed); };
        StoreCounters c{at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8), at(9),
                        at(10), at(11), at(12) != 0, {}};
        c.latency.count = at(13);
        c.latency.p50 = at(14);
        c.latency.p99 = at(15);
        return c;
    }
    void publish_store(const StoreCounters& c) noexcept {
        const std::array<std::uint64_t, kStoreCounters> v{
            c.round_trips, c.commands, c.moved, c.ask, c.retries, c.failures, c.timeouts,
            c.refusals, c.short_waits, c.shakes_known_empty, c.notices_received, c.connects,
            c.lease_held ? 1U : 0U, c.latency.count, c.latency.p50, c.latency.p99};
        for (std::size_t i = 0; i < kStoreCounters; ++i) {
            store[i].store(v[i], std::memory_order_relaxed);
        }
    }

    /// Called by the worker every 100 ms.
    void publish(const redpacket::StoreStats& st, std::uint64_t logged_in, std::uint64_t shakes_offered,
                 std::uint64_t packets_sent, const WorkerQueues& q) noexcept {
        const auto rel = std::memory_order_relaxed;
        amount_created.store(st.created.value, rel);
        amount_claimed.store(st.claimed.value, rel);
        amount_refunded.store(st.refunded.value, rel);
        amount_outstanding.store(st.outstanding.value, rel);
        shake_amount_offered.store(st.shake_offered.value, rel);
        shake_amount_issued.store(st.shake_issued.value, rel);
        shake_amount_expired.store(st.shake_expired.value, rel);
        packets_live.store(st.packets_live, rel);
        shake_queued.store(st.shake_queued, rel);
        connections.store(logged_in, rel);
        invariant_violations.store(st.invariant_violations, rel);
        shake_campaign_done.store(shakes_offered, rel);
        send_campaign_done.store(packets_sent, rel);
        output_queued_bytes.store(q.output_bytes, rel);
        output_queued_peak.store(q.output_peak, rel);
        forwarded_in_flight.store(q.forwarded, rel);
        forwarded_peak.store(q.forwarded_peak, rel);
        reply_retry_queued.store(q.reply_retry, rel);
        reply_retry_peak.store(q.reply_retry_peak, rel);
        held_bytes.store(q.held_bytes, rel);
        held_bytes_peak.store(q.held_peak, rel);
        publishes.fetch_add(1, std::memory_order_release);
    }
};

}  // namespace redpacketd
