// Operations against a live daemon: secrets kept out of the process list and the printed
// configuration, health and readiness, SIGHUP.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <chrono>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon_process.hpp"
#include "test_support.hpp"

using redpacketd::testing::DaemonProcess;
using redpacketd::testing::fresh_temp_dir;
using redpacketd::testing::http_request;
using redpacketd::testing::run_command;

namespace {

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a token from --admin-token-file guards the admin API and is in no process list",
          "[integration][operations]") {
    const auto dir = fresh_temp_dir("secrets");
    std::filesystem::create_directories(dir);
    const auto token_file = dir / "admin-token";
    std::ofstream(token_file) << "s3cr3t-token-from-file\n";
    std::filesystem::permissions(token_file, std::filesystem::perms::owner_read |
                                                 std::filesystem::perms::owner_write);
    DaemonProcess d({"--workers", "1", "--admin-token-file", token_file.string()});
    CHECK(http_request(d.admin_port(), "GET", "/stats").status == 401);
    const auto stats = http_request(d.admin_port(), "GET", "/stats", {}, "s3cr3t-token-from-file");
    CHECK(stats.status == 200);
    CHECK(stats.body.find("s3cr3t") == std::string::npos);
    CHECK(read_file("/proc/" + std::to_string(d.pid()) + "/cmdline").find("s3cr3t") ==
          std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("admin answers are counted by status, refused tokens are counted and logged, and the "
          "limits in force are exported",
          "[integration][operations]") {
    const auto dir = fresh_temp_dir("admin-counts");
    std::filesystem::create_directories(dir);
    const auto token_file = dir / "admin-token";
    std::ofstream(token_file) << "count-me\n";
    std::filesystem::permissions(token_file, std::filesystem::perms::owner_read |
                                                 std::filesystem::perms::owner_write);
    DaemonProcess d({"--workers", "1", "--max-connections", "1234", "--admin-token-file",
                     token_file.string()});
    for (int i = 0; i < 3; ++i) {
        CHECK(http_request(d.admin_port(), "GET", "/stats", {}, i == 0 ? "" : "wrong").status ==
              401);
    }
    CHECK(http_request(d.admin_port(), "GET", "/nowhere", {}, "count-me").status == 404);
    const auto stats = redpacketd::testing::get_json(d.admin_port(), "/stats", "count-me");
    CHECK(stats["limits"]["max_connections"] == 1234);
    const auto metrics = http_request(d.admin_port(), "GET", "/metrics", {}, "count-me").body;
    CHECK_THAT(metrics, Catch::Contains("redpacketd_admin_requests_total{code=\"401\"} 3\n") &&
                            Catch::Contains("redpacketd_admin_requests_total{code=\"404\"} 1\n") &&
                            Catch::Contains("redpacketd_admin_requests_total{code=\"200\"} 1\n") &&
                            Catch::Contains("redpacketd_admin_auth_failures_total 3\n") &&
                            Catch::Contains("redpacketd_limit{limit=\"max_connections\"} 1234\n"));
    CHECK_THAT(d.log_tail(), Catch::Contains("admin: GET /stats from 127.0.0.1 refused: missing or "
                                             "wrong bearer token"));
    std::filesystem::remove_all(dir);
}

TEST_CASE("the daemon warns at start when it keeps no journal or has no admin token",
          "[integration][operations]") {
    {
        DaemonProcess bare({"--workers", "1"});
        CHECK_THAT(bare.log_tail(), Catch::Contains("WARN no journal (journal_dir is empty)") &&
                                        Catch::Contains("WARN no admin token"));
    }
    const auto dir = fresh_temp_dir("warn-journal");
    std::filesystem::create_directories(dir);
    DaemonProcess kept({"--workers", "1", "--journal-dir", (dir / "journal").string(),
                        "--admin-token", "t"});
    CHECK(kept.log_tail().find("no journal") == std::string::npos);
    CHECK(kept.log_tail().find("no admin token") == std::string::npos);
    CHECK(kept.stop() == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("the shutdown line counts requests of every kind", "[integration][operations]") {
    using redpacketd::testing::BlockingClient;
    using redpacketd::testing::must;
    DaemonProcess d({"--workers", "1"});
    {
        BlockingClient c(d.port());
        REQUIRE(must(c.login(5)).result == redpacket::protocol::kResultOk);  // 1
        (void)must(c.shake(5));                                               // 2
        (void)must(c.heartbeat(7));                                           // 3
    }
    CHECK(d.stop() == 0);
    CHECK_THAT(d.log_tail(), Catch::Contains("stopped: 1 connections served, 3 requests"));
}

TEST_CASE("print-config shows that secrets are set, never their values",
          "[integration][operations]") {
    const auto [status, out] = run_command(
        std::string("REDPACKETD_AUTH_SECRET=env-hmac-key ") + REDPACKETD_BINARY +
        " --admin-token flag-token --print-config");
    CHECK(status == 0);
    CHECK(out.find("\"auth_secret\": \"<redacted>\"") != std::string::npos);
    CHECK(out.find("\"admin_token\": \"<redacted>\"") != std::string::npos);
    CHECK(out.find("env-hmac-key") == std::string::npos);
    CHECK(out.find("flag-token") == std::string::npos);
}

TEST_CASE("readyz turns 503 with the reason while SIGTERM drains a slow reader, livez stays 200",
          "[integration][operations]") {
    using namespace std::chrono_literals;
    namespace protocol = redpacket::protocol;
    using redpacketd::testing::eventually;
    using redpacketd::testing::get_json;
    // Replies queue for a client that does not read; the drain then waits up to its grace.
    DaemonProcess d({"--workers", "1", "--socket-send-buffer", "4096", "--output-cap", "4194304",
                     "--rate-limit", "100000000", "--shutdown-grace-ms", "4000"});
    CHECK(http_request(d.admin_port(), "GET", "/readyz").body == "ready\n");
    redpacket::BlockingClient slow(d.port(), 4096);
    REQUIRE(redpacketd::testing::must(slow.login(41)).result == protocol::kResultOk);
    std::vector<std::byte> shakes;
    for (int i = 0; i < 4096; ++i) {
        protocol::append(shakes, protocol::ShakeRequest{41}, 0);
    }
    REQUIRE(eventually(
        [&] {
            (void)slow.send_raw(shakes);
            return redpacketd::testing::fresh_stats(d.admin_port())["queues"]["output_bytes"]
                       .get<std::uint64_t>() > 0;
        },
        10s));
    REQUIRE(::kill(d.pid(), SIGTERM) == 0);
    redpacketd::testing::HttpReply ready;
    CHECK(eventually(
        [&] {
            ready = http_request(d.admin_port(), "GET", "/readyz");
            return ready.status == 503;
        },
        3000ms));
    CHECK(ready.body == "not ready: draining: shutting down\n");
    CHECK(http_request(d.admin_port(), "GET", "/livez").status == 200);
    CHECK(get_json(d.admin_port(), "/stats")["connections"] == 1);  // still draining
    CHECK(d.stop(10s) == 0);
}

namespace {

/// A datagram socket standing in for systemd's notify socket ($NOTIFY_SOCKET) while it lives.
class NotifySocket {
public:
    NotifySocket() : path_{fresh_temp_dir("notify").string() + ".sock"} {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd_ >= 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        REQUIRE(path_.size() < sizeof(address.sun_path));
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0);
        if (const char* outer = std::getenv("NOTIFY_SOCKET")) {
            outer_ = outer;  // the test runner's own, when it runs under systemd
        }
        ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
    }
    NotifySocket(const NotifySocket&) = delete;
    NotifySocket& operator=(const NotifySocket&) = delete;
    ~NotifySocket() {
        if (outer_) {
            ::setenv("NOTIFY_SOCKET", outer_->c_str(), 1);
        } else {
            ::unsetenv("NOTIFY_SOCKET");
        }
        ::close(fd_);
        std::filesystem::remove(path_);
    }
    /// The next message, or "" after `timeout`.
    std::string receive(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
            return {};
        }
        char buffer[4096];
        const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
        return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string{};
    }

private:
    std::string path_;
    std::optional<std::string> outer_;
    int fd_{-1};
};

}  // namespace

TEST_CASE("under systemd the daemon notifies READY=1 once listening and STOPPING=1 on SIGTERM",
          "[integration][operations]") {
    using namespace std::chrono_literals;
    NotifySocket systemd;
    DaemonProcess d({"--workers", "1"});
    const std::string ready = systemd.receive(5s);
    CHECK(ready.starts_with("READY=1\n"));
    CHECK_THAT(ready, Catch::Contains(fmt::format("STATUS=serving on port {}, admin on port {}",
                                                  d.port(), d.admin_port())));
    CHECK_THAT(ready, Catch::Contains(fmt::format("MAINPID={}", d.pid())));
    REQUIRE(::kill(d.pid(), SIGTERM) == 0);
    CHECK(systemd.receive(5s).starts_with("STOPPING=1\n"));
    CHECK(d.stop(5s) == 0);
}

TEST_CASE("SIGHUP applies the campaigns, log level and connection limits from the file, names "
          "what needs a restart and keeps running on a bad file",
          "[integration][operations]") {
    using namespace std::chrono_literals;
    using redpacketd::testing::BlockingClient;
    using redpacketd::testing::eventually;
    using redpacketd::testing::get_json;
    using redpacketd::testing::must;
    const auto dir = fresh_temp_dir("reload");
    std::filesystem::create_directories(dir);
    const auto file = dir / "redpacketd.json";
    std::ofstream(file) << R"({"workers": 1, "log_level": "info"})";
    DaemonProcess d({"--config", file.string()});
    const auto write = [&](const std::string& text) {
        std::ofstream out(file, std::ios::trunc);
        out << text;
    };
    const auto reloads = [&] { return get_json(d.admin_port(), "/stats")["reloads"]; };
    std::vector<BlockingClient> open;  // two connections under the default limit
    for (std::uint32_t user = 1; user <= 2; ++user) {
        open.emplace_back(d.port());
        REQUIRE(must(open.back().login(user)).result == redpacket::protocol::kResultOk);
    }

    write(R"({"workers": 1, "log_level": "debug", "max_connections": 2, "max_frame": 2048,
              "shake": {"enabled": true, "rate": 123, "total": 7}})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads()["ok"] == 1; }, 5s));
    const auto shake = get_json(d.admin_port(), "/campaigns")["shake"];
    CHECK(shake["enabled"] == true);
    CHECK(shake["rate"] == 123);
    CHECK(shake["total"] == 7);
    CHECK_THAT(d.log_tail(), Catch::Contains("applied: ") && Catch::Contains("shake.total") &&
                                 Catch::Contains("log_level") && Catch::Contains("max_connections") &&
                                 Catch::Contains("changed but need a restart: max_frame"));
    // The lowered limit holds for the next connection; the two open ones keep working.
    BlockingClient third(d.port());
    const auto frames = third.frames_until_close(2s);
    REQUIRE(frames.has_value());
    CHECK(frames->empty());
    CHECK(must(open[0].shake(1)).user == 1);

    write(R"({"workers": 1, "shake": {"rate": "fast"}})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads()["failed"] == 1; }, 5s));
    CHECK(reloads()["ok"] == 1);
    CHECK(get_json(d.admin_port(), "/campaigns")["shake"]["rate"] == 123);
    CHECK_THAT(d.log_tail(), Catch::Contains("SIGHUP: settings not reloaded, the running ones "
                                             "stay: " + file.string() + ": \"shake.rate\""));
    CHECK(d.running());

    // A directory as a secret file is a refused reload too, not the end of the daemon.
    write(R"({"workers": 1, "auth_secret_file": ")" + dir.string() + R"("})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads()["failed"] == 2; }, 5s));
    CHECK_THAT(d.log_tail(), Catch::Contains("is not a regular file"));
    CHECK(d.running());

    // So is a secret file others may read.
    const auto shared_secret = dir / "shared-secret";
    std::ofstream(shared_secret) << "k\n";
    std::filesystem::permissions(shared_secret, std::filesystem::perms::owner_read |
                                                    std::filesystem::perms::owner_write |
                                                    std::filesystem::perms::others_read);
    write(R"({"workers": 1, "auth_secret_file": ")" + shared_secret.string() + R"("})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads()["failed"] == 3; }, 5s));
    CHECK_THAT(d.log_tail(), Catch::Contains("has mode 0604"));
    CHECK(d.running());
    CHECK(d.stop(5s) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("SIGHUP retunes a running campaign: what it offered counts against its total",
          "[integration][operations]") {
    using namespace std::chrono_literals;
    using redpacketd::testing::eventually;
    using redpacketd::testing::get_json;
    const auto dir = fresh_temp_dir("reload-total");
    std::filesystem::create_directories(dir);
    const auto file = dir / "redpacketd.json";
    const auto write = [&](const std::string& text) {
        std::ofstream out(file, std::ios::trunc);
        out << text;
    };
    write(R"({"workers": 2, "shake": {"enabled": true, "rate": 200, "total": 20}})");
    DaemonProcess d({"--config", file.string()});
    // Packets offered since start (an event total: no reload resets it), and the campaign's
    // own count, which must agree.
    const auto offered = [&] {
        const auto total = get_json(d.admin_port(), "/stats")["totals"]["shake_offered"];
        const auto counted = get_json(d.admin_port(), "/campaigns")["shake"]["offered"];
        return total == counted ? total.get<int>() : -1;
    };
    const auto reloads = [&] { return get_json(d.admin_port(), "/stats")["reloads"]["ok"]; };
    REQUIRE(eventually([&] { return offered() == 20; }, 10s));

    write(R"({"workers": 2, "shake": {"enabled": true, "rate": 400, "total": 20}})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads() == 1; }, 5s));
    std::this_thread::sleep_for(1s);  // 400 packets' time at the new rate
    CHECK(offered() == 20);
    CHECK(get_json(d.admin_port(), "/campaigns")["shake"]["rate"] == 400);

    write(R"({"workers": 2, "shake": {"enabled": true, "rate": 400, "total": 30}})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads() == 2; }, 5s));
    REQUIRE(eventually([&] { return offered() == 30; }, 10s));
    std::this_thread::sleep_for(500ms);
    CHECK(offered() == 30);

    // A campaign posted through the admin API replaces the file's: a reload of the file then
    // starts the file's campaign anew rather than counting the posted one's packets.
    const auto total = [&] {
        return get_json(d.admin_port(), "/stats")["totals"]["shake_offered"].get<int>();
    };
    REQUIRE(http_request(d.admin_port(), "POST", "/campaigns/shake", R"({"rate": 400, "total": 6})")
                .status == 200);
    REQUIRE(eventually([&] { return total() == 36; }, 10s));
    write(R"({"workers": 2, "shake": {"enabled": true, "rate": 300, "total": 30}})");
    REQUIRE(::kill(d.pid(), SIGHUP) == 0);
    REQUIRE(eventually([&] { return reloads() == 3; }, 5s));
    REQUIRE(eventually([&] { return total() == 66; }, 10s));  // 30 + 6 + 30
    std::this_thread::sleep_for(500ms);
    CHECK(total() == 66);
    CHECK(d.stop(5s) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("metrics pass promtool check metrics after traffic", "[integration][operations]") {
    using redpacketd::testing::BlockingClient;
    using redpacketd::testing::must;
    const auto [found, where] = run_command("command -v promtool");
    REQUIRE(found == 0);  // cmake/install-deps.sh installs Debian's prometheus package
    DaemonProcess d({"--workers", "2", "--sets", "8", "--send-enabled", "true"});
    BlockingClient c(d.port());
    REQUIRE(must(c.login(3)).result == redpacket::protocol::kResultOk);
    (void)must(c.shake(3));
    const auto metrics = http_request(d.admin_port(), "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    const auto dir = fresh_temp_dir("promtool");
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "metrics.txt") << metrics.body;
    const auto [status, out] = run_command("promtool check metrics < '" +
                                           (dir / "metrics.txt").string() + "'");
    INFO(out);
    CHECK(status == 0);
    CHECK(out.empty());  // promtool prints lint findings (units, naming) even when it exits 0
    // Every metric, label and label value the alert rules and the dashboard use is here.
    const std::string source = REDPACKET_SOURCE_DIR;
    const auto [names_status, names_out] = run_command(
        "python3 '" + source + "/tests/docs/check_metric_names.py' --metrics '" +
        (dir / "metrics.txt").string() + "' --rules '" + source + "/docs/alerts.yml' --dashboard '" +
        source + "/docs/grafana-dashboard.json'");
    INFO(names_out);
    CHECK(names_status == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("with --log-format json every log line is one JSON object with time, level and msg",
          "[integration][operations]") {
    DaemonProcess d({"--workers", "1", "--log-format", "json"});
    CHECK(d.stop() == 0);
    std::istringstream lines(d.log_tail(65536));
    std::string line;
    std::size_t parsed = 0;
    while (std::getline(lines, line)) {
        INFO(line);
        const auto object = nlohmann::json::parse(line, nullptr, false);
        REQUIRE(object.is_object());
        CHECK(object.size() == 3);
        CHECK(object["time"].get<std::string>().ends_with("Z"));
        CHECK(object["level"].is_string());
        CHECK(object["msg"].is_string());
        ++parsed;
    }
    CHECK(parsed >= 2);  // listening, stopped
    CHECK_THAT(d.log_tail(), Catch::Contains(R"("level":"info","msg":"stopped: )"));
}
