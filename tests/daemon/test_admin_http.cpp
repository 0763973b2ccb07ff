// Admin HTTP API: the pure router against a recording backend, then AdminServer over a real
// loopback socket with a blocking POSIX client.
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

namespace {

using nlohmann::json;
using redpacketd::AdminBackend;
using redpacketd::AdminLimits;
using redpacketd::AdminServer;
using redpacketd::HttpRequest;
using redpacketd::HttpResponse;
using redpacketd::SendCampaignConfig;
using redpacketd::ShakeCampaignConfig;

/// Records every campaign it is given; may be told to refuse or to throw.
class FakeBackend final : public AdminBackend {
public:
    json stats() const override {
        count_call();
        if (throw_) {
            throw std::runtime_error("backend exploded");
        }
        return {{"connections", 7}};
    }
    std::string metrics() const override {
        count_call();
        return "# TYPE redpacketd_connections gauge\nredpacketd_connections 7\n";
    }
    json campaigns() const override {
        count_call();
        return {{"shake", {{"enabled", false}}}};
    }
    std::expected<json, std::string> start_shake(const ShakeCampaignConfig& c) override {
        const std::lock_guard lock(mutex_);
        ++calls_;
        shakes_.push_back(c);
        if (!refusal_.empty()) {
            return std::unexpected(refusal_);
        }
        return json{{"started", "shake"}, {"rate", c.rate}};
    }
    std::expected<json, std::string> start_send(const SendCampaignConfig& c) override {
        const std::lock_guard lock(mutex_);
        ++calls_;
        sends_.push_back(c);
        if (!refusal_.empty()) {
            return std::unexpected(refusal_);
        }
        return json{{"started", "send"}};
    }

    int calls() const {
        const std::lock_guard lock(mutex_);
        return calls_;
    }
    std::vector<ShakeCampaignConfig> shakes() const {
        const std::lock_guard lock(mutex_);
        return shakes_;
    }
    std::vector<SendCampaignConfig> sends() const {
        const std::lock_guard lock(mutex_);
        return sends_;
    }
    std::string refusal_;
    bool throw_{false};

private:
    void count_call() const {
        const std::lock_guard lock(mutex_);
        ++calls_;
    }
    mutable std::mutex mutex_;
    mutable int calls_{0};
    std::vector<ShakeCampaignConfig> shakes_;
    std::vector<SendCampaignConfig> sends_;
};

const std::string kToken = "s3cret-token";

HttpResponse call(FakeBackend& backend, std::string method, std::string url, std::string body = {},
                  std::string authorization = "Bearer " + kToken,
                  const std::string& token = kToken) {
    return redpacketd::route(
        HttpRequest{std::move(method), std::move(url), std::move(body), std::move(authorization)},
        backend, token);
}

/// The "error" string of a JSON error body; fails the test if the body is not one.
std::string error_of(const HttpResponse& r) {
    CHECK(r.content_type == "application/json");
    const json body = json::parse(r.body, nullptr, false);
    REQUIRE(body.is_object());
    REQUIRE(body.contains("error"));
    REQUIRE(body["error"].is_string());
    return body["error"].get<std::string>();
}

}  // namespace

TEST_CASE("healthz answers ok without a token even when one is configured", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/healthz", {}, "");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    CHECK(r.content_type.starts_with("text/plain"));
    CHECK(call(backend, "POST", "/healthz", {}, "").status == 405);
    CHECK(backend.calls() == 0);
}

