// RedPacketPool implementation.
//
// Group packets live in a slab of slots; a packet id carries (generation, slot), so a lookup is
// an index plus a generation check — no hash map. Each packet owns one allocation holding its
// share amounts, the users who claimed them (in share order) and, for packets with more than
// kLinearUsers shares, an open-addressing index from user to share so a claim stays O(1).
// Deadlines sit in a binary min-heap; an expired packet is refunded, kept for `retention` so
// retries and queries still see it, and then its slot is recycled with a new generation.
#include "redpacket/red_packet_pool.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <stdexcept>

namespace redpacket {
namespace {

constexpr std::uint32_t kLinearUsers = 16;  // at or below: scan the users array
constexpr std::uint32_t kNoIndex = UINT32_MAX;
constexpr std::uint64_t kShakeBit = std::uint64_t{1} << kPacketShardBits;
constexpr int kSerialShift = kPacketShardBits + 1;

std::uint64_t mix(UserId user) noexcept {
    return user * 0x9e3779b97f4a7c15ULL;
}

}  // namespace

struct RedPacketPool::Impl {
    struct Slot {
        UserId sender{0};
        Cents total;
        Cents claimed_amount;
        Cents refunded;
        Time expires_at{};
        std::uint32_t generation{0};
        std::uint32_t count{0};
        std::uint32_t claimed{0};
        std::uint32_t best{kNoIndex};
        std::uint32_t index_mask{0};  // user-index table size − 1, 0 if none
        std::uint32_t next_free{kNoIndex};
        SplitPolicy policy{SplitPolicy::double_mean};
        PacketState state{PacketState::open};
        bool live{false};
        // shares[count] | users[count] | index[index_mask + 1] (u32, kNoIndex = empty)
        std::unique_ptr<std::uint64_t[]> block;

        Cents* shares() noexcept { return reinterpret_cast<Cents*>(block.get()); }
        const Cents* shares() const noexcept { return reinterpret_cast<const Cents*>(block.get()); }
        UserId* users() noexcept { return block.get() + count; }
        const UserId* users() const noexcept { return block.get() + count; }
        std::uint32_t* index() noexcept {
            return reinterpret_cast<std::uint32_t*>(block.get() + 2 * std::size_t{count});
        }
        const std::uint32_t* index() const noexcept {
            return reinterpret_cast<const std::uint32_t*>(block.get() + 2 * std::size_t{count});
        }
    };

    struct Deadline {
        Time at;
        std::uint32_t slot;
        std::uint32_t generation;
        bool retire;  // false: refund at `at`; true: recycle the slot at `at`
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
        if (c.min_share.value < 1 || c.max_total < c.min_share || c.max_total > kMaxPacketTotal) {
            throw std::invalid_argument("pool needs 1 <= min_share <= max_total <= kMaxPacketTotal");
        }
        if (c.shake_capacity == 0) {
            throw std::invalid_argument("pool shake_capacity must be positive");
        }
        if (c.retention.count() < 0) {
            throw std::invalid_argument("pool retention must not be negative");
        }
        slot_bits = static_cast<int>(std::bit_width(c.max_packets - 1U));
        generation_mask = (std::uint64_t{1} << (64 - kSerialShift - slot_bits)) - 1;
        shake_ring.resize(c.shake_capacity);
    }

