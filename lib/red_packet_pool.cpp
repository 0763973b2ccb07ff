// RedPacketPool implementation.
//
// Group packets live in a slab of slots; a packet id carries (generation, slot), so a lookup is
// an index plus a generation check — no hash map. Each packet owns one array of cells (share
// amount and claimer, in share order) and, for packets with more than kLinearUsers shares, a
// second array: an open-addressing index from user to share, so a claim stays O(1).
// Deadlines sit in a binary min-heap; an expired packet is refunded, kept for `retention` so
// retries and queries still see it, and then its slot is recycled with a new generation.
#include "redpacket/red_packet_pool.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <stdexcept>

#include "redpacket/random.hpp"

namespace redpacket {
namespace {

constexpr std::uint32_t kLinearUsers = 16;  // at or below: scan the claimers instead of hashing
constexpr std::uint32_t kNoIndex = UINT32_MAX;
constexpr std::uint64_t kShakeBit = std::uint64_t{1} << kPacketShardBits;
constexpr int kSerialShift = kPacketShardBits + 1;

// Fibonacci hashing: the top bits of the product depend on every bit of the user id.
std::size_t user_home(UserId user, int shift) noexcept {
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

}  // namespace

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
    };

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

    explicit Impl(const PoolConfig& c) : config{c}, rng{c.seed} {
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
    }

    // --- ids -------------------------------------------------------------------------------
    PacketId group_id(std::uint32_t slot, std::uint32_t generation) const noexcept {
        const std::uint64_t serial = (std::uint64_t{generation} << slot_bits) | slot;
        return PacketId{(serial << kSerialShift) | config.shard};
    }
    PacketId shake_id(std::uint64_t serial) const noexcept {
        return PacketId{(serial << kSerialShift) | kShakeBit | config.shard};
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

    void notify(PoolEventKind kind, PacketId id, UserId user, Cents amount, std::uint32_t index,
                Time at) const noexcept {
        if (observer) {
            observer(PoolEvent{kind, id, user, amount, index, at});
        }
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
        s.live = false;
        s.cells.reset();
        s.index.reset();
        std::uint64_t next = (std::uint64_t{s.generation} + 1) & generation_mask;
        s.generation = static_cast<std::uint32_t>(next == 0 ? 1 : next);  // 0 never names a packet
        s.next_free = kNoIndex;
        if (free_tail == kNoIndex) {
            free_head = i;
        } else {
            slots[free_tail].next_free = i;
        }
        free_tail = i;
        stats.shares_live -= s.count;
        --stats.packets_live;
    }
    // Every live slot has exactly one pending deadline, so after `reserve_deadline` succeeds
    // in create, pushes never allocate.
    void reserve_deadline() { grow_by_quarter(deadlines); }
    void push_deadline(Deadline d) noexcept {
        deadlines.push_back(d);
        std::push_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
    }
    void refund(std::uint32_t slot_index, Cents amount, Time now) noexcept {
        Slot& s = slots[slot_index];
        s.state = PacketState::expired;
        stats.amount_refunded += amount;
        stats.amount_outstanding -= amount;
        ++stats.packets_expired;
        notify(PoolEventKind::refunded, group_id(slot_index, s.generation), s.sender, amount,
               s.count - s.claimed, now);
        // Retention runs from the refund, so a late expire() still leaves time for retries.
        push_deadline(Deadline{now + config.retention, slot_index | Deadline::kRetire, s.generation});
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
        }
    }

    PoolConfig config;
    Rng rng;
    int slot_bits{0};
    std::uint64_t generation_mask{0};  // generations that fit in an id beside the slot
    std::vector<Slot> slots;
    std::uint32_t free_head{kNoIndex};
    std::uint32_t free_tail{kNoIndex};
    std::vector<Deadline> deadlines;
    std::vector<Cents> scratch;  // split output before it is spread into cells
    std::vector<ShakeEntry> shake_ring;
    std::size_t shake_head{0};
    std::size_t shake_count{0};
    std::uint64_t shake_serial{0};
    PoolStats stats;
    PoolObserver observer;
};

RedPacketPool::RedPacketPool(const PoolConfig& config) : impl_{std::make_unique<Impl>(config)} {}
RedPacketPool::~RedPacketPool() = default;
RedPacketPool::RedPacketPool(RedPacketPool&&) noexcept = default;
RedPacketPool& RedPacketPool::operator=(RedPacketPool&&) noexcept = default;

