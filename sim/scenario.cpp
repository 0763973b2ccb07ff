// A seed's scenario: how big the world is and how rough its weather. A quarter of the seeds are
// calm (no drops, no cut frames, no retries); the rest draw each fault rate, so some are storms.
#include <string>

#include "redpacket/random.hpp"
#include "sim.hpp"

namespace redpacket::sim {

Scenario Scenario::from_seed(std::uint64_t seed) {
    Rng rng{seed ^ 0x5ce7a210ULL};
    Scenario s;
    s.seed = seed;
    s.workers = static_cast<std::uint32_t>(1 + rng.below(4));
    s.sets = s.workers * static_cast<std::uint32_t>(1 + rng.below(4));
    s.clients = static_cast<std::uint32_t>(2 + rng.below(40));
    s.duration_ms = 2000 + static_cast<std::int64_t>(rng.below(6000));
    s.think_max_ms = 5 + static_cast<std::int64_t>(rng.below(60));
    s.net_delay_max_ms = static_cast<std::int64_t>(rng.below(20));
    s.peer_delay_max_ms = 1 + static_cast<std::int64_t>(rng.below(10));
    s.peer_capacity = rng.below(4) == 0 ? static_cast<std::uint32_t>(1 + rng.below(3)) : 256;
    const bool calm = rng.below(4) == 0;
    if (!calm) {
        s.drop_permille = static_cast<std::uint32_t>(rng.below(40));
        s.split_permille = static_cast<std::uint32_t>(rng.below(600));
        s.retry_permille = static_cast<std::uint32_t>(rng.below(150));
        s.garbage_permille = rng.below(3) == 0 ? static_cast<std::uint32_t>(rng.below(10)) : 0;
    }
    s.journal = rng.below(4) != 0;
    if (s.journal) {
        s.disk_delay_max_ms = 1 + static_cast<std::int64_t>(rng.below(calm ? 3 : 30));
        s.snapshot_every_ms =
            rng.below(2) == 0 ? 200 + static_cast<std::int64_t>(rng.below(2000)) : 0;
        if (!calm) {
            s.sync_fail_permille =
                rng.below(3) == 0 ? static_cast<std::uint32_t>(rng.below(300)) : 0;
            s.write_fail_permille =
                rng.below(4) == 0 ? static_cast<std::uint32_t>(rng.below(100)) : 0;
            s.crashes = static_cast<std::uint32_t>(rng.below(4));
            s.stall_permille = rng.below(3) == 0 ? static_cast<std::uint32_t>(rng.below(20)) : 0;
            s.power_loss = rng.below(2) == 0;
            s.tear = s.power_loss && rng.below(4) != 0;
        }
    }
    if (s.journal && !calm && rng.below(8) == 0) {
        s.storm();
    }
    s.rate_limit = rng.below(5) == 0 ? static_cast<std::uint32_t>(5 + rng.below(40)) : 1000;
    s.auth = rng.below(3) == 0;
    s.shake_rate = rng.below(2) == 0 ? static_cast<std::uint32_t>(50 + rng.below(400)) : 0;
    s.send_rate = rng.below(2) == 0 ? static_cast<std::uint32_t>(20 + rng.below(200)) : 0;
    return s;
}

void Scenario::storm() noexcept {
    if (!journal) {
        return;
    }
    sync_fail_permille = 400;
    crashes = 3;
    power_loss = true;
    retry_permille = 200;
    drop_permille = 20;
}

std::string Scenario::describe() const {
    return "seed " + std::to_string(seed) + ": " + std::to_string(workers) + " workers, " +
           std::to_string(sets) + " SETs, " + std::to_string(clients) + " clients, " +
           std::to_string(duration_ms) + " ms, think ≤ " + std::to_string(think_max_ms) +
           " ms, net delay ≤ " + std::to_string(net_delay_max_ms) + " ms, peer delay ≤ " +
           std::to_string(peer_delay_max_ms) + " ms, peer capacity " +
           std::to_string(peer_capacity) + ", drops " + std::to_string(drop_permille) +
           "‰, cut writes " + std::to_string(split_permille) + "‰, retries " +
           std::to_string(retry_permille) + "‰, malformed frames " +
           std::to_string(garbage_permille) + "‰, rate limit " + std::to_string(rate_limit) +
           "/s, " + (auth ? "auth" : "compat") + " logins, " +
           (journal ? "journal (disk delay ≤ " + std::to_string(disk_delay_max_ms) +
                          " ms, stalls " + std::to_string(stall_permille) + "‰, failing syncs " +
                          std::to_string(sync_fail_permille) + "‰, failing writes " +
                          std::to_string(write_fail_permille) + "‰, snapshot every " +
                          std::to_string(snapshot_every_ms) + " ms, " + std::to_string(crashes) +
                          (power_loss ? " power cuts" : " kill -9s") + (tear ? ", torn" : "") + ")"
                    : std::string{"no journal"}) +
           ", shake " + std::to_string(shake_rate) + "/s, send " + std::to_string(send_rate) +
           "/s" +
           (plant == Plant::swap_shares     ? ", PLANTED: swapped shares"
            : plant == Plant::early_replies ? ", PLANTED: early replies"
                                            : "");
}

}  // namespace redpacket::sim