    // --- ids -------------------------------------------------------------------------------
    PacketId group_id(std::uint32_t slot, std::uint32_t generation) const noexcept {
        const std::uint64_t serial = (std::uint64_t{generation} << slot_bits) | slot;
        return PacketId{(serial << kSerialShift) | config.shard};
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
    std::uint32_t find_user(const Slot& s, UserId user) const noexcept {
        const UserId* users = s.users();
        if (s.index_mask == 0) {
            for (std::uint32_t i = 0; i < s.claimed; ++i) {
                if (users[i] == user) {
                    return i;
                }
            }
            return kNoIndex;
        }
        const std::uint32_t* index = s.index();
        for (std::uint64_t h = mix(user);; ++h) {
            const std::uint32_t i = index[h & s.index_mask];
            if (i == kNoIndex) {
                return kNoIndex;
            }
            if (users[i] == user) {
                return i;
            }
        }
    }
    static void insert_user(Slot& s, UserId user, std::uint32_t share) noexcept {
        s.users()[share] = user;
        if (s.index_mask == 0) {
            return;
        }
        std::uint32_t* index = s.index();
        for (std::uint64_t h = mix(user);; ++h) {
            if (index[h & s.index_mask] == kNoIndex) {
                index[h & s.index_mask] = share;
                return;
            }
        }
    }

    void notify(PoolEventKind kind, PacketId id, UserId user, Cents amount, std::uint32_t index,
                Time at) const noexcept {
        if (observer) {
            observer(PoolEvent{kind, id, user, amount, index, at});
        }
    }

    // --- expiry ----------------------------------------------------------------------------
    void refund(std::uint32_t slot_index, Time now, std::vector<Refund>& out) {
        Slot& s = slots[slot_index];
        const Cents amount = s.total - s.claimed_amount;
        const PacketId id = group_id(slot_index, s.generation);
        s.state = PacketState::expired;
        s.refunded = amount;
        stats.amount_refunded += amount;
        stats.amount_outstanding -= amount;
        ++stats.packets_expired;
        out.push_back(Refund{id, s.sender, amount, s.count - s.claimed});
        notify(PoolEventKind::refunded, id, s.sender, amount, s.count - s.claimed, now);
        push_deadline(Deadline{s.expires_at + config.retention, slot_index, s.generation, true});
    }
    void retire(std::uint32_t slot_index) noexcept {
        Slot& s = slots[slot_index];
        s.live = false;
        s.block.reset();
        s.generation = static_cast<std::uint32_t>((s.generation + 1) & generation_mask);
        s.next_free = free_head;
        free_head = slot_index;
        --stats.packets_live;
    }
    void push_deadline(Deadline d) {
        deadlines.push_back(d);
        std::push_heap(deadlines.begin(), deadlines.end(), DeadlineLater{});
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
    PacketId shake_id(std::uint64_t serial) const noexcept {
        return PacketId{(serial << kSerialShift) | kShakeBit | config.shard};
    }

    PoolConfig config;
    Rng rng;
    int slot_bits{0};
    std::uint64_t generation_mask{0};  // generations that fit in an id beside the slot
    std::vector<Slot> slots;
    std::uint32_t free_head{kNoIndex};
    std::vector<Deadline> deadlines;
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
    if (count == 0 || count > p.config.max_shares) {
        ++p.stats.create_rejected;
        return std::unexpected(Error::invalid_count);
    }
    if (total > p.config.max_total) {
        ++p.stats.create_rejected;
        return std::unexpected(Error::invalid_amount);
    }
    if (auto ok = validate_split(policy, total, count, p.config.min_share); !ok) {
        ++p.stats.create_rejected;
        return std::unexpected(ok.error());
    }
    std::uint32_t slot_index = p.free_head;
    if (slot_index == kNoIndex) {
        if (p.slots.size() >= p.config.max_packets) {
            ++p.stats.create_rejected;
            return std::unexpected(Error::pool_full);
        }
        slot_index = static_cast<std::uint32_t>(p.slots.size());
        p.slots.emplace_back();
        p.slots.back().generation = 1;
    } else {
        p.free_head = p.slots[slot_index].next_free;
    }
    Impl::Slot& s = p.slots[slot_index];
    const std::uint32_t table = count > kLinearUsers ? std::bit_ceil(count * 2U) : 0U;
    const std::size_t words = 2 * std::size_t{count} + (std::size_t{table} + 1) / 2;
    s.block = std::make_unique_for_overwrite<std::uint64_t[]>(words);
    s.index_mask = table == 0 ? 0 : table - 1;
    if (table != 0) {
        std::fill_n(s.index(), table, kNoIndex);
    }
    auto ok = split_into(policy, total, std::span<Cents>{s.shares(), count}, p.config.min_share,
                         p.rng);
    assert(ok.has_value());
    (void)ok;
    s.sender = sender;
    s.total = total;
    s.claimed_amount = Cents{0};
    s.refunded = Cents{0};
    s.expires_at = expires_at;
    s.count = count;
    s.claimed = 0;
    s.best = kNoIndex;
    s.policy = policy;
    s.state = PacketState::open;
    s.live = true;
    p.push_deadline(Impl::Deadline{expires_at, slot_index, s.generation, false});

    ++p.stats.packets_created;
    ++p.stats.packets_live;
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
        return {ClaimStatus::already_claimed, s->shares()[held], held};
    }
    if (s->state == PacketState::expired || now >= s->expires_at) {
        return {ClaimStatus::expired, Cents{0}, 0};
    }
    if (s->claimed == s->count) {
        return {ClaimStatus::sold_out, Cents{0}, 0};
    }
    const std::uint32_t share = s->claimed++;
    const Cents amount = s->shares()[share];
    Impl::insert_user(*s, user, share);
    s->claimed_amount += amount;
    if (s->best == kNoIndex || amount > s->shares()[s->best]) {
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
        std::pop_heap(p.deadlines.begin(), p.deadlines.end(), Impl::DeadlineLater{});
        const Impl::Deadline d = p.deadlines.back();
        p.deadlines.pop_back();
        Impl::Slot& s = p.slots[d.slot];
        if (!s.live || s.generation != d.generation) {
            continue;
        }
        if (d.retire) {
            p.retire(d.slot);
        } else {
            p.refund(d.slot, now, refunds);
        }
    }
    p.drop_expired_shakes(now);
    return refunds;
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
    info.refunded = s->refunded;
    info.remaining = s->total - s->claimed_amount - s->refunded;
    info.expires_at = s->expires_at;
    info.claims.reserve(s->claimed);
    for (std::uint32_t i = 0; i < s->claimed; ++i) {
        info.claims.push_back(ClaimRecord{s->users()[i], s->shares()[i]});
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
