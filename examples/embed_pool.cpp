// Embedding a RedPacketPool: create a packet, let users claim, retry a claim, query the packet,
// refund the remainder at its deadline, and restrict a packet to a group's members.
// Run: ./example_embed_pool
#include <cstdio>

#include "redpacket/red_packet_pool.hpp"

using namespace redpacket;
using namespace std::chrono_literals;

int main() {
    PoolConfig config;
    config.shard = 3;  // stamped into every packet id
    config.seed = 2017;
    RedPacketPool pool{config};

    // Alice (user 1) puts 100.00 into 5 shares, split WeChat-style, open for one minute.
    auto packet = pool.create(/*sender=*/1, Cents{10000}, 5, SplitPolicy::double_mean, 60s);
    if (!packet) {
        std::printf("create failed: %s\n", to_string(packet.error()).data());
        return 1;
    }
    std::printf("packet %llu lives on shard %u\n", static_cast<unsigned long long>(packet->value),
                packet_shard(*packet));

    for (UserId user : {10U, 11U, 12U}) {
        const ClaimResult r = pool.claim(*packet, user, 1s);
        std::printf("user %llu: %s %lld cents (share %u)\n", static_cast<unsigned long long>(user),
                    to_string(r.status).data(), static_cast<long long>(r.amount.value),
                    r.share_index);
    }
    // A retry (say, the reply was lost) returns the same share instead of a second one.
    const ClaimResult retry = pool.claim(*packet, 10, 2s);
    std::printf("user 10 again: %s %lld cents\n", to_string(retry.status).data(),
                static_cast<long long>(retry.amount.value));

    const auto info = pool.query(*packet);
    std::printf("claimed %u of %u, %lld cents left, best luck: share %u\n", info->claimed_count,
                info->count, static_cast<long long>(info->remaining.value), *info->best_luck);

    // At the deadline the two unclaimed shares go back to Alice.
    for (const Refund& r : pool.expire(60s)) {
        std::printf("refund %lld cents (%u shares) to user %llu\n",
                    static_cast<long long>(r.amount.value), r.unclaimed_shares,
                    static_cast<unsigned long long>(r.sender));
    }
    std::printf("late claim: %s\n", to_string(pool.claim(*packet, 13, 61s).status).data());

    // A group packet: only the group's members may claim (the restriction is journaled with
    // the packet, so it survives a restart).
    const UserId members[] = {20, 21, 22};
    auto group = pool.create(/*sender=*/2, Cents{300}, 3, SplitPolicy::equal, 120s, members);
    if (!group) {
        std::printf("create failed: %s\n", to_string(group.error()).data());
        return 1;
    }
    std::printf("group packet, user 21: %s; user 30: %s\n",
                to_string(pool.claim(*group, 21, 61s).status).data(),
                to_string(pool.claim(*group, 30, 61s).status).data());

    const PoolStats& s = pool.stats();
    const bool balanced = s.amount_created == s.amount_claimed + s.amount_refunded +
                                                  s.amount_outstanding;
    std::printf("created %lld = claimed %lld + refunded %lld + outstanding %lld: %s\n",
                static_cast<long long>(s.amount_created.value),
                static_cast<long long>(s.amount_claimed.value),
                static_cast<long long>(s.amount_refunded.value),
                static_cast<long long>(s.amount_outstanding.value), balanced ? "ok" : "BROKEN");
    return balanced ? 0 : 1;
}
