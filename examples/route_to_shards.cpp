// Routing users to SETs (shards) owned by worker threads, and handing work to the owner through
// its mailbox. Run: ./example_route_to_shards
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "redpacket/sharded_connection_set.hpp"

using namespace redpacket;

namespace {
// What one worker asks another to do; small and trivially movable.
struct Grab {
    UserId user;
    std::uint64_t packet;
};
}  // namespace

int main() {
    // 256 SETs over 2 workers: SET = user % 256, worker = SET % 2.
    ShardedConnectionSet<Grab> set{ShardingConfig{256, 2, 1024}};

    // Each worker registers the connections of its own shards (single owner per table).
    std::vector<std::thread> owners;
    for (WorkerId w = 0; w < 2; ++w) {
        owners.emplace_back([&set, w] {
            for (UserId user = 0; user < 10000; ++user) {
                if (set.worker_of(set.shard_of(user)) == w) {
                    (void)set.add(user, /*connection handle=*/user + 1'000'000);
                }
            }
        });
    }
    for (auto& t : owners) {
        t.join();
    }
    std::printf("users: %zu, SET 0 holds %zu, SET 255 holds %zu\n", set.total_size(),
                set.size(0), set.size(255));
    const UserId user = 4242;
    std::printf("user %llu -> SET %u -> worker %u, connection %llu\n",
                static_cast<unsigned long long>(user), set.shard_of(user),
                set.worker_of(set.shard_of(user)),
                static_cast<unsigned long long>(*set.find(user)));

    // Worker 0 forwards grabs for users that worker 1 owns; worker 1 drains its mailbox.
    std::atomic<int> handled{0};
    std::thread consumer([&] {
        while (handled.load() < 100) {
            set.drain(1, 64, [&](ShardId shard, Grab&& g) {
                if (set.worker_of(shard) == 1 && set.shard(shard).find(g.user)) {
                    handled.fetch_add(1);
                }
            });
        }
    });
    int sent = 0;
    for (UserId u = 1; sent < 100; u += 2) {  // odd users land in odd SETs: worker 1
        if (set.post(set.shard_of(u), Grab{u, 77}).has_value()) {
            ++sent;
        }
    }
    consumer.join();
    std::printf("worker 1 handled %d forwarded grabs, mailbox refusals: %llu\n", handled.load(),
                static_cast<unsigned long long>(set.rejected(1)));
    return handled.load() == 100 ? 0 : 1;
}
