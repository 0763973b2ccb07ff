// http_request and the helpers: blocking POSIX sockets with poll() deadlines.
#include "test_support.hpp"

#include <cstdio>

#include <sys/wait.h>

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <thread>
#include <utility>

namespace redpacketd::testing {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void fail_errno(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
}

std::uint64_t unix_seconds() { return static_cast<std::uint64_t>(std::time(nullptr)); }

/// A connected, blocking loopback TCP socket (CLOEXEC, no Nagle). Blocking sends give up
/// after kReadTimeout, so a server that stops reading fails a test instead of hanging it.
/// `receive_buffer` > 0 shrinks SO_RCVBUF (set before connect, so the window stays small).
int connect_loopback(std::uint16_t port, int receive_buffer = 0) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail_errno("socket");
    }
    const timeval send_timeout{kReadTimeout.count() / 1000, (kReadTimeout.count() % 1000) * 1000};
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof send_timeout);
    if (receive_buffer > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        errno = e;
        fail_errno(fmt::format("connect 127.0.0.1:{}", port));
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/// Writes all of `bytes`; false on any error (EPIPE, ECONNRESET, ...).
bool write_all(int fd, const void* data, std::size_t size) noexcept {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
        const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

/// Milliseconds left until `deadline`, never negative.
int millis_left(Clock::time_point deadline) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return static_cast<int>(std::max<std::int64_t>(left, 0));
}

}  // namespace

// --- HTTP ----------------------------------------------------------------------------------

HttpReply http_request(std::uint16_t port, std::string_view method, std::string_view target,
                       std::string_view body, std::string_view bearer,
                       std::chrono::milliseconds timeout) {
    const int fd = connect_loopback(port);
    std::string request = fmt::format(
        "{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        method, target, port, body.size());
    if (!body.empty()) {
        request += "Content-Type: application/json\r\n";
    }
    if (!bearer.empty()) {
        request += fmt::format("Authorization: Bearer {}\r\n", bearer);
    }
    request += "\r\n";
    request += body;
    if (!write_all(fd, request.data(), request.size())) {
        ::close(fd);
        fail_errno("send http request");
    }
    std::string raw;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        const int ready = ::poll(&p, 1, millis_left(deadline));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            ::close(fd);
            throw std::runtime_error(
                fmt::format("no complete HTTP answer to {} {} in {} ms: \"{}\"", method, target,
                            timeout.count(), raw));
        }
        char buf[4096];
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            raw.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        break;  // EOF (or a reset after the answer): the server is done
    }
    ::close(fd);
    const auto head_end = raw.find("\r\n\r\n");
    if (head_end == std::string::npos || raw.rfind("HTTP/1.1 ", 0) != 0) {
        throw std::runtime_error("malformed HTTP answer: \"" + raw + "\"");
    }
    HttpReply reply;
    reply.head = raw.substr(0, head_end);
    reply.body = raw.substr(head_end + 4);
    reply.status = std::stoi(reply.head.substr(9, 3));
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
