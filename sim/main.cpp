// redpacket-sim: runs the deterministic simulator over one seed or a range of seeds.
//
//   redpacket-sim --seed 42              one seed: its scenario, what it did, its hash
//   redpacket-sim --seeds 10000 --first 1   seeds 1 .. 10000; stops at the first failure
//
// A failure prints the seed, the broken check, the event and the last events before it, and
// exits 1; `--seed S` replays it bit for bit (the same hash).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "sim.hpp"

namespace {

void print(const redpacket::sim::Scenario& s, const redpacket::sim::Result& r, bool verbose) {
    if (verbose || !r.ok) {
        fmt::print("{}\n", s.describe());
        fmt::print(
            "  {} events over {} simulated ms; {} requests, {} replies, {} creates, "
            "{} shares told, {} retries checked, {} proofs checked, {} drops, "
            "{} closed for a malformed frame, {} forwards ({} refused), {} notices, "
            "{} packets expired\n",
            r.events, r.simulated_ms, r.requests, r.replies, r.creates, r.shares_told,
            r.retries_checked, r.proofs_checked, r.drops, r.garbage_closes, r.forwards,
            r.forwards_refused, r.notices, r.packets_expired);
        fmt::print(
            "  disk: {} crashes, {} shares and packets found again after them, {} snapshots, "
            "{} reply batches held for the journal, {} failed syncs, {} failed writes, "
            "{} torn bytes\n",
            r.crashes, r.durable_checked, r.snapshots, r.held_batches, r.sync_failures,
            r.write_failures, r.torn_bytes);
        fmt::print("  hash {:016x}\n", r.hash);
    }
    if (!r.ok) {
        fmt::print("FAILED seed {}: {}\n  the last events:\n", r.seed, r.failure);
        for (const std::string& line : r.history) {
            fmt::print("    {}\n", line);
        }
        fmt::print("  replay: redpacket-sim --seed {}{}\n", r.seed,
                   s.plant == redpacket::sim::Plant::swap_shares     ? " --plant swap-shares"
                   : s.plant == redpacket::sim::Plant::early_replies ? " --plant early-replies"
                                                                     : "");
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"redpacket-sim: the request rules, stores and clients driven by one seed"};
    std::uint64_t seed = 0;
    std::uint64_t seeds = 0;
    std::uint64_t first = 1;
    std::string plant = "none";
    auto* one = app.add_option("--seed", seed, "run this seed and print what it did");
    app.add_option("--seeds", seeds, "run this many seeds, from --first")->excludes(one);
    app.add_option("--first", first, "the first seed of --seeds")->capture_default_str();
    app.add_option("--plant", plant,
                   "plant a fault the checks must catch: none, swap-shares (the pools swap "
                   "the first two shares of every packet) or early-replies (replies leave "
                   "before their journal records are durable)")
        ->check(CLI::IsMember({"none", "swap-shares", "early-replies"}))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    const auto planted = plant == "swap-shares"     ? redpacket::sim::Plant::swap_shares
                         : plant == "early-replies" ? redpacket::sim::Plant::early_replies
                                                    : redpacket::sim::Plant::none;
    const auto scenario = [&](std::uint64_t s) {
        auto sc = redpacket::sim::Scenario::from_seed(s);
        sc.plant = planted;
        return sc;
    };
    if (seeds == 0) {
        const auto sc = scenario(seed);
        const auto r = redpacket::sim::run(sc);
        print(sc, r, true);
        return r.ok ? 0 : 1;
    }
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t events = 0;
    for (std::uint64_t s = first; s < first + seeds; ++s) {
        const auto sc = scenario(s);
        const auto r = redpacket::sim::run(sc);
        events += r.events;
        if (!r.ok) {
            print(sc, r, false);
            return 1;
        }
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{} seeds from {}: all checks held ({} events, {:.1f} s, {:.0f} events/s)\n", seeds,
               first, events, secs, static_cast<double>(events) / secs);
    return 0;
}
