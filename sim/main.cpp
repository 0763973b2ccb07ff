// redpacket-sim: runs the deterministic simulator over one seed or a range of seeds.
//
//   redpacket-sim --seed 42                  one seed: its scenario, what it did, its hash
//   redpacket-sim --seeds 1..10000           seeds 1 to 10,000; stops at the first failure
//   redpacket-sim --seeds 10000 --steps 3000 the first 10,000 seeds, each cut to 3,000 events
//
// A failure prints the seed, the broken check, the event and the last events before it, and
// exits 1; `--seed S` (with the same --steps and --plant) replays it bit for bit.
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "sim.hpp"

namespace {

using redpacket::sim::Plant;
using redpacket::sim::Result;
using redpacket::sim::Scenario;

void print(const Scenario& s, const Result& r, bool verbose) {
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
        fmt::print("  replay: redpacket-sim --seed {}{}{}\n", r.seed,
                   s.max_steps != 0 ? fmt::format(" --steps {}", s.max_steps) : "",
                   s.plant == Plant::swap_shares     ? " --plant swap-shares"
                   : s.plant == Plant::early_replies ? " --plant early-replies"
                                                     : "");
    }
}

/// "A..B" (inclusive) or "N" (seeds first .. first + N − 1).
bool parse_range(const std::string& text, std::uint64_t first, std::uint64_t& from,
                 std::uint64_t& to) {
    try {
        const auto dots = text.find("..");
        if (dots == std::string::npos) {
            from = first;
            to = first + std::stoull(text) - 1;
        } else {
            from = std::stoull(text.substr(0, dots));
            to = std::stoull(text.substr(dots + 2));
        }
    } catch (const std::exception&) {
        return false;
    }
    return from <= to;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"redpacket-sim: the request rules, stores and clients driven by one seed"};
    std::uint64_t seed = 0;
    std::string seeds;
    std::uint64_t first = 1;
    std::uint64_t steps = 0;
    std::string plant = "none";
    bool storm = false;
    auto* one = app.add_option("--seed", seed, "run this seed and print what it did");
    app.add_option("--seeds", seeds, "run the seeds A..B (inclusive), or N seeds from --first")
        ->excludes(one);
    app.add_option("--first", first, "the first seed of --seeds N")->capture_default_str();
    app.add_option("--steps", steps,
                   "cut each seed's active phase to this many events, then drain (0: the "
                   "scenario's length)")
        ->capture_default_str();
    app.add_flag("--storm", storm,
                 "make every journaled seed a disk storm: 40 % of syncs fail, three crashes");
    app.add_option("--plant", plant,
                   "plant a fault the checks must catch: none, swap-shares (the pools swap "
                   "the first two shares of every packet) or early-replies (replies leave "
                   "before their journal records are durable)")
        ->check(CLI::IsMember({"none", "swap-shares", "early-replies"}))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);
    const Plant planted = plant == "swap-shares"     ? Plant::swap_shares
                          : plant == "early-replies" ? Plant::early_replies
                                                     : Plant::none;
    const auto scenario = [&](std::uint64_t s) {
        Scenario sc = Scenario::from_seed(s);
        sc.plant = planted;
        sc.max_steps = steps;
        if (storm) {
            sc.storm();
        }
        return sc;
    };
    if (seeds.empty()) {
        const Scenario sc = scenario(seed);
        const Result r = redpacket::sim::run(sc);
        print(sc, r, true);
        return r.ok ? 0 : 1;
    }
    std::uint64_t from = 0;
    std::uint64_t to = 0;
    if (!parse_range(seeds, first, from, to)) {
        fmt::print(stderr, "redpacket-sim: --seeds takes A..B or a count, not '{}'\n", seeds);
        return 2;
    }
    const auto start = std::chrono::steady_clock::now();
    Result total;
    for (std::uint64_t s = from; s <= to; ++s) {
        const Scenario sc = scenario(s);
        const Result r = redpacket::sim::run(sc);
        if (!r.ok) {
            print(sc, r, false);
            return 1;
        }
        total.events += r.events;
        total.requests += r.requests;
        total.replies += r.replies;
        total.shares_told += r.shares_told;
        total.retries_checked += r.retries_checked;
        total.proofs_checked += r.proofs_checked;
        total.drops += r.drops;
        total.garbage_closes += r.garbage_closes;
        total.crashes += r.crashes;
        total.durable_checked += r.durable_checked;
        total.sync_failures += r.sync_failures;
        total.write_failures += r.write_failures;
        total.torn_bytes += r.torn_bytes;
        total.snapshots += r.snapshots;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(
        "seeds {}..{}: all checks held — {} events, {} requests, {} replies, {} shares "
        "told, {} retries checked, {} proofs checked, {} drops, {} malformed frames, "
        "{} crashes ({} shares and packets found again), {} failed syncs, {} failed "
        "writes, {} torn bytes, {} snapshots; {:.1f} s, {:.0f} events/s\n",
        from, to, total.events, total.requests, total.replies, total.shares_told,
        total.retries_checked, total.proofs_checked, total.drops, total.garbage_closes,
        total.crashes, total.durable_checked, total.sync_failures, total.write_failures,
        total.torn_bytes, total.snapshots, secs, static_cast<double>(total.events) / secs);
    return 0;
}
