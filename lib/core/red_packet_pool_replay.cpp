// RedPacketPool recovery: `replay` applies events another pool reported, `for_each_live` and
// `checkpoint` describe the live state for a snapshot, `restore` completes a rebuild from one.
//
// Replay places a group packet in the slot and generation its id names, so ids held by clients
// stay valid. The free list is then relinked lazily (before the next create). A replayed refund
// leaves the packet's original refund deadline in the heap; `expire` skips it as stale.
#include <algorithm>
#include <cstdint>
#include <functional>

#include "red_packet_pool_impl.hpp"

namespace redpacket {

// The replay steps, one per event kind; a friend of RedPacketPool so they can reach Impl.
struct detail::PoolReplay {
    using Impl = RedPacketPool::Impl;

    // The slot and generation named by a group packet id.
    struct SlotRef {
        std::uint32_t slot;
        std::uint64_t generation;
    };

    static std::expected<SlotRef, Error> group_slot(const Impl& p, PacketId id) noexcept {
        if (packet_shard(id) != p.config.shard || is_shake_packet(id)) {
            return std::unexpected(Error::invalid_argument);
        }
        const std::uint64_t serial = id.value >> kSerialShift;
        const std::uint64_t slot = serial & ((std::uint64_t{1} << p.slot_bits) - 1);
        const std::uint64_t generation = serial >> p.slot_bits;
        if (slot >= p.config.max_packets || generation == 0 || generation > p.generation_mask) {
            return std::unexpected(Error::invalid_argument);
        }
        return SlotRef{static_cast<std::uint32_t>(slot), generation};
    }

    // Checks a created event against the pool's limits and its own split.
    static std::expected<void, Error> check_created(const Impl& p, const PoolEvent& e) noexcept {
        const std::uint32_t count = e.index;
        if (count == 0 || count > p.config.max_shares) {
            return std::unexpected(Error::invalid_count);
        }
        if (e.shares.size() != count) {
            return std::unexpected(Error::corrupt);
        }
        if (static_cast<std::uint8_t>(e.policy) > static_cast<std::uint8_t>(SplitPolicy::fixed)) {
            return std::unexpected(Error::invalid_argument);
        }
        if (e.amount > p.config.max_total) {
            return std::unexpected(Error::invalid_amount);
        }
        if (auto ok = validate_split(e.policy, e.amount, count, p.config.min_share); !ok) {
            return ok;
        }
        Cents sum{0};
        for (const Cents share : e.shares) {
            if (share < p.config.min_share || share > e.amount) {
                return std::unexpected(Error::corrupt);
            }
            sum += share;
        }
        if (sum != e.amount) {
            return std::unexpected(Error::corrupt);
        }
        // The list as create stored it: sorted, no user twice.
        if (e.allowed.size() > kMaxAllowedClaimers ||
            std::adjacent_find(e.allowed.begin(), e.allowed.end(),
                               std::greater_equal<UserId>{}) != e.allowed.end()) {
            return std::unexpected(Error::corrupt);
        }
        return {};
    }

    static std::expected<void, Error> created(Impl& p, const PoolEvent& e) {
        const auto ref = group_slot(p, e.packet);
        if (!ref) {
            return std::unexpected(ref.error());
        }
        if (auto ok = check_created(p, e); !ok) {
            return ok;
        }
        const std::uint32_t count = e.index;
        // A live slot may be taken over only from a refunded packet of an older generation: the
        // original retired it (retirement is not an event) and created this packet in its slot.
        bool retire_first = false;
        std::uint64_t shares_live = p.stats.shares_live;
        std::uint64_t allowed_live = p.allowed_live;
        if (ref->slot < p.slots.size() && p.slots[ref->slot].live) {
            const Impl::Slot& old = p.slots[ref->slot];
            if (old.generation == ref->generation) {
                return std::unexpected(Error::already_exists);
            }
            if (old.state != PacketState::expired) {
                return std::unexpected(Error::corrupt);
            }
            retire_first = true;
            shares_live -= old.count;
            allowed_live -= Impl::allowed_of(old).size();
        }
        if (shares_live + count > p.config.max_live_shares ||
            allowed_live + e.allowed.size() > p.config.max_live_allowed) {
            return std::unexpected(Error::pool_full);
        }

        // Everything that can throw happens before the pool changes.
        Impl::Shares storage = Impl::allocate_shares(count);
        std::unique_ptr<UserId[]> claimers = Impl::prepare_allowed(e.allowed);
        p.reserve_deadline();
        if (ref->slot >= p.slots.size()) {
            p.slots.resize(std::size_t{ref->slot} + 1);
        }
        if (e.seed != nullptr) {
            p.reserve_provenance(std::size_t{ref->slot} + 1);
        }
        p.free_list_stale = true;

        if (retire_first) {
            if (p.on_replay_retire) {
                p.on_replay_retire(p.group_id(ref->slot, p.slots[ref->slot].generation));
            }
            p.release_slot(ref->slot);
        }
        p.slots[ref->slot].generation = static_cast<std::uint32_t>(ref->generation);
        p.open_slot(ref->slot, std::move(storage), e.shares.first(count), e.user, e.amount, e.at,
                    e.policy, std::move(claimers));
        p.set_provenance(ref->slot, e.seed, e.min_share);
        return {};
    }

