// redpacketd --store redis-cluster against the local test cluster: several daemons sharing
// packets, expiry swept by all of them, and bad input (failovers: test_redis_failover.cpp).
#include <sys/wait.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "cluster_support.hpp"
#include "daemon_process.hpp"
#include "test_support.hpp"

using namespace std::chrono_literals;
using redpacket::ClaimStatus;
using redpacket::testing::redis_cli;
using redpacket::testing::shell;
using redpacket::testing::TestCluster;
using redpacketd::testing::as;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;
using redpacketd::testing::must;
namespace protocol = redpacket::protocol;

namespace {

std::vector<std::string> cluster_args(const TestCluster& c, const std::string& prefix,
                                      std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"--workers", "2", "--sets", "16", "--store", "redis-cluster",
                                     "--redis-nodes", c.seeds(), "--redis-prefix", prefix,
                                     "--rate-limit", "1000000"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::uint32_t wire(ClaimStatus s) { return protocol::to_wire(s); }

BlockingClient logged_in(std::uint16_t port, std::uint32_t user) {
    BlockingClient c(port);
    REQUIRE(must(c.login(user)).result == protocol::kResultOk);
    return c;
}

/// redpacket-audit --redis: its exit status and output.
std::pair<int, std::string> audit(const TestCluster& c, const std::string& prefix) {
    return shell(std::string(REDPACKET_AUDIT_BINARY) + " --redis " + c.seeds() +
                 " --redis-prefix " + prefix + " --sets 16");
}

std::uint64_t total(const DaemonProcess& d, const std::string& event) {
    return get_json(d.admin_port(), "/stats")["totals"][event].get<std::uint64_t>();
}

}  // namespace

TEST_CASE("two daemons share one store: claims from both, retries on the other, one share each",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("share");
    DaemonProcess a(cluster_args(cluster, prefix), 15s);
    DaemonProcess b(cluster_args(cluster, prefix), 15s);
    BlockingClient creator = logged_in(a.port(), 3);
    const auto made = must(creator.create(protocol::CreatePacket{77, 1000, 4, 0, 600}));
    // A retried create finds the same packet, through either daemon.
    BlockingClient creator_b = logged_in(b.port(), 3);
    CHECK(must(creator_b.create(protocol::CreatePacket{77, 1000, 4, 0, 600})).packet == made.packet);
    std::map<std::uint32_t, protocol::ClaimResponse> got;
    for (const std::uint32_t user : {20U, 21U, 22U, 23U}) {
        BlockingClient c = logged_in(user % 2 == 0 ? a.port() : b.port(), user);
        got[user] = must(c.claim(made.packet, 1000 + user));
        CHECK(got[user].status == wire(ClaimStatus::claimed));
    }
    std::set<std::uint32_t> shares;
    std::uint64_t sum = 0;
    for (const auto& [user, r] : got) {
        shares.insert(r.share_index);
        sum += r.amount;
    }
    CHECK(shares == std::set<std::uint32_t>{0, 1, 2, 3});
    CHECK(sum == 1000);  // the shares add up to the total, to the cent
    // The same request id through the other daemon: the same share; a new one: still only one.
    BlockingClient again = logged_in(b.port(), 20);
    const auto retried = must(again.claim(made.packet, 1020));
    CHECK(retried.status == wire(ClaimStatus::already_claimed));
    CHECK(retried.share_index == got[20].share_index);
    CHECK(retried.amount == got[20].amount);
    CHECK(must(again.claim(made.packet, 5555)).amount == got[20].amount);
    BlockingClient late = logged_in(a.port(), 24);
    CHECK(must(late.claim(made.packet, 1)).status == wire(ClaimStatus::sold_out));
    const auto q = must(late.query(made.packet, 2));
    CHECK(q.claimed_count == 4);
    CHECK(q.remaining == 0);
    const auto [rc, out] = audit(cluster, prefix);
    INFO(out);
    CHECK(rc == 0);
}

TEST_CASE("packets expiring under claims through two daemons are refunded once and the books balance",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("expiry");
    DaemonProcess a(cluster_args(cluster, prefix, {"--redis-sweep-interval-ms", "50"}), 15s);
    DaemonProcess b(cluster_args(cluster, prefix, {"--redis-sweep-interval-ms", "50"}), 15s);
    BlockingClient creator = logged_in(a.port(), 1);
    std::vector<std::uint64_t> packets;
    for (int i = 0; i < 20; ++i) {
        packets.push_back(must(creator.create(protocol::CreatePacket{0, 300, 3, 2, 1})).packet);
    }
    // Claimers on both daemons keep claiming across the deadline.
    std::atomic<std::uint64_t> claimed_cents{0};
    std::atomic<int> bad{0};
    const auto claimer = [&](std::uint16_t port, std::uint32_t user) {
        BlockingClient c(port);  // no Catch2 assertion off the main thread: count it instead
        if (const auto login = c.login(user); !login || login->result != protocol::kResultOk) {
            ++bad;
            return;
        }
        const auto until = std::chrono::steady_clock::now() + 2s;
        for (std::size_t i = 0; std::chrono::steady_clock::now() < until; ++i) {
            const auto r = c.claim(packets[i % packets.size()], (std::uint64_t{user} << 32) | i);
            if (!r) {
                continue;
            }
            if (r->status == wire(ClaimStatus::claimed)) {
                claimed_cents += r->amount;
            } else if (r->status != wire(ClaimStatus::already_claimed) &&
                       r->status != wire(ClaimStatus::expired) &&
                       r->status != wire(ClaimStatus::sold_out)) {
                ++bad;
            }
            std::this_thread::sleep_for(20ms);
        }
    };
    std::thread t1(claimer, a.port(), 101), t2(claimer, b.port(), 102);
    claimer(a.port(), 103);
    t1.join();
    t2.join();
    CHECK(bad == 0);
    // Every packet refunded exactly once, by whichever daemon swept it first.
    REQUIRE(eventually([&] { return total(a, "refunds") + total(b, "refunds") >= 20; }, 10s));
    std::this_thread::sleep_for(300ms);
    CHECK(total(a, "refunds") + total(b, "refunds") == 20);
    for (const std::uint64_t p : packets) {
        const auto q = must(creator.query(p, 9));
        CHECK(q.state == protocol::to_wire(redpacket::PacketState::expired));
        CHECK(q.remaining == 0);
    }
    // The books balance: what the claimers were told they got, plus the refunds, is what was
    // created; the audit checks each refund is exactly its packet's unclaimed shares.
    const auto [rc, out] = audit(cluster, prefix);
    INFO(out);
    CHECK(rc == 0);
    CHECK(out.find("created 6000 = claimed " + std::to_string(claimed_cents.load()) +
                   " + refunded " + std::to_string(6000 - claimed_cents.load()) +
                   " + outstanding 0") != std::string::npos);
}

TEST_CASE("a packet past its deadline reads and claims as expired before any sweep",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("due");
    DaemonProcess d(cluster_args(cluster, prefix, {"--redis-sweep-interval-ms", "60000"}), 15s);
    BlockingClient c = logged_in(d.port(), 1);
    const auto made = must(c.create(protocol::CreatePacket{0, 500, 5, 0, 1}));
    CHECK(must(c.query(made.packet, 1)).state == protocol::to_wire(redpacket::PacketState::open));
    std::this_thread::sleep_for(1200ms);
    const auto q = must(c.query(made.packet, 2));
    CHECK(q.state == protocol::to_wire(redpacket::PacketState::expired));
    CHECK(q.remaining == 500);  // due, not refunded yet: the sweep has not run
    CHECK(must(c.claim(made.packet, 3)).status == wire(ClaimStatus::expired));
    CHECK(total(d, "refunds") == 0);
}

TEST_CASE("one daemon runs the campaigns for the cluster, another takes over when it stops, and "
          "notices reach recipients on the other daemon",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("lease");
    const std::vector<std::string> campaigns = {
        "--redis-lease-ttl-ms", "600", "--shake-enabled", "true", "--shake-rate", "50",
        "--send-enabled", "true", "--send-rate", "20", "--send-total", "0"};
    DaemonProcess a(cluster_args(cluster, prefix, campaigns), 15s);
    DaemonProcess b(cluster_args(cluster, prefix, campaigns), 15s);
    const auto holds = [](const DaemonProcess& d) {
        return get_json(d.admin_port(), "/stats")["store"]["lease_held"].get<bool>();
    };
    const auto campaign = [](const DaemonProcess& d, const char* which, const char* what) {
        return get_json(d.admin_port(), "/campaigns")[which][what].get<std::uint64_t>();
    };
    REQUIRE(eventually([&] { return holds(a) != holds(b); }, 5s));
    const bool a_holds = holds(a);
    DaemonProcess& holder = a_holds ? a : b;
    DaemonProcess& other = a_holds ? b : a;
    // Recipients online only on the other daemon: the holder's campaign notices them there.
    std::vector<BlockingClient> users;
    for (std::uint32_t u = 0; u < 16; ++u) {
        users.push_back(logged_in(other.port(), 500 + u));
    }
    std::optional<protocol::PacketNotice> notice;
    REQUIRE(eventually([&] {
        for (BlockingClient& c : users) {
            (void)c.drain(20ms);
            if (!c.notices().empty()) {
                notice = c.notices().front();
                return true;
            }
        }
        return false;
    }, 10s));
    CHECK(campaign(holder, "send", "sent") > 0);
    CHECK(campaign(holder, "shake", "offered") > 0);
    CHECK(campaign(other, "send", "sent") == 0);  // one campaign for the cluster, not two
    CHECK(campaign(other, "shake", "offered") == 0);
    CHECK(eventually([&] {  // published every 100 ms
        return get_json(other.admin_port(), "/stats")["store"]["notices_received"].get<std::uint64_t>() > 0;
    }, 2s));
    // A recipient grabs it through the daemon that did not create it.
    const std::uint32_t recipient = notice->users[0];
    REQUIRE(recipient >= 500);
    REQUIRE(recipient < 516);
    CHECK(must(users[recipient - 500].grab(notice->packet)).amount > 0);
    // The holder dies without releasing the lease: the other takes over within a few TTLs.
    REQUIRE(holder.kill_hard() != 0);
    REQUIRE(eventually([&] { return holds(other); }, 5s));
    REQUIRE(eventually([&] { return campaign(other, "shake", "offered") > 0; }, 5s));
}

TEST_CASE("the daemon counts the masters with fewer replicas than its WAIT needs", "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("replicas");
    const auto short_of = [](const DaemonProcess& d) {
        return get_json(d.admin_port(), "/stats")["store"]["masters_short_of_replicas"];
    };
    {
        DaemonProcess d(cluster_args(cluster, prefix), 15s);  // WAIT for 1: every master has 2
        CHECK(eventually([&] { return short_of(d) == 0 && get_json(d.admin_port(), "/stats")["store"]["commands"] > 0; }, 5s));
        CHECK(short_of(d) == 0);
    }
    // WAIT for 3 replicas: no master of the test cluster has that many.
    DaemonProcess d(cluster_args(cluster, prefix, {"--redis-wait-replicas", "3"}), 15s);
    CHECK(eventually([&] { return short_of(d) == 3; }, 5s));
    const auto metrics = redpacketd::testing::http_request(d.admin_port(), "GET", "/metrics");
    CHECK_THAT(metrics.body, Catch::Contains("\nredpacketd_redis_masters_short_of_replicas 3\n"));
}

TEST_CASE("an unreachable cluster or a wrong functions version stops the start with a clear error",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    // Exit status 1: the start-up failed; 2: the configuration was refused before it.
    const auto start_fails = [](std::vector<std::string> args, const std::string& needle,
                                int expected_rc = 1) {
        std::string command = REDPACKETD_BINARY;
        for (const std::string& a : args) {
            command += " '" + a + "'";
        }
        const auto [rc, out] = shell(command + " --port 0 --admin-port 0 --compat-mode true");
        INFO(out);
        CHECK(rc == expected_rc);
        CHECK(out.find(needle) != std::string::npos);
    };
    start_fails({"--store", "redis-cluster", "--redis-nodes", "127.0.0.1:1",
                 "--redis-timeout-ms", "300"},
                "start-up failed: redis cluster 127.0.0.1:1");
    start_fails({"--store", "redis-cluster", "--redis-nodes", "nonsense"},
                "\"redis_nodes\"", 2);
    // A master that may evict keys: refused, named (money must not vanish under memory
    // pressure).
    const auto policy = [&](const std::string& p) {
        shell("redis-cli --cluster call 127.0.0.1:" + std::to_string(cluster.base_port) +
              " CONFIG SET maxmemory-policy " + p);
    };
    policy("allkeys-lru");
    start_fails(cluster_args(cluster, "evicting"), "maxmemory-policy allkeys-lru");
    policy("noeviction");
    // Another version of the functions library on every master: refused, named.
    const std::string fake =
        "#!lua name=redpacket\\nredis.register_function{function_name=\"rp_version\", "
        "flags={\"no-writes\"}, callback=function() return \"0\" end}";
    shell("redis-cli --cluster call 127.0.0.1:" + std::to_string(cluster.base_port) +
          " FUNCTION LOAD REPLACE \"$(printf '" + fake + "')\" --cluster-only-masters");
    start_fails(cluster_args(cluster, "badversion"), "version \"0\"");
    shell("redis-cli --cluster call 127.0.0.1:" + std::to_string(cluster.base_port) +
          " FUNCTION DELETE redpacket --cluster-only-masters");
    // Deleted: the next daemon loads the right one again.
    DaemonProcess d(cluster_args(cluster, redpacket::testing::test_prefix("reload")), 15s);
    BlockingClient c = logged_in(d.port(), 5);
    CHECK(must(c.create(protocol::CreatePacket{0, 100, 1, 0, 60})).packet != 0);
}

TEST_CASE("the audit finds a share changed behind the store's back", "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("audit");
    DaemonProcess d(cluster_args(cluster, prefix), 15s);
    BlockingClient c = logged_in(d.port(), 2);  // SET 2
    const auto made = must(c.create(protocol::CreatePacket{0, 90, 3, 2, 600}));
    REQUIRE(must(c.claim(made.packet, 1)).amount == 30);
    CHECK(audit(cluster, prefix).first == 0);
    const std::string key = "{" + prefix + ":s:2}:sh";
    redis_cli(cluster.base_port, "-c hset '" + key + "' " + std::to_string(made.packet) + ":2 31");
    const auto [rc, out] = audit(cluster, prefix);
    INFO(out);
    CHECK(rc == 1);
    CHECK(out.find(std::to_string(made.packet) + ": shares add up to 91, the total is 90") !=
          std::string::npos);
}

TEST_CASE("with no WAIT asked for (wait_replicas 0, not every replica) payouts are not refused",
          "[redis][integration]") {
    const TestCluster cluster = TestCluster::from_env();
    const std::string prefix = redpacket::testing::test_prefix("nowait");
    DaemonProcess d(cluster_args(cluster, prefix, {"--redis-wait-replicas", "0",
                                                   "--redis-wait-all-replicas", "false"}),
                    15s);
    BlockingClient creator = logged_in(d.port(), 3);
    const std::uint64_t packet = must(creator.create(protocol::CreatePacket{0, 900, 3, 2, 600})).packet;
    BlockingClient claimer = logged_in(d.port(), 8);
    const auto r = must(claimer.claim(packet, 1));
    CHECK(r.status == wire(ClaimStatus::claimed));
    CHECK(r.amount == 300);
    CHECK(get_json(d.admin_port(), "/stats")["store"]["short_waits"] == 0);
}
