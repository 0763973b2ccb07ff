// Integration tests of the admin HTTP API of a running daemon (health, stats, Prometheus
// metrics, campaign control, the 2017 query-string forms, the bearer token) and of its
// shutdown on SIGTERM.
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::expect;
using redpacketd::testing::must;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;
using redpacketd::testing::http_request;
using redpacketd::testing::shake_until_hit;
using redpacketd::testing::BlockingClient;
namespace protocol = redpacket::protocol;

/// Prometheus text: every sample line, by name with labels, after checking the syntax and
/// that each sample's family has HELP and TYPE lines before it.
std::map<std::string, double> parse_prometheus(const std::string& text) {
    static const std::regex sample(
        R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? (-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?)$)");
    static const std::regex help(R"(^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$)");
    static const std::regex type(
        R"(^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|summary|histogram|untyped)$)");
    std::set<std::string> helped;
    std::map<std::string, std::string> typed;
    std::map<std::string, double> samples;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        INFO("line: " << line);
        std::smatch m;
        if (line.empty()) {
            continue;
        }
        if (std::regex_match(line, m, help)) {
            helped.insert(m[1]);
        } else if (std::regex_match(line, m, type)) {
            CHECK(typed.emplace(m[1], m[2]).second);  // one TYPE per family
        } else {
            REQUIRE(std::regex_match(line, m, sample));
            std::string family = m[1];
            if (typed.count(family) == 0) {
                for (const std::string suffix : {"_count", "_sum", "_bucket"}) {
                    if (family.ends_with(suffix)) {
                        family.resize(family.size() - suffix.size());
                        break;
                    }
                }
            }
            CHECK(typed.count(family) == 1);
            CHECK(helped.count(family) == 1);
            samples[std::string(m[1]) + std::string(m[2])] = std::stod(m[4]);
        }
    }
    return samples;
}

}  // namespace

TEST_CASE("the admin API serves health, stats JSON and Prometheus metrics", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "8"});
    const auto health = http_request(d.admin_port(), "GET", "/healthz");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");

    BlockingClient c(d.port());
    REQUIRE(must(c.login(3)).result == protocol::kResultOk);
    CHECK(must(c.shake(3)).result == protocol::kShakeNoPacket);

    json stats;
    REQUIRE(eventually(
        [&] {
            stats = get_json(d.admin_port(), "/stats");
            return stats["logged_in"] == 1;
        },
        2s));
    INFO(stats.dump());
    for (const char* key : {"connections", "logged_in", "totals", "rates", "money", "packets_open",
                            "set_sizes", "campaigns", "invariant_violations", "latency_ns"}) {
        CHECK(stats.contains(key));
    }
    for (const char* key : {"group_created", "group_claimed", "group_refunded", "group_outstanding",
                            "shake_offered", "shake_issued", "shake_expired"}) {
        CHECK(stats["money"].contains(key));
    }
    CHECK(stats["connections"] == 1);
    CHECK(stats["totals"]["logins"] == 1);
    CHECK(stats["totals"]["shake_misses"] == 1);
    REQUIRE(stats["set_sizes"].is_array());
    REQUIRE(stats["set_sizes"].size() == 8);
    CHECK(stats["set_sizes"][3] == 1);
    CHECK(stats["invariant_violations"] == 0);
    CHECK(stats["campaigns"].contains("shake"));
    CHECK(stats["campaigns"].contains("send"));

    const auto metrics = http_request(d.admin_port(), "GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.head.find("text/plain") != std::string::npos);
    const auto samples = parse_prometheus(metrics.body);
    const auto value = [&](const std::string& name) {
        const auto it = samples.find(name);
        return it == samples.end() ? -1.0 : it->second;
    };
    CHECK(value("redpacketd_connections_accepted_total{worker=\"0\"}") +
              value("redpacketd_connections_accepted_total{worker=\"1\"}") >=
          1);
    using redpacketd::testing::metric_sum;
    CHECK(metric_sum(metrics.body, "redpacketd_requests_total", {R"(kind="login")"}) == 1);
    CHECK(metric_sum(metrics.body, "redpacketd_shake_outcomes_total", {R"(outcome="miss")"}) == 1);
    CHECK(value("redpacketd_invariant_violations") == 0);
    // The histogram: cumulative buckets ending in +Inf == _count. It counts the requests
    // served in the read that brought them (the shake; not the login, whose read moved the
    // connection to its SET's worker).
    const double served = value("redpacketd_request_duration_seconds_count");
    CHECK(served >= 1);
    CHECK(served <= metric_sum(metrics.body, "redpacketd_requests_total"));
    CHECK(value("redpacketd_request_duration_seconds_bucket{le=\"+Inf\"}") == served);
    CHECK(value("redpacketd_request_duration_seconds_bucket{le=\"1\"}") <= served);
    CHECK(value("redpacketd_request_duration_seconds_sum") > 0);
    CHECK(metrics.body.find("redpacketd_unmapped_events_total") == std::string::npos);
    CHECK(value("process_open_fds") > 0);
    CHECK(value("process_resident_memory_bytes") > 0);

    CHECK(http_request(d.admin_port(), "GET", "/no/such/path").status == 404);
    CHECK(http_request(d.admin_port(), "POST", "/stats").status == 405);
    CHECK(http_request(d.admin_port(), "GET", "/campaigns/shake").status == 405);
    CHECK(http_request(d.admin_port(), "POST", "/campaigns/send", "{not json").status == 400);
}

