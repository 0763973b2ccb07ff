// Blocking loopback clients for the integration tests: a game-protocol client built on the
// library codec, and a one-request HTTP/1.1 helper for the admin API.
//
// TestClient speaks frames: `send` encodes with redpacket::protocol, `read` decodes what
// arrives. Every read waits at most a given timeout (poll), so a test can never hang.
// Packet notices are pushed by the server at any time; `read_reply` and `expect<T>` set them
// aside in `notices()` so request/response code can ignore them. Sockets are CLOEXEC and
// writes use MSG_NOSIGNAL, so a closed peer is an error value, never a signal.
//
// Thread-safety: none; one client per thread.
#pragma once

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <variant>
#include <vector>

#include "redpacket/protocol.hpp"

namespace redpacketd::testing {

namespace protocol = redpacket::protocol;

/// The longest any single read waits by default.
inline constexpr std::chrono::milliseconds kReadTimeout{2000};

/// A readable one-line description of a message, e.g. "error{request_id=0, code=bad_length}".
[[nodiscard]] std::string describe(const protocol::Message& m);

/// What a read found.
enum class ReadStatus : std::uint8_t {
    frame,    ///< `message` holds the next frame
    closed,   ///< the server closed the connection (EOF or reset)
    timeout,  ///< nothing complete arrived in time
    garbage,  ///< the server sent bytes that do not decode (a server bug)
};

/// Result of `TestClient::read`.
struct ReadResult {
    ReadStatus status{ReadStatus::timeout};
    protocol::Message message{};
};

/// One blocking TCP connection to the daemon's game port on 127.0.0.1.
class TestClient {
public:
    /// Connects; throws std::runtime_error on failure. `receive_buffer` > 0 sets a small
    /// SO_RCVBUF, for tests of a client that reads slowly.
    explicit TestClient(std::uint16_t port, int receive_buffer = 0);
    ~TestClient() noexcept;
    TestClient(TestClient&& other) noexcept;
    TestClient& operator=(TestClient&& other) noexcept;
    TestClient(const TestClient&) = delete;
    TestClient& operator=(const TestClient&) = delete;

    /// Sends one frame. Throws on a write error (e.g. the server closed the connection).
    void send(const protocol::Message& m);
    /// Sends the frames of `ms` in a single write (pipelining).
    void send_all(std::span<const protocol::Message> ms);
    /// Sends raw bytes, e.g. a malformed header.
    void send_raw(std::span<const std::byte> bytes);
    /// Like `send_raw`, but returns false instead of throwing when the write fails.
    [[nodiscard]] bool try_send_raw(std::span<const std::byte> bytes) noexcept;

    /// The next frame of any kind (notices included).
    [[nodiscard]] ReadResult read(std::chrono::milliseconds timeout = kReadTimeout);
    /// The next frame that is not a packet notice; notices are appended to `notices()`.
    [[nodiscard]] ReadResult read_reply(std::chrono::milliseconds timeout = kReadTimeout);
    /// The next non-notice frame, which must be a `T`; throws std::runtime_error otherwise
    /// (another message, a close or a timeout), naming what came instead.
    template <class T>
    [[nodiscard]] T expect(std::chrono::milliseconds timeout = kReadTimeout) {
        const ReadResult r = read_reply(timeout);
        if (r.status == ReadStatus::frame) {
            if (const T* m = std::get_if<T>(&r.message)) {
                return *m;
            }
        }
        throw std::runtime_error(std::string("expected ") +
                                 std::string(protocol::to_string(T::command)) + ", got " +
                                 describe_read(r));
    }
    /// Reads until the server closes the connection; the frames received before the close, or
    /// nullopt if the connection is still open after `timeout`.
    [[nodiscard]] std::optional<std::vector<protocol::Message>> frames_until_close(
        std::chrono::milliseconds timeout);
    /// Reads for `duration`, setting notices aside; returns the other frames that arrived.
    std::vector<protocol::Message> drain(std::chrono::milliseconds duration);

