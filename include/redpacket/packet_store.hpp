// PacketStore: where a request service keeps its packets — the seam between the rules
// (RequestService, request_service.hpp) and the state. MemoryStore (memory_store.hpp: one
// RedPacketPool per SET plus the write-ahead journal) is the embedded default; a remote store
// implements the same interface.
//
// Every operation names the SET it concerns and completes on the calling thread, in one of two
// ways. At once: the call returns a ready StoreResult holding the Completion — no allocation,
// no extra hop, which is what the in-memory store always does. Or later: the call returns
// `StoreResult::pending()` and the store hands a StoreCompletion (the ticket the caller passed
// and the outcome) to its sink, on the same thread; the caller feeds it to the rules as their
// next input (RequestService::step). A store completes each pending operation exactly once,
// never from inside the call that returned pending, and never one that completed at once.
//
// A Completion carries the result (or the Error that refused it) and `durable_at`: the journal
// sequence that must be durable (see `durable_sequence()`) before a reply reporting this result
// may leave; 0 when there is nothing to wait for. A store that completes later has made its
// results durable before completing and always reports 0.
//
// Errors every operation may report: `unavailable` (the journal is failing or full, a remote
// store is unreachable: refused before anything changed, retry later), and `not_found` for a SET
// the store does not serve. The rest are the pool's (red_packet_pool.hpp).
//
// Ownership and thread-safety: a store belongs to one thread (a worker's loop); every member,
// the listener's calls included, runs on that thread. `durable_sequence` and `stats` too.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <functional>
#include <optional>
#include <span>
#include <utility>
#include <variant>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/money.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/split.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// Chosen by the caller of a store operation, handed back unchanged with a later completion.
using StoreTicket = std::uint64_t;

/// The outcome of one store operation.
template <class T>
struct Completion {
    std::expected<T, Error> result;
    /// The journal sequence a reply reporting this result waits for (0: none).
    std::uint64_t durable_at{0};
};

/// A completion now, or the promise of one through the store's sink.
template <class T>
class StoreResult {
public:
    /// Completed at once.
    StoreResult(Completion<T> done) : done_{std::move(done)} {}  // NOLINT: implicit by design
    /// Completed at once with `value`, built in place; `durable_at` may be set afterwards.
    template <class... Args>
    explicit StoreResult(std::in_place_t, Args&&... value)
        : done_{std::in_place, Completion<T>{std::expected<T, Error>{std::in_place,
                                                                     std::forward<Args>(value)...},
                                             0}} {}
    /// Completes later, through the listener.
    [[nodiscard]] static StoreResult pending() noexcept { return StoreResult{}; }

    [[nodiscard]] bool ready() const noexcept { return done_.has_value(); }
    /// The completion; only when ready().
    [[nodiscard]] Completion<T>& get() noexcept { return *done_; }

private:
    StoreResult() = default;
    std::optional<Completion<T>> done_;
};

/// A create: `count` shares of `total` for `sender` in SET `set`. A non-zero `request_id`
/// makes it idempotent: the same (sender, request_id) again returns the first packet.
struct CreateOp {
    ShardId set{0};
    UserId sender{0};
    std::uint64_t request_id{0};
    Cents total{};
    std::uint32_t count{0};
    SplitPolicy policy{SplitPolicy::double_mean};
    Time expires_at{};
    std::span<const UserId> allowed{};  ///< only these may claim (empty: anyone)
};

/// What a create produced.
struct Created {
    PacketId packet;
    bool retry{false};  ///< an earlier create with the same request id made it
};

/// A claim of one share by `user`. `packet` is a full id, or with `compact` the low 32 bits
/// of one (the original protocol's grab), which the store resolves while the packet is live.
struct ClaimOp {
    PacketId packet;
    bool compact{false};
    UserId user{0};
    std::uint64_t request_id{0};
    Time now{};
};

/// What a claim produced: the full packet id (resolved for a compact one) and the result.
struct Claimed {
    PacketId packet;
    ClaimResult result;
};

/// A take from SET `set`'s shake supply by `user`.
struct TakeOp {
    ShardId set{0};
    UserId user{0};
    Time now{};
};

/// An offer of one shake packet to SET `set`'s supply.
struct OfferOp {
    ShardId set{0};
    Cents amount{};
    Time expires_at{};
};

/// Refund what is due in SET `set` at `now` (and retire what has served its retention).
struct ExpireOp {
    ShardId set{0};
    Time now{};
};