TEST_CASE("POST /campaigns/shake starts a campaign that makes shakes hit", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16"});
    BlockingClient c(d.port());
    REQUIRE(must(c.login(1)).result == protocol::kResultOk);
    CHECK(must(c.shake(1)).result == protocol::kShakeNoPacket);

    const auto bad = http_request(d.admin_port(), "POST", "/campaigns/shake", R"({"rate": "x"})");
    CHECK(bad.status == 400);
    const auto started = http_request(d.admin_port(), "POST", "/campaigns/shake",
                                      R"({"rate": 800, "min_amount": 7, "max_amount": 9})");
    REQUIRE(started.status == 200);
    const json body = json::parse(started.body);
    CHECK(body["enabled"] == true);
    CHECK(body["rate"] == 800);

    const auto hit = shake_until_hit(c, 1, 3s);
    REQUIRE(hit);
    CHECK(hit->amount >= 7);
    CHECK(hit->amount <= 9);
    const json campaigns = get_json(d.admin_port(), "/campaigns");
    CHECK(campaigns["shake"]["enabled"] == true);
    CHECK(campaigns["shake"]["min_amount"] == 7);
}

TEST_CASE("the 2017 forms /yaohongbao and /fahongbao start campaigns", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16"});
    BlockingClient one(d.port());  // worker 1
    REQUIRE(must(one.login(1)).result == protocol::kResultOk);
    BlockingClient two(d.port());  // worker 0
    REQUIRE(must(two.login(2)).result == protocol::kResultOk);

    CHECK(http_request(d.admin_port(), "GET", "/yaohongbao?qps=10").status == 400);
    CHECK(http_request(d.admin_port(), "GET", "/yaohongbao?qps=10&sum=1&x=2").status == 400);
    const auto shake = http_request(d.admin_port(), "GET", "/yaohongbao?qps=500&sum=50");
    REQUIRE(shake.status == 200);
    CHECK(eventually(
        [&] { return get_json(d.admin_port(), "/campaigns")["shake"]["offered"] == 50; }, 3s));
    CHECK(get_json(d.admin_port(), "/campaigns")["shake"]["total"] == 50);
    CHECK(shake_until_hit(one, 1, 2s).has_value());
    CHECK(shake_until_hit(two, 2, 2s).has_value());

    CHECK(http_request(d.admin_port(), "GET", "/fahongbao?qps=100&sum=3&min=10").status == 400);
    const auto send = http_request(d.admin_port(), "GET", "/fahongbao?qps=100&sum=3&min=10&max=20");
    REQUIRE(send.status == 200);
    CHECK(eventually([&] { return get_json(d.admin_port(), "/campaigns")["send"]["sent"] == 3; },
                     3s));
    // Each user is alone in its SET, so each packet has one share, all for its recipient.
    std::size_t notices = 0;
    for (auto [user, client] : {std::pair{1U, &one}, std::pair{2U, &two}}) {
        (void)client->drain(50ms);
        for (const protocol::PacketNotice& n : client->notices()) {
            ++notices;
            CHECK(n.amount >= 10);
            CHECK(n.amount <= 20);
            CHECK(n.share_count == 1);
            CHECK(n.users[0] == user);
            CHECK(must(client->grab(n.packet)) == protocol::GrabResponse{n.packet, n.amount});
        }
    }
    CHECK(notices == 3);
}

