// ClusterClient against the local test cluster: routing, redirects while slots move, and
// failures that end as errors within the deadline — never a hang.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "cluster_support.hpp"
#include "redpacket/redis/cluster_client.hpp"

using namespace std::chrono_literals;
using namespace redpacket::redis;
using redpacket::testing::redis_cli;
using redpacket::testing::TestCluster;
using redpacket::testing::UvLoop;

namespace {

ClusterOptions options(const TestCluster& c, std::chrono::milliseconds timeout = 2000ms) {
    ClusterOptions o;
    o.seeds = *redpacket::parse_host_port_list(c.seeds());
    o.timeout = timeout;
    return o;
}

void close(UvLoop& loop, ClusterClient& client) {
    bool closed = false;
    client.close([&] { closed = true; });
    REQUIRE(loop.run_until([&] { return closed; }, 5s));
}

/// The node id and port of every master, from CLUSTER NODES.
std::map<int, std::string> master_ids(int port) {
    std::map<int, std::string> out;
    std::istringstream lines(redis_cli(port, "cluster nodes"));
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream f(line);
        std::string id, addr, flags;
        f >> id >> addr >> flags;
        if (flags.find("master") != std::string::npos && flags.find("fail") == std::string::npos) {
            out[std::stoi(addr.substr(addr.find(':') + 1, addr.find('@') - addr.find(':') - 1))] = id;
        }
    }
    return out;
}

/// A loopback "seed" that answers every read with the same bytes, on its own thread, until
/// destroyed (each wait is bounded by a 50 ms poll, so it stops by itself).
class FakeSeed {
public:
    explicit FakeSeed(std::string reply) : reply_{std::move(reply)} {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(fd_, 8) != 0 ||
            ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("fake seed: cannot listen");
        }
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread{[this] { serve(); }};
    }
    FakeSeed(const FakeSeed&) = delete;
    FakeSeed& operator=(const FakeSeed&) = delete;
    ~FakeSeed() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }

private:
    void serve() {
        std::vector<pollfd> fds{{fd_, POLLIN, 0}};
        char buf[4096];
        while (!stop_) {
            if (::poll(fds.data(), fds.size(), 50) <= 0) {
                continue;
            }
            for (std::size_t i = fds.size(); i-- > 0;) {
                if (fds[i].revents == 0) {
                    continue;
                }
                if (i == 0) {
                    if (const int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC); c >= 0) {
                        fds.push_back({c, POLLIN, 0});
                    }
                } else if (::read(fds[i].fd, buf, sizeof buf) <= 0 ||
                           ::send(fds[i].fd, reply_.data(), reply_.size(), MSG_NOSIGNAL) < 0) {
                    ::close(fds[i].fd);
                    fds.erase(fds.begin() + static_cast<std::ptrdiff_t>(i));
                }
            }
        }
        for (std::size_t i = 1; i < fds.size(); ++i) {
            ::close(fds[i].fd);
        }
    }

    std::string reply_;
    int fd_{-1};
    std::uint16_t port_{0};
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Starts a client whose only seed is `seed`; the start's error (the test fails if it started).
std::string start_error(const FakeSeed& seed) {
    UvLoop loop;
    ClusterOptions o;
    o.seeds = {{"127.0.0.1", seed.port()}};
    o.timeout = 400ms;
    ClusterClient client{&loop.loop, o};
    std::optional<std::expected<void, std::string>> started;
    client.start([&](auto r) { started = std::move(r); });
    REQUIRE(loop.run_until([&] { return started.has_value(); }, 10s));
    close(loop, client);
    REQUIRE_FALSE(started->has_value());
    return started->error();
}

}  // namespace

