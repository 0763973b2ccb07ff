// RedPacketPool::Impl, shared by red_packet_pool.cpp (the operations) and
// red_packet_pool_replay.cpp (replay, live-state enumeration, checkpoints). Internal: not
// installed, not included by users.
//
// Group packets live in a slab of slots; a packet id carries (generation, slot), so a lookup is
// an index plus a generation check — no hash map. Each packet owns one array of cells (share
// amount and claimer, in share order) and, for packets with more than kLinearUsers shares, a
// second array: an open-addressing index from user to share, so a claim stays O(1).
// A restricted packet (create with `allowed`) owns one more array: the count, then the allowed
// users ascending, binary-searched by claim; unrestricted packets pay a null pointer.
// Deadlines sit in a binary min-heap; an expired packet is refunded, kept for `retention` so
// retries and queries still see it, and then its slot is recycled with a new generation.
#pragma once

#include <algorithm>
#include <bit>
#include <cassert>
#include <memory>
#include <span>
#include <stdexcept>
#include <vector>

#include "redpacket/proof.hpp"
#include "redpacket/assert.hpp"
#include "redpacket/random.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace redpacket {
namespace detail {

constexpr std::uint32_t kLinearUsers = 16;  // at or below: scan the claimers instead of hashing
constexpr std::uint32_t kNoIndex = UINT32_MAX;
constexpr std::uint64_t kShakeBit = std::uint64_t{1} << kPacketShardBits;
constexpr int kSerialShift = kPacketShardBits + 1;

// Fibonacci hashing: the top bits of the product depend on every bit of the user id.
inline std::size_t user_home(UserId user, int shift) noexcept {
    return static_cast<std::size_t>((user * 0x9e3779b97f4a7c15ULL) >> shift);
}

// Grows a full vector by a quarter instead of the library's doubling: per-packet memory then
// carries at most 25% slack (slots are 80 bytes, deadlines 24), still amortised O(1).
template <class T>
void grow_by_quarter(std::vector<T>& v) {
    if (v.size() == v.capacity()) {
        v.reserve(std::max<std::size_t>(16, v.capacity() + v.capacity() / 4));
    }
}

}  // namespace detail

using detail::grow_by_quarter;
using detail::kLinearUsers;
using detail::kNoIndex;
using detail::kSerialShift;
using detail::kShakeBit;
using detail::user_home;

struct RedPacketPool::Impl {
    // One share and who claimed it (user is meaningful for the first `claimed` cells).
    struct ShareCell {
        Cents amount;
        UserId user;
    };

    struct Slot {
        UserId sender{0};
        Cents total;
        Cents claimed_amount;  // once expired, total − claimed_amount was refunded
        Time expires_at{};
        std::uint32_t generation{1};
        std::uint32_t count{0};
        std::uint32_t claimed{0};
        std::uint32_t best{kNoIndex};
        std::uint32_t next_free{kNoIndex};
        std::uint8_t index_shift{0};  // 64 − log2(index size); 0 = no index, scan the cells
        SplitPolicy policy{SplitPolicy::double_mean};
        PacketState state{PacketState::open};
        bool live{false};
        std::unique_ptr<ShareCell[]> cells;       // count cells, in hand-out order
        std::unique_ptr<std::uint32_t[]> index;   // user → cell, open addressing, kNoIndex empty
        std::unique_ptr<UserId[]> allowed;  // null: anyone; else [0] = n, [1..n] users ascending
    };

    // A packet's share storage, allocated before the pool changes (it is what can throw).
    struct Shares {
        std::unique_ptr<ShareCell[]> cells;
        std::unique_ptr<std::uint32_t[]> index;
        std::uint8_t index_shift{0};
    };
    static Shares allocate_shares(std::uint32_t count) {
        Shares out;
        out.cells = std::make_unique_for_overwrite<ShareCell[]>(count);
        if (count > kLinearUsers) {
            const std::uint32_t table = std::bit_ceil(count * 2U);
            out.index = std::make_unique_for_overwrite<std::uint32_t[]>(table);
            std::fill_n(out.index.get(), table, kNoIndex);
            out.index_shift = static_cast<std::uint8_t>(64 - std::countr_zero(table));
        }
        return out;
    }

