// Network partitions, the Jepsen way, on loopback only: every Redis node and daemon on its own
// 127.0.0.x (ctest starts this cluster with REDPACKET_REDIS_HOST), links cut with nftables rules
// on those addresses (nft_partition.hpp). Under each cut a claim load records every
// acknowledged claim; after the heal each must still be there with its amount and share, the
// audit must be clean, and no answer may be wrong. How long payouts were refused is printed.
// Without the right to set rules (no nft, no CAP_NET_ADMIN) each test says SKIPPED and ctest
// reports it skipped.
#include <cstdlib>
#include <thread>

#include "claim_load.hpp"
#include "daemon_process.hpp"
#include "nft_partition.hpp"

using namespace std::chrono_literals;
using redpacket::testing::ClaimLoad;
using redpacket::testing::NftPartition;
using redpacket::testing::steady_ns;
using redpacket::testing::TestCluster;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;

namespace {

struct Setup {
    TestCluster cluster = TestCluster::from_env("REDPACKET_PARTITION_CLUSTER");
    NftPartition net{"redpacket_partition_" + std::to_string(cluster.base_port),
                     std::to_string(cluster.base_port) + "-" + std::to_string(cluster.base_port + 8) +
                         ", " + std::to_string(cluster.base_port + 10000) + "-" +
                         std::to_string(cluster.base_port + 10008)};
    std::string skipped = net.unavailable();

    /// False, with the SKIPPED line ctest looks for, where no nftables rule can be set; else
    /// waits for the cluster to be whole (an earlier test's heal may still be settling).
    bool ready() {
        if (!skipped.empty()) {
            WARN("SKIPPED: cannot set nftables rules here (" << skipped << ")");
            return false;
        }
        REQUIRE(eventually([&] { return redpacket::testing::cluster_whole(cluster); }, 30s));
        return true;
    }

    /// Every node's address.
    [[nodiscard]] std::vector<std::string> nodes() const {
        std::vector<std::string> out;
        for (int i = 0; i < 9; ++i) {
            out.push_back(cluster.host_of(cluster.base_port + i));
        }
        return out;
    }
    /// The address daemon `i` reaches Redis from: after the nodes'.
    [[nodiscard]] std::string daemon_host(int i) const {
        return cluster.host_of(cluster.base_port + 10 + i);
    }
    [[nodiscard]] std::vector<std::string> daemon_args(const std::string& prefix, int i,
                                                       std::vector<std::string> more = {}) const {
        std::vector<std::string> args = {
            "--workers", "2", "--sets", "16", "--store", "redis-cluster", "--redis-nodes",
            cluster.seeds(), "--redis-prefix", prefix, "--rate-limit", "1000000",
            "--redis-timeout-ms", "1000", "--redis-wait-timeout-ms", "300",
            "--redis-source-address", daemon_host(i)};
        args.insert(args.end(), more.begin(), more.end());
        return args;
    }
};

double seconds(std::int64_t from_ns, std::int64_t to_ns) {
    return static_cast<double>(to_ns - from_ns) / 1e9;
}

/// After the heal: the cluster whole again, every acknowledged claim there, the books balanced.
void check_after_heal(const Setup& s, const DaemonProcess& d, ClaimLoad& load,
                      const std::string& prefix) {
    CHECK(eventually([&] { return redpacket::testing::cluster_whole(s.cluster); }, 30s));
    std::this_thread::sleep_for(1s);
    load.stop();
    CHECK(load.wrong.load() == 0);
    const auto lost = redpacket::testing::lost_claims(d.port(), load.acked(), load.fault_at);
    for (const std::string& line : lost) {
        UNSCOPED_INFO(line);
    }
    CHECK(lost.empty());
    const auto [rc, out] = redpacket::testing::audit_cluster(s.cluster, prefix);
    INFO(out);
    CHECK(rc == 0);
}

}  // namespace

TEST_CASE("partition: SET 0's master cut off from its replicas and the other masters while the "
          "daemon still reaches it: nothing acknowledged is lost",
          "[redis][partition]") {
    Setup s;
    if (!s.ready()) {
        return;  // skipped
    }
    const std::string prefix = redpacket::testing::test_prefix("cutmaster");
    DaemonProcess d(s.daemon_args(prefix, 0), 15s);
    ClaimLoad load(d.port(), redpacket::testing::packets_in_every_set(d.port()), 2);
    std::this_thread::sleep_for(1500ms);
    const int victim = redpacket::testing::node_of_key(s.cluster, "{" + prefix + ":s:0}:p", false);
    REQUIRE(victim != 0);
    std::vector<std::string> others;
    for (const std::string& host : s.nodes()) {
        if (host != s.cluster.host_of(victim)) {
            others.push_back(host);
        }
    }
    REQUIRE(s.net.cut({s.cluster.host_of(victim)}, others));
    load.fault_at = steady_ns();
    // The master can no longer reach a replica, so no WAIT succeeds there: its claims are
    // refused, never acknowledged. The majority promotes a replica after the node timeout;
    // the daemon finds it (CLUSTERDOWN or MOVED from the cut master, or its map refresh).
    const bool resumed = eventually([&] { return load.resumed_at != 0; }, 30s);
    std::this_thread::sleep_for(1s);
    const std::size_t refused = load.refused;
    s.net.heal();
    WARN("master cut off: payouts on its slots resumed "
         << (resumed ? seconds(load.fault_at, load.resumed_at) : -1.0) << " s after the cut on "
         << "the promoted replica; " << load.acked().size() << " claims acknowledged, " << refused
         << " refused during the cut");
    CHECK(resumed);
    CHECK(refused > 0);
    check_after_heal(s, d, load, prefix);
}