TEST_CASE("the cluster client learns the slot map and reaches every master", "[redis]") {
    const TestCluster cluster = TestCluster::from_env();
    UvLoop loop;
    ClusterClient client{&loop.loop, options(cluster)};
    std::optional<std::expected<void, std::string>> started;
    client.start([&](auto r) { started = std::move(r); });
    REQUIRE(loop.run_until([&] { return started.has_value(); }, 5s));
    REQUIRE(started->has_value());
    CHECK(client.masters().size() == 3);
    const std::string prefix = redpacket::testing::test_prefix("route");
    std::size_t done = 0, ok = 0;
    std::set<std::string> nodes;
    for (int i = 0; i < 300; ++i) {
        const std::string key = prefix + ":" + std::to_string(i);
        nodes.insert(client.master_of(key_slot(key))->to_string());
        client.command(key_slot(key), {"SET", key, std::to_string(i)}, [&](auto r) {
            ++done;
            ok += r && r->reply.str == "OK" ? 1U : 0U;
        });
    }
    REQUIRE(loop.run_until([&] { return done == 300; }, 10s));
    CHECK(ok == 300);
    CHECK(nodes.size() == 3);  // the keys spread over every master, each reached directly
    CHECK(client.stats().moved == 0);
    std::optional<std::expected<CommandResult, ClusterError>> got;
    const std::string key = prefix + ":7";
    client.command(key_slot(key), {"GET", key}, [&](auto r) { got = std::move(r); });
    REQUIRE(loop.run_until([&] { return got.has_value(); }, 5s));
    REQUIRE(got->has_value());
    CHECK((*got)->reply.str == "7");
    // A Redis error that is not a redirect comes back as such.
    got.reset();
    client.command(key_slot(key), {"INCR", key + "x", "extra"}, [&](auto r) { got = std::move(r); });
    REQUIRE(loop.run_until([&] { return got.has_value(); }, 5s));
    REQUIRE_FALSE(got->has_value());
    CHECK(got->error().kind == ClusterError::Kind::redis);
    // Writes with a WAIT: those sent in one loop iteration share one WAIT per master, and each
    // reports the replicas that have it (at least the one asked for).
    const std::uint64_t waits_before = client.stats().waits;
    std::size_t waited = 0, replicated = 0;
    for (int i = 0; i < 300; ++i) {
        const std::string k = prefix + ":w" + std::to_string(i);
        client.command(key_slot(k), {"SET", k, "1"}, [&](auto r) {
                           ++waited;
                           replicated += r && r->reply.str == "OK" && r->replicas >= 1 ? 1U : 0U;
                       },
                       {.wait_replicas = 1, .wait_timeout = 2000ms});
    }
    REQUIRE(loop.run_until([&] { return waited == 300; }, 10s));
    CHECK(replicated == 300);
    CHECK(client.stats().waits - waits_before == 3);
    // wait_all: the WAIT asks for every replica the slot map lists for the master (more than
    // the one asked for), and all of them have the write.
    const std::uint32_t listed = client.master_replicas().at(0);
    REQUIRE(listed >= 2);  // the test cluster: two replicas per master
    std::optional<std::expected<CommandResult, ClusterError>> all;
    const std::string k0 = prefix + ":all";
    client.command(key_slot(k0), {"SET", k0, "1"}, [&](auto r) { all = std::move(r); },
                   {.wait_replicas = 1, .wait_timeout = 2000ms, .wait_all = true});
    REQUIRE(loop.run_until([&] { return all.has_value(); }, 10s));
    REQUIRE(all->has_value());
    const auto masters = client.masters();
    const auto at = std::find(masters.begin(), masters.end(), *client.master_of(key_slot(k0)));
    REQUIRE(at != masters.end());
    CHECK((*all)->wanted == client.master_replicas().at(static_cast<std::size_t>(at - masters.begin())));
    CHECK((*all)->replicas == (*all)->wanted);
    CHECK_FALSE((*all)->short_wait());
    close(loop, client);
}

TEST_CASE("seeds that do not answer fail the start within the timeout, commands end unavailable",
          "[redis]") {
    // A listening socket that never accepts: connects hang in the backlog, nothing answers.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    UvLoop loop;
    ClusterOptions o;
    o.seeds = {{"127.0.0.1", ntohs(addr.sin_port)}};
    o.timeout = 400ms;
    ClusterClient client{&loop.loop, o};
    std::optional<std::expected<void, std::string>> started;
    const auto begin = std::chrono::steady_clock::now();
    client.start([&](auto r) { started = std::move(r); });
    REQUIRE(loop.run_until([&] { return started.has_value(); }, 10s));
    CHECK(std::chrono::steady_clock::now() - begin < 5s);
    REQUIRE_FALSE(started->has_value());
    CHECK(started->error().find("CLUSTER SLOTS") != std::string::npos);
    std::optional<std::expected<CommandResult, ClusterError>> got;
    client.command(5, {"GET", "x"}, [&](auto r) { got = std::move(r); });
    REQUIRE(loop.run_until([&] { return got.has_value(); }, 5s));
    REQUIRE_FALSE(got->has_value());
    CHECK(got->error().kind != ClusterError::Kind::redis);
    close(loop, client);
    ::close(fd);
}