    // 16 bytes: the retire flag rides in the top bit of the slot (slots < 2^24).
    struct Deadline {
        static constexpr std::uint32_t kRetire = 1U << 31;
        Time at;
        std::uint32_t slot_and_kind;  // slot | kRetire to recycle the slot, else refund
        std::uint32_t generation;
        [[nodiscard]] std::uint32_t slot() const noexcept { return slot_and_kind & ~kRetire; }
        [[nodiscard]] bool retire() const noexcept { return (slot_and_kind & kRetire) != 0; }
    };
    struct DeadlineLater {
        bool operator()(const Deadline& a, const Deadline& b) const noexcept {
            return a.at > b.at;
        }
    };

    struct ShakeEntry {
        Cents amount;
        Time expires_at;
        std::uint64_t serial;
    };

    explicit Impl(const PoolConfig& c) : config{c}, rng{c.seed}, seeds{c.simulated_seeds} {
        if (c.shard > kMaxShard) {
            throw std::invalid_argument("pool shard exceeds kMaxShard");
        }
        if (c.max_packets == 0 || c.max_packets > (1U << 24)) {
            throw std::invalid_argument("pool max_packets must be in [1, 2^24]");
        }
        if (c.max_shares == 0 || c.max_shares > kMaxShares) {
            throw std::invalid_argument("pool max_shares must be in [1, kMaxShares]");
        }
        if (c.max_live_shares < c.max_shares) {
            throw std::invalid_argument("pool max_live_shares must be at least max_shares");
        }
        if (c.min_share.value < 1 || c.max_total < c.min_share || c.max_total > kMaxPacketTotal) {
            throw std::invalid_argument("pool needs 1 <= min_share <= max_total <= kMaxPacketTotal");
        }
        if (c.shake_capacity == 0 || c.shake_capacity > (1U << 24)) {
            throw std::invalid_argument("pool shake_capacity must be in [1, 2^24]");
        }
        // Money held at once must fit an int64_t with room to spare.
        const detail::uint128 held =
            static_cast<detail::uint128>(std::uint64_t{c.max_packets} + c.shake_capacity) *
            static_cast<std::uint64_t>(c.max_total.value);
        if (held > static_cast<detail::uint128>(INT64_MAX / 2)) {
            throw std::invalid_argument(
                "pool (max_packets + shake_capacity) * max_total exceeds 2^62 cents");
        }
        if (c.retention.count() < 0) {
            throw std::invalid_argument("pool retention must not be negative");
        }
        slot_bits = static_cast<int>(std::bit_width(c.max_packets - 1U));
        generation_mask = (std::uint64_t{1} << std::min(32, 64 - kSerialShift - slot_bits)) - 1;
        shake_ring.resize(c.shake_capacity);
        if (c.verifiable) {
            shake_seeds.resize(c.shake_capacity);
        }
    }

    // A restricted packet's claimer list (count first), allocated before the pool changes; null
    // when anyone may claim. `users` must be sorted and free of duplicates.
    static std::unique_ptr<UserId[]> prepare_allowed(std::span<const UserId> users) {
        if (users.empty()) {
            return nullptr;
        }
        auto list = std::make_unique_for_overwrite<UserId[]>(users.size() + 1);
        list[0] = users.size();
        std::copy(users.begin(), users.end(), list.get() + 1);
        return list;
    }
    static std::span<const UserId> allowed_of(const Slot& s) noexcept {
        return s.allowed ? std::span<const UserId>{s.allowed.get() + 1, s.allowed[0]}
                         : std::span<const UserId>{};
    }
    static bool may_claim(const Slot& s, UserId user) noexcept {
        const std::span<const UserId> list = allowed_of(s);
        return !s.allowed || std::binary_search(list.begin(), list.end(), user);
    }