TEST_CASE("with --admin-token the admin API wants the bearer token, except /healthz",
          "[integration]") {
    DaemonProcess d({"--workers", "1", "--admin-token", "secret"});
    CHECK(http_request(d.admin_port(), "GET", "/healthz").status == 200);
    const auto missing = http_request(d.admin_port(), "GET", "/stats");
    CHECK(missing.status == 401);
    CHECK(missing.head.find("WWW-Authenticate: Bearer") != std::string::npos);
    CHECK(http_request(d.admin_port(), "GET", "/stats", {}, "wrong").status == 401);
    CHECK(http_request(d.admin_port(), "GET", "/metrics").status == 401);
    CHECK(http_request(d.admin_port(), "POST", "/campaigns/shake", R"({"rate": 10})").status ==
          401);
    const auto ok = http_request(d.admin_port(), "GET", "/stats", {}, "secret");
    CHECK(ok.status == 200);
    CHECK(json::parse(ok.body).contains("money"));
    CHECK(http_request(d.admin_port(), "GET", "/metrics", {}, "secret").status == 200);
}

TEST_CASE("connection gauges and SET sizes return to zero when clients leave", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16"});
    const auto stats = [&] { return get_json(d.admin_port(), "/stats"); };
    {
        std::vector<BlockingClient> clients;
        for (std::uint32_t user = 1; user <= 10; ++user) {
            clients.emplace_back(d.port());
            if (user <= 8) {  // eight log in (and half of those move to the other worker)
                REQUIRE(must(clients.back().login(user)).result == protocol::kResultOk);
            } else {
                CHECK(must(clients.back().heartbeat(user)).nonce == user);
            }
        }
        json s;
        CHECK(eventually(
            [&] {
                s = stats();
                return s["connections"] == 10 && s["logged_in"] == 8;
            },
            2s));
        INFO(s.dump());
        std::uint64_t in_sets = 0;
        for (const auto& n : s["set_sizes"]) {
            in_sets += n.get<std::uint64_t>();
        }
        CHECK(in_sets == 8);
    }
    json s;
    CHECK(eventually(
        [&] {
            s = stats();
            return s["connections"] == 0 && s["logged_in"] == 0;
        },
        2s));
    INFO(s.dump());
    CHECK(s["totals"]["accepted"] == 10);
    CHECK(s["totals"]["closed"] == 10);
    CHECK(s["totals"]["logins"] == 8);
    for (const auto& n : s["set_sizes"]) {
        CHECK(n == 0);
    }
}

// --- shutdown ------------------------------------------------------------------------------

TEST_CASE("SIGTERM with clients connected stops the daemon cleanly within five seconds",
          "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--shake-enabled", "true", "--send-enabled",
                     "true", "--send-rate", "50"});
    std::vector<BlockingClient> clients;
    for (std::uint32_t user = 1; user <= 4; ++user) {  // both workers
        clients.emplace_back(d.port());
        REQUIRE(must(clients.back().login(user)).result == protocol::kResultOk);
        CHECK(must(clients.back().shake(user)).user == user);
    }
    clients.emplace_back(d.port());  // never logs in
    clients.emplace_back(d.port());  // half a frame
    const auto half = redpacketd::testing::raw_frame(16, 0);
    REQUIRE(clients.back().send_raw(std::span{half}.first(6)));
    BlockingClient admin_idle(d.admin_port());  // an admin connection that sends nothing

    const int status = d.stop(std::chrono::seconds{5});
    CHECK(status == 0);
    CHECK(d.stop_duration() < 5s);
    for (BlockingClient& c : clients) {
        CHECK(c.frames_until_close(1s).has_value());
    }
}

TEST_CASE("SIGTERM right after start-up exits 0", "[integration]") {
    DaemonProcess d({"--workers", "2"});
    CHECK(d.stop(std::chrono::seconds{5}) == 0);
}
