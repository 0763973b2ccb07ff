// The deterministic simulator (sim/): seeds hold every check, a seed replays bit for bit, and a
// planted fault is caught. REDPACKET_SIM_SEEDS sets how many seeds the first test runs.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "sim.hpp"

using namespace redpacket::sim;

namespace {

std::uint64_t seeds_to_run(std::uint64_t fallback) {
    const char* env = std::getenv("REDPACKET_SIM_SEEDS");
    return env != nullptr ? std::strtoull(env, nullptr, 10) : fallback;
}

std::string report(const Result& r) {
    std::string s = "seed " + std::to_string(r.seed) + ": " + r.failure + "\n";
    for (const std::string& line : r.history) {
        s += "  " + line + "\n";
    }
    return s;
}

}  // namespace

TEST_CASE("every check holds over many seeds, and the seeds do the work they should", "[sim]") {
    const std::uint64_t n = seeds_to_run(16);
    Result total;
    for (std::uint64_t seed = 1; seed <= n; ++seed) {
        const Result r = run(Scenario::from_seed(seed));
        INFO(report(r));
        REQUIRE(r.ok);
        total.creates += r.creates;
        total.shares_told += r.shares_told;
        total.retries_checked += r.retries_checked;
        total.proofs_checked += r.proofs_checked;
        total.drops += r.drops;
        total.garbage_closes += r.garbage_closes;
        total.forwards += r.forwards;
        total.forwards_refused += r.forwards_refused;
        total.notices += r.notices;
        total.packets_expired += r.packets_expired;
        total.crashes += r.crashes;
        total.durable_checked += r.durable_checked;
        total.snapshots += r.snapshots;
        total.held_batches += r.held_batches;
        total.sync_failures += r.sync_failures;
        total.write_failures += r.write_failures;
        total.torn_bytes += r.torn_bytes;
    }
    // A simulator that exercised nothing would pass too: demand that each kind of work happened.
    if (n >= 16) {
        CHECK(total.creates > 0);
        CHECK(total.shares_told > 0);
        CHECK(total.retries_checked > 0);
        CHECK(total.proofs_checked > 0);
        CHECK(total.drops > 0);
        CHECK(total.garbage_closes > 0);
        CHECK(total.forwards > 0);
        CHECK(total.forwards_refused > 0);
        CHECK(total.notices > 0);
        CHECK(total.packets_expired > 0);
        CHECK(total.crashes > 0);
        CHECK(total.durable_checked > 0);
        CHECK(total.snapshots > 0);
        CHECK(total.held_batches > 0);
        CHECK(total.sync_failures > 0);
        CHECK(total.write_failures > 0);
        CHECK(total.torn_bytes > 0);
    }
}

TEST_CASE("a seed replays bit for bit, and another seed differs", "[sim]") {
    // Seed 7 journals to the simulated disk, cuts it three times (torn) and fails syncs.
    const Scenario seven = Scenario::from_seed(7);
    REQUIRE(seven.journal);
    REQUIRE(seven.crashes > 0);
    const std::size_t all = 1U << 20;  // keep the whole history
    const Result a = run(seven, all);
    const Result b = run(seven, all);
    const Result c = run(Scenario::from_seed(8), all);
    REQUIRE(a.ok);
    CHECK(a.crashes > 0);
    CHECK(a.events == b.events);
    CHECK(a.hash == b.hash);
    CHECK(a.history.size() > 1000);
    CHECK(a.history == b.history);  // every event, byte for byte
    CHECK(a.hash != c.hash);
    CHECK(a.history != c.history);
}

TEST_CASE("a dishonest split (the first two shares swapped) is caught by the proof check",
          "[sim]") {
    std::uint64_t caught = 0;
    std::string what;
    for (std::uint64_t seed = 1; seed <= 40 && caught == 0; ++seed) {
        Scenario s = Scenario::from_seed(seed);
        s.plant = Plant::swap_shares;
        const Result r = run(s);
        if (!r.ok) {
            ++caught;
            what = r.failure;
        }
    }
    REQUIRE(caught == 1);
    CHECK(what.find("proof rejects") != std::string::npos);
}

TEST_CASE("replies that leave before their records are durable are caught after a crash", "[sim]") {
    std::uint64_t caught = 0;
    std::string what;
    for (std::uint64_t seed = 1; seed <= 40 && caught == 0; ++seed) {
        Scenario s = Scenario::from_seed(seed);
        s.plant = Plant::early_replies;
        const Result r = run(s);
        if (!r.ok) {
            ++caught;
            what = r.failure;
        }
    }
    REQUIRE(caught == 1);
    CHECK((what.find("after a crash") != std::string::npos ||
           what.find("does not hold") != std::string::npos));
}

TEST_CASE("without the planted fault, the same seeds pass", "[sim]") {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        const Result r = run(Scenario::from_seed(seed));
        INFO(report(r));
        CHECK(r.ok);
    }
}
