#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "redpacket/sharded_connection_set.hpp"

using namespace redpacket;

namespace {
struct Msg {
    std::uint64_t user{0};
    std::uint64_t seq{0};
};
using Set = ShardedConnectionSet<Msg>;
}  // namespace

TEST_CASE("users map to shards by user mod S and shards to workers by shard mod W", "[set]") {
    Set set{ShardingConfig{256, 3, 64}};
    CHECK(set.shard_count() == 256);
    CHECK(set.worker_count() == 3);
    CHECK(set.shard_of(0) == 0);
    CHECK(set.shard_of(257) == 1);
    CHECK(set.shard_of(1'000'000) == 1'000'000 % 256);
    CHECK(set.worker_of(0) == 0);
    CHECK(set.worker_of(4) == 1);
    CHECK(set.worker_of(255) == 0);
    CHECK_THROWS_AS(Set(ShardingConfig{0, 1, 64}), std::invalid_argument);
    CHECK_THROWS_AS(Set(ShardingConfig{4, 0, 64}), std::invalid_argument);
    CHECK_THROWS_AS(Set(ShardingConfig{4, 5, 64}), std::invalid_argument);
}

TEST_CASE("connections are registered in their user's shard only", "[set]") {
    Set set{ShardingConfig{16, 2, 64}};
    for (UserId u = 0; u < 1000; ++u) {
        REQUIRE(set.add(u, u * 10).has_value());
    }
    CHECK(set.add(5, 1).error() == Error::already_exists);
    CHECK(set.total_size() == 1000);
    for (ShardId s = 0; s < 16; ++s) {
        std::size_t n = 0;
        set.for_each(s, [&](UserId u, ConnectionRef c) {
            CHECK(u % 16 == s);
            CHECK(c == u * 10);
            ++n;
        });
        CHECK(n == set.size(s));
    }
    CHECK(set.find(77) == 770U);
    CHECK(set.remove(77) == 770U);
    CHECK_FALSE(set.find(77).has_value());
    CHECK(set.total_size() == 999);
    CHECK(set.table_memory_bytes() >= 999 * 16);
}

TEST_CASE("post reaches the owning worker and refuses unknown shards and full mailboxes",
          "[set]") {
    Set set{ShardingConfig{8, 2, 4}};
    REQUIRE(set.post(3, Msg{3, 1}).has_value());
    REQUIRE(set.post(5, Msg{5, 2}).has_value());
    REQUIRE(set.post(2, Msg{2, 3}).has_value());
    CHECK(set.post(8, Msg{}).error() == Error::invalid_argument);
    std::vector<std::pair<ShardId, std::uint64_t>> got;
    CHECK(set.drain(0, 10, [&](ShardId s, Msg&& m) { got.emplace_back(s, m.seq); }) == 1);
    CHECK(set.drain(1, 10, [&](ShardId s, Msg&& m) { got.emplace_back(s, m.seq); }) == 2);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == std::pair<ShardId, std::uint64_t>{2, 3});
    CHECK(got[1] == std::pair<ShardId, std::uint64_t>{3, 1});
    CHECK(got[2] == std::pair<ShardId, std::uint64_t>{5, 2});
    for (int i = 0; i < 4; ++i) {
        REQUIRE(set.post(1, Msg{}).has_value());
    }
    Msg kept{9, 99};
    CHECK(set.post(1, std::move(kept)).error() == Error::mailbox_full);
    CHECK(kept.seq == 99);  // handed back for a retry
    CHECK(set.rejected(1) == 1);
    CHECK(set.rejected(0) == 0);
}

TEST_CASE("workers exchange messages concurrently without loss", "[set][mt]") {
    constexpr std::uint32_t kWorkers = 2;
    constexpr std::uint64_t kPerWorker = 40000;
    Set set{ShardingConfig{64, kWorkers, 512}};
    std::atomic<bool> go{false};
    std::vector<std::uint64_t> received(kWorkers, 0);
    std::vector<std::uint64_t> misrouted(kWorkers, 0);
    std::vector<std::uint64_t> add_failures(kWorkers, 0);
    std::vector<std::thread> workers;
    for (WorkerId w = 0; w < kWorkers; ++w) {
        workers.emplace_back([&, w] {
            while (!go.load()) {
            }
            // Each worker owns its shards' tables and also sends to the other worker.
            for (ShardId s = w; s < 64; s += kWorkers) {
                add_failures[w] += set.shard(s).add(s, s).has_value() ? 0U : 1U;
            }
            std::uint64_t sent = 0;
            const WorkerId peer = (w + 1) % kWorkers;
            while (sent < kPerWorker || received[w] < kPerWorker) {
                if (sent < kPerWorker) {
                    const ShardId target = peer + kWorkers * static_cast<ShardId>(sent % 32);
                    if (set.post(target, Msg{w, sent}).has_value()) {
                        ++sent;
                    }
                }
                received[w] += set.drain(w, 128, [&](ShardId s, Msg&&) {
                    misrouted[w] += set.worker_of(s) == w ? 0U : 1U;
                });
            }
        });
    }
    go.store(true);
    for (auto& t : workers) {
        t.join();
    }
    for (WorkerId w = 0; w < kWorkers; ++w) {
        CHECK(received[w] == kPerWorker);
        CHECK(misrouted[w] == 0);
        CHECK(add_failures[w] == 0);
    }
    CHECK(set.total_size() == 64);
}