std::expected<PacketId, Error> RedPacketPool::create(UserId sender, Cents total,
                                                     std::uint32_t count, SplitPolicy policy,
                                                     Time expires_at) {
    Impl& p = *impl_;
    auto refuse = [&p](Error e) {
        ++p.stats.create_rejected;
        return std::unexpected(e);
    };
    if (count == 0 || count > p.config.max_shares) {
        return refuse(Error::invalid_count);
    }
    if (total > p.config.max_total) {
        return refuse(Error::invalid_amount);
    }
    if (auto ok = validate_split(policy, total, count, p.config.min_share); !ok) {
        return refuse(ok.error());
    }
    if ((p.free_head == kNoIndex && p.slots.size() >= p.config.max_packets) ||
        p.stats.shares_live + count > p.config.max_live_shares) {
        return refuse(Error::pool_full);
    }
    // Everything that can throw happens before the pool changes.
    p.scratch.resize(count);
    auto cells = std::make_unique_for_overwrite<Impl::ShareCell[]>(count);
    std::unique_ptr<std::uint32_t[]> index;
    std::uint8_t index_shift = 0;
    if (count > kLinearUsers) {
        const std::uint32_t table = std::bit_ceil(count * 2U);
        index = std::make_unique_for_overwrite<std::uint32_t[]>(table);
        std::fill_n(index.get(), table, kNoIndex);
        index_shift = static_cast<std::uint8_t>(64 - std::countr_zero(table));
    }
    p.reserve_deadline();
    const std::uint32_t slot_index = p.acquire_slot();

    auto ok = split_into(policy, total, std::span<Cents>{p.scratch}, p.config.min_share, p.rng);
    assert(ok.has_value());
    (void)ok;
    for (std::uint32_t i = 0; i < count; ++i) {
        cells[i].amount = p.scratch[i];
    }
    Impl::Slot& s = p.slots[slot_index];
    s.cells = std::move(cells);
    s.index = std::move(index);
    s.index_shift = index_shift;
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
    p.push_deadline(Impl::Deadline{expires_at, slot_index, s.generation});

    ++p.stats.packets_created;
    ++p.stats.packets_live;
    p.stats.shares_live += count;
    p.stats.amount_created += total;
    p.stats.amount_outstanding += total;
    const PacketId id = p.group_id(slot_index, s.generation);
    p.notify(PoolEventKind::created, id, sender, total, count, expires_at);
    return id;
}

ClaimResult RedPacketPool::claim(PacketId packet, UserId user, Time now) noexcept {
    Impl& p = *impl_;
    Impl::Slot* s = p.find(packet);
    if (s == nullptr) {
        return {ClaimStatus::not_found, Cents{0}, 0};
    }
    if (const std::uint32_t held = p.find_user(*s, user); held != kNoIndex) {
        return {ClaimStatus::already_claimed, s->cells[held].amount, held};
    }
    if (s->state == PacketState::expired || now >= s->expires_at) {
        return {ClaimStatus::expired, Cents{0}, 0};
    }
    if (s->claimed == s->count) {
        return {ClaimStatus::sold_out, Cents{0}, 0};
    }
    const std::uint32_t share = s->claimed++;
    const Cents amount = s->cells[share].amount;
    Impl::insert_user(*s, user, share);
    s->claimed_amount += amount;
    if (s->best == kNoIndex || amount > s->cells[s->best].amount) {
        s->best = share;
    }
    if (s->claimed == s->count) {
        s->state = PacketState::sold_out;
    }
    ++p.stats.claims;
    p.stats.amount_claimed += amount;
    p.stats.amount_outstanding -= amount;
    p.notify(PoolEventKind::claimed, packet, user, amount, share, now);
    return {ClaimStatus::claimed, amount, share};
}

std::vector<Refund> RedPacketPool::expire(Time now) {
    Impl& p = *impl_;
    std::vector<Refund> refunds;
    while (!p.deadlines.empty() && p.deadlines.front().at <= now) {
        const Impl::Deadline d = p.deadlines.front();
        Impl::Slot& s = p.slots[d.slot()];
        const bool current = s.live && s.generation == d.generation;
        Cents amount{0};
        if (current && !d.retire()) {
            // Report first: if this allocation throws, nothing has changed yet.
            amount = s.total - s.claimed_amount;
            refunds.push_back(
                Refund{p.group_id(d.slot(), s.generation), s.sender, amount, s.count - s.claimed});
        }
        std::pop_heap(p.deadlines.begin(), p.deadlines.end(), Impl::DeadlineLater{});
        p.deadlines.pop_back();
        if (!current) {
            continue;
        }
        if (d.retire()) {
            p.release_slot(d.slot());
        } else {
            p.refund(d.slot(), amount, now);
        }
    }
    p.drop_expired_shakes(now);
    return refunds;
}

