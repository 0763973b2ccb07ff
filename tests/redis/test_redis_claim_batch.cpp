// Claims on one SET asked for in one loop iteration go to Redis as one call (rp_claim_batch)
// that settles them in the order asked: shares go out in that order, a repeated user gets its
// share again, a claim on a full packet is told so, and the whole batch is one call — sent when
// the loop has run its callbacks, or at once before any other call on the SET (so a query asked
// after the claims, in the same iteration, sees them). With max_claim_batch 1 every claim is its
// own call.
#include <map>
#include <optional>

#include "claim_load.hpp"
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
    TestCluster cluster;
    UvLoop uv;
    redpacket::redis::ClusterClient client;
    std::optional<redpacket::redis::RedisStore> store;
    std::map<redpacket::StoreTicket, redpacket::StoreCompletion> done;

    explicit Rig(std::size_t max_batch)
        : cluster{TestCluster::from_env()}, client{&uv.loop, [] {
                     redpacket::redis::ClusterOptions o;
                     o.seeds = *redpacket::parse_host_port_list(TestCluster::from_env().seeds());
                     return o;
                 }()} {
        // Every replica in sync (a failover test may have just given a node back): else the
        // WAIT of the claims below could fall short.
        REQUIRE(redpacketd::testing::eventually(
            [&] { return redpacket::testing::cluster_whole(cluster); }, 30s));
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
        prefix = o.prefix;
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
    std::string prefix;
    redpacket::PacketId create(std::uint32_t count, std::uint64_t request = 1) {
        const redpacket::CreateOp op{.set = 5, .sender = 5, .request_id = request,
                                     .total = Cents{100 * count}, .count = count,
                                     .policy = redpacket::SplitPolicy::equal,
                                     .expires_at = wall_now() + std::chrono::minutes{10}};
        const redpacket::StoreTicket t = 900 + request;
        REQUIRE_FALSE(store->create(t, op).ready());
        const auto& made = result<redpacket::Created>(t);
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
    const auto calls = rig.store->claim_calls();
    // Five users and a repeat, all before the loop runs again: one batch of six, sent by the
    // store's check handle.
    for (redpacket::StoreTicket t = 1; t <= 5; ++t) {
        rig.claim(t, packet, static_cast<redpacket::UserId>(100 + t));
    }
    rig.claim(6, packet, 101);
    CHECK(rig.store->claim_calls() == calls);  // queued, not sent yet
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
    CHECK(rig.store->claim_calls() - calls == 1);
}

TEST_CASE("a query asked after claims in the same loop iteration sends them first and sees them",
          "[redis][integration][batch]") {
    Rig rig(256);
    const redpacket::PacketId packet = rig.create(3);
    const auto calls = rig.store->claim_calls();
    rig.claim(1, packet, 301);
    rig.claim(2, packet, 302);
    REQUIRE_FALSE(rig.store->query(3, packet).ready());
    CHECK(rig.store->claim_calls() - calls == 1);  // sent before the query, as one call
    const auto& info = rig.result<redpacket::PacketInfo>(3);
    REQUIRE(info.result.has_value());
    CHECK(info.result->claimed_count == 2);
    REQUIRE(rig.result<redpacket::Claimed>(2).result.has_value());
}

TEST_CASE("with max_claim_batch 1 every claim is a call of its own, with the same results",
          "[redis][integration][batch]") {
    Rig rig(1);
    const redpacket::PacketId packet = rig.create(2);
    const auto calls = rig.store->claim_calls();
    for (redpacket::StoreTicket t = 1; t <= 3; ++t) {
        rig.claim(t, packet, static_cast<redpacket::UserId>(200 + t));
    }
    CHECK(rig.store->claim_calls() - calls == 3);  // each sent at once
    for (redpacket::StoreTicket t = 1; t <= 3; ++t) {
        REQUIRE(rig.result<redpacket::Claimed>(t).result.has_value());
    }
    CHECK(rig.result<redpacket::Claimed>(1).result->result.share_index == 0);
    CHECK(rig.result<redpacket::Claimed>(2).result->result.share_index == 1);
    CHECK(rig.result<redpacket::Claimed>(3).result->result.status == ClaimStatus::sold_out);
}

TEST_CASE("a claim that fails inside Redis (a corrupt record) is refused alone, and the rest of its "
          "batch is settled",
          "[redis][integration][batch]") {
    Rig rig(256);
    const redpacket::PacketId broken = rig.create(2, 1);
    const redpacket::PacketId sound = rig.create(2, 2);
    // The broken packet's record gets a deadline that is not a number: its claim raises an
    // error inside rp_claim_batch (comparing the time with nil).
    const std::string key = "'{" + rig.prefix + ":s:5}:p'";
    REQUIRE(redpacket::testing::shell("redis-cli -c -p " + std::to_string(rig.cluster.base_port) +
                                      " hset " + key + " " + std::to_string(broken.value) +
                                      " 5,200,2,0,x,0,1,0").first == 0);
    const auto calls = rig.store->claim_calls();
    rig.claim(1, broken, 401);
    rig.claim(2, sound, 402);
    const auto& refused = rig.result<redpacket::Claimed>(1);
    REQUIRE_FALSE(refused.result.has_value());
    CHECK(refused.result.error() == redpacket::Error::unavailable);
    const auto& paid = rig.result<redpacket::Claimed>(2);
    REQUIRE(paid.result.has_value());
    CHECK(paid.result->result.status == ClaimStatus::claimed);
    CHECK(rig.store->claim_calls() - calls == 1);  // one call for both
}