TEST_CASE("partition: the daemon cut off from every node refuses payouts (none hangs, none is "
          "acknowledged) and pays again after the heal, nothing acknowledged is lost",
          "[redis][partition]") {
    Setup s;
    if (!s.ready()) {
        return;  // skipped
    }
    const std::string prefix = redpacket::testing::test_prefix("cutdaemon");
    DaemonProcess d(s.daemon_args(prefix, 0), 15s);
    auto packets = redpacket::testing::packets_in_every_set(d.port());
    ClaimLoad load(d.port(), packets, packets.size());
    std::this_thread::sleep_for(1500ms);
    const std::size_t acked_before = load.acked().size();
    REQUIRE(s.net.cut({s.daemon_host(0)}, s.nodes()));
    const std::int64_t cut_at = steady_ns();
    std::this_thread::sleep_for(4s);
    const std::size_t refused = load.refused;
    // Fenced from the store, nothing can be acknowledged once the claims in flight at the cut
    // (each bounded by --redis-timeout-ms 1000) are answered.
    std::size_t acked_cut_off = 0;
    for (const ClaimLoad::Ack& a : load.acked()) {
        acked_cut_off += a.at > cut_at + 1'500'000'000 ? 1U : 0U;
    }
    s.net.heal();
    load.fault_at = steady_ns();  // from here: the first claim paid marks the resumption
    const bool resumed = eventually([&] { return load.resumed_at != 0; }, 30s);
    WARN("daemon cut off for 4 s: " << refused << " claims refused; the slowest answer took "
         << static_cast<double>(load.slowest_ns.load()) / 1e9 << " s; payouts resumed "
         << (resumed ? seconds(load.fault_at, load.resumed_at) : -1.0) << " s after the heal");
    CHECK(acked_before > 50);
    CHECK(refused > 0);
    CHECK(acked_cut_off == 0);
    CHECK(resumed);
    check_after_heal(s, d, load, prefix);
}

TEST_CASE("partition: the campaign-lease holder cut off from the lease's node stops making "
          "offers before another daemon starts, and the campaign resumes there",
          "[redis][partition]") {
    Setup s;
    if (!s.ready()) {
        return;  // skipped
    }
    const std::string prefix = redpacket::testing::test_prefix("cutlease");
    // The store's deadline (6 s) longer than the lease (3 s): the holder learns nothing from
    // the renewals it sends while cut off until long after the lease ran out in Redis; it must
    // stop by its own clock. Its fence leaves 300 ms between its last offer and the other's
    // first, far more than an offer takes to complete even under a sanitizer.
    const std::vector<std::string> campaigns = {"--redis-lease-ttl-ms", "3000", "--redis-timeout-ms",
                                                "6000", "--shake-enabled", "true", "--shake-rate",
                                                "100"};
    DaemonProcess a(s.daemon_args(prefix, 0, campaigns), 15s);
    DaemonProcess b(s.daemon_args(prefix, 1, campaigns), 15s);
    const auto holds = [](const DaemonProcess& d) {
        return get_json(d.admin_port(), "/stats")["store"]["lease_held"].get<bool>();
    };
    const auto offered = [](const DaemonProcess& d) {
        return get_json(d.admin_port(), "/campaigns")["shake"]["offered"].get<std::uint64_t>();
    };
    REQUIRE(eventually([&] { return holds(a) != holds(b); }, 10s));
    const bool a_holds = holds(a);
    const DaemonProcess& holder = a_holds ? a : b;
    const DaemonProcess& other = a_holds ? b : a;
    REQUIRE(eventually([&] { return offered(holder) > 20; }, 5s));
    const int lease_node = redpacket::testing::node_of_key(s.cluster, "{" + prefix + "}:lease", false);
    REQUIRE(lease_node != 0);
    // The holder still reaches the other masters: it could go on offering packets there.
    REQUIRE(s.net.cut({s.daemon_host(a_holds ? 0 : 1)}, {s.cluster.host_of(lease_node)}));
    const std::int64_t cut_at = steady_ns();
    std::int64_t holder_last = 0;  // the last sample at which the holder's count had grown
    std::int64_t other_first = 0;  // the first at which the other's had
    std::uint64_t holder_seen = offered(holder);
    std::uint64_t other_seen = offered(other);
    const std::uint64_t other_before = other_seen;
    while (steady_ns() - cut_at < 8'000'000'000) {
        const std::uint64_t h = offered(holder);
        const std::uint64_t o = offered(other);
        const std::int64_t now = steady_ns();
        if (h > holder_seen) {
            holder_last = now;
        }
        if (o > other_seen && other_first == 0) {
            other_first = now;
        }
        holder_seen = h;
        other_seen = o;
        std::this_thread::sleep_for(10ms);
    }
    s.net.heal();
    WARN("lease holder cut off from the lease's node: its last offer was seen "
         << (holder_last ? seconds(cut_at, holder_last) : 0.0) << " s after the cut, the other "
         << "daemon's first " << (other_first ? seconds(cut_at, other_first) : -1.0) << " s after");
    CHECK(other_before == 0);
    CHECK(other_first != 0);              // the campaign resumed on the other daemon
    CHECK(holder_last < other_first);     // and no sample saw both making offers
    // Healed: one holder again (the one that took over keeps renewing its lease).
    CHECK(eventually([&] { return holds(holder) != holds(other); }, 10s));
    const auto [rc, out] = redpacket::testing::audit_cluster(s.cluster, prefix);
    INFO(out);
    CHECK(rc == 0);
}
