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
#include "published_stats.hpp"
#include "redpacket/mailbox.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/sharded_connection_set.hpp"
#include "redpacket/worker_mailboxes.hpp"
#include "redpacket/redis/campaign_lease.hpp"
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
        : shake_{{shake, Change::restart}}, send_{{send, Change::restart}} {}

    using Change = redpacket::CampaignChange;
    /// A posted campaign and whether it restarts the count of the one running.
    template <class C>
    struct Posted {
        C campaign;
        Change change{Change::restart};
    };

    void post(const ShakeCampaignConfig& c, Change change = Change::restart) {
        post(shake_, shake_generation_, {c, change});
    }
    void post(const SendCampaignConfig& c, Change change = Change::restart) {
        post(send_, send_generation_, {c, change});
    }
    [[nodiscard]] ShakeCampaignConfig shake() const { return read(shake_).campaign; }
    [[nodiscard]] SendCampaignConfig send() const { return read(send_).campaign; }
    /// The settings posted since generation `seen` (then updated), if any. Of several posts in
    /// between, the last one's settings and a restart if any of them restarted.
    [[nodiscard]] std::optional<Posted<ShakeCampaignConfig>> shake_since(
        std::uint64_t& seen, std::uint64_t& restarts_seen) const {
        return since(shake_, shake_generation_, seen, restarts_seen);
    }
    [[nodiscard]] std::optional<Posted<SendCampaignConfig>> send_since(
        std::uint64_t& seen, std::uint64_t& restarts_seen) const {
        return since(send_, send_generation_, seen, restarts_seen);
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
    template <class C>
    struct Slot {
        Posted<C> posted;
        std::uint64_t restarts{1};  // restarting posts so far (workers start at 0)
    };
    template <class C>
    void post(Slot<C>& slot, std::atomic<std::uint64_t>& generation, const Posted<C>& value) {
        Lock lock{lock_};
        slot.posted = value;
        slot.restarts += value.change == Change::restart ? 1 : 0;
        generation.fetch_add(1, std::memory_order_release);
    }
    template <class C>
    [[nodiscard]] Posted<C> read(const Slot<C>& slot) const {
        Lock lock{lock_};
        return slot.posted;
    }
    template <class C>
    [[nodiscard]] std::optional<Posted<C>> since(const Slot<C>& slot,
                                                 const std::atomic<std::uint64_t>& generation,
                                                 std::uint64_t& seen,
                                                 std::uint64_t& restarts_seen) const {
        if (generation.load(std::memory_order_acquire) == seen) {
            return std::nullopt;
        }
        Lock lock{lock_};
        seen = generation.load(std::memory_order_relaxed);
        Posted<C> posted = slot.posted;
        posted.change = slot.restarts != restarts_seen ? Change::restart : Change::retune;
        restarts_seen = slot.restarts;
        return posted;
    }

    mutable std::atomic_flag lock_ = ATOMIC_FLAG_INIT;
    std::atomic<std::uint64_t> shake_generation_{1};  // workers start at 0: they take the first
    std::atomic<std::uint64_t> send_generation_{1};
    Slot<ShakeCampaignConfig> shake_;
    Slot<SendCampaignConfig> send_;
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
    // With a store shared by several daemons: the campaign lease as this daemon holds it
    // (renewed by worker 0's store, read by every worker's).
    std::shared_ptr<redpacket::redis::CampaignLease> lease =
        std::make_shared<redpacket::redis::CampaignLease>();
    // Workers whose shutdown drain is not complete yet; each worker closes its connections once
    // it reaches 0 (so it keeps answering the others' forwarded requests until then) or at its
    // drain deadline.
    std::atomic<std::uint32_t> draining_workers{0};
};


}  // namespace redpacketd
