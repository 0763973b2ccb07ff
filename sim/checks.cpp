// The simulator's checks: what clients were told (the Oracle), money in every pool after every
// event, every packet at checkpoints, and the drain that lets every packet expire so that the
// last check can demand that nothing is left outstanding.
#include <algorithm>
#include <set>
#include <string>

#include "redpacket/proof.hpp"
#include "world.hpp"

namespace redpacket::sim {
namespace {

std::string packet_name(PacketId p) { return "packet " + std::to_string(p.value); }

}  // namespace

// --- what clients were told ------------------------------------------------------------------

void Oracle::created(UserId user, std::uint64_t request_id, PacketId packet) {
    const auto [it, fresh] = creates_.emplace(RequestKey{user, request_id}, packet);
    if (!fresh) {
        ++result_.retries_checked;
        if (it->second != packet) {
            throw Broken("create " + std::to_string(request_id) + " of user " +
                         std::to_string(user) + " made " + packet_name(it->second) +
                         ", its retry answered " + packet_name(packet));
        }
    }
}

void Oracle::told_share(PacketId packet, UserId user, Cents amount,
                        std::optional<std::uint32_t> index) {
    auto& users = shares_[packet];
    const auto [it, fresh] = users.emplace(user, Told{amount, index});
    if (fresh) {
        ++result_.shares_told;
        for (const auto& [other, told] : users) {
            if (other != user && index && told.index == index) {
                throw Broken(packet_name(packet) + ": share " + std::to_string(*index) +
                             " was told to users " + std::to_string(other) + " and " +
                             std::to_string(user));
            }
        }
        return;
    }
    Told& before = it->second;
    if (before.amount != amount || (index && before.index && before.index != index)) {
        throw Broken(packet_name(packet) + ": user " + std::to_string(user) + " was told " +
                     std::to_string(before.amount.value) + " cents, then " +
                     std::to_string(amount.value));
    }
    if (!before.index) {
        before.index = index;
    }
}

void Oracle::claim_answer(UserId user, std::uint64_t request_id, PacketId packet, Cents amount,
                          std::uint32_t index) {
    const auto [it, fresh] =
        claims_.emplace(RequestKey{user, request_id}, std::tuple{packet, amount, index});
    if (!fresh) {
        ++result_.retries_checked;
        const auto& [was_packet, was_amount, was_index] = it->second;
        if (it->second != std::tuple{packet, amount, index}) {
            throw Broken("claim " + std::to_string(request_id) + " of user " +
                         std::to_string(user) + " for " + packet_name(was_packet) + " paid " +
                         std::to_string(was_amount.value) + " cents (share " +
                         std::to_string(was_index) + "), its retry " +
                         std::to_string(amount.value) + " (share " + std::to_string(index) + ")");
        }
    }
}

void Oracle::commitment(PacketId packet, const std::array<std::uint8_t, 32>& value) {
    const auto [it, fresh] = commitments_.emplace(packet, value);
    if (!fresh && it->second != value) {
        throw Broken(packet_name(packet) + ": its commitment changed");
    }
}

void Oracle::seed(const SplitTerms& terms, const std::array<std::uint8_t, 32>& seed) {
    ++result_.proofs_checked;
    const Digest committed = redpacket::commitment(terms, seed);
    if (const auto it = commitments_.find(terms.packet); it != commitments_.end()) {
        if (it->second != committed) {
            throw Broken(packet_name(terms.packet) +
                         ": the seed does not match the commitment "
                         "handed out before");
        }
    }
    const auto told = shares_.find(terms.packet);
    if (told == shares_.end()) {
        return;
    }
    for (const auto& [user, share] : told->second) {
        if (!share.index) {
            continue;
        }
        const Verdict v = verify_claim(terms, committed, seed, *share.index, share.amount);
        if (!v.ok) {
            throw Broken(packet_name(terms.packet) + ": the proof rejects user " +
                         std::to_string(user) + "'s share: " + v.what);
        }
    }
}

void Oracle::check_against(World& world) const {
    for (const auto& [packet, users] : shares_) {
        const auto info = world.read(packet);
        if (!info && keep_until(packet) > world.now() + Time{World::kTickMs}) {
            throw Broken(packet_name(packet) + ", which clients were told of, is not in the store");
        }
        if (!info) {
            continue;  // retired
        }
        for (const auto& [user, told] : users) {
            bool found = false;
            for (std::size_t i = 0; i < info->claims.size(); ++i) {
                const ClaimRecord& c = info->claims[i];
                if (c.user != user) {
                    continue;
                }
                found = found || (c.amount == told.amount && (!told.index || *told.index == i));
            }
            if (!found) {
                throw Broken(packet_name(packet) + ": user " + std::to_string(user) +
                             " was told of a share the store does not hold");
            }
        }
    }
}

// --- money in the stores ---------------------------------------------------------------------

void World::check_pools() {
    for (SimWorker& w : workers_) {
        for (const ShardId set : w.store->sets()) {
            const PoolStats& s = w.store->pool(set)->stats();
            if (s.amount_created != s.amount_claimed + s.amount_refunded + s.amount_outstanding) {
                throw Broken("SET " + std::to_string(set) + " lost money: created " +
                             std::to_string(s.amount_created.value) + " != claimed " +
                             std::to_string(s.amount_claimed.value) + " + refunded " +
                             std::to_string(s.amount_refunded.value) + " + outstanding " +
                             std::to_string(s.amount_outstanding.value));
            }
            if (s.shake_amount_offered !=
                s.shake_amount_issued + s.shake_amount_expired + s.shake_amount_queued) {
                throw Broken("SET " + std::to_string(set) + "'s shake supply lost money");
            }
        }
    }
}

void World::check_packets() {
    for (const auto& [compact, packet] : compact_) {
        const auto info = read(packet);
        if (!info) {
            continue;
        }
        Cents sum{};
        std::set<UserId> users;
        for (const ClaimRecord& c : info->claims) {
            sum += c.amount;
            if (!users.insert(c.user).second) {
                throw Broken(packet_name(packet) + ": user " + std::to_string(c.user) +
                             " holds two shares");
            }
        }
        if (sum != info->claimed_amount || info->claims.size() != info->claimed_count ||
            info->claimed_amount + info->remaining + info->refunded != info->total) {
            throw Broken(packet_name(packet) + ": its shares do not add up to its total");
        }
    }
    oracle_.check_against(*this);
    check_registry();
}

void World::check_registry() {
    // Every logged-in connection is registered, on the worker that owns its user's SET, and
    // every registration names a live, logged-in connection of that user.
    std::size_t logged_in = 0;
    for (const auto& link : links_) {
        if (!link->alive || !link->session.logged_in) {
            continue;
        }
        ++logged_in;
        const UserId user = link->session.user;
        const auto ref = registry_->find(user);
        if (!ref || *ref != link->id ||
            registry_->worker_of(registry_->shard_of(user)) != link->worker) {
            throw Broken("link " + std::to_string(link->id) + " of user " + std::to_string(user) +
                         " is logged in but not registered on its owner");
        }
    }
    if (registry_->total_size() != logged_in) {
        throw Broken("the registry holds " + std::to_string(registry_->total_size()) +
                     " connections, " + std::to_string(logged_in) + " are logged in");
    }
}

void Oracle::shook(std::uint32_t compact, UserId user) {
    const auto [it, fresh] = shakes_.emplace(compact, user);
    if (!fresh && it->second != user) {
        throw Broken("shake packet " + std::to_string(compact) + " was handed to users " +
                     std::to_string(it->second) + " and " + std::to_string(user));
    }
}

void Oracle::keep(PacketId packet, Time until) {
    Time& t = keep_until_[packet];
    t = std::max(t, until);
}

void Oracle::check_recovered(World& world, Time now) {
    for (const auto& [packet, until] : keep_until_) {
        if (now + Time{World::kTickMs} >= until) {
            continue;  // retired by now, or about to be
        }
        const auto info = world.read(packet);
        if (!info) {
            throw Broken(packet_name(packet) +
                         ", which a client was told of, is gone after a "
                         "crash");
        }
        ++result_.durable_checked;
        const auto told = shares_.find(packet);
        if (told == shares_.end()) {
            continue;
        }
        for (const auto& [user, share] : told->second) {
            bool found = false;
            for (std::size_t i = 0; i < info->claims.size(); ++i) {
                const ClaimRecord& c = info->claims[i];
                found = found || (c.user == user && c.amount == share.amount &&
                                  (!share.index || *share.index == i));
            }
            if (!found) {
                throw Broken(packet_name(packet) + ": user " + std::to_string(user) + "'s share (" +
                             std::to_string(share.amount.value) + " cents) is gone after a crash");
            }
            ++result_.durable_checked;
        }
    }
}

bool World::settled() {
    for (SimWorker& w : workers_) {
        for (const ShardId set : w.store->sets()) {
            const PoolStats& s = w.store->pool(set)->stats();
            if (s.amount_outstanding != Cents{0} || s.shake_amount_queued != Cents{0}) {
                return false;
            }
        }
    }
    return true;
}

void World::drain() {
    // No new requests; answers in flight land; every packet reaches its deadline (ttl ≤ 4 s,
    // campaigns 3 s) and is refunded, or sold out.
    draining_ = true;
    const Time start = now_;
    while (next(start + Time{6000})) {
        if (now_ - start > Time{300} && result_.events % 64 == 0 && settled()) {
            break;
        }
    }
    check_packets();
    for (SimWorker& w : workers_) {
        for (const ShardId set : w.store->sets()) {
            const PoolStats& s = w.store->pool(set)->stats();
            result_.packets_expired += s.packets_expired;
            if (s.amount_outstanding != Cents{0} || s.shake_amount_queued != Cents{0}) {
                throw Broken("SET " + std::to_string(set) + " still holds " +
                             std::to_string(s.amount_outstanding.value) +
                             " cents after every deadline passed");
            }
        }
    }
    for (const SimClient& c : clients_) {
        check_answered(c);
    }
}

}  // namespace redpacket::sim
