// RedisStore: the PacketStore on Redis Cluster — any number of processes serve any users from
// one sharded, replicated store.
//
// Everything one SET owns (its packets' shares and claims, its shake supply, its deadlines, its
// create request ids, its counters) lives under keys that share the hash tag
// {<prefix>:s:<set>}, so each operation is one atomic Redis Functions call (the `redpacket`
// library, lib/redis/redpacket.lua, loaded and version-checked by `prepare_functions`) on the
// node that owns that slot. Shares are split here, by the library's split policies, and stored
// as they are. Claims are the exception that batches: those on one SET asked for in one loop
// iteration go as one call (rp_claim_batch) that settles them in the order asked, sent when
// the loop has run its callbacks, or at once before any other call on that SET.
//
// Every operation completes later (through its sink). A result that reports money —
// a created packet, a claimed share, a shake packet taken — is followed on the same connection
// by WAIT for `wait_replicas` replicas (with `wait_all_replicas`, for every replica the slot map
// lists for the master if that is more); if fewer acknowledge it in `wait_timeout`, the operation
// completes with `unavailable` (the write happened: a retry under the same request id, or the
// same user, finds it). Any cluster failure — a node that does not answer, a cluster that is
// down, the deadline — completes with `unavailable`; nothing waits forever.
//
// Shakes: a SET's supply that was found empty is known empty for `shake_empty_ttl`, or until an
// "offer" message on the SET's shard channel says otherwise: a shake then costs no round trip.
// Campaigns and expiry sweeps: processes share them through a lease (`lease_owner`): only its
// holder runs them.
// Presence (who is online, per SET) is kept in Redis for the send campaign, and its notices are
// announced on the SET's shard channel to whichever process holds the recipient.
//
// Thread-safety: one store per loop thread, like its ClusterClient.
#pragma once

#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <span>
#include <string_view>
#include <vector>

#include "redpacket/packet_store.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/random.hpp"
#include "redpacket/redis/campaign_lease.hpp"
#include "redpacket/redis/cluster_client.hpp"
#include "redpacket/redis/subscriber.hpp"

namespace redpacket::redis {

/// The Functions library's version: a cluster that has another one loaded is refused.
[[nodiscard]] std::string_view functions_version() noexcept;
/// The Functions library's source (FUNCTION LOAD).
[[nodiscard]] std::string_view functions_source() noexcept;

/// Loads the Functions library on every master that lacks it; fails if any master has another
/// version (or cannot be asked). Completes through `done` on the client's loop.
void prepare_functions(ClusterClient& client, std::function<void(std::expected<void, std::string>)> done);

struct RedisStoreOptions {
    std::string prefix{"rp"};
    std::uint32_t sets{256};
    /// The SETs this store sweeps for expiry and reads counters of (its worker's share).
    std::vector<ShardId> swept;
    std::uint32_t max_shares{1000};
    Cents min_share{1};
    Cents max_total{1'000'000'000'000};
    std::uint32_t shake_capacity{1024};
    std::chrono::milliseconds retention{std::chrono::seconds{60}};
    std::uint32_t wait_replicas{1};
    /// Also wait for every replica the slot map lists for the master: a failover may promote
    /// any of them (docs/redis-cluster.md), so an acknowledged write must be on all.
    bool wait_all_replicas{true};
    std::chrono::milliseconds wait_timeout{200};
    std::chrono::milliseconds sweep_interval{250};
    std::chrono::milliseconds shake_empty_ttl{1000};
    std::chrono::milliseconds stats_interval{1000};
    std::uint64_t seed{1};  ///< seeds the splits when `verifiable` is off
    /// Each packet's split from its own CSPRNG seed, kept with the packet (proof.hpp).
    bool verifiable{true};
    /// Test-only fault injection: swap every packet's first two shares (proofs must catch it).
    bool fault_swap_shares{false};
    /// Claims on one SET asked for in one loop iteration go to Redis as one call, settled in
    /// the order asked (rp_claim_batch); a call holds at most this many (at least 1).
    std::size_t max_claim_batch{256};
    /// This process's name for the campaign lease; empty: this store does not renew it.
    std::string lease_owner;
    std::chrono::milliseconds lease_ttl{3000};
    /// The lease as this process holds it, shared by its stores (renewed by the one store
    /// with a `lease_owner`). Null: campaigns always run here.
    std::shared_ptr<CampaignLease> lease;
};

class RedisStore final : public PacketStore {
public:
    /// `client` and `subscriber` (may be null: no shake-supply messages, no notices from other
    /// processes) must outlive the store and run on `loop`.
    RedisStore(uv_loop_t* loop, ClusterClient& client, ShardedSubscriber* subscriber,
               RedisStoreOptions options);
    ~RedisStore() override;
    RedisStore(const RedisStore&) = delete;
    RedisStore& operator=(const RedisStore&) = delete;

    /// Stops its timers; `done` once libuv has released them.
    void close(std::function<void()> done);

