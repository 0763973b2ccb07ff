// RedPacketPool: the red packets owned by one shard.
//
// A pool holds group packets (created by a sender, split into shares, claimed one share per
// user) and a shake supply (a bounded FIFO of single-share packets offered by a generator and
// taken by whoever shakes). It enforces the money rules — a share is handed out once, a user
// gets at most one share of a packet, a retry returns the same share, money left at the
// deadline is refunded to the sender and never claimed afterwards — and it keeps running
// totals so that created == claimed + refunded + outstanding holds at every step.
//
// Ownership and thread-safety: single owner, NOT thread-safe. A service runs one pool per shard
// on the thread that owns the shard and routes every request for a packet to its owner;
// `packet_shard(id)` reads the owner from the id itself, without any lookup.
//
// Time is passed in by the caller (`Time`, milliseconds on the caller's clock); the pool never
// reads a clock. Expiry uses a binary heap of deadlines, so `expire(now)` touches only packets
// whose deadline has passed.
//
// Durability: every state change is reported to an observer (a journal, see journal.hpp), and
// `replay` rebuilds a pool from those reports with the same packet ids; `for_each_live` plus
// `checkpoint` describe the live state compactly for a snapshot (snapshot.hpp).
#pragma once

#include <compare>
#include <cstddef>
#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/money.hpp"
#include "redpacket/split.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// Low bits of a packet id that hold the owning shard.
inline constexpr int kPacketShardBits = 12;
/// The largest shard number a packet id can carry.
inline constexpr ShardId kMaxShard = (1U << kPacketShardBits) - 1;

/// Identifies a packet: bits 0–11 the owning shard, bit 12 set for shake packets, bits 13–63 a
/// serial (slot and generation for group packets, a counter for shake packets). Slots are
/// recycled oldest-first, and a group id comes back only after its slot has been recycled
/// min(2^32, 2^(51 − ⌈log2 max_packets⌉)) − 1 times. The id 0 never names a packet.
///
/// The low 32 bits form the packet's *compact id*, for protocols with 32-bit packet fields:
/// `RedPacketPool::resolve_compact` maps it back while the packet is live.
struct PacketId {
    std::uint64_t value{0};
    friend constexpr auto operator<=>(PacketId, PacketId) = default;
};

/// The shard that owns `id`.
[[nodiscard]] constexpr ShardId packet_shard(PacketId id) noexcept {
    return static_cast<ShardId>(id.value & kMaxShard);
}
/// True for packets handed out by the shake supply.
[[nodiscard]] constexpr bool is_shake_packet(PacketId id) noexcept {
    return ((id.value >> kPacketShardBits) & 1U) != 0;
}

/// Most users a packet may be restricted to (see `RedPacketPool::create`).
inline constexpr std::uint32_t kMaxAllowedClaimers = 4096;

/// Outcome of a claim.
enum class ClaimStatus : std::uint8_t {
    claimed,          ///< a new share was handed to the user
    already_claimed,  ///< the user holds a share of this packet: the same share again
    sold_out,         ///< every share is taken
    expired,          ///< the deadline has passed; the remainder belongs to the sender
    not_found,        ///< no such packet in this pool (never existed, or retired)
    not_allowed,      ///< the packet is restricted to other claimers
};
[[nodiscard]] std::string_view to_string(ClaimStatus s) noexcept;

/// Result of `claim`: amount and share index are meaningful for claimed / already_claimed.
struct ClaimResult {
    ClaimStatus status{ClaimStatus::not_found};
    Cents amount{};
    std::uint32_t share_index{0};
};

/// A packet taken from the shake supply.
struct ShakeHit {
    PacketId packet;
    Cents amount;
    Time expires_at{};
    /// A verifiable pool's shake packet: the seed committed at its offer; all zero: none.
    std::array<std::uint8_t, 32> seed{};
};

/// Money returned to a packet's sender at its deadline (amount may be 0 when sold out).
struct Refund {
    PacketId packet;
    UserId sender;
    Cents amount;
    std::uint32_t unclaimed_shares;
};

/// Life cycle of a group packet.
enum class PacketState : std::uint8_t { open, sold_out, expired };

/// One handed-out share, in claim order (share i went to the i-th claimer).
struct ClaimRecord {
    UserId user;
    Cents amount;
};

/// A snapshot of a packet, returned by `query`.
struct PacketInfo {
    PacketId id;
    UserId sender{0};
    SplitPolicy policy{SplitPolicy::double_mean};
    PacketState state{PacketState::open};
    Cents total;
    std::uint32_t count{0};
    std::uint32_t claimed_count{0};
    Cents claimed_amount;
    Cents remaining;  ///< unclaimed money; 0 once refunded
    Cents refunded;
    Time expires_at{};
    std::vector<ClaimRecord> claims;
    /// The only users who may claim, ascending; empty: anyone may.
    std::vector<UserId> allowed;
    /// Index into `claims` of the largest share (ties: the earliest), if any was claimed.
    std::optional<std::uint32_t> best_luck;
    /// A verifiable packet's seed and the smallest share its split allowed (proof.hpp).
    std::optional<std::array<std::uint8_t, 32>> seed;
    Cents min_share{};
};