std::optional<PacketId> RedPacketPool::resolve_compact(std::uint32_t compact) const noexcept {
    const Impl& p = *impl_;
    const std::uint64_t low = compact;
    if ((low & kMaxShard) != p.config.shard || (low & kShakeBit) != 0) {
        return std::nullopt;
    }
    const std::uint64_t serial_low = low >> kSerialShift;  // 19 bits of serial
    const auto slot = static_cast<std::uint32_t>(serial_low & ((std::uint64_t{1} << p.slot_bits) - 1));
    if (slot >= p.slots.size() || !p.slots[slot].live) {
        return std::nullopt;
    }
    const PacketId full = p.group_id(slot, p.slots[slot].generation);
    if ((full.value & 0xffffffffULL) != low) {
        return std::nullopt;
    }
    return full;
}

std::expected<PacketInfo, Error> RedPacketPool::query(PacketId packet) const {
    const Impl::Slot* s = impl_->find(packet);
    if (s == nullptr) {
        return std::unexpected(Error::not_found);
    }
    PacketInfo info;
    info.id = packet;
    info.sender = s->sender;
    info.policy = s->policy;
    info.state = s->state;
    info.total = s->total;
    info.count = s->count;
    info.claimed_count = s->claimed;
    info.claimed_amount = s->claimed_amount;
    info.refunded = s->state == PacketState::expired ? s->total - s->claimed_amount : Cents{0};
    info.remaining = s->total - s->claimed_amount - info.refunded;
    info.expires_at = s->expires_at;
    info.claims.reserve(s->claimed);
    for (std::uint32_t i = 0; i < s->claimed; ++i) {
        info.claims.push_back(ClaimRecord{s->cells[i].user, s->cells[i].amount});
    }
    if (s->best != kNoIndex) {
        info.best_luck = s->best;
    }
    return info;
}

std::expected<PacketId, Error> RedPacketPool::offer(Cents amount, Time expires_at) {
    Impl& p = *impl_;
    if (amount < p.config.min_share || amount > p.config.max_total) {
        return std::unexpected(Error::invalid_amount);
    }
    if (p.shake_count > 0 &&
        expires_at < p.shake_ring[(p.shake_head + p.shake_count - 1) % p.shake_ring.size()].expires_at) {
        return std::unexpected(Error::invalid_argument);  // FIFO expiry needs ordered deadlines
    }
    if (p.shake_count == p.shake_ring.size()) {
        ++p.stats.shake_refused;
        return std::unexpected(Error::queue_full);
    }
    const std::uint64_t serial = ++p.shake_serial;
    const std::size_t tail = (p.shake_head + p.shake_count) % p.shake_ring.size();
    p.shake_ring[tail] = Impl::ShakeEntry{amount, expires_at, serial};
    ++p.shake_count;
    ++p.stats.shake_offered;
    p.stats.shake_amount_offered += amount;
    p.stats.shake_amount_queued += amount;
    const PacketId id = p.shake_id(serial);
    p.notify(PoolEventKind::shake_offered, id, 0, amount, 0, expires_at);
    return id;
}

std::optional<ShakeHit> RedPacketPool::take(UserId user, Time now) noexcept {
    Impl& p = *impl_;
    p.drop_expired_shakes(now);
    if (p.shake_count == 0) {
        ++p.stats.shake_empty;
        return std::nullopt;
    }
    const Impl::ShakeEntry e = p.shake_ring[p.shake_head];
    p.shake_head = (p.shake_head + 1) % p.shake_ring.size();
    --p.shake_count;
    ++p.stats.shake_issued;
    p.stats.shake_amount_issued += e.amount;
    p.stats.shake_amount_queued -= e.amount;
    const PacketId id = p.shake_id(e.serial);
    p.notify(PoolEventKind::shake_issued, id, user, e.amount, 0, now);
    return ShakeHit{id, e.amount};
}

void RedPacketPool::set_observer(PoolObserver observer) noexcept { impl_->observer = observer; }
const PoolStats& RedPacketPool::stats() const noexcept { return impl_->stats; }
const PoolConfig& RedPacketPool::config() const noexcept { return impl_->config; }
std::size_t RedPacketPool::shake_size() const noexcept { return impl_->shake_count; }

std::string_view to_string(ClaimStatus s) noexcept {
    switch (s) {
        case ClaimStatus::claimed: return "claimed";
        case ClaimStatus::already_claimed: return "already_claimed";
        case ClaimStatus::sold_out: return "sold_out";
        case ClaimStatus::expired: return "expired";
        case ClaimStatus::not_found: return "not_found";
    }
    return "unknown";
}

}  // namespace redpacket