    static std::expected<void, Error> claimed(Impl& p, const PoolEvent& e) noexcept {
        Impl::Slot* s = p.find(e.packet);
        if (s == nullptr) {
            return std::unexpected(Error::not_found);
        }
        if (Impl::find_user(*s, e.user) != kNoIndex) {
            return std::unexpected(Error::already_exists);
        }
        if (!Impl::may_claim(*s, e.user)) {
            return std::unexpected(Error::corrupt);  // the original answered not_allowed
        }
        // After the refund or the deadline, or beyond the split: the original refused it.
        if (s->state != PacketState::open || e.at >= s->expires_at || e.index != s->claimed ||
            e.amount != s->cells[s->claimed].amount) {
            return std::unexpected(Error::corrupt);
        }
        (void)p.hand_out(*s, e.user);
        return {};
    }

    static std::expected<void, Error> refunded(Impl& p, const PoolEvent& e) {
        const auto ref = group_slot(p, e.packet);
        Impl::Slot* s = p.find(e.packet);
        if (!ref || s == nullptr) {
            return std::unexpected(Error::not_found);
        }
        // A refund time so late that its retention would pass Time::max() was never written by
        // a pool (whose clock would have to stand there): corrupt, not an overflow.
        if (e.at > Time::max() - p.config.retention) {
            return std::unexpected(Error::corrupt);
        }
        if (s->state == PacketState::expired || e.at < s->expires_at || e.user != s->sender ||
            e.amount != s->total - s->claimed_amount || e.index != s->count - s->claimed) {
            return std::unexpected(Error::corrupt);
        }
        p.reserve_deadline();  // the refund deadline stays in the heap, stale
        p.refund(ref->slot, e.amount, e.at, /*report=*/false);
        return {};
    }

    static std::expected<void, Error> shake_offered(Impl& p, const PoolEvent& e) noexcept {
        if (packet_shard(e.packet) != p.config.shard || !is_shake_packet(e.packet)) {
            return std::unexpected(Error::invalid_argument);
        }
        const std::uint64_t serial = e.packet.value >> kSerialShift;
        if (serial <= p.shake_serial) {
            return std::unexpected(Error::corrupt);  // offered twice, or out of order
        }
        if (e.amount < p.config.min_share || e.amount > p.config.max_total) {
            return std::unexpected(Error::invalid_amount);
        }
        const std::size_t ring = p.shake_ring.size();
        if (p.shake_count > 0 &&
            e.at < p.shake_ring[(p.shake_head + p.shake_count - 1) % ring].expires_at) {
            return std::unexpected(Error::corrupt);
        }
        if (p.shake_count == ring) {
            return std::unexpected(Error::queue_full);
        }
        const std::size_t tail = (p.shake_head + p.shake_count) % ring;
        if (!p.shake_seeds.empty()) {
            p.shake_seeds[tail] = e.seed != nullptr ? *e.seed : Seed{};
        }
        p.shake_ring[tail] = Impl::ShakeEntry{e.amount, e.at, serial};
        ++p.shake_count;
        p.shake_serial = serial;
        ++p.stats.shake_offered;
        p.stats.shake_amount_offered += e.amount;
        p.stats.shake_amount_queued += e.amount;
        return {};
    }