/// The minimum share in a shake packet's proof terms: always 1 cent, whatever the pool's
/// min_share (a fixed one-share split ignores it), so that the terms a commitment covers
/// depend on nothing but the packet and do not reveal its amount.
inline constexpr Cents kShakeProofMinShare{1};

/// An issued shake packet as the finished single-share packet its proof describes: policy
/// fixed, count 1, total = its amount, min_share kShakeProofMinShare, sold out to `taker`; the
/// seed if it has one.
[[nodiscard]] PacketInfo issued_shake_info(const ShakeHit& hit, UserId taker);

/// What a pool may hold. Every limit is a refusal with an error, never a silent drop.
struct PoolConfig {
    ShardId shard{0};                       ///< stamped into every packet id (≤ kMaxShard)
    std::uint32_t max_packets{1U << 16};    ///< live group packets (open or retained)
    std::uint32_t max_shares{kMaxShares};   ///< shares per packet
    std::uint32_t max_live_shares{1U << 22};  ///< shares over all live packets (memory bound)
    std::uint32_t max_live_allowed{1U << 20}; ///< allowed claimers over all live packets (same)
    Cents min_share{1};                     ///< smallest share any policy may produce
    /// Largest packet total. (max_packets + shake_capacity) × max_total must stay ≤ 2^62.
    Cents max_total{1'000'000'000'000};
    /// Shake supply bound. A verifiable pool keeps a 32-byte seed per place beside it.
    std::uint32_t shake_capacity{1U << 12};
    Time retention{std::chrono::seconds{60}};  ///< how long an expired packet stays queryable
    std::uint64_t seed{1};                  ///< seeds the pool's Rng (verifiable off)
    /// Each packet's shares from its own 256-bit seed out of the system CSPRNG, so that they
    /// can be proven (proof.hpp, docs/fairness.md); shake packets get one too, committed at
    /// the offer. Off: from the pool's Rng, faster, unprovable.
    bool verifiable{true};
    /// Test-only fault injection: swap the first two shares of every packet after the split
    /// (what a dishonest store would do); proofs must then reject position 0 or 1.
    bool fault_swap_shares{false};
    /// Simulator-only: non-zero draws verifiable packets' seeds from an Rng seeded with this
    /// (SeedSource) instead of the CSPRNG, so a simulated run replays exactly. Predictable
    /// seeds let anyone compute the shares: never in a real store.
    std::uint64_t simulated_seeds{0};
};

/// Running totals of one pool. Conservation: amount_created == amount_claimed +
/// amount_refunded + amount_outstanding, and the same for the shake_* amounts. Lifetime
/// amounts are exact up to 2^63 cents (about 9.2·10^16 yuan) over the pool's life.
struct PoolStats {
    std::uint64_t packets_created{0};
    std::uint64_t packets_expired{0};
    std::uint64_t packets_live{0};  ///< open, sold out or retained after expiry
    std::uint64_t shares_live{0};   ///< shares of live packets (bounded by max_live_shares)
    std::uint64_t claims{0};
    std::uint64_t create_rejected{0};
    Cents amount_created;
    Cents amount_claimed;
    Cents amount_refunded;
    Cents amount_outstanding;
    std::uint64_t shake_offered{0};
    std::uint64_t shake_refused{0};  ///< offers refused because the supply was full
    std::uint64_t shake_issued{0};
    std::uint64_t shake_empty{0};    ///< takes that found nothing
    std::uint64_t shake_expired{0};
    Cents shake_amount_offered;
    Cents shake_amount_issued;
    Cents shake_amount_expired;
    Cents shake_amount_queued;
    friend bool operator==(const PoolStats&, const PoolStats&) = default;
};

/// Kind of state change reported to an observer. The values are stable: journals store them.
enum class PoolEventKind : std::uint8_t {
    created = 0,        ///< user = sender, amount = total, index = share count, + allowed
    claimed = 1,        ///< user = claimer, amount = share, index = share index
    refunded = 2,       ///< user = sender, amount = refund (may be 0), index = unclaimed shares
    shake_offered = 3,  ///< amount = packet amount
    shake_issued = 4,   ///< user = taker, amount = packet amount
    shake_expired = 5,  ///< amount = packet amount, left unissued past its deadline
};
/// The largest PoolEventKind value.
inline constexpr PoolEventKind kLastPoolEventKind = PoolEventKind::shake_expired;
/// A stable name, e.g. "shake_issued".
[[nodiscard]] std::string_view to_string(PoolEventKind k) noexcept;

