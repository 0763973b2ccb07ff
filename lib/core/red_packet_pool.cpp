// RedPacketPool operations. The data layout (slots, deadline heap, shake ring) is described in
// red_packet_pool_impl.hpp; replay and snapshots live in red_packet_pool_replay.cpp.
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/assert.hpp"

#include <algorithm>
#include <bit>

#include "red_packet_pool_impl.hpp"

namespace redpacket {

RedPacketPool::RedPacketPool(const PoolConfig& config) : impl_{std::make_unique<Impl>(config)} {}
RedPacketPool::~RedPacketPool() = default;
RedPacketPool::RedPacketPool(RedPacketPool&&) noexcept = default;
RedPacketPool& RedPacketPool::operator=(RedPacketPool&&) noexcept = default;

std::expected<void, Error> RedPacketPool::Impl::check_create(Cents total, std::uint32_t count,
                                                            SplitPolicy policy,
                                                            std::span<const UserId> allowed) {
    if (count == 0 || count > config.max_shares) {
        return std::unexpected(Error::invalid_count);
    }
    if (total > config.max_total) {
        return std::unexpected(Error::invalid_amount);
    }
    if (auto ok = validate_split(policy, total, count, config.min_share); !ok) {
        return ok;
    }
    if (allowed.size() > kMaxAllowedClaimers) {
        return std::unexpected(Error::invalid_argument);
    }
    // Sorted into scratch_users, which create() hands to the packet and the observer.
    scratch_users.assign(allowed.begin(), allowed.end());
    std::sort(scratch_users.begin(), scratch_users.end());
    if (std::adjacent_find(scratch_users.begin(), scratch_users.end()) != scratch_users.end()) {
        return std::unexpected(Error::invalid_argument);
    }
    return {};
}

std::expected<PacketId, Error> RedPacketPool::create(UserId sender, Cents total,
                                                     std::uint32_t count, SplitPolicy policy,
                                                     Time expires_at,
                                                     std::span<const UserId> allowed) {
    Impl& p = *impl_;
    if (auto ok = p.check_create(total, count, policy, allowed); !ok) {
        ++p.stats.create_rejected;
        return std::unexpected(ok.error());
    }
    if (p.free_list_stale) {
        p.rebuild_free_list();
    }
    if ((p.free_head == kNoIndex && p.slots.size() >= p.config.max_packets) ||
        p.stats.shares_live + count > p.config.max_live_shares ||
        p.allowed_live + allowed.size() > p.config.max_live_allowed) {
        ++p.stats.create_rejected;
        return std::unexpected(Error::pool_full);
    }
    std::optional<Seed> seed;
    if (p.config.verifiable) {
        auto drawn = p.seeds.next();
        if (!drawn) {
            ++p.stats.create_rejected;
            return std::unexpected(drawn.error());
        }
        seed = *drawn;
    }
    // Everything that can throw happens before the pool changes.
    p.scratch.resize(count);
    Impl::Shares storage = Impl::allocate_shares(count);
    std::unique_ptr<UserId[]> claimers = Impl::prepare_allowed(p.scratch_users);
    p.reserve_deadline();
    if (seed) {
        p.reserve_provenance(p.slots.size() + 1);
    }
    const std::uint32_t slot_index = p.acquire_slot();

    Rng packet_rng = seed ? rng_from_seed(*seed) : Rng{};
    auto ok = split_into(policy, total, std::span<Cents>{p.scratch}, p.config.min_share,
                         seed ? packet_rng : p.rng);
    REDPACKET_ASSERT(ok.has_value());  // check_create validated the same terms
    if (p.config.fault_swap_shares && count >= 2) {
        std::swap(p.scratch[0], p.scratch[1]);
    }
    p.open_slot(slot_index, std::move(storage), std::span<const Cents>{p.scratch.data(), count},
                sender, total, expires_at, policy, std::move(claimers));
    p.set_provenance(slot_index, seed ? &*seed : nullptr, p.config.min_share);
    const PacketId id = p.group_id(slot_index, p.slots[slot_index].generation);
    if (p.observer) {
        // The split is still in scratch, contiguous: the journal sees every share as it is.
        PoolEvent e{PoolEventKind::created, id, sender, total, count, expires_at, policy,
                    std::span<const Cents>{p.scratch.data(), count},
                    std::span<const UserId>{p.scratch_users}};
        e.seed = seed ? &*seed : nullptr;
        e.min_share = p.config.min_share;
        p.observer(e);
    }
    return id;
}

ClaimResult RedPacketPool::claim(PacketId packet, UserId user, Time now) noexcept {
    Impl& p = *impl_;
    Impl::Slot* s = p.find(packet);
    if (s == nullptr) {
        return {ClaimStatus::not_found, Cents{0}, 0};
    }
    if (!Impl::may_claim(*s, user)) {
        return {ClaimStatus::not_allowed, Cents{0}, 0};
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
    const std::uint32_t share = p.hand_out(*s, user);
    const Cents amount = s->cells[share].amount;
    p.notify(PoolEventKind::claimed, packet, user, amount, share, now);
    return {ClaimStatus::claimed, amount, share};
}

std::vector<Refund> RedPacketPool::expire(Time now) {
    Impl& p = *impl_;
    std::vector<Refund> refunds;
    while (!p.deadlines.empty() && p.deadlines.front().at <= now) {
        const Impl::Deadline d = p.deadlines.front();
        Impl::Slot& s = p.slots[d.slot()];
        // A refund deadline of a packet already refunded is stale (left by replay).
        const bool current = s.live && s.generation == d.generation &&
                             (d.retire() || s.state != PacketState::expired);
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
    const auto allowed = Impl::allowed_of(*s);
    info.allowed.assign(allowed.begin(), allowed.end());
    const std::uint32_t slot = impl_->slot_of(packet);
    if (const auto* proof = impl_->provenance_of(slot)) {
        info.seed = proof->seed;
        info.min_share = proof->min_share;
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
    REDPACKET_ASSERT(p.shake_count < p.shake_ring.size());
    const std::size_t tail = (p.shake_head + p.shake_count) % p.shake_ring.size();
    if (!p.shake_seeds.empty()) {
        auto drawn = p.seeds.next();
        if (!drawn) {
            ++p.stats.shake_refused;
            return std::unexpected(drawn.error());
        }
        p.shake_seeds[tail] = *drawn;
    }
    const std::uint64_t serial = ++p.shake_serial;
    p.shake_ring[tail] = Impl::ShakeEntry{amount, expires_at, serial};
    ++p.shake_count;
    ++p.stats.shake_offered;
    p.stats.shake_amount_offered += amount;
    p.stats.shake_amount_queued += amount;
    const PacketId id = p.shake_id(serial);
    if (p.observer) {
        PoolEvent e{PoolEventKind::shake_offered, id, 0, amount, 0, expires_at};
        e.seed = p.shake_seed(tail);
        e.min_share = e.seed != nullptr ? kShakeProofMinShare : Cents{};
        p.observer(e);
    }
    return id;
}

std::optional<ShakeHit> RedPacketPool::take(UserId user, Time now) noexcept {
    Impl& p = *impl_;
    p.drop_expired_shakes(now);
    if (p.shake_count == 0) {
        ++p.stats.shake_empty;
        return std::nullopt;
    }
    const ShakeHit hit = p.shake_hit(p.shake_head);
    p.shake_head = (p.shake_head + 1) % p.shake_ring.size();
    --p.shake_count;
    ++p.stats.shake_issued;
    p.stats.shake_amount_issued += hit.amount;
    p.stats.shake_amount_queued -= hit.amount;
    REDPACKET_ASSERT(p.stats.shake_amount_queued >= Cents{0});
    p.notify(PoolEventKind::shake_issued, hit.packet, user, hit.amount, 0, now);
    return hit;
}

PacketInfo issued_shake_info(const ShakeHit& hit, UserId taker) {
    PacketInfo info;
    info.id = hit.packet;
    info.policy = SplitPolicy::fixed;
    info.state = PacketState::sold_out;
    info.total = hit.amount;
    info.count = 1;
    info.claimed_count = 1;
    info.claimed_amount = hit.amount;
    info.expires_at = hit.expires_at;
    info.claims.push_back(ClaimRecord{taker, hit.amount});
    info.best_luck = 0;
    if (valid_seed(hit.seed)) {
        info.seed = hit.seed;
        info.min_share = kShakeProofMinShare;
    }
    return info;
}

void RedPacketPool::set_observer(PoolObserver observer) noexcept { impl_->observer = observer; }

void RedPacketPool::set_on_replay_retire(std::function<void(const PacketInfo&)> hook) {
    impl_->on_replay_shake = hook;
    if (!hook) {
        impl_->on_replay_retire = nullptr;
        return;
    }
    impl_->on_replay_retire = [this, hook = std::move(hook)](PacketId id) {
        if (auto info = query(id)) {
            hook(*info);
        }
    };
}
const PoolStats& RedPacketPool::stats() const noexcept { return impl_->stats; }
const PoolConfig& RedPacketPool::config() const noexcept { return impl_->config; }
std::size_t RedPacketPool::shake_size() const noexcept { return impl_->shake_count; }

std::string_view to_string(PoolEventKind k) noexcept {
    switch (k) {
        case PoolEventKind::created: return "created";
        case PoolEventKind::claimed: return "claimed";
        case PoolEventKind::refunded: return "refunded";
        case PoolEventKind::shake_offered: return "shake_offered";
        case PoolEventKind::shake_issued: return "shake_issued";
        case PoolEventKind::shake_expired: return "shake_expired";
    }
    return "unknown";
}

std::string_view to_string(ClaimStatus s) noexcept {
    switch (s) {
        case ClaimStatus::claimed: return "claimed";
        case ClaimStatus::already_claimed: return "already_claimed";
        case ClaimStatus::sold_out: return "sold_out";
        case ClaimStatus::expired: return "expired";
        case ClaimStatus::not_found: return "not_found";
        case ClaimStatus::not_allowed: return "not_allowed";
    }
    return "unknown";
}

}  // namespace redpacket
