// Operations against a live daemon: secrets kept out of the process list and the printed
// configuration, health and readiness, SIGHUP.
#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
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
    DaemonProcess d({"--workers", "1", "--admin-token-file", token_file.string()});
    CHECK(http_request(d.admin_port(), "GET", "/stats").status == 401);
    const auto stats = http_request(d.admin_port(), "GET", "/stats", {}, "s3cr3t-token-from-file");
    CHECK(stats.status == 200);
    CHECK(stats.body.find("s3cr3t") == std::string::npos);
    CHECK(read_file("/proc/" + std::to_string(d.pid()) + "/cmdline").find("s3cr3t") ==
          std::string::npos);
    std::filesystem::remove_all(dir);
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
                     "--rate-limit", "100000000", "--shutdown-grace-ms", "2000"});
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
        1500ms));
    CHECK(ready.body == "not ready: draining: shutting down\n");
    CHECK(http_request(d.admin_port(), "GET", "/livez").status == 200);
    CHECK(get_json(d.admin_port(), "/stats")["connections"] == 1);  // still draining
    CHECK(d.stop(5s) == 0);
}