TEST_CASE("stats, metrics and campaigns come from the backend", "[admin]") {
    FakeBackend backend;
    const auto stats = call(backend, "GET", "/stats");
    CHECK(stats.status == 200);
    CHECK(stats.content_type == "application/json");
    CHECK(json::parse(stats.body) == json{{"connections", 7}});

    const auto metrics = call(backend, "GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.content_type == "text/plain; version=0.0.4");
    CHECK(metrics.body == backend.metrics());

    const auto campaigns = call(backend, "GET", "/campaigns");
    CHECK(campaigns.status == 200);
    CHECK(json::parse(campaigns.body)["shake"]["enabled"] == false);
}

TEST_CASE("a configured token guards every route but healthz", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> routes{
        {"GET", "/stats"},
        {"GET", "/metrics"},
        {"GET", "/campaigns"},
        {"POST", "/campaigns/shake"},
        {"POST", "/campaigns/send"},
        {"GET", "/yaohongbao?qps=1&sum=1"},
        {"GET", "/fahongbao?qps=1&sum=1&min=1&max=2"},
        {"GET", "/no/such/path"}};
    const std::vector<std::string> refused{
        "",                            // absent
        "Bearer",                      // no token
        "Bearer s3cret-tokeN",         // same length, one byte differs
        "Bearer s3cret-token-longer",  // a prefix match is not a match
        "Bearer s3cret",               // shorter
        "Basic czNjcmV0LXRva2Vu",      // another scheme
        "s3cret-token"};               // no scheme
    for (const auto& [method, url] : routes) {
        for (const auto& authorization : refused) {
            INFO(method << " " << url << " with '" << authorization << "'");
            const auto r = call(backend, method, url, "{}", authorization);
            CHECK(r.status == 401);
            CHECK_FALSE(error_of(r).empty());
        }
    }
    CHECK(backend.calls() == 0);

    CHECK(call(backend, "GET", "/stats", {}, "Bearer s3cret-token").status == 200);
    CHECK(call(backend, "GET", "/stats", {}, "bearer s3cret-token").status == 200);
    CHECK(call(backend, "GET", "/stats", {}, "  Bearer   s3cret-token  ").status == 200);
    SECTION("an empty token turns authentication off") {
        CHECK(call(backend, "GET", "/stats", {}, "", "").status == 200);
        CHECK(call(backend, "GET", "/stats", {}, "Bearer whatever", "").status == 200);
    }
}

TEST_CASE("posting a shake campaign hands every field to the backend", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "POST", "/campaigns/shake",
                        R"({"rate": 500, "total": 40000, "min_amount": 2, "max_amount": 50,
                            "ttl_seconds": 30})");
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body) == json{{"started", "shake"}, {"rate", 500}});
    REQUIRE(backend.shakes().size() == 1);
    const auto c = backend.shakes()[0];
    CHECK(c.enabled);  // posted means on unless the body says otherwise
    CHECK(c.rate == 500);
    CHECK(c.total == 40000);
    CHECK(c.min_amount == 2);
    CHECK(c.max_amount == 50);
    CHECK(c.ttl_seconds == 30);
}

TEST_CASE("missing keys keep the struct defaults and enabled may be turned off", "[admin]") {
    FakeBackend backend;
    REQUIRE(call(backend, "POST", "/campaigns/send", "{}").status == 200);
    REQUIRE(call(backend, "POST", "/campaigns/shake", R"({"enabled": false})").status == 200);
    const SendCampaignConfig defaults{};
    const auto send = backend.sends().at(0);
    CHECK(send.enabled);
    CHECK(send.rate == defaults.rate);
    CHECK(send.total == defaults.total);
    CHECK(send.min_total == defaults.min_total);
    CHECK(send.max_total == defaults.max_total);
    CHECK(send.shares == defaults.shares);
    CHECK(send.policy == defaults.policy);
    CHECK(send.ttl_seconds == defaults.ttl_seconds);
    CHECK_FALSE(backend.shakes().at(0).enabled);
    CHECK(backend.shakes().at(0).rate == ShakeCampaignConfig{}.rate);
}

TEST_CASE("posting a send campaign parses every field including the policy name", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "POST", "/campaigns/send",
                        R"({"rate": 10, "total": 0, "min_total": 5, "max_total": 9,
                            "shares": 2, "policy": "line_cut", "ttl_seconds": 7})");
    REQUIRE(r.status == 200);
    const auto c = backend.sends().at(0);
    CHECK(c.rate == 10);
    CHECK(c.total == 0);
    CHECK(c.min_total == 5);
    CHECK(c.max_total == 9);
    CHECK(c.shares == 2);
    CHECK(c.policy == redpacket::SplitPolicy::line_cut);
    CHECK(c.ttl_seconds == 7);

    const auto bad = call(backend, "POST", "/campaigns/send", R"({"policy": "random"})");
    CHECK(bad.status == 400);
    CHECK_THAT(error_of(bad), Catch::Contains("policy"));
    CHECK(backend.sends().size() == 1);
}

TEST_CASE("an unknown key is refused with a message naming it", "[admin]") {
    FakeBackend backend;
    const auto shake = call(backend, "POST", "/campaigns/shake", R"({"rate": 1, "qps": 2})");
    CHECK(shake.status == 400);
    CHECK_THAT(error_of(shake), Catch::Contains("'qps'"));
    // A shake-only key is unknown to the send campaign.
    const auto send = call(backend, "POST", "/campaigns/send", R"({"min_amount": 1})");
    CHECK(send.status == 400);
    CHECK_THAT(error_of(send), Catch::Contains("'min_amount'"));
    CHECK(backend.calls() == 0);
}