/// One state change, delivered synchronously before the call that caused it returns. `at` is
/// the caller's `now`, except for created and shake_offered, which carry the packet's deadline.
/// A created event carries everything needed to rebuild the packet exactly: policy, deadline,
/// count (`index`), every share amount in hand-out order and the users it is restricted to.
struct PoolEvent {
    PoolEventKind kind;
    PacketId packet;
    UserId user;
    Cents amount;
    std::uint32_t index;
    Time at;
    SplitPolicy policy{SplitPolicy::double_mean};  ///< created only; double_mean otherwise
    /// created: the `index` share amounts in hand-out order; empty for other kinds. Points into
    /// the pool (or the caller's buffer): valid only until the callback returns.
    std::span<const Cents> shares{};
    /// created: the only users who may claim, ascending (empty: anyone). Valid like `shares`.
    std::span<const UserId> allowed{};
    /// created, verifiable packets: the seed the shares came from (valid like `shares`) and
    /// the smallest share the split allowed; shake_offered, verifiable pools: the packet's
    /// seed, min_share kShakeProofMinShare. Null for a packet made without one.
    const std::array<std::uint8_t, 32>* seed{nullptr};
    Cents min_share{};
};

/// A non-owning, non-virtual callback: one function pointer and a context pointer. An unset
/// observer costs one predictable branch per state change.
class PoolObserver {
public:
    using Fn = void (*)(void* context, const PoolEvent& event) noexcept;

    constexpr PoolObserver() = default;
    constexpr PoolObserver(void* context, Fn fn) noexcept : context_{context}, fn_{fn} {}

    /// Binds `target.on_pool_event(const PoolEvent&)`; `target` must outlive the pool's use.
    template <class T>
    static PoolObserver bind(T& target) noexcept {
        return PoolObserver{&target, [](void* c, const PoolEvent& e) noexcept {
                                static_cast<T*>(c)->on_pool_event(e);
                            }};
    }

    explicit operator bool() const noexcept { return fn_ != nullptr; }
    void operator()(const PoolEvent& e) const noexcept { fn_(context_, e); }

private:
    void* context_{nullptr};
    Fn fn_{nullptr};
};

/// Pool state that events do not carry, saved beside the `for_each_live` events of a snapshot.
struct PoolCheckpoint {
    /// Every counter at the time of the snapshot, lifetime totals of retired packets included.
    PoolStats stats;
    /// The last shake serial handed out, so that new offers never reuse a shake id.
    std::uint64_t shake_serial{0};
    /// The generation of every slot (live: its packet's; free: the next packet's), so that new
    /// packets never reuse an id handed out before, live or retired.
    std::vector<std::uint32_t> slot_generations;
    friend bool operator==(const PoolCheckpoint&, const PoolCheckpoint&) = default;
};

namespace detail {
struct PoolReplay;
}  // namespace detail

/// The packets of one shard. Single owner; not thread-safe.
class RedPacketPool {
public:
    /// Builds an empty pool. Throws std::invalid_argument for an inconsistent config
    /// (start-up only).
    explicit RedPacketPool(const PoolConfig& config);
    ~RedPacketPool();
    RedPacketPool(RedPacketPool&&) noexcept;
    RedPacketPool& operator=(RedPacketPool&&) noexcept;
    RedPacketPool(const RedPacketPool&) = delete;
    RedPacketPool& operator=(const RedPacketPool&) = delete;

    /// Creates a group packet of `total` split into `count` shares by `policy`. With a
    /// non-empty `allowed`, only those users may claim it (a group's members, a campaign's
    /// recipients; any order, at most kMaxAllowedClaimers, no user twice); everyone else gets
    /// `not_allowed`. The restriction is part of the created event, so it survives a restart.
    /// Errors: invalid_amount, invalid_count, invalid_argument (allowed too long or with a
    /// duplicate), pool_full (max_packets, max_live_shares or max_live_allowed).
    /// Strong guarantee: if it throws (std::bad_alloc), the pool is unchanged.
    /// Complexity: the split, O(N), plus sorting `allowed`.
    [[nodiscard]] std::expected<PacketId, Error> create(UserId sender, Cents total,
                                                        std::uint32_t count, SplitPolicy policy,
                                                        Time expires_at,
                                                        std::span<const UserId> allowed = {});

    /// Claims the next share of `packet` for `user`. Idempotent: a user who already holds a
    /// share gets `already_claimed` with that same share, even after the deadline. A user not
    /// among a restricted packet's claimers gets `not_allowed`, whatever its state.
    /// Complexity: O(1) expected (restricted packets: plus O(log allowed)).
    [[nodiscard]] ClaimResult claim(PacketId packet, UserId user, Time now) noexcept;

