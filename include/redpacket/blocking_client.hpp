// BlockingClient: the Client (client.hpp) behind blocking calls, for tests, scripts and tools.
//
// It owns a private libuv loop and runs it only inside its calls, each bounded by a timeout:
// between calls nothing is read from the socket (a test can play a client that never reads).
// Two layers:
//   - requests — login, shake, grab, create, claim, query, proof, heartbeat — each waits for the
//     frame that answers it (matched like the Client does) and returns it or a ClientError;
//   - frames — send any frame or raw bytes, and `read` whatever arrives, in arrival order:
//     notices, error frames, replies to frames sent with `send`.
//
// Thread-safety: none; one client per thread. Movable (the loop lives on the heap).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "redpacket/client.hpp"
#include "redpacket/protocol.hpp"

namespace redpacket {

/// The longest any blocking call waits by default.
inline constexpr std::chrono::milliseconds kBlockingTimeout{2000};

/// What a read found.
enum class ReadStatus : std::uint8_t {
    frame,    ///< `message` holds the next frame
    closed,   ///< the connection is closed (by the daemon, or after an error)
    timeout,  ///< nothing arrived in time
    garbage,  ///< the daemon sent bytes that do not decode (a daemon bug)
};

struct ReadResult {
    ReadStatus status{ReadStatus::timeout};
    protocol::Message message{};
};
/// "the connection closed", a frame's description, ...
[[nodiscard]] std::string describe(const ReadResult& r);

class BlockingClient {
public:
    /// Connects (and logs in if `options.login` is set); throws std::runtime_error naming the
    /// failure if that does not succeed within `options.request_timeout`.
    explicit BlockingClient(ClientOptions options);
    /// 127.0.0.1:`port`, no login, no reconnect; `receive_buffer` > 0 sets a small SO_RCVBUF.
    explicit BlockingClient(std::uint16_t port, int receive_buffer = 0);
    ~BlockingClient();
    BlockingClient(BlockingClient&&) noexcept;
    BlockingClient& operator=(BlockingClient&&) noexcept;

    // --- requests --------------------------------------------------------------------------
    std::expected<protocol::LoginResponse, ClientError> login(std::uint32_t user);
    std::expected<protocol::AuthLoginResponse, ClientError> auth_login(std::uint32_t user,
                                                                       std::uint64_t expiry,
                                                                       const LoginToken& token);
    std::expected<protocol::ShakeResponse, ClientError> shake(std::uint32_t user);
    std::expected<protocol::GrabResponse, ClientError> grab(std::uint32_t packet);
    std::expected<protocol::HeartbeatResponse, ClientError> heartbeat(std::uint64_t nonce);
    std::expected<protocol::CreateResponse, ClientError> create(const protocol::CreatePacket& req);
    std::expected<protocol::ClaimResponse, ClientError> claim(std::uint64_t packet,
                                                              std::uint64_t request_id);
    std::expected<protocol::QueryResponse, ClientError> query(std::uint64_t packet,
                                                              std::uint64_t request_id);
    std::expected<protocol::ProofResponse, ClientError> proof(std::uint64_t packet,
                                                              std::uint32_t part,
                                                              std::uint64_t request_id);
    /// Any request frame; its answer as it came (an error frame too).
    std::expected<protocol::Message, ClientError> request(
        const protocol::Message& m, std::chrono::milliseconds timeout = kBlockingTimeout);

    // --- frames ----------------------------------------------------------------------------
    /// Sends one frame; its answer, when it comes, is read with `read`.
    void send(const protocol::Message& m);
    /// Sends frames in a single write (pipelining).
    void send_all(std::span<const protocol::Message> ms);
    /// Sends bytes as they are; false if the connection is closed or the bytes could not be
    /// written within the default timeout.
    bool send_raw(std::span<const std::byte> bytes);
    /// The next frame of any kind (notices included).
    [[nodiscard]] ReadResult read(std::chrono::milliseconds timeout = kBlockingTimeout);
    /// The next frame that is not a packet notice; notices are kept in `notices()`.
    [[nodiscard]] ReadResult read_reply(std::chrono::milliseconds timeout = kBlockingTimeout);
    /// Reads until the connection closes: the frames received before, or nothing if it is still
    /// open after `timeout`.
    [[nodiscard]] std::optional<std::vector<protocol::Message>> frames_until_close(
        std::chrono::milliseconds timeout);
    /// Reads for `duration`, keeping notices aside; the other frames that arrived.
    std::vector<protocol::Message> drain(std::chrono::milliseconds duration);
    /// Notices received so far and not yet taken.
    [[nodiscard]] std::deque<protocol::PacketNotice>& notices() noexcept;
    /// True once the connection is closed.
    [[nodiscard]] bool closed() const noexcept;
    /// The underlying asynchronous client.
    [[nodiscard]] Client& client() noexcept;

private:
    struct Impl;
    template <class Pred>
    bool run_until(Pred&& done, std::chrono::milliseconds timeout, bool read);
    template <class T>
    std::expected<T, ClientError> ask(const protocol::Message& m);
    std::unique_ptr<Impl> impl_;
};

}  // namespace redpacket
