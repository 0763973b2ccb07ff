// A node of the shard that holds SET 0 killed (kill -9) under claim load through a daemon, with
// the recommended setup (two replicas per master, WAIT for every listed replica) and no node
// restarted while it is measured: payouts on that shard resume (the time is printed), every
// acknowledged claim is still there afterwards (a retry under its request id gets the same
// share), no answer is wrong, and the audit is clean. Then the node is given back.
#include "claim_load.hpp"
#include "daemon_process.hpp"

using namespace std::chrono_literals;
using redpacket::testing::ClaimLoad;
using redpacket::testing::shell;
using redpacket::testing::steady_ns;
using redpacket::testing::TestCluster;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;

namespace {

/// Kills SET 0's master or one of its replicas under load; checks what the file's comment says.
void kill_under_load(bool replica) {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix(replica ? "replicakill" : "failover");
    // Every node up and linked, so that the daemon's slot map lists every replica.
    REQUIRE(eventually([&] { return redpacket::testing::cluster_whole(cluster); }, 30s));
    DaemonProcess d({"--workers", "2", "--sets", "16", "--store", "redis-cluster", "--redis-nodes",
                     cluster.seeds(), "--redis-prefix", prefix, "--rate-limit", "1000000",
                     "--redis-timeout-ms", "1000", "--redis-wait-timeout-ms", "300"},
                    15s);
    // Packets in every SET, more shares than the load claims; SET 0's two are watched.
    ClaimLoad load(d.port(), redpacket::testing::packets_in_every_set(d.port()), 2);
    std::this_thread::sleep_for(1500ms);
    const int victim =
        redpacket::testing::node_of_key(cluster, "{" + prefix + ":s:0}:p", replica);
    REQUIRE(victim != 0);
    const std::string pidfile = cluster.dir + "/" + std::to_string(victim) + "/pid";
    // Gone (or a zombie: at most 2 s) before the clock starts.
    REQUIRE(shell("kill -9 $(cat " + pidfile + ") && for i in $(seq 200); do kill -0 $(cat " +
                  pidfile + ") 2>/dev/null || break; sleep 0.01; done").first == 0);
    load.fault_at = steady_ns();
    // A master: its replica is promoted after the node timeout and an election, and the other
    // replica follows it. A replica: WAIT falls short until the cluster marks it failed and
    // the daemon's slot map no longer lists it.
    const bool resumed = eventually([&] { return load.resumed_at != 0; }, 30s);
    std::this_thread::sleep_for(1s);
    load.stop();
    const double resume_s = resumed ? static_cast<double>(load.resumed_at - load.fault_at) / 1e9 : -1;
    WARN((replica ? "replica" : "master") << " killed: payouts on its shard resumed " << resume_s
         << " s after the kill; " << load.acked().size() << " claims acknowledged, "
         << load.refused.load() << " refused, " << load.wrong.load() << " wrong");
    INFO("store: " << get_json(d.admin_port(), "/stats")["store"].dump());
    CHECK(resumed);
    CHECK(load.acked().size() > 100);
    if (!replica) {
        CHECK(load.refused.load() > 0);  // the kill was felt (a replica's may not be, if the map
    }                             // dropped it before a WAIT fell short)
    CHECK(load.wrong.load() == 0);
    // Every acknowledged claim is still there: a retry under its request id gets the same share.
    const auto lost = redpacket::testing::lost_claims(d.port(), load.acked(), load.fault_at);
    for (const std::string& line : lost) {
        UNSCOPED_INFO(line);
    }
    CHECK(lost.empty());
    INFO("store after the retries: " << get_json(d.admin_port(), "/stats")["store"].dump());
    const auto [rc, out] = redpacket::testing::audit_cluster(cluster, prefix);
    INFO(out);
    CHECK(rc == 0);
    // Give the cluster its node back (a replica again) for the tests after this one.
    REQUIRE(shell("bash " REDPACKET_SOURCE_DIR "/cmake/redis-cluster.sh restart-node " + cluster.dir +
                  " " + std::to_string(victim)).first == 0);
    CHECK(eventually([&] {
        return cluster.cli(cluster.base_port, "cluster info").find("cluster_state:ok") !=
                   std::string::npos &&
               cluster.cli(victim, "info replication").find("master_link_status:up") !=
                   std::string::npos;
    }, 30s));
}

}  // namespace

TEST_CASE("a master killed under claim load: payouts on its slots resume without any restart, "
          "nothing acknowledged is lost, nothing answered wrongly",
          "[redis][integration][failover]") {
    kill_under_load(false);
}

TEST_CASE("a replica killed under claim load: payouts on its master's slots resume once the "
          "cluster marks it failed, nothing acknowledged is lost, nothing answered wrongly",
          "[redis][integration][failover]") {
    kill_under_load(true);
}
