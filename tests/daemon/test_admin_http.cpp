// The admin server over real loopback sockets.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "admin_http.hpp"

#include "fake_admin_backend.hpp"

using namespace admin_test;

// ---- AdminServer over a real socket --------------------------------------------------------

namespace {

/// Aborts the process if a test outlives its budget, so a hung loop cannot stall the suite.
class Watchdog {
public:
    explicit Watchdog(std::chrono::seconds budget)
        : thread_([this, budget] {
              std::unique_lock lock(mutex_);
              if (!cv_.wait_for(lock, budget, [this] { return done_; })) {
                  std::fputs("test_admin_http: watchdog expired\n", stderr);
                  std::abort();
              }
          }) {}
    ~Watchdog() {
        {
            const std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_one();
        thread_.join();
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_{false};
    std::thread thread_;
};

/// An AdminServer on 127.0.0.1:0, its loop on a thread; `stop()` closes it through an async.
class RunningServer {
public:
    explicit RunningServer(AdminLimits limits = {}, std::string token = {}) {
        REQUIRE(uv_loop_init(&loop_) == 0);
        server_.emplace(&loop_, backend, std::move(token), limits);
        const auto bound = server_->listen("127.0.0.1", 0);
        REQUIRE(bound.has_value());
        port = *bound;
        REQUIRE(port != 0);
        stop_.data = this;
        REQUIRE(uv_async_init(&loop_, &stop_, [](uv_async_t* async) {
                    static_cast<RunningServer*>(async->data)->server_->close();
                    uv_close(reinterpret_cast<uv_handle_t*>(async), nullptr);
                }) == 0);
        thread_ = std::thread([this] { run_result_ = uv_run(&loop_, UV_RUN_DEFAULT); });
    }
    ~RunningServer() {
        if (thread_.joinable()) {
            stop();
        }
    }
    /// Closes the server on its loop, waits for uv_run to return and closes the loop.
    void stop() {
        REQUIRE(uv_async_send(&stop_) == 0);
        thread_.join();
        CHECK(run_result_ == 0);
        server_.reset();
        CHECK(uv_loop_close(&loop_) == 0);
    }

    FakeBackend backend;
    std::uint16_t port{0};

private:
    uv_loop_t loop_{};
    uv_async_t stop_{};
    std::optional<AdminServer> server_;
    std::thread thread_;
    int run_result_{-1};
};

/// A blocking client socket with 5 s send/receive timeouts.
class Client {
public:
    explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        REQUIRE(fd_ >= 0);
        const timeval timeout{5, 0};
        REQUIRE(setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout) == 0);
        REQUIRE(setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout) == 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    }
    ~Client() { ::close(fd_); }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    void send_all(std::string_view data) {
        while (!data.empty()) {
            const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
            REQUIRE(n > 0);
            data.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    /// Everything until the server closes; fails on error or timeout.
    std::string read_all() {
        std::string out;
        char buf[4096];
        for (;;) {
            const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            REQUIRE(n >= 0);
            if (n == 0) {
                return out;
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
    }

private:
    int fd_;
};

struct Reply {
    int status{0};
    std::string head;
    std::string body;
};

/// Sends `request`, reads to EOF and checks the framing the server promises.
Reply round_trip(std::uint16_t port, std::string_view request) {
    Client client(port);
    client.send_all(request);
    const std::string raw = client.read_all();
    const auto head_end = raw.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    REQUIRE(raw.starts_with("HTTP/1.1 "));
    Reply reply{std::stoi(raw.substr(9, 3)), raw.substr(0, head_end), raw.substr(head_end + 4)};
    CHECK_THAT(reply.head, Catch::Contains("\r\nConnection: close"));
    CHECK_THAT(reply.head,
               Catch::Contains("\r\nContent-Length: " + std::to_string(reply.body.size())));
    return reply;
}

}  // namespace

TEST_CASE("the admin server answers real requests and its loop closes cleanly", "[admin]") {
    const Watchdog watchdog(std::chrono::seconds(30));
    RunningServer server({}, kToken);

    const auto health = round_trip(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(health.status == 200);
    CHECK(health.body == "ok\n");

    const std::string body = R"({"rate": 321, "total": 9})";
    const auto posted = round_trip(server.port,
                                   "POST /campaigns/shake HTTP/1.1\r\nHost: x\r\n"
                                   "authorization:  Bearer " +
                                       kToken +
                                       "\r\nContent-Type: application/json\r\n"
                                       "Content-Length: " +
                                       std::to_string(body.size()) + "\r\n\r\n" + body);
    CHECK(posted.status == 200);
    CHECK_THAT(posted.head, Catch::Contains("Content-Type: application/json"));
    CHECK(json::parse(posted.body)["started"] == "shake");

    const auto unauthorized = round_trip(server.port, "GET /stats HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(unauthorized.status == 401);
    CHECK_THAT(unauthorized.head, Catch::Contains("WWW-Authenticate: Bearer"));

    const auto chunked =
        round_trip(server.port, "POST /campaigns/send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                                    "\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5\r\n{\"sha\r\nA\r\nres\": 2}  \r\n0\r\n\r\n");
    CHECK(chunked.status == 200);

    const auto malformed = round_trip(server.port, "NOT AN HTTP REQUEST\r\n\r\n");
    CHECK(malformed.status == 400);
    CHECK_THAT(malformed.body, Catch::Contains("malformed"));
    CHECK(round_trip(server.port, "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n").status == 400);

    // Announced too large: refused as soon as the headers are in.
    CHECK(
        round_trip(server.port,
                   "POST /campaigns/shake HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
            .status == 413);
    // Actually too large, body and all, and a giant header without any body.
    const auto oversized = round_trip(server.port,
                                      "POST /campaigns/shake HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n"
                                      "\r\n" +
                                          std::string(100000, ' '));
    CHECK(oversized.status == 413);
    // Headers past the limit: libmicrohttpd's 431 Request Header Fields Too Large.
    CHECK(round_trip(server.port,
                     "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n")
              .status == 431);

    server.stop();
    REQUIRE(server.backend.shakes().size() == 1);
    CHECK(server.backend.shakes()[0].rate == 321);
    CHECK(server.backend.shakes()[0].total == 9);
    REQUIRE(server.backend.sends().size() == 1);
    CHECK(server.backend.sends()[0].shares == 2);
}

TEST_CASE("the admin server closes a connection that sends nothing in time", "[admin]") {
    const Watchdog watchdog(std::chrono::seconds(30));
    RunningServer server(AdminLimits{.timeout_ms = 200});
    Client idle(server.port);
    const auto start = std::chrono::steady_clock::now();
    CHECK(idle.read_all().empty());
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(waited >= std::chrono::milliseconds(150));
    CHECK(waited < std::chrono::seconds(3));
    server.stop();
}

TEST_CASE("connections beyond the limit are answered 503", "[admin]") {
    const Watchdog watchdog(std::chrono::seconds(30));
    RunningServer server(AdminLimits{.max_connections = 1});
    Client holder(server.port);  // occupies the only slot until it closes
    CHECK(round_trip(server.port, "GET /healthz HTTP/1.1\r\n\r\n").status == 503);
    server.stop();  // closes the holder's server side too
    CHECK(holder.read_all().empty());
}

TEST_CASE("listen refuses a host that is not a numeric address", "[admin]") {
    uv_loop_t loop{};
    REQUIRE(uv_loop_init(&loop) == 0);
    FakeBackend backend;
    {
        AdminServer server(&loop, backend, "");
        const auto bound = server.listen("localhost", 0);
        REQUIRE_FALSE(bound.has_value());
        CHECK_THAT(bound.error(), Catch::Contains("localhost"));
    }
    CHECK(uv_run(&loop, UV_RUN_DEFAULT) == 0);
    CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("a 405 names the methods in Allow, HEAD reads like GET without a body, an HTTP/1.1 "
          "request needs a Host, and a first line without a space gets a 400",
          "[admin]") {
    const Watchdog watchdog(std::chrono::seconds(30));
    RunningServer server({}, kToken);
    const auto raw = [&](std::string_view request) {
        Client client(server.port);
        client.send_all(request);
        return client.read_all();
    };
    const auto posted = round_trip(server.port, "POST /livez HTTP/1.1\r\nHost: x\r\n"
                                                "Content-Length: 0\r\n\r\n");
    CHECK(posted.status == 405);
    CHECK_THAT(posted.head, Catch::Contains("\r\nAllow: GET, HEAD"));
    const auto put = round_trip(server.port, "PUT /campaigns/shake HTTP/1.1\r\nHost: x\r\n"
                                             "Authorization: Bearer " + kToken +
                                                 "\r\nContent-Length: 0\r\n\r\n");
    CHECK(put.status == 405);
    CHECK_THAT(put.head, Catch::Contains("\r\nAllow: POST"));

    // HEAD: GET's status and headers, no body; and a HEAD starts no campaign.
    const std::string head = raw("HEAD /livez HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK(head.starts_with("HTTP/1.1 200"));
    CHECK(head.ends_with("\r\n\r\n"));
    CHECK_THAT(head, Catch::Contains("\r\nContent-Length: 3\r\n"));
    const std::string head_campaign =
        raw("HEAD /yaohongbao?qps=1&sum=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
            kToken + "\r\n\r\n");
    CHECK(head_campaign.starts_with("HTTP/1.1 405"));
    CHECK_THAT(head_campaign, Catch::Contains("\r\nAllow: GET\r\n"));

    // A first line without a space (no method and target): a 400, not a silent close.
    const auto hello = round_trip(server.port, "HELLO\r\n\r\n");
    CHECK(hello.status == 400);
    CHECK_THAT(hello.body, Catch::Contains("malformed request line"));
    // Empty lines before the request line are skipped, not refused.
    CHECK(round_trip(server.port, "\r\n\r\nGET /livez HTTP/1.1\r\nHost: x\r\n\r\n").status == 200);
    const auto no_host = round_trip(server.port, "GET /livez HTTP/1.1\r\n\r\n");
    CHECK(no_host.status == 400);
    CHECK_THAT(no_host.body, Catch::Contains("Host"));
    CHECK(round_trip(server.port, "GET /livez HTTP/1.0\r\n\r\n").status == 200);
    server.stop();
    CHECK(server.backend.shakes().empty());
}