    // Issued and expired shake packets leave the supply in FIFO order: the event must name the
    // oldest queued packet, with its amount, on the right side of its deadline.
    static std::expected<void, Error> shake_left(Impl& p, const PoolEvent& e) {
        if (packet_shard(e.packet) != p.config.shard || !is_shake_packet(e.packet)) {
            return std::unexpected(Error::invalid_argument);
        }
        if (p.shake_count == 0) {
            return std::unexpected(Error::not_found);
        }
        const Impl::ShakeEntry head = p.shake_ring[p.shake_head];
        const bool issued = e.kind == PoolEventKind::shake_issued;
        if (head.serial != (e.packet.value >> kSerialShift) || head.amount != e.amount ||
            (issued ? e.at >= head.expires_at : e.at < head.expires_at)) {
            return std::unexpected(Error::corrupt);
        }
        if (issued && p.on_replay_shake && p.shake_seed(p.shake_head) != nullptr) {
            p.on_replay_shake(issued_shake_info(p.shake_hit(p.shake_head), e.user));
        }
        p.shake_head = (p.shake_head + 1) % p.shake_ring.size();
        --p.shake_count;
        p.stats.shake_amount_queued -= e.amount;
        if (issued) {
            ++p.stats.shake_issued;
            p.stats.shake_amount_issued += e.amount;
        } else {
            ++p.stats.shake_expired;
            p.stats.shake_amount_expired += e.amount;
        }
        return {};
    }
};

std::expected<void, Error> RedPacketPool::replay(const PoolEvent& event) {
    Impl& p = *impl_;
    switch (event.kind) {
        case PoolEventKind::created: return detail::PoolReplay::created(p, event);
        case PoolEventKind::claimed: return detail::PoolReplay::claimed(p, event);
        case PoolEventKind::refunded: return detail::PoolReplay::refunded(p, event);
        case PoolEventKind::shake_offered: return detail::PoolReplay::shake_offered(p, event);
        case PoolEventKind::shake_issued:
        case PoolEventKind::shake_expired: return detail::PoolReplay::shake_left(p, event);
    }
    return std::unexpected(Error::invalid_argument);
}

void RedPacketPool::for_each_live(const std::function<void(const PoolEvent&)>& visit) const {
    const Impl& p = *impl_;
    // Refund times are not kept in the slot; the retire deadline is refund time + retention.
    std::vector<Time> retire_at(p.slots.size(), Time::min());
    for (const Impl::Deadline& d : p.deadlines) {
        const Impl::Slot& s = p.slots[d.slot()];
        if (d.retire() && s.live && s.generation == d.generation) {
            retire_at[d.slot()] = d.at;
        }
    }
    std::vector<Cents> shares;
    for (std::uint32_t i = 0; i < p.slots.size(); ++i) {
        const Impl::Slot& s = p.slots[i];
        if (!s.live) {
            continue;
        }
        const PacketId id = p.group_id(i, s.generation);
        shares.resize(s.count);
        for (std::uint32_t k = 0; k < s.count; ++k) {
            shares[k] = s.cells[k].amount;
        }
        PoolEvent created{PoolEventKind::created, id, s.sender, s.total, s.count, s.expires_at,
                          s.policy, std::span<const Cents>{shares}, Impl::allowed_of(s)};
        if (const auto* proof = p.provenance_of(static_cast<std::uint32_t>(i))) {
            created.seed = &proof->seed;
            created.min_share = proof->min_share;
        }
        visit(created);
        for (std::uint32_t k = 0; k < s.claimed; ++k) {
            visit(PoolEvent{PoolEventKind::claimed, id, s.cells[k].user, s.cells[k].amount, k,
                            Time::min(), SplitPolicy::double_mean, {}});
        }
        if (s.state == PacketState::expired) {
            visit(PoolEvent{PoolEventKind::refunded, id, s.sender, s.total - s.claimed_amount,
                            s.count - s.claimed, retire_at[i] - p.config.retention,
                            SplitPolicy::double_mean, {}});
        }
    }
    for (std::size_t k = 0; k < p.shake_count; ++k) {
        const Impl::ShakeEntry& e = p.shake_ring[(p.shake_head + k) % p.shake_ring.size()];
        PoolEvent offered{PoolEventKind::shake_offered, p.shake_id(e.serial), 0, e.amount, 0,
                          e.expires_at, SplitPolicy::double_mean, {}};
        offered.seed = p.shake_seed((p.shake_head + k) % p.shake_ring.size());
        offered.min_share = offered.seed != nullptr ? kShakeProofMinShare : Cents{};
        visit(offered);
    }
}

PoolCheckpoint RedPacketPool::checkpoint() const {
    const Impl& p = *impl_;
    PoolCheckpoint c;
    c.stats = p.stats;
    c.shake_serial = p.shake_serial;
    c.slot_generations.reserve(p.slots.size());
    for (const Impl::Slot& s : p.slots) {
        c.slot_generations.push_back(s.generation);
    }
    return c;
}

std::expected<void, Error> RedPacketPool::restore(const PoolCheckpoint& checkpoint) {
    Impl& p = *impl_;
    const std::vector<std::uint32_t>& gens = checkpoint.slot_generations;
    if (gens.size() < p.slots.size() || gens.size() > p.config.max_packets ||
        checkpoint.shake_serial < p.shake_serial) {
        return std::unexpected(Error::corrupt);
    }
    for (std::size_t i = 0; i < gens.size(); ++i) {
        const bool live = i < p.slots.size() && p.slots[i].live;
        if (gens[i] == 0 || gens[i] > p.generation_mask ||
            (live && p.slots[i].generation != gens[i])) {
            return std::unexpected(Error::corrupt);
        }
    }
    const PoolStats& want = checkpoint.stats;
    if (want.packets_live != p.stats.packets_live || want.shares_live != p.stats.shares_live ||
        want.amount_outstanding != p.stats.amount_outstanding ||
        want.shake_amount_queued != p.stats.shake_amount_queued) {
        return std::unexpected(Error::corrupt);
    }
    p.slots.resize(gens.size());  // may throw before anything changed
    for (std::size_t i = 0; i < gens.size(); ++i) {
        if (!p.slots[i].live) {
            p.slots[i].generation = gens[i];
        }
    }
    p.shake_serial = checkpoint.shake_serial;
    p.stats = want;
    p.free_list_stale = true;
    return {};
}

}  // namespace redpacket
