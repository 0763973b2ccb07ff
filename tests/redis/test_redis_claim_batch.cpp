// Claims on one SET asked for in one loop iteration go to Redis as one call (rp_claim_batch)
// that settles them in the order asked: shares go out in that order, a repeated user gets its
// share again, a claim on a full packet is told so, and the whole batch is one round trip.
// With max_claim_batch 1 every claim is its own call. A query asked after the claims, in the
// same iteration, sees them (the queued claims are sent before any other call on their SET).
#include <map>
#include <optional>

#include "cluster_support.hpp"
#include "redpacket/address.hpp"
#include "redpacket/redis/redis_store.hpp"

using namespace std::chrono_literals;
using redpacket::Cents;
using redpacket::ClaimStatus;
using redpacket::Completion;
using redpacket::testing::TestCluster;
using redpacket::testing::UvLoop;

namespace {

redpacket::Time wall_now() {
    return std::chrono::duration_cast<redpacket::Time>(
        std::chrono::system_clock::now().time_since_epoch());
}

/// A cluster client and a store on a loop of their own, the store's completions kept by ticket.
struct Rig {
    UvLoop uv;
    redpacket::redis::ClusterClient client;
    std::optional<redpacket::redis::RedisStore> store;
    std::map<redpacket::StoreTicket, redpacket::StoreCompletion> done;

    explicit Rig(std::size_t max_batch)
        : client{&uv.loop, [] {
                     redpacket::redis::ClusterOptions o;
                     o.seeds = *redpacket::parse_host_port_list(TestCluster::from_env().seeds());
                     return o;
                 }()} {
        std::optional<std::expected<void, std::string>> ready;
        client.start([&](std::expected<void, std::string> started) {
            if (!started) {
                ready = std::move(started);
                return;
            }
            redpacket::redis::prepare_functions(client, [&](auto r) { ready = std::move(r); });
        });
        REQUIRE(uv.run_until([&] { return ready.has_value(); }, 10s));
        REQUIRE(ready->has_value());
        redpacket::redis::RedisStoreOptions o;
        o.prefix = redpacket::testing::test_prefix("batch" + std::to_string(max_batch));
        o.sets = 16;
        o.wait_replicas = 1;
        o.max_claim_batch = max_batch;
        store.emplace(&uv.loop, client, nullptr, o);
        store->set_sink([this](redpacket::StoreCompletion&& c) { done.emplace(c.ticket, std::move(c)); });
    }
    ~Rig() {
        bool closed = false;
        store->close([&] { closed = true; });
        uv.run_until([&] { return closed; }, 5s);
        closed = false;
        client.close([&] { closed = true; });
        uv.run_until([&] { return closed; }, 5s);
    }
    template <class T>
    const Completion<T>& result(redpacket::StoreTicket t) {
        REQUIRE(uv.run_until([&] { return done.contains(t); }, 10s));
        const auto* c = std::get_if<Completion<T>>(&done.at(t).outcome);
        REQUIRE(c != nullptr);
        return *c;
    }
    redpacket::PacketId create(std::uint32_t count) {
        const redpacket::CreateOp op{.set = 5, .sender = 5, .request_id = 1,
                                     .total = Cents{100 * count}, .count = count,
                                     .policy = redpacket::SplitPolicy::equal,
                                     .expires_at = wall_now() + std::chrono::minutes{10}};
        REQUIRE_FALSE(store->create(900, op).ready());
        const auto& made = result<redpacket::Created>(900);
        REQUIRE(made.result.has_value());
        return made.result->packet;
    }
    void claim(redpacket::StoreTicket t, redpacket::PacketId packet, redpacket::UserId user) {
        const redpacket::ClaimOp op{.packet = packet, .user = user, .request_id = user,
                                    .now = wall_now()};
        REQUIRE_FALSE(store->claim(t, op).ready());
    }
};

}  // namespace

TEST_CASE("claims on one SET in one loop iteration are one call, settled in the order asked",
          "[redis][integration][batch]") {
    Rig rig(256);
    const redpacket::PacketId packet = rig.create(4);
    const auto trips = rig.client.stats().round_trips;
    // Five users and a repeat, all before the loop runs again: one batch of six.
    for (redpacket::StoreTicket t = 1; t <= 5; ++t) {
        rig.claim(t, packet, static_cast<redpacket::UserId>(100 + t));
    }
    rig.claim(6, packet, 101);
    // A query asked in the same iteration goes after them, and sees them.
    REQUIRE_FALSE(rig.store->query(7, packet).ready());
    for (redpacket::StoreTicket t = 1; t <= 4; ++t) {
        const auto& c = rig.result<redpacket::Claimed>(t);
        REQUIRE(c.result.has_value());
        CHECK(c.result->result.status == ClaimStatus::claimed);
        CHECK(c.result->result.share_index == t - 1);  // in the order asked
        CHECK(c.result->result.amount == Cents{100});
        CHECK(c.result->packet == packet);
    }
    const auto& fifth = rig.result<redpacket::Claimed>(5);
    REQUIRE(fifth.result.has_value());
    CHECK(fifth.result->result.status == ClaimStatus::sold_out);
    const auto& again = rig.result<redpacket::Claimed>(6);
    REQUIRE(again.result.has_value());
    CHECK(again.result->result.status == ClaimStatus::already_claimed);
    CHECK(again.result->result.share_index == 0);
    const auto& info = rig.result<redpacket::PacketInfo>(7);
    REQUIRE(info.result.has_value());
    CHECK(info.result->claimed_count == 4);
    // The six claims and the query: two commands (each followed by a WAIT, not counted here).
    CHECK(rig.client.stats().round_trips - trips == 2);
}

TEST_CASE("with max_claim_batch 1 every claim is a call of its own, with the same results",
          "[redis][integration][batch]") {
    Rig rig(1);
    const redpacket::PacketId packet = rig.create(2);
    const auto trips = rig.client.stats().round_trips;
    for (redpacket::StoreTicket t = 1; t <= 3; ++t) {
        rig.claim(t, packet, static_cast<redpacket::UserId>(200 + t));
    }
    CHECK(rig.result<redpacket::Claimed>(1).result->result.share_index == 0);
    CHECK(rig.result<redpacket::Claimed>(2).result->result.share_index == 1);
    CHECK(rig.result<redpacket::Claimed>(3).result->result.status == ClaimStatus::sold_out);
    CHECK(rig.client.stats().round_trips - trips == 3);
}