    // PacketStore.
    void set_sink(StoreSink sink) override { sink_ = std::move(sink); }
    [[nodiscard]] bool serves(ShardId set) const noexcept override { return set < options_.sets; }
    [[nodiscard]] std::uint64_t durable_sequence() const noexcept override { return UINT64_MAX; }
    [[nodiscard]] bool has_room(std::size_t operations) const noexcept override;
    /// rp_claim and rp_claim_batch calls sent so far (claims per call: how well they batch).
    [[nodiscard]] std::uint64_t claim_calls() const noexcept { return claim_calls_; }
    StoreResult<Created> create(StoreTicket ticket, const CreateOp& op) override;
    StoreResult<Claimed> claim(StoreTicket ticket, const ClaimOp& op) override;
    StoreResult<PacketInfo> query(StoreTicket ticket, PacketId packet) override;
    StoreResult<std::optional<ShakeHit>> take(StoreTicket ticket, const TakeOp& op) override;
    StoreResult<PacketId> offer(StoreTicket ticket, const OfferOp& op) override;
    StoreResult<Expired> expire(StoreTicket ticket, const ExpireOp& op) override;
    [[nodiscard]] StoreStats stats() const override { return cached_; }
    [[nodiscard]] bool tracks_presence() const noexcept override { return true; }
    void presence(ShardId set, UserId user, bool online) override;
    StoreResult<std::vector<UserId>> recipients(StoreTicket ticket, ShardId set,
                                                std::uint32_t want) override;
    void announce(ShardId set, const Announcement& a) override;
    [[nodiscard]] bool runs_campaigns() const noexcept override;

    /// The shard channel of SET `set`: subscribe to it to get its offers and announcements.
    [[nodiscard]] const std::string& channel(ShardId set) const { return channels_[set]; }
    /// Handles a message of one of the SET channels (wire it to the subscriber's callback).
    void on_channel_message(std::string_view channel, std::string_view message);
    /// Shakes answered without a round trip because the SET's supply was known to be empty.
    [[nodiscard]] std::uint64_t shakes_known_empty() const noexcept { return known_empty_; }
    /// Store operations that ended unavailable (cluster failures and short WAITs).
    [[nodiscard]] std::uint64_t refusals() const noexcept { return refusals_; }
    [[nodiscard]] std::uint64_t short_waits() const noexcept { return short_waits_; }

private:
    /// FCALL `function` with the SET's keys, ready for `args` more arguments.
    /// An FCALL of `function` on `set`'s keys with room for `args` more arguments. The SET's
    /// queued claims are sent first, so that every call on a SET keeps the order it was asked in.
    [[nodiscard]] Resp fcall(std::string_view function, ShardId set, std::size_t args);
    /// Sends `set`'s queued claims as one call (rp_claim for one, rp_claim_batch for more).
    void send_claims(ShardId set);
    /// Completes `claims` from rp_claim's four results each, in order, in `r`'s reply.
    void finish_claims(std::span<const std::pair<StoreTicket, ClaimOp>> claims,
                       const std::expected<CommandResult, ClusterError>& r);
    [[nodiscard]] std::expected<std::string, Error> split_packet(const CreateOp& op,
                                                               std::span<Cents> shares);
    [[nodiscard]] std::uint16_t slot(ShardId set) const noexcept { return slots_[set]; }
    [[nodiscard]] Error refuse(const std::expected<CommandResult, ClusterError>& r, bool money);
    /// How a money operation waits for replicas, and whether its answer fell short of that.
    [[nodiscard]] CommandOptions money_wait(bool retry_after_send) const noexcept;
    [[nodiscard]] bool short_of_replicas(const CommandResult& r) const noexcept;
    [[nodiscard]] std::int64_t now_ms() const noexcept;
    void refresh_stats();
    /// Hands a later completion to the sink.
    template <class T>
    void complete(StoreTicket ticket, Completion<T> done) {
        sink_(StoreCompletion{ticket, std::move(done)});
    }
    void renew_lease();

    uv_loop_t* loop_;
    ClusterClient& client_;
    ShardedSubscriber* subscriber_;
    RedisStoreOptions options_;
    StoreSink sink_;
    Rng rng_;
    SeedSource seeds_;
    std::vector<std::array<std::string, 11>> keys_;  // by SET (lib/redis/keys.hpp)
    std::vector<std::string> encoded_keys_;           // by SET: its keys as RESP arguments
    std::vector<std::string> online_keys_;            // by SET
    std::vector<std::string> channels_;               // by SET
    std::vector<std::uint16_t> slots_;                // by SET
    std::vector<std::int64_t> empty_until_ms_;        // by SET: shake supply known empty until
    std::vector<std::int64_t> swept_at_ms_;           // by SET
    uv_timer_t timer_{};
    // Claims asked for in this loop iteration, by SET, sent as one call per SET when the loop
    // is done with its callbacks (flush_) or before any other call on that SET.
    std::vector<std::vector<std::pair<StoreTicket, ClaimOp>>> queued_claims_;
    std::vector<ShardId> queued_sets_;
    uv_check_t flush_{};
    int open_handles_{0};
    std::function<void()> on_closed_;
    std::int64_t next_stats_ms_{0};
    std::int64_t next_lease_ms_{0};
    StoreStats cached_;
    std::uint64_t known_empty_{0};
    std::uint64_t refusals_{0};
    std::uint64_t short_waits_{0};
    std::uint64_t claim_calls_{0};  // rp_claim and rp_claim_batch calls sent
    std::size_t pending_claims_{0};  // claims queued or in a call not yet answered
    std::shared_ptr<bool> alive_;  // callbacks of a destroyed store find it false
};

}  // namespace redpacket::redis