TEST_CASE("bad JSON and wrong types are refused with 400", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> cases{
        {"{", "JSON"},
        {"", "JSON"},
        {"[1, 2]", "object"},
        {R"("rate")", "object"},
        {R"({"rate": "200"})", "'rate'"},
        {R"({"rate": 2.5})", "'rate'"},
        {R"({"rate": -1})", "'rate'"},
        {R"({"rate": 4294967296})", "'rate'"},
        {R"({"rate": true})", "'rate'"},
        {R"({"total": -5})", "'total'"},
        {R"({"total": 1e30})", "'total'"},
        {R"({"min_amount": 9223372036854775808})", "'min_amount'"},
        {R"({"enabled": 1})", "'enabled'"},
        {R"({"ttl_seconds": null})", "'ttl_seconds'"}};
    for (const auto& [body, named] : cases) {
        INFO(body);
        const auto r = call(backend, "POST", "/campaigns/shake", body);
        CHECK(r.status == 400);
        CHECK_THAT(error_of(r), Catch::Contains(named));
    }
    CHECK(backend.calls() == 0);
    // The extremes that do fit are accepted.
    CHECK(call(backend, "POST", "/campaigns/shake",
               R"({"rate": 4294967295, "min_amount": -9223372036854775808})")
              .status == 200);
}

TEST_CASE("a campaign the backend refuses is a 400 carrying its message", "[admin]") {
    FakeBackend backend;
    backend.refusal_ = "min_amount must not exceed max_amount";
    const auto r =
        call(backend, "POST", "/campaigns/shake", R"({"min_amount": 9, "max_amount": 1})");
    CHECK(r.status == 400);
    CHECK(error_of(r) == backend.refusal_);
    CHECK(call(backend, "GET", "/fahongbao?qps=1&sum=1&min=1&max=2").status == 400);
}

TEST_CASE("yaohongbao maps qps and sum onto the shake campaign", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/yaohongbao?qps=200&sum=40000");
    REQUIRE(r.status == 200);
    const auto c = backend.shakes().at(0);
    const ShakeCampaignConfig defaults{};
    CHECK(c.enabled);
    CHECK(c.rate == 200);
    CHECK(c.total == 40000);
    CHECK(c.min_amount == defaults.min_amount);
    CHECK(c.max_amount == defaults.max_amount);
    CHECK(c.ttl_seconds == defaults.ttl_seconds);
    CHECK(backend.sends().empty());
    // Parameter order does not matter.
    REQUIRE(call(backend, "GET", "/yaohongbao?sum=5&qps=6").status == 200);
    CHECK(backend.shakes().at(1).rate == 6);
    CHECK(backend.shakes().at(1).total == 5);
}

TEST_CASE("fahongbao maps qps, sum, min and max onto the send campaign", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/fahongbao?qps=200&sum=20000&min=1&max=100");
    REQUIRE(r.status == 200);
    const auto c = backend.sends().at(0);
    const SendCampaignConfig defaults{};
    CHECK(c.enabled);
    CHECK(c.rate == 200);
    CHECK(c.total == 20000);
    CHECK(c.min_total == 1);
    CHECK(c.max_total == 100);
    CHECK(c.shares == defaults.shares);
    CHECK(c.policy == defaults.policy);
    CHECK(c.ttl_seconds == defaults.ttl_seconds);
    CHECK(backend.shakes().empty());
}

