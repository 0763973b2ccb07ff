// Shared by the journal, snapshot, pool replay and audit tests: scratch directories, a seeded
// pool workload that records every event, state comparison, and hand-written segment files.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redpacket/journal.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/random.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace test_support {

using namespace redpacket;

/// A claim record of `sequence` (the other fields derived from it).
inline JournalRecord claim_record(std::uint64_t sequence = 7) {
    JournalRecord r;
    r.sequence = sequence;
    r.kind = PoolEventKind::claimed;
    r.shard = 3;
    r.packet = PacketId{(sequence << 13) | 3};
    r.user = 1000 + sequence;
    r.amount = Cents{static_cast<std::int64_t>(sequence % 97) + 1};
    r.index = static_cast<std::uint32_t>(sequence % 5);
    r.at = Time{static_cast<std::int64_t>(sequence) * 10};
    r.request_id = sequence * 3;
    return r;
}
using namespace std::chrono_literals;

/// A fresh directory under the temp dir, removed with its content at scope exit.
class TempDir {
public:
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "redpacket-test-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }
    [[nodiscard]] std::string sub(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

inline PoolConfig replay_config(ShardId shard = 5) {
    PoolConfig c;
    c.shard = shard;
    c.max_packets = 48;  // small: slots are recycled many times
    c.retention = 3s;
    c.shake_capacity = 16;
    c.seed = 99;
    return c;
}

/// Records every event as a journal record (shares copied out of the callback).
struct EventLog {
    ShardId shard{0};
    std::vector<JournalRecord> records;
    void on_pool_event(const PoolEvent& e) {
        records.push_back(to_record(e, shard, 0, records.size() + 1));
    }
};

/// Drives a pool with a seeded mix of creates, claims (and retries), shake offers and takes,
/// and expiry, advancing time; remembers every id it was handed.
class Workload {
public:
    Workload(RedPacketPool& pool, std::uint64_t seed) : pool_{pool}, rng_{seed} {}

    void run(int steps) {
        for (int i = 0; i < steps; ++i) {
            step();
        }
    }
    void step() {
        now_ += Time{static_cast<std::int64_t>(rng_.below(200))};
        switch (rng_.below(10)) {
            case 0:
            case 1:
                create();
                break;
            case 2:
                (void)pool_.expire(now_);
                break;
            case 3: {
                auto id = pool_.offer(Cents{rng_.between(1, 500)},
                                      now_ + 2s + Time{rng_.between(0, 999)});
                if (id && !shake_ids_.empty() && *id <= shake_ids_.back()) {
                    FAIL("shake ids must grow");
                }
                if (id) {
                    shake_ids_.push_back(*id);
                }
                break;
            }
            case 4:
                (void)pool_.take(rng_.below(1000), now_);
                break;
            default:
                claim();
                break;
        }
    }
    void create() {
        const auto count = static_cast<std::uint32_t>(rng_.between(1, 40));
        const SplitPolicy policies[] = {SplitPolicy::double_mean, SplitPolicy::line_cut,
                                        SplitPolicy::equal};
        const SplitPolicy policy = count == 1 ? SplitPolicy::fixed : policies[rng_.below(3)];
        // A quarter of the packets are restricted to a few of the 60 claimers.
        std::vector<UserId> allowed;
        if (rng_.below(4) == 0) {
            const std::size_t n = 1 + rng_.below(8);
            while (allowed.size() < n) {
                const UserId u = rng_.below(60);
                if (std::find(allowed.begin(), allowed.end(), u) == allowed.end()) {
                    allowed.push_back(u);
                }
            }
        }
        auto id = pool_.create(rng_.below(1000), Cents{rng_.between(count, 100000)}, count, policy,
                               now_ + Time{rng_.between(500, 6000)}, allowed);
        if (id) {
            ids_.insert(*id);
            live_.push_back(*id);
        }
    }
    void claim() {
        if (live_.empty()) {
            return;
        }
        const PacketId id = live_[rng_.below(live_.size())];
        (void)pool_.claim(id, rng_.below(60), now_);  // few users: many retries
    }
    [[nodiscard]] Time now() const noexcept { return now_; }
    void set_now(Time t) noexcept { now_ = t; }
    [[nodiscard]] const std::set<PacketId>& ids() const noexcept { return ids_; }

private:
    RedPacketPool& pool_;
    Rng rng_;
    Time now_{1000};
    std::set<PacketId> ids_;
    std::vector<PacketId> live_;
    std::vector<PacketId> shake_ids_;
};

/// The stats events carry (all but create_rejected, shake_refused and shake_empty).
inline PoolStats event_stats(PoolStats s) {
    s.create_rejected = 0;
    s.shake_refused = 0;
    s.shake_empty = 0;
    return s;
}

/// Checks that two pools answer every query of `ids` the same way.
inline void check_same_packets(const RedPacketPool& a, const RedPacketPool& b,
                               const std::set<PacketId>& ids) {
    for (const PacketId id : ids) {
        const auto qa = a.query(id);
        const auto qb = b.query(id);
        INFO("packet " << id.value);
        REQUIRE(qa.has_value() == qb.has_value());
        if (!qa) {
            continue;
        }
        CHECK(qa->sender == qb->sender);
        CHECK(qa->policy == qb->policy);
        CHECK(qa->state == qb->state);
        CHECK(qa->total == qb->total);
        CHECK(qa->count == qb->count);
        CHECK(qa->claimed_count == qb->claimed_count);
        CHECK(qa->allowed == qb->allowed);
        CHECK(qa->claimed_amount == qb->claimed_amount);
        CHECK(qa->remaining == qb->remaining);
        CHECK(qa->refunded == qb->refunded);
        CHECK(qa->expires_at == qb->expires_at);
        CHECK(qa->best_luck == qb->best_luck);
        REQUIRE(qa->claims.size() == qb->claims.size());
        for (std::size_t i = 0; i < qa->claims.size(); ++i) {
            CHECK(qa->claims[i].user == qb->claims[i].user);
            CHECK(qa->claims[i].amount == qb->claims[i].amount);
        }
    }
}

/// Takes every shake packet from both pools at `now`, checking they come out identical.
inline void check_same_shake_supply(RedPacketPool& a, RedPacketPool& b, Time now) {
    REQUIRE(a.shake_size() == b.shake_size());
    for (;;) {
        const auto ta = a.take(7, now);
        const auto tb = b.take(7, now);
        REQUIRE(ta.has_value() == tb.has_value());
        if (!ta) {
            break;
        }
        CHECK(ta->packet == tb->packet);
        CHECK(ta->amount == tb->amount);
    }
}

/// Writes `records` (their sequences as given) into one segment file of `dir`.
inline void write_segment(const std::string& dir, std::uint64_t first_sequence,
                          const std::vector<JournalRecord>& records) {
    std::filesystem::create_directories(dir);
    std::ofstream out{dir + "/" + segment_name(first_sequence), std::ios::binary | std::ios::trunc};
    for (const JournalRecord& r : records) {
        std::vector<std::byte> buf(record_size(r));
        REQUIRE(encode_record(r, buf) == buf.size());
        out.write(reinterpret_cast<const char*>(buf.data()),
                  static_cast<std::streamsize>(buf.size()));
    }
}

/// Reads a whole file.
inline std::vector<char> read_bytes(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}
/// Overwrites a whole file.
inline void write_bytes(const std::string& path, const std::vector<char>& bytes) {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

/// Every record of a journal directory (require continuity; fails the test on error).
inline std::vector<JournalRecord> read_journal(JournalFileSystem& fs, const std::string& dir) {
    std::vector<JournalRecord> out;
    auto scan = scan_journal(
        fs, dir,
        [&](const JournalRecord& r, const RecordLocation&) -> std::expected<void, JournalError> {
            out.push_back(r);
            return {};
        });
    if (!scan) {
        FAIL("scan failed: " << describe(scan.error()));
    }
    return out;
}

/// Polls `done` every millisecond for up to 20 s (a liveness bound, not a timing assertion).
template <class Fn>
bool eventually(Fn&& done) {
    const auto until = std::chrono::steady_clock::now() + 20s;
    while (!done()) {
        if (std::chrono::steady_clock::now() > until) {
            return false;
        }
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

}  // namespace test_support
