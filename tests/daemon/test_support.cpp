// http_request (on cpp-httplib's client) and the other helpers the integration tests share.
#include "test_support.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <utility>

#include "redpacket/auth.hpp"

namespace redpacketd::testing {
namespace {

std::uint64_t unix_seconds() { return static_cast<std::uint64_t>(std::time(nullptr)); }

}  // namespace

// --- HTTP ----------------------------------------------------------------------------------

HttpReply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                       std::string_view body, std::string_view bearer,
                       std::chrono::milliseconds timeout) {
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(timeout);
    client.set_read_timeout(timeout);
    client.set_write_timeout(timeout);
    httplib::Headers headers;
    if (!bearer.empty()) {
        headers.emplace("Authorization", fmt::format("Bearer {}", bearer));
    }
    httplib::Request request;
    request.method = std::string{method};
    request.path = std::string{target};
    request.headers = std::move(headers);
    request.body = std::string{body};
    if (!body.empty()) {
        request.set_header("Content-Type", "application/json");
    }
    const httplib::Result answer = client.send(request);
    if (!answer) {
        throw std::runtime_error(fmt::format("no HTTP answer to {} {} in {} ms: {}", method, target,
                                             timeout.count(), httplib::to_string(answer.error())));
    }
    HttpReply reply;
    reply.status = answer->status;
    reply.head = fmt::format("HTTP/1.1 {}", answer->status);
    for (const auto& [name, value] : answer->headers) {
        reply.head += fmt::format("\r\n{}: {}", name, value);
    }
    reply.body = answer->body;
    return reply;
}

std::optional<protocol::ShakeResponse> shake_until_hit(BlockingClient& c, std::uint32_t user,
                                                       std::chrono::milliseconds timeout) {
    std::optional<protocol::ShakeResponse> hit;
    const auto got_one = [&] {
        const protocol::ShakeResponse r = must(c.shake(user));
        if (r.user != user ||
            (r.result != protocol::kShakeGotPacket &&
             r != protocol::ShakeResponse{user, protocol::kShakeNoPacket, 0, 0})) {
            throw std::runtime_error("unexpected answer to a shake: " + describe(r));
        }
        if (r.result == protocol::kShakeGotPacket) {
            hit = r;
        }
        return hit.has_value();
    };
    return eventually(got_one, timeout, std::chrono::milliseconds{10}) ? hit : std::nullopt;
}

std::uint64_t unix_now() noexcept { return unix_seconds(); }

std::vector<std::byte> raw_frame(std::uint16_t length, std::uint16_t cmd, std::size_t body_bytes) {
    std::vector<std::byte> out(protocol::kHeaderSize + body_bytes, std::byte{0});
    out[0] = static_cast<std::byte>(length >> 8);
    out[1] = static_cast<std::byte>(length & 0xFF);
    out[2] = static_cast<std::byte>(cmd >> 8);
    out[3] = static_cast<std::byte>(cmd & 0xFF);
    return out;
}

nlohmann::json get_json(std::uint16_t port, std::string_view target, std::string_view bearer) {
    const HttpReply r = http_request(port, "GET", target, {}, bearer);
    if (r.status != 200) {
        throw std::runtime_error(fmt::format("GET {}: status {}: {}", target, r.status, r.body));
    }
    return nlohmann::json::parse(r.body);
}

void auth_login(BlockingClient& c, std::string_view secret, std::uint32_t user) {
    const std::uint64_t expiry = unix_now() + 3600;
    REQUIRE(must(c.auth_login(user, expiry, redpacket::make_login_token(secret, user, expiry))) ==
            protocol::AuthLoginResponse{user, protocol::kResultOk});
}

nlohmann::json fresh_stats(std::uint16_t port, std::string_view bearer) {
    const auto start = get_json(port, "/stats", bearer)["publish_rounds"].get<std::uint64_t>();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    for (;;) {
        nlohmann::json s = get_json(port, "/stats", bearer);
        if (s["publish_rounds"].get<std::uint64_t>() >= start + 2) {
            return s;  // a whole publish began after the call did
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error("fresh_stats: the workers stopped publishing");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
}

std::pair<int, std::string> run_command(const std::string& command) {
    FILE* p = ::popen((command + " 2>&1").c_str(), "r");
    if (p == nullptr) {
        return {-1, {}};
    }
    std::string out;
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p) != nullptr) {
        out += buf;
    }
    const int status = ::pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

double metric_sum(const std::string& text, std::string_view name,
                  std::initializer_list<std::string_view> labels) {
    double sum = 0;
    bool found = false;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.starts_with('#') || !line.starts_with(name)) {
            continue;
        }
        const std::string_view rest = std::string_view(line).substr(name.size());
        if (!rest.starts_with(' ') && !rest.starts_with('{')) {
            continue;  // a longer name with this prefix
        }
        const auto space = rest.rfind(' ');
        const std::string_view label_set = rest.substr(0, space);
        if (std::ranges::all_of(labels, [&](std::string_view l) {
                return label_set.find(l) != std::string_view::npos;
            })) {
            sum += std::stod(std::string(rest.substr(space + 1)));
            found = true;
        }
    }
    return found ? sum : -1;
}

}  // namespace redpacketd::testing
