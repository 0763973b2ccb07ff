// Verifiable splits on the Redis Cluster store: the seed is kept with the packet record, so a
// packet created through one daemon is proven through another; the audit recomputes each split
// from its seed and names a permutation made behind the store's back.
#include <catch2/catch.hpp>

#include <string>

#include "cluster_support.hpp"
#include "daemon_process.hpp"
#include "redpacket/proof.hpp"
#include "test_support.hpp"

namespace protocol = redpacket::protocol;
using redpacket::testing::redis_cli;
using redpacket::testing::shell;
using redpacket::testing::TestCluster;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::must;
using namespace std::chrono_literals;

namespace {

std::vector<std::string> args(const TestCluster& c, const std::string& prefix) {
    return {"--workers", "1",           "--sets",       "16",   "--store", "redis-cluster",
            "--redis-nodes", c.seeds(), "--redis-prefix", prefix, "--rate-limit", "1000000"};
}

BlockingClient logged_in(std::uint16_t port, std::uint32_t user) {
    BlockingClient c(port);
    REQUIRE(must(c.login(user)).result == protocol::kResultOk);
    return c;
}

}  // namespace

TEST_CASE("a packet on the Redis store is proven through another daemon, and the audit catches "
          "shares swapped behind the store's back",
          "[redis][integration][verifiable]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("proof");
    DaemonProcess a(args(cluster, prefix), 15s);
    DaemonProcess b(args(cluster, prefix), 15s);
    BlockingClient creator = logged_in(a.port(), 3);  // SET 3
    const std::uint64_t packet =
        must(creator.create(protocol::CreatePacket{0, 10'000, 4, 1, 600})).packet;  // line_cut
    std::vector<protocol::ClaimResponse> claims;
    for (std::uint32_t u = 0; u < 4; ++u) {
        BlockingClient c = logged_in(u % 2 == 0 ? a.port() : b.port(), 100 + u);
        claims.push_back(must(c.claim(packet, 1)));
        if (u == 0) {
            // Not finished: the commitment, not the seed.
            CHECK(must(c.proof(packet, protocol::kProofSeed, 2)).status == protocol::kProofWithheld);
        }
    }
    BlockingClient asker = logged_in(b.port(), 50);
    const auto commit = must(asker.proof(packet, protocol::kProofCommitment, 3));
    const auto seed = must(asker.proof(packet, protocol::kProofSeed, 4));
    REQUIRE(commit.status == protocol::kProofOk);
    REQUIRE(seed.status == protocol::kProofOk);
    const redpacket::SplitTerms terms{redpacket::PacketId{packet}, redpacket::Cents{10'000}, 4,
                                      redpacket::SplitPolicy::line_cut,
                                      redpacket::Cents{commit.min_share}};
    CHECK(redpacket::commitment(terms, seed.value) == commit.value);
    for (const auto& r : claims) {
        CHECK(redpacket::verify_claim(terms, commit.value, seed.value, r.share_index,
                                      redpacket::Cents{static_cast<std::int64_t>(r.amount)})
                  .ok);
    }
    // The admin API's proof through daemon B: a store read that completes later.
    const auto served = redpacketd::testing::get_json(b.admin_port(), "/packets/" +
                                                                          std::to_string(packet) +
                                                                          "/proof");
    CHECK(served["commitment"] == redpacket::to_hex(commit.value));
    CHECK(served["seed"] == redpacket::to_hex(seed.value));
    REQUIRE(served["shares"].size() == 4);
    for (const auto& r : claims) {
        CHECK(served["shares"][r.share_index] == r.amount);
    }
    const std::string audit = std::string(REDPACKET_AUDIT_BINARY) + " --redis " + cluster.seeds() +
                              " --redis-prefix " + prefix + " --sets 16";
    CHECK(shell(audit).first == 0);
    // Swap shares 0 and 1 in the store: the sum still holds, only the seed can tell.
    const auto shares = redpacket::shares_from_seed(terms, seed.value);
    REQUIRE(shares.has_value());
    REQUIRE((*shares)[0] != (*shares)[1]);
    const std::string key = "{" + prefix + ":s:3}:sh";
    const std::string id = std::to_string(packet);
    redis_cli(cluster.base_port, "-c hset '" + key + "' " + id + ":0 " +
                                     std::to_string((*shares)[1].value) + " " + id + ":1 " +
                                     std::to_string((*shares)[0].value));
    const auto [rc, out] = shell(audit);
    INFO(out);
    CHECK(rc == 1);
    CHECK(out.find(id + ": not the split its seed gives: share 0 is " +
                   std::to_string((*shares)[1].value)) != std::string::npos);
}

TEST_CASE("on the Redis store a query and the admin API resolve a packet's compact id to its "
          "full id, which the proof needs",
          "[redis][integration][verifiable]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("compact");
    DaemonProcess d(args(cluster, prefix), 15s);
    // Serials past 2^19: the packet's id no longer fits in 32 bits, as on a long-running store.
    redis_cli(cluster.base_port, "-c hset '{" + prefix + ":s:3}:tot' serial 600000");
    BlockingClient creator = logged_in(d.port(), 3);  // SET 3
    const std::uint64_t packet =
        must(creator.create(protocol::CreatePacket{0, 900, 3, 2, 600})).packet;  // equal
    REQUIRE(packet > 0xFFFFFFFFULL);
    const auto compact = static_cast<std::uint32_t>(packet);
    BlockingClient grabber = logged_in(d.port(), 8);
    const protocol::GrabResponse g = must(grabber.grab(compact));
    CHECK(g == protocol::GrabResponse{compact, 300});
    const auto q = must(grabber.query(compact, 2));
    CHECK(q.packet == packet);
    CHECK(q.total == 900);
    CHECK(q.claimed_count == 1);
    const auto again = must(grabber.claim(q.packet, 3));
    CHECK(again.status == protocol::to_wire(redpacket::ClaimStatus::already_claimed));
    CHECK(again.share_index == 0);
    CHECK(again.amount == 300);
    const auto served = redpacketd::testing::http_request(
        d.admin_port(), "GET", "/packets/" + std::to_string(compact) + "/proof");
    CHECK(served.status == 409);  // not finished: withheld, but found under the compact id
    CHECK_THAT(served.body, Catch::Contains(std::to_string(packet)));
    // A compact id that names no packet stays unknown.
    const auto unknown = grabber.query(compact ^ (1U << 20), 4);
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().code == protocol::ErrorCode::not_found);
}

TEST_CASE("on the Redis store a shake packet's proof is fetched through another daemon by the "
          "compact id the shake returned, and the audit checks it",
          "[redis][integration][verifiable]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("shakeproof");
    std::vector<std::string> with_shakes = args(cluster, prefix);
    for (const char* a : {"--shake-enabled", "true", "--shake-rate", "200", "--shake-min-amount",
                          "5", "--shake-max-amount", "500"}) {
        with_shakes.emplace_back(a);
    }
    DaemonProcess a(with_shakes, 15s);
    DaemonProcess b(args(cluster, prefix), 15s);
    BlockingClient winner = logged_in(a.port(), 3);  // SET 3
    const auto hit = redpacketd::testing::shake_until_hit(winner, 3, 10s);
    REQUIRE(hit);
    BlockingClient asker = logged_in(b.port(), 50);
    const auto q = must(asker.query(hit->packet, 2));
    CHECK((q.packet & 0xFFFFFFFFULL) == hit->packet);
    CHECK(q.total == hit->amount);
    CHECK(q.count == 1);
    CHECK(q.claimed_count == 1);
    CHECK(q.state == 1);  // sold out
    const auto commit = must(asker.proof(hit->packet, protocol::kProofCommitment, 3));
    const auto seed = must(asker.proof(q.packet, protocol::kProofSeed, 4));
    REQUIRE(commit.status == protocol::kProofOk);
    REQUIRE(seed.status == protocol::kProofOk);
    CHECK(commit.policy == 3);  // fixed
    CHECK(commit.min_share == 1);
    const redpacket::Cents amount{static_cast<std::int64_t>(hit->amount)};
    const redpacket::SplitTerms terms{redpacket::PacketId{q.packet}, amount, 1,
                                      redpacket::SplitPolicy::fixed, redpacket::Cents{1}};
    CHECK(redpacket::verify_claim(terms, commit.value, seed.value, 0, amount).ok);
    CHECK_FALSE(redpacket::verify_claim(terms, commit.value, seed.value, 0, amount + redpacket::Cents{1}).ok);
    const auto served = redpacketd::testing::get_json(
        b.admin_port(), "/packets/" + std::to_string(hit->packet) + "/proof");
    CHECK(served["packet"] == q.packet);
    CHECK(served["seed"] == redpacket::to_hex(seed.value));
    REQUIRE(served["claims"].size() == 1);
    CHECK(served["claims"][0]["user"] == 3);
    const std::string audit = std::string(REDPACKET_AUDIT_BINARY) + " --redis " + cluster.seeds() +
                              " --redis-prefix " + prefix + " --sets 16";
    const auto [rc, out] = shell(audit);
    INFO(out);
    CHECK(rc == 0);
}