    // Makes `slot_index` an open packet with these shares and counts it (create and replay;
    // the deadline heap has room: reserve_deadline() came first). Never throws.
    void open_slot(std::uint32_t slot_index, Shares&& storage, std::span<const Cents> amounts,
                   UserId sender, Cents total, Time expires_at, SplitPolicy policy,
                   std::unique_ptr<UserId[]>&& claimers) noexcept {
        const auto count = static_cast<std::uint32_t>(amounts.size());
        Cents sum{0};
        for (std::uint32_t i = 0; i < count; ++i) {
            storage.cells[i].amount = amounts[i];
            sum += amounts[i];
        }
        Slot& s = slots[slot_index];
        REDPACKET_ASSERT(!s.live);     // a free slot
        REDPACKET_ASSERT(count > 0);
        REDPACKET_ASSERT(sum == total);  // the shares are the whole packet: no cent made or lost
        s.cells = std::move(storage.cells);
        s.index = std::move(storage.index);
        s.index_shift = storage.index_shift;
        s.sender = sender;
        s.total = total;
        s.claimed_amount = Cents{0};
        s.expires_at = expires_at;
        s.count = count;
        s.claimed = 0;
        s.best = kNoIndex;
        s.policy = policy;
        s.state = PacketState::open;
        s.live = true;
        s.allowed = std::move(claimers);
        allowed_live += allowed_of(s).size();
        push_deadline(Deadline{expires_at, slot_index, s.generation});
        ++stats.packets_created;
        ++stats.packets_live;
        stats.shares_live += count;
        stats.amount_created += total;
        stats.amount_outstanding += total;
    }

    // --- ids -------------------------------------------------------------------------------
    PacketId group_id(std::uint32_t slot, std::uint32_t generation) const noexcept {
        const std::uint64_t serial = (std::uint64_t{generation} << slot_bits) | slot;
        return PacketId{(serial << kSerialShift) | config.shard};
    }
    PacketId shake_id(std::uint64_t serial) const noexcept {
        return PacketId{(serial << kSerialShift) | kShakeBit | config.shard};
    }
    // The slot an id names (not checked: use find()).
    std::uint32_t slot_of(PacketId id) const noexcept {
        return static_cast<std::uint32_t>((id.value >> kSerialShift) &
                                          ((std::uint64_t{1} << slot_bits) - 1));
    }
    // 40 bytes per slot, only in pools that make verifiable packets. min_share 0: no seed.
    struct Provenance {
        Seed seed{};
        Cents min_share{};
    };
    // Room for one more slot's provenance, grown geometrically (an exact reserve per create
    // would copy the whole vector every time).
    void reserve_provenance(std::size_t count) {
        if (provenance.capacity() < count) {
            provenance.reserve(std::max({count, 2 * provenance.capacity(), std::size_t{64}}));
        }
    }
    // Records a packet's seed (null: made without one). A pool that never sees a seed keeps
    // no provenance at all; one that does has room: reserved before the slot was taken.
    void set_provenance(std::uint32_t slot, const Seed* seed, Cents min_share) noexcept {
        if (seed == nullptr) {
            if (slot < provenance.size()) {
                provenance[slot].min_share = Cents{0};  // the slot's earlier packet had one
            }
            return;
        }
        if (provenance.size() <= slot) {
            provenance.resize(std::size_t{slot} + 1);
        }
        provenance[slot] = Provenance{*seed, min_share};
    }
    [[nodiscard]] const Provenance* provenance_of(std::uint32_t slot) const noexcept {
        return slot < provenance.size() && provenance[slot].min_share > Cents{0}
                   ? &provenance[slot]
                   : nullptr;
    }
    Slot* find(PacketId id) noexcept {
        if (packet_shard(id) != config.shard || is_shake_packet(id)) {
            return nullptr;
        }
        const std::uint64_t serial = id.value >> kSerialShift;
        const auto slot = static_cast<std::uint32_t>(serial & ((std::uint64_t{1} << slot_bits) - 1));
        const std::uint64_t generation = serial >> slot_bits;
        if (slot >= slots.size()) {
            return nullptr;
        }
        Slot& s = slots[slot];
        return (s.live && s.generation == generation) ? &s : nullptr;
    }