TEST_CASE("a bad, missing, unknown or repeated query parameter is refused by name", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> cases{
        {"/yaohongbao", "'qps'"},
        {"/yaohongbao?qps=200", "'sum'"},
        {"/yaohongbao?qps=abc&sum=1", "'qps'"},
        {"/yaohongbao?qps=&sum=1", "'qps'"},
        {"/yaohongbao?qps&sum=1", "'qps'"},
        {"/yaohongbao?qps=-1&sum=1", "'qps'"},
        {"/yaohongbao?qps=+1&sum=1", "'qps'"},
        {"/yaohongbao?qps=1x&sum=1", "'qps'"},
        {"/yaohongbao?qps=4294967296&sum=1", "'qps'"},
        {"/yaohongbao?qps=1&sum=18446744073709551616", "'sum'"},
        {"/yaohongbao?qps=1&sum=1&bonus=2", "'bonus'"},
        {"/yaohongbao?qps=1&qps=2&sum=1", "'qps'"},
        {"/fahongbao?qps=200&sum=20000&min=1", "'max'"},
        {"/fahongbao?qps=200&sum=20000&min=one&max=100", "'min'"},
        {"/fahongbao?qps=200&sum=20000&min=1&max=9223372036854775808", "'max'"}};
    for (const auto& [url, named] : cases) {
        INFO(url);
        const auto r = call(backend, "GET", url);
        CHECK(r.status == 400);
        CHECK_THAT(error_of(r), Catch::Contains(named));
    }
    CHECK(backend.calls() == 0);
    CHECK(call(backend, "GET", "/yaohongbao?qps=1&sum=2&").status == 200);  // empty pair skipped
}

TEST_CASE("unknown paths are 404 and wrong methods are 405", "[admin]") {
    FakeBackend backend;
    CHECK(call(backend, "GET", "/").status == 404);
    CHECK(call(backend, "GET", "/stats/").status == 404);
    CHECK(call(backend, "GET", "/campaigns/other").status == 404);
    CHECK_THAT(error_of(call(backend, "GET", "/nope")), Catch::Contains("/nope"));
    for (const auto& [method, url] :
         std::vector<std::pair<std::string, std::string>>{{"POST", "/stats"},
                                                          {"DELETE", "/metrics"},
                                                          {"PUT", "/campaigns"},
                                                          {"GET", "/campaigns/shake"},
                                                          {"GET", "/campaigns/send"},
                                                          {"POST", "/yaohongbao?qps=1&sum=1"},
                                                          {"HEAD", "/fahongbao"}}) {
        INFO(method << " " << url);
        const auto r = call(backend, method, url, "{}");
        CHECK(r.status == 405);
        CHECK_FALSE(error_of(r).empty());
    }
    CHECK(backend.calls() == 0);
}

TEST_CASE("route turns a throwing backend into a 500 instead of throwing", "[admin]") {
    FakeBackend backend;
    backend.throw_ = true;
    HttpResponse r{};
    REQUIRE_NOTHROW(r = call(backend, "GET", "/stats"));
    CHECK(r.status == 500);
    CHECK_THAT(error_of(r), Catch::Contains("backend exploded"));
}

TEST_CASE("error messages with invalid UTF-8 still produce a JSON body", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", std::string("/\xff\xfe"));
    CHECK(r.status == 404);
    CHECK_FALSE(error_of(r).empty());
    const auto key = call(backend, "GET", std::string("/yaohongbao?\xc3=1"));
    CHECK(key.status == 400);
    CHECK_FALSE(error_of(key).empty());
}

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

    const auto unauthorized = round_trip(server.port, "GET /stats HTTP/1.1\r\n\r\n");
    CHECK(unauthorized.status == 401);
    CHECK_THAT(unauthorized.head, Catch::Contains("WWW-Authenticate: Bearer"));

    const auto chunked =
        round_trip(server.port, "POST /campaigns/send HTTP/1.1\r\nAuthorization: Bearer " + kToken +
                                    "\r\nTransfer-Encoding: chunked\r\n\r\n"
                                    "5\r\n{\"sha\r\nA\r\nres\": 2}  \r\n0\r\n\r\n");
    CHECK(chunked.status == 200);

    const auto malformed = round_trip(server.port, "NOT AN HTTP REQUEST\r\n\r\n");
    CHECK(malformed.status == 400);
    CHECK_THAT(malformed.body, Catch::Contains("malformed"));
    CHECK(round_trip(server.port, "GET /healthz HTTP/1.1\r\nno colon here\r\n\r\n").status == 400);

    // Announced too large: refused as soon as the headers are in.
    CHECK(
        round_trip(server.port, "POST /campaigns/shake HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
            .status == 413);
    // Actually too large, body and all, and a giant header without any body.
    const auto oversized = round_trip(server.port,
                                      "POST /campaigns/shake HTTP/1.1\r\nContent-Length: 100000\r\n"
                                      "\r\n" +
                                          std::string(100000, ' '));
    CHECK(oversized.status == 413);
    CHECK(round_trip(server.port,
                     "GET /healthz HTTP/1.1\r\nX-Big: " + std::string(70000, 'a') + "\r\n\r\n")
              .status == 413);

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
