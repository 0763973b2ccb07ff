// What the integration tests share: the library's BlockingClient with assertion helpers
// (`must`, `expect<T>`), a one-request HTTP/1.1 helper for the admin API, and small utilities.
// Every read waits at most a given timeout, so a test can never hang.
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
#include <initializer_list>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "redpacket/blocking_client.hpp"
#include "redpacket/protocol.hpp"

namespace redpacketd::testing {

namespace protocol = redpacket::protocol;

using redpacket::BlockingClient;
using redpacket::ReadResult;
using redpacket::ReadStatus;

/// The longest any single read waits by default.
inline constexpr std::chrono::milliseconds kReadTimeout = redpacket::kBlockingTimeout;

/// The value of a client call, or a std::runtime_error naming what happened instead (tests
/// fail with that message).
template <class T>
T must(std::expected<T, redpacket::ClientError> r) {
    if (!r) {
        throw std::runtime_error(redpacket::describe(r.error()));
    }
    return std::move(*r);
}

/// The next non-notice frame of `c`, which must be a `T`; throws std::runtime_error
/// otherwise (another message, a close or a timeout), naming what came instead.
template <class T>
[[nodiscard]] T expect(BlockingClient& c, std::chrono::milliseconds timeout = kReadTimeout) {
    const ReadResult r = c.read_reply(timeout);
    if (r.status == ReadStatus::frame) {
        if (const T* m = std::get_if<T>(&r.message)) {
            return *m;
        }
    }
    throw std::runtime_error(std::string("expected ") +
                             std::string(protocol::to_string(T::command)) + ", got " +
                             redpacket::describe(r));
}

/// Logs `c` in as `user` with an authenticated login (a token under `secret`, valid an hour);
/// REQUIREs that it is granted.
void auth_login(BlockingClient& c, std::string_view secret, std::uint32_t user);

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
    BlockingClient& c, std::uint32_t user, std::chrono::milliseconds timeout);

/// The message held by `m` as a `T`; throws (naming what it was instead) otherwise.
template <class T>
[[nodiscard]] T as(const protocol::Message& m) {
    if (const T* t = std::get_if<T>(&m)) {
        return *t;
    }
    throw std::runtime_error(std::string("expected ") +
                             std::string(protocol::to_string(T::command)) + ", got " + protocol::describe(m));
}

/// True for the alternatives of protocol::Message (the types Catch should print).
// clang-format 14 mangles concept definitions.
// clang-format off
template <class T>
concept WireMessage = std::is_convertible_v<T, protocol::Message> && requires { T::command; };
// clang-format on

/// The sum of the samples of metric `name` in Prometheus text whose labels include every
/// `key="value"` pair in `labels` (all of them if empty); -1 if none matches.
[[nodiscard]] double metric_sum(const std::string& text, std::string_view name,
                                std::initializer_list<std::string_view> labels = {});

/// Runs `command` with /bin/sh, stderr joined to stdout: its exit status (-1 if it did not
/// exit normally) and its output.
[[nodiscard]] std::pair<int, std::string> run_command(const std::string& command);

}  // namespace redpacketd::testing

// Catch prints messages with `describe` when a comparison fails.
namespace Catch {
template <redpacketd::testing::WireMessage T>
struct StringMaker<T> {
    static std::string convert(const T& m) { return redpacket::protocol::describe(m); }
};
template <>
struct StringMaker<redpacket::protocol::Message> {
    static std::string convert(const redpacket::protocol::Message& m) {
        return redpacket::protocol::describe(m);
    }
};
}  // namespace Catch