TEST_CASE("a seed that answers CLUSTER SLOTS with an error fails the start and says what it said",
          "[redis]") {
    const FakeSeed seed{"-ERR This instance has cluster support disabled\r\n"};
    const std::string error = start_error(seed);
    CHECK(error.find("CLUSTER SLOTS") != std::string::npos);
    CHECK(error.find("cluster support disabled") != std::string::npos);
}

TEST_CASE("a slot map with no valid range is not adopted: the start fails instead of routing nowhere",
          "[redis]") {
    // One range, every slot, but its master's port is out of range; then slots reversed.
    for (const char* reply : {"*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:70000\r\n",
                              "*1\r\n*3\r\n:16383\r\n:0\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
                              "*1\r\n:5\r\n"}) {
        const FakeSeed seed{reply};
        const std::string error = start_error(seed);
        CHECK(error.find("no valid slot range") != std::string::npos);
    }
}

TEST_CASE("commands keep completing while slots migrate between masters (MOVED and ASK)",
          "[redis]") {
    const TestCluster cluster = TestCluster::from_env();
    UvLoop loop;
    ClusterClient client{&loop.loop, options(cluster, 5000ms)};
    bool started = false;
    client.start([&](auto r) { started = r.has_value(); });
    REQUIRE(loop.run_until([&] { return started; }, 5s));
    const auto masters = master_ids(cluster.base_port);
    REQUIRE(masters.size() == 3);
    const auto from = masters.begin();
    const auto to = std::next(from);
    // Keys in the lowest slots of the first master: the ones a reshard moves first.
    const std::string prefix = redpacket::testing::test_prefix("reshard");
    std::vector<std::string> keys;
    const auto first_slot = [&] {
        std::uint16_t lowest = 16383;
        for (std::uint32_t s = 0; s < kSlots; ++s) {
            const auto m = client.master_of(static_cast<std::uint16_t>(s));
            if (m && m->port == from->first) {
                lowest = std::min<std::uint16_t>(lowest, static_cast<std::uint16_t>(s));
            }
        }
        return lowest;
    }();
    for (int i = 0; keys.size() < 40 && i < 2'000'000; ++i) {
        const std::string key = prefix + ":" + std::to_string(i);
        if (key_slot(key) < first_slot + 8 && key_slot(key) >= first_slot) {
            keys.push_back(key);
        }
    }
    REQUIRE(keys.size() == 40);
    std::atomic<bool> moving{true};
    std::thread reshard([&] {
        // Move the first master's 8 lowest slots away and back again.
        for (const auto& [a, b] : {std::pair{from, to}, std::pair{to, from}}) {
            redpacket::testing::shell(
                "redis-cli --cluster reshard 127.0.0.1:" + std::to_string(cluster.base_port) +
                " --cluster-from " + a->second + " --cluster-to " + b->second +
                " --cluster-slots 8 --cluster-yes");
        }
        moving = false;
    });
    std::size_t sent = 0, done = 0, ok = 0;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while ((moving || done < sent) && std::chrono::steady_clock::now() < deadline) {
        if (sent - done < 200 && moving) {
            const std::string& key = keys[sent % keys.size()];
            client.command(key_slot(key), {"INCR", key}, [&](auto r) {
                ++done;
                ok += r && r->reply.type == Value::Type::integer ? 1U : 0U;
            });
            ++sent;
        }
        uv_run(&loop.loop, UV_RUN_NOWAIT);
    }
    reshard.join();
    REQUIRE(loop.run_until([&] { return done == sent; }, 10s));
    INFO("sent " << sent << ", moved " << client.stats().moved << ", ask " << client.stats().ask);
    CHECK(ok == sent);
    CHECK(client.stats().moved + client.stats().ask > 0);
    // Every increment counted exactly once across the moves.
    std::map<std::string, std::int64_t> expected;
    for (std::size_t i = 0; i < sent; ++i) {
        ++expected[keys[i % keys.size()]];
    }
    for (const auto& [key, n] : expected) {
        std::optional<std::int64_t> value;
        client.command(key_slot(key), {"GET", key},
                       [&](auto r) { value = r ? r->reply.as_int() : std::nullopt; });
        REQUIRE(loop.run_until([&] { return value.has_value(); }, 5s));
        CHECK(*value == n);
    }
    close(loop, client);
}