    /// Refunds every packet whose deadline is ≤ `now`, retires packets whose retention (counted
    /// from the refund) has passed, and drops expired shake packets. If it throws
    /// (std::bad_alloc), no refund is lost: packets not reported are still due.
    /// Complexity: O(k log n) for k due packets.
    std::vector<Refund> expire(Time now);

    /// The live group packet whose id has these low 32 bits, if any. Needs max_packets ≤ 2^19
    /// (compact ids hold 19 serial bits); unambiguous while a slot is recycled fewer than
    /// 2^(19 − ⌈log2 max_packets⌉) times during one packet's life.
    [[nodiscard]] std::optional<PacketId> resolve_compact(std::uint32_t compact) const noexcept;

    /// A snapshot of one packet with its claims. Errors: not_found.
    [[nodiscard]] std::expected<PacketInfo, Error> query(PacketId packet) const;

    /// Adds a single-share packet to the shake supply. Deadlines must not decrease from one
    /// offer to the next (the supply expires in FIFO order). Errors: invalid_amount,
    /// invalid_argument (deadline earlier than the previous offer's), queue_full.
    [[nodiscard]] std::expected<PacketId, Error> offer(Cents amount, Time expires_at);

    /// Takes the oldest unexpired shake packet for `user`, or nothing if the supply is empty.
    /// Expired packets met on the way are dropped and counted. Complexity: O(1) amortised.
    [[nodiscard]] std::optional<ShakeHit> take(UserId user, Time now) noexcept;

    /// Installs (or, with a default-constructed one, removes) the state-change observer.
    void set_observer(PoolObserver observer) noexcept;
    /// Called by `replay` with a finished packet it drops, at the one moment recovery sees it
    /// whole: a refunded packet a replayed create displaces from its slot (the original had
    /// retired it; retirement is not an event), and a shake packet with a seed that a replayed
    /// shake_issued hands out (`issued_shake_info`). Empty: nothing is called. The hook holds
    /// the pool's address: do not move the pool while one is set.
    void set_on_replay_retire(std::function<void(const PacketInfo&)> hook);

    // --- recovery ------------------------------------------------------------------------
    // A pool rebuilt by `replay` from the events another pool reported (its journal) holds the
    // same packets under the same ids: same shares, claimers, states, deadlines, shake supply
    // in the same order, and the same stats for everything events carry. Not restored by
    // events alone: create_rejected, shake_refused and shake_empty (no event reports them) and
    // the retirement of packets whose retention ended (retirement is not an event: a replayed
    // refunded packet stays queryable until `expire` passes its retention, or until a replayed
    // create reuses its slot). The replaying pool must use the same shard and max_packets as
    // the original, since ids encode both. Refunds due while the pool was down are not done by
    // replay: call `expire(now)` afterwards.

    /// Applies one event reported by an earlier pool, without notifying the observer. Checks
    /// everything before changing anything: a claim of an unknown packet (not_found), a second
    /// claim by one user (already_exists), a share index or amount that differs from the split
    /// recorded by `created`, a claim after the refund or deadline or by a user the packet is
    /// not restricted to, an allowed list not strictly ascending, a shake packet issued or
    /// expired out of FIFO order or twice (corrupt), a slot or id this pool cannot hold
    /// (invalid_argument, pool_full). On error the pool is unchanged.
    /// Complexity: like the operation replayed (created: O(count)). May throw std::bad_alloc.
    [[nodiscard]] std::expected<void, Error> replay(const PoolEvent& event);

    /// Reports the live state as events that `replay` turns back into it: per live packet in
    /// slot order, its `created`, then its `claimed` events in share order (`at` =
    /// Time::min(): claim times are not kept), then `refunded` if it expired (`at` = the
    /// refund time); then every queued shake packet oldest first (`shake_offered`). Exceptions
    /// thrown by `visit` propagate; the pool is not changed either way.
    /// Complexity: O(live packets + live shares + shake supply).
    void for_each_live(const std::function<void(const PoolEvent&)>& visit) const;

    /// What a snapshot keeps beside the `for_each_live` events. Complexity: O(slots).
    [[nodiscard]] PoolCheckpoint checkpoint() const;
    /// Completes a rebuild: call on a pool that has replayed exactly the `for_each_live` events
    /// of the pool that produced `checkpoint`. Restores slot generations, the shake serial and
    /// every counter; refuses (corrupt) a checkpoint that does not match the replayed live state
    /// (live counters, live generations) and leaves the pool unchanged then.
    [[nodiscard]] std::expected<void, Error> restore(const PoolCheckpoint& checkpoint);

    [[nodiscard]] const PoolStats& stats() const noexcept;
    [[nodiscard]] const PoolConfig& config() const noexcept;
    /// Shake packets currently queued (including expired ones not yet dropped).
    [[nodiscard]] std::size_t shake_size() const noexcept;

private:
    friend struct detail::PoolReplay;
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace redpacket
