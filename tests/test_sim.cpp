// The deterministic simulator (sim/): seeds hold every check, a seed replays bit for bit, and a
// planted fault is caught. REDPACKET_SIM_SEEDS sets how many seeds the first test runs.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

#include "disk.hpp"
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
    const std::uint64_t n = seeds_to_run(32);
    Result total;
    for (std::uint64_t seed = 1; seed <= n; ++seed) {
        Scenario s = Scenario::from_seed(seed);
        s.max_steps = 3000;  // as ctest's sim.seeds runs them
        const Result r = run(s);
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
    // Found gone after the crash, handed to someone else after it, or made anew on a retry.
    const bool durability = what.find("after a crash") != std::string::npos ||
                            what.find("does not hold") != std::string::npos ||
                            what.find("was told to users") != std::string::npos ||
                            what.find("its retry answered") != std::string::npos;
    CHECK(durability);
}

TEST_CASE("without the planted fault, the same seeds pass", "[sim]") {
    for (std::uint64_t seed = 1; seed <= 8; ++seed) {
        const Result r = run(Scenario::from_seed(seed));
        INFO(report(r));
        CHECK(r.ok);
    }
}

TEST_CASE("the simulated disk keeps what was synced through a power cut, all through a kill -9",
          "[sim]") {
    using redpacket::OpenMode;
    redpacket::Rng rng{5};
    SimDisk disk{rng};
    const auto bytes = [](std::size_t n, std::uint8_t v) {
        return std::vector<std::byte>(n, std::byte{v});
    };
    auto f = disk.open("/d/journal", OpenMode::write);
    REQUIRE(f.has_value());
    REQUIRE((*f)->write_at(0, bytes(100, 1)).has_value());
    REQUIRE((*f)->sync().has_value());
    REQUIRE(disk.sync_dir("/d").has_value());
    REQUIRE((*f)->write_at(100, bytes(50, 2)).has_value());  // written, not synced
    auto tmp = disk.open("/d/new", OpenMode::write);         // an entry never made durable
    REQUIRE(tmp.has_value());

    disk.crash(false, false);  // kill -9: the kernel keeps what was written
    CHECK_FALSE((*f)->write_at(150, bytes(1, 3)).has_value());        // the dead process's file
    CHECK_FALSE(disk.open("/d/other", OpenMode::write).has_value());  // nor anything new
    disk.restart();
    auto again = disk.open("/d/journal", OpenMode::read);
    REQUIRE(again.has_value());
    CHECK((*again)->size() == 150U);
    CHECK(disk.list("/d")->size() == 2);

    disk.crash(true, false);  // a power cut: only what was synced, and only durable entries
    disk.restart();
    auto after = disk.open("/d/journal", OpenMode::read);
    CHECK((*after)->size() == 100U);  // what the kill -9 left in the page cache was never synced
    CHECK(disk.list("/d")->size() == 1);

    auto w = disk.open("/d/journal", OpenMode::write);
    REQUIRE((*w)->write_at(100, bytes(1000, 4)).has_value());
    disk.crash(true, true);  // torn: a piece of the unsynced bytes survives
    disk.restart();
    const auto size = *(*disk.open("/d/journal", OpenMode::read))->size();
    CHECK(size >= 100U);
    CHECK(size < 1100U);
    CHECK(disk.stats().torn_bytes == size - 100);

    auto s = disk.open("/d/snap.tmp", OpenMode::write);
    REQUIRE((*s)->write_at(0, bytes(10, 5)).has_value());
    REQUIRE((*s)->sync().has_value());
    REQUIRE(disk.rename("/d/snap.tmp", "/d/snap").has_value());
    disk.crash(true, false);  // the rename was never made durable by a directory sync
    disk.restart();
    CHECK_FALSE(disk.open("/d/snap", OpenMode::read).has_value());

    // An armed disk dies two calls later, in the middle of what the process was doing.
    auto g = disk.open("/d/g", OpenMode::write);
    disk.arm(2);
    CHECK((*g)->write_at(0, bytes(10, 6)).has_value());   // call 1
    CHECK((*g)->write_at(10, bytes(10, 6)).has_value());  // call 2
    CHECK_FALSE(disk.tripped());
    CHECK_FALSE((*g)->sync().has_value());  // dead between the write and its fsync
    CHECK(disk.tripped());
    CHECK_FALSE(disk.list("/d").has_value());
}

TEST_CASE("the simulated disk fails syncs and writes at the rates set", "[sim]") {
    redpacket::Rng rng{9};
    SimDisk disk{rng};
    disk.sync_fail_permille = 500;
    disk.write_fail_permille = 500;
    auto f = disk.open("/d/f", redpacket::OpenMode::write);
    int sync_failed = 0;
    int write_failed = 0;
    for (int i = 0; i < 200; ++i) {
        const std::vector<std::byte> b(8, std::byte{1});
        if (!(*f)->write_at(static_cast<std::uint64_t>(i) * 8, b)) {
            ++write_failed;
        }
        if (!(*f)->sync()) {
            ++sync_failed;
        }
    }
    CHECK(sync_failed > 50);
    CHECK(sync_failed < 150);
    CHECK(write_failed > 50);
    CHECK(disk.stats().sync_failures == static_cast<std::uint64_t>(sync_failed));
    CHECK(disk.stats().write_failures == static_cast<std::uint64_t>(write_failed));
}

TEST_CASE("regression: recovery makes the records it replays durable (seed 14, calm and storm)",
          "[sim]") {
    // Before recovery synced what it read, a kill -9 between a batch's write and its fsync left
    // records in the page cache that the restarted daemon replayed and answered from; a power
    // cut then took them, leaving a hole before the new segment that no start could pass:
    // "record has sequence 107, expected 105". Seed 14 failed so, as drawn and with --storm,
    // on the code before the fix.
    Scenario a = Scenario::from_seed(14);
    a.max_steps = 3000;
    Scenario b = a;
    b.storm();
    for (const Scenario& s : {a, b}) {
        const Result r = run(s);
        INFO(report(r));
        CHECK(r.ok);
        CHECK(r.crashes > 0);
    }
}

TEST_CASE("regression: a send campaign's notice waits for its packet's record (seed 1160)",
          "[sim]") {
    // Before notices were held until the campaign packet's create record was durable, a
    // recipient could learn a packet, fetch its commitment, and see a power cut take the packet
    // back — the same id then named another packet: "packet …: its commitment changed".
    Scenario s = Scenario::from_seed(1160);
    s.max_steps = 3000;
    REQUIRE(s.send_rate > 0);
    const Result r = run(s);
    INFO(report(r));
    CHECK(r.ok);
    CHECK(r.notices > 0);
    CHECK(r.crashes > 0);
}