    // --- user index ------------------------------------------------------------------------
    static std::uint32_t find_user(const Slot& s, UserId user) noexcept {
        if (s.index_shift == 0) {
            for (std::uint32_t i = 0; i < s.claimed; ++i) {
                if (s.cells[i].user == user) {
                    return i;
                }
            }
            return kNoIndex;
        }
        const std::size_t mask = (std::size_t{1} << (64 - s.index_shift)) - 1;
        for (std::size_t h = user_home(user, s.index_shift);; h = (h + 1) & mask) {
            const std::uint32_t i = s.index[h];
            if (i == kNoIndex || s.cells[i].user == user) {
                return i;
            }
        }
    }
    static void insert_user(Slot& s, UserId user, std::uint32_t share) noexcept {
        s.cells[share].user = user;
        if (s.index_shift == 0) {
            return;
        }
        const std::size_t mask = (std::size_t{1} << (64 - s.index_shift)) - 1;
        std::size_t h = user_home(user, s.index_shift);
        while (s.index[h] != kNoIndex) {
            h = (h + 1) & mask;
        }
        s.index[h] = share;
    }

    // The seed of the shake packet at ring place `place`, or null.
    const Seed* shake_seed(std::size_t place) const noexcept {
        if (shake_seeds.empty() || !valid_seed(shake_seeds[place])) {
            return nullptr;
        }
        return &shake_seeds[place];
    }
    // The shake packet at ring place `place` as a hit.
    ShakeHit shake_hit(std::size_t place) const noexcept {
        const ShakeEntry& e = shake_ring[place];
        ShakeHit hit{shake_id(e.serial), e.amount, e.expires_at};
        if (const Seed* seed = shake_seed(place)) {
            hit.seed = *seed;
        }
        return hit;
    }

    void notify(PoolEventKind kind, PacketId id, UserId user, Cents amount, std::uint32_t index,
                Time at) const noexcept {
        if (observer) {
            observer(PoolEvent{kind, id, user, amount, index, at, SplitPolicy::double_mean, {}});
        }
    }

    // Hands the next share of `s` to `user` (the caller checked it is open, unexpired, not
    // sold out and that `user` holds no share) and updates the totals. Returns the share index.
    std::uint32_t hand_out(Slot& s, UserId user) noexcept {
        REDPACKET_ASSERT(s.live && s.state == PacketState::open && s.claimed < s.count);
        const std::uint32_t share = s.claimed++;
        const Cents amount = s.cells[share].amount;
        insert_user(s, user, share);
        s.claimed_amount += amount;
        if (s.best == kNoIndex || amount > s.cells[s.best].amount) {
            s.best = share;
        }
        if (s.claimed == s.count) {
            s.state = PacketState::sold_out;
        }
        ++stats.claims;
        stats.amount_claimed += amount;
        stats.amount_outstanding -= amount;
        REDPACKET_ASSERT(s.claimed_amount <= s.total);
        REDPACKET_ASSERT(s.claimed < s.count || s.claimed_amount == s.total);  // sold out: all paid
        REDPACKET_ASSERT(stats.amount_outstanding >= Cents{0});
        return share;
    }

    // --- slots and deadlines -----------------------------------------------------------------
    // Takes a free slot, oldest-freed first so that generations advance evenly, or appends one.
    // May throw (growing `slots`) before anything changes.
    std::uint32_t acquire_slot() {
        if (free_head != kNoIndex) {
            const std::uint32_t i = free_head;
            free_head = slots[i].next_free;
            if (free_head == kNoIndex) {
                free_tail = kNoIndex;
            }
            return i;
        }
        grow_by_quarter(slots);
        slots.emplace_back();
        return static_cast<std::uint32_t>(slots.size() - 1);
    }
    void release_slot(std::uint32_t i) noexcept {
        Slot& s = slots[i];
        REDPACKET_ASSERT(s.live && stats.packets_live > 0);
        // Retired only once nothing is left to hand out: sold out, or refunded.
        REDPACKET_ASSERT(s.state != PacketState::open);
        s.live = false;
        s.cells.reset();
        s.index.reset();
        allowed_live -= allowed_of(s).size();
        s.allowed.reset();
        std::uint64_t next = (std::uint64_t{s.generation} + 1) & generation_mask;
        s.generation = static_cast<std::uint32_t>(next == 0 ? 1 : next);  // 0 never names a packet
        s.next_free = kNoIndex;
        stats.shares_live -= s.count;
        --stats.packets_live;
        if (free_list_stale) {
            return;  // rebuilt from the live flags before the next create
        }
        if (free_tail == kNoIndex) {
            free_head = i;
        } else {
            slots[free_tail].next_free = i;
        }
        free_tail = i;
    }
    // Relinks every free slot in index order (after replay placed packets in arbitrary slots).
    /// Checks a create's arguments (count, total, split, allowed list) and leaves the allowed
    /// list sorted in scratch_users. Errors as create's, except pool_full.
    [[nodiscard]] std::expected<void, Error> check_create(Cents total, std::uint32_t count,
                                                          SplitPolicy policy,
                                                          std::span<const UserId> allowed);