    // Request/response shortcuts (each throws if the answer is not the expected message).
    protocol::LoginResponse login(std::uint32_t user);
    protocol::AuthLoginResponse auth_login(std::uint32_t user, std::uint64_t expiry,
                                           const std::array<std::uint8_t, 32>& token);
    protocol::ShakeResponse shake(std::uint32_t user);
    protocol::GrabResponse grab(std::uint32_t packet);
    protocol::HeartbeatResponse heartbeat(std::uint64_t nonce);
    /// A create, claim or query: the response, or the error frame the server sent instead.
    protocol::Message create(const protocol::CreatePacket& req);
    protocol::Message claim(std::uint64_t request_id, std::uint64_t packet);
    protocol::Message query(std::uint64_t request_id, std::uint64_t packet);

    /// Notices received so far and not yet taken.
    [[nodiscard]] std::deque<protocol::PacketNotice>& notices() noexcept { return notices_; }
    [[nodiscard]] bool closed() const noexcept { return closed_; }

    /// A description of a read result, for messages.
    [[nodiscard]] static std::string describe_read(const ReadResult& r);

private:
    int fd_{-1};
    std::vector<std::byte> in_;  // received bytes not yet decoded
    std::deque<protocol::PacketNotice> notices_;
    bool closed_{false};
};

/// A whole HTTP response.
struct HttpReply {
    int status{0};
    std::string head;  ///< status line and headers
    std::string body;
};

/// One HTTP/1.1 request to 127.0.0.1:`port` (Connection: close), read until the server
/// closes. `bearer` adds `Authorization: Bearer <bearer>`. Throws on socket errors or when
/// no complete answer arrives within `timeout`.
[[nodiscard]] HttpReply http_request(std::uint16_t port, std::string_view method,
                                     std::string_view target, std::string_view body = {},
                                     std::string_view bearer = {},
                                     std::chrono::milliseconds timeout = kReadTimeout);
/// GET `target`; throws unless the status is 200 and the body is JSON.
[[nodiscard]] nlohmann::json get_json(std::uint16_t port, std::string_view target,
                                      std::string_view bearer = {});
/// GET /stats once every worker has published its totals again after this call began (the
/// published ones — money, queues, set sizes — lag up to 100 ms; event totals never lag).
[[nodiscard]] nlohmann::json fresh_stats(std::uint16_t port, std::string_view bearer = {});

// --- small helpers shared by the test files ------------------------------------------------

/// Unix time in seconds (the clock auth tokens and the daemon use).
[[nodiscard]] std::uint64_t unix_now() noexcept;

/// A frame header claiming `length` and `cmd`, followed by `body_bytes` zero bytes: for
/// frames the codec would refuse to encode.
[[nodiscard]] std::vector<std::byte> raw_frame(std::uint16_t length, std::uint16_t cmd,
                                               std::size_t body_bytes = 0);

/// Calls `pred` every `every` until it returns true or `timeout` passes; true if it did.
template <class Pred>
[[nodiscard]] bool eventually(Pred&& pred, std::chrono::milliseconds timeout,
                              std::chrono::milliseconds every = std::chrono::milliseconds{20}) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) {
            return true;
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(every);
    }
}

/// Shakes as `user` on `c` (logged in) every 10 ms until a packet is handed out or `timeout`
/// passes; throws if an answer is neither "got" nor "none" or names another user.
[[nodiscard]] std::optional<protocol::ShakeResponse> shake_until_hit(
    TestClient& c, std::uint32_t user, std::chrono::milliseconds timeout);

/// The message held by `m` as a `T`; throws (naming what it was instead) otherwise.
template <class T>
[[nodiscard]] T as(const protocol::Message& m) {
    if (const T* t = std::get_if<T>(&m)) {
        return *t;
    }
    throw std::runtime_error(std::string("expected ") +
                             std::string(protocol::to_string(T::command)) + ", got " + describe(m));
}

/// True for the alternatives of protocol::Message (the types Catch should print).
// clang-format 14 mangles concept definitions.
// clang-format off
template <class T>
concept WireMessage = std::is_convertible_v<T, protocol::Message> && requires { T::command; };
// clang-format on

}  // namespace redpacketd::testing

// Catch prints messages with `describe` when a comparison fails.
namespace Catch {
template <redpacketd::testing::WireMessage T>
struct StringMaker<T> {
    static std::string convert(const T& m) { return redpacketd::testing::describe(m); }
};
template <>
struct StringMaker<redpacket::protocol::Message> {
    static std::string convert(const redpacket::protocol::Message& m) {
        return redpacketd::testing::describe(m);
    }
};
}  // namespace Catch