/// What an expiry sweep refunded.
struct Expired {
    std::uint64_t refunds{0};
    Cents amount{};
};

/// Money and packet totals of a store's SETs (as far as this store's thread can see them).
struct StoreStats {
    Cents created, claimed, refunded, outstanding;
    Cents shake_offered, shake_issued, shake_expired;
    std::uint64_t packets_live{0};
    std::uint64_t shake_queued{0};
    /// SETs whose money does not balance, plus changes a journal lost: must stay 0.
    std::uint64_t invariant_violations{0};
};

/// A send campaign's packet, announced to its recipients wherever they are connected.
struct Announcement {
    PacketId packet;
    Cents total{};
    std::uint32_t shares{0};
    std::array<UserId, 3> users{};  ///< the recipients; unused slots 0
};

/// A send campaign's packet that a store heard announced (by this process or another) for
/// recipients in SET `set`.
struct Announced {
    ShardId set{0};
    Announcement announcement;
};

/// What a store finished later — the outcome of the operation started with `ticket` — or
/// heard (an Announced, with ticket 0).
struct StoreCompletion {
    using Outcome = std::variant<Completion<Created>, Completion<Claimed>, Completion<PacketInfo>,
                                 Completion<std::optional<ShakeHit>>, Completion<PacketId>,
                                 Completion<Expired>, Completion<std::vector<UserId>>, Announced>;
    StoreTicket ticket{0};
    Outcome outcome;
};

/// Where a store hands its later completions: the caller's, which passes each to the rules as
/// an input. Called on the store's thread, never from inside a store call.
using StoreSink = std::function<void(StoreCompletion&&)>;

/// Where packets live. One per worker thread; see the file comment.
class PacketStore {
public:
    virtual ~PacketStore() = default;

    /// Sets where later completions go. Call before the first operation that may pend.
    virtual void set_sink(StoreSink sink) = 0;
    /// True if this store, on this thread, holds or reaches SET `set`; a request for a SET it
    /// does not serve goes to the thread whose store does.
    [[nodiscard]] virtual bool serves(ShardId set) const noexcept = 0;
    /// Every journal sequence ≤ this is durable (a completion's `durable_at` is compared with
    /// it). Stores that complete only once durable return UINT64_MAX.
    [[nodiscard]] virtual std::uint64_t durable_sequence() const noexcept = 0;
    /// False while `operations` more changes would be refused (journal failing or nearly full,
    /// remote store down): campaigns wait instead of minting packets that would be refused.
    [[nodiscard]] virtual bool has_room(std::size_t operations) const noexcept = 0;

    virtual StoreResult<Created> create(StoreTicket ticket, const CreateOp& op) = 0;
    virtual StoreResult<Claimed> claim(StoreTicket ticket, const ClaimOp& op) = 0;
    virtual StoreResult<PacketInfo> query(StoreTicket ticket, PacketId packet) = 0;
    virtual StoreResult<std::optional<ShakeHit>> take(StoreTicket ticket, const TakeOp& op) = 0;
    virtual StoreResult<PacketId> offer(StoreTicket ticket, const OfferOp& op) = 0;
    virtual StoreResult<Expired> expire(StoreTicket ticket, const ExpireOp& op) = 0;

    /// Totals for /stats, as of now.
    [[nodiscard]] virtual StoreStats stats() const = 0;

    // --- a store shared by several processes (the defaults: a store of this process only) ---
    /// True if the store knows who is online in every process: the send campaign then picks
    /// recipients with `recipients` and tells them with `announce`.
    [[nodiscard]] virtual bool tracks_presence() const noexcept { return false; }
    /// `user` of SET `set` logged in here (or left).
    virtual void presence(ShardId /*set*/, UserId /*user*/, bool /*online*/) {}
    /// Up to `want` distinct users online in SET `set`.
    virtual StoreResult<std::vector<UserId>> recipients(StoreTicket /*ticket*/, ShardId /*set*/,
                                                        std::uint32_t /*want*/) {
        return Completion<std::vector<UserId>>{std::vector<UserId>{}, 0};
    }
    /// Tells every process's sink about `a` (its own included), as an Announced.
    virtual void announce(ShardId /*set*/, const Announcement& /*a*/) {}
    /// False while another process runs the campaigns (one runs them for all).
    [[nodiscard]] virtual bool runs_campaigns() const noexcept { return true; }
};

}  // namespace redpacket