    void rebuild_free_list() noexcept {
        free_head = kNoIndex;
        free_tail = kNoIndex;
        for (std::uint32_t i = 0; i < slots.size(); ++i) {
            if (slots[i].live) {
                continue;
            }
            slots[i].next_free = kNoIndex;
            if (free_tail == kNoIndex) {
                free_head = i;
            } else {
                slots[free_tail].next_free = i;
            }
            free_tail = i;
        }
        free_list_stale = false;
    }
    // Every live slot has one pending deadline (plus, after replay, stale refund deadlines of
    // replayed refunds, skipped when popped), so after `reserve_deadline` succeeds in create,
    // pushes never allocate.
    void reserve_deadline() { grow_by_quarter(deadlines); }
    void push_deadline(Deadline d) noexcept {
        deadlines.push_back(d);
        std::push_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
    }
    void refund(std::uint32_t slot_index, Cents amount, Time now, bool report = true) noexcept {
        Slot& s = slots[slot_index];
        REDPACKET_ASSERT(s.live && s.state != PacketState::expired);  // refunded exactly once
        REDPACKET_ASSERT(amount == s.total - s.claimed_amount && amount >= Cents{0});
        s.state = PacketState::expired;
        stats.amount_refunded += amount;
        stats.amount_outstanding -= amount;
        ++stats.packets_expired;
        if (report) {
            notify(PoolEventKind::refunded, group_id(slot_index, s.generation), s.sender, amount,
                   s.count - s.claimed, now);
        }
        // Retention runs from the refund, so a late expire() still leaves time for retries. A
        // caller's clock near Time::max() retires at Time::max() instead of overflowing.
        const Time retire_at = now > Time::max() - config.retention ? Time::max()
                                                                    : now + config.retention;
        push_deadline(Deadline{retire_at, slot_index | Deadline::kRetire, s.generation});
    }
    void drop_expired_shakes(Time now) noexcept {
        while (shake_count > 0 && shake_ring[shake_head].expires_at <= now) {
            const ShakeEntry& e = shake_ring[shake_head];
            stats.shake_amount_expired += e.amount;
            stats.shake_amount_queued -= e.amount;
            ++stats.shake_expired;
            notify(PoolEventKind::shake_expired, shake_id(e.serial), 0, e.amount, 0, now);
            shake_head = (shake_head + 1) % shake_ring.size();
            --shake_count;
            REDPACKET_ASSERT(stats.shake_amount_queued >= Cents{0});
        }
    }

    PoolConfig config;
    Rng rng;
    SeedSource seeds;
    // By slot, beside the hot slot data: the seed a verifiable packet's shares came from.
    std::vector<Provenance> provenance;
    int slot_bits{0};
    std::uint64_t generation_mask{0};  // generations that fit in an id beside the slot
    std::vector<Slot> slots;
    std::uint32_t free_head{kNoIndex};
    std::uint32_t free_tail{kNoIndex};
    bool free_list_stale{false};  // replay placed packets by id: relink before the next create
    std::vector<Deadline> deadlines;
    std::vector<Cents> scratch;  // split output before it is spread into cells
    std::vector<UserId> scratch_users;  // create's allowed list, sorted
    std::uint64_t allowed_live{0};  // users in allowed lists (bounded by config.max_live_allowed)
    std::vector<ShakeEntry> shake_ring;
    // By ring place, verifiable pools only: a queued shake packet's seed (all zero: none).
    std::vector<Seed> shake_seeds;
    std::size_t shake_head{0};
    std::size_t shake_count{0};
    std::uint64_t shake_serial{0};
    PoolStats stats;
    PoolObserver observer;
    std::function<void(PacketId)> on_replay_retire;  // see set_on_replay_retire
    std::function<void(const PacketInfo&)> on_replay_shake;  // the same hook, for shakes
};

}  // namespace redpacket
