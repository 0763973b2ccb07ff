// Client: the C++ SDK for redpacketd — an asynchronous session on a libuv loop.
//
// It connects, logs in (the original unauthenticated login, or an HMAC token: auth.hpp), and
// sends requests whose replies it matches to their callbacks by request id, nonce or order
// (ClientSession), so replies that come back out of order — a claim forwarded to the worker
// that owns the packet — reach the right caller. Packet notices go to `on_notice`.
//
// Failure is a value: every callback gets `std::expected<Reply, ClientError>` — closed, timed
// out, refused with an error code, ... — never an exception. Each request has a deadline
// (`request_timeout`). With `heartbeat_interval`, an idle connection is probed and a silent
// one dropped. With `reconnect`, a lost connection is re-established with backoff, the session
// logs in again, and every request still unanswered that may safely be repeated — creates,
// claims and queries under their *same* request id, grabs, heartbeats — is sent again: a
// claim whose reply was lost in a daemon crash comes back `already_claimed` with the same
// share, so each claim takes effect exactly once. Shakes are not repeated (each would take a
// new packet): they fail with `closed`.
//
// Signals: libuv writes with write(2), so a write to a connection the daemon closed raises
// SIGPIPE; `start()` sets SIGPIPE to be ignored if it is still at its default disposition.
//
// Lifetime: construct, `start()`, make requests; `close()` and let the loop run until the
// close callback before destroying the client (libuv frees handles only in close callbacks).
// Thread-safety: none; everything on the loop's thread. Callbacks run on that thread and may
// make new requests.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "redpacket/auth.hpp"
#include "redpacket/client_session.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// What went wrong with a request or a connection.
enum class ClientErrc : std::uint8_t {
    closed,          ///< the connection closed (or the client did) before the reply came
    timed_out,       ///< no reply within the request's deadline
    refused,         ///< the daemon answered with an error frame: see `code`
    connect_failed,  ///< no connection could be made (and reconnecting gave up)
    login_refused,   ///< the daemon refused the login (bad or expired token, compat mode off)
    protocol_error,  ///< the daemon sent a frame that does not answer the request, or garbage
};
[[nodiscard]] std::string_view to_string(ClientErrc e) noexcept;

/// A failed request: what happened, the daemon's error code when refused, and details.
struct ClientError {
    ClientErrc kind{ClientErrc::closed};
    protocol::ErrorCode code{protocol::ErrorCode::internal};  ///< meaningful when refused
    std::string detail;
};
/// E.g. "refused: overloaded (7)", "timed out".
[[nodiscard]] std::string describe(const ClientError& e);

/// How a client logs in, on every (re)connect.
struct Credentials {
    UserId user{0};
    /// Empty: the original unauthenticated login (compat mode). Else called for every login
    /// to get an (expiry, token) pair.
    std::function<std::pair<std::uint64_t, LoginToken>()> token;

    /// The original protocol's login.
    [[nodiscard]] static Credentials compat(UserId user);
    /// Tokens made here with the daemon's secret, each valid for `validity`.
    [[nodiscard]] static Credentials with_secret(UserId user, std::string secret,
                                                 std::chrono::seconds validity);
    /// One token issued elsewhere (valid until `expiry`).
    [[nodiscard]] static Credentials with_token(UserId user, std::uint64_t expiry,
                                                const LoginToken& token);
};

struct ClientOptions {
    std::string host{"127.0.0.1"};  ///< an IPv4 address or "localhost"
    std::uint16_t port{1025};
    /// Logged in after every connect. None: the caller sends its own login (tests, tools).
    std::optional<Credentials> login;
    std::chrono::milliseconds request_timeout{5000};
    /// Probe the connection this often (0: never); no answer within `request_timeout` drops it.
    std::chrono::milliseconds heartbeat_interval{0};
    bool reconnect{true};
    std::chrono::milliseconds reconnect_min{50};  ///< backoff doubles from here…
    std::chrono::milliseconds reconnect_max{2000};  ///< …up to here
    /// Failed connects in a row after which the client gives up (requests fail: connect_failed).
    std::uint32_t reconnect_attempts{20};
    int receive_buffer{0};  ///< SO_RCVBUF if > 0 (set before connecting)
    std::size_t max_frame{protocol::kDefaultMaxFrame};
};

enum class ClientState : std::uint8_t { idle, connecting, logging_in, ready, waiting, closing, closed };
[[nodiscard]] std::string_view to_string(ClientState s) noexcept;

/// The reply frame `r` as a `T`: an error frame becomes `refused` with its code, any other
/// frame a protocol error.
template <class T>
[[nodiscard]] std::expected<T, ClientError> reply_as(std::expected<protocol::Message, ClientError> r) {
    if (!r) {
        return std::unexpected(std::move(r.error()));
    }
    if (const T* t = std::get_if<T>(&*r)) {
        return *t;
    }
    if (const auto* e = std::get_if<protocol::ErrorReply>(&*r)) {
        return std::unexpected(ClientError{ClientErrc::refused, e->code, {}});
    }
    return std::unexpected(ClientError{ClientErrc::protocol_error, protocol::ErrorCode::internal,
                                       "unexpected " + protocol::describe(*r)});
}

class Client {
public:
    template <class T>
    using Callback = std::function<void(std::expected<T, ClientError>)>;

    /// Nothing happens until `start()`. `loop` must outlive the client.
    Client(uv_loop_t* loop, ClientOptions options);
    /// Requires `closed()` (or a client never started).
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    /// Connects (and logs in, if configured). Requests made before it is ready wait.
    void start();
    /// Fails every unanswered request with `closed`, closes the connection, and calls
    /// `on_closed` once libuv has released everything (the client may then be destroyed).
    void close(std::function<void()> on_closed = {});
    [[nodiscard]] ClientState state() const noexcept { return state_; }
    [[nodiscard]] bool closed() const noexcept { return state_ == ClientState::closed; }
    /// Requests sent or waiting to be sent, not yet answered.
    [[nodiscard]] std::size_t in_flight() const noexcept;

    /// Called on every state change (with the error that caused it, if any).
    void on_state(std::function<void(ClientState, const ClientError*)> fn) { on_state_ = std::move(fn); }
    /// Called for every packet notice.
    void on_notice(std::function<void(const protocol::PacketNotice&)> fn) { on_notice_ = std::move(fn); }
    /// Called for every frame that answers no request (other than notices): error frames for
    /// the connection as a whole, replies to `send_raw` bytes.
    void on_frame(std::function<void(const protocol::Message&)> fn) { on_frame_ = std::move(fn); }

    // --- requests (extended protocol) ------------------------------------------------------
    /// Creates a packet; `req.request_id` 0 gets a fresh id. Returns the request id.
    std::uint64_t create(protocol::CreatePacket req, Callback<protocol::CreateResponse> done);
    /// Claims a share of `packet` under `request_id` (0: a fresh one). Returns the request id.
    std::uint64_t claim(std::uint64_t packet, Callback<protocol::ClaimResponse> done,
                        std::uint64_t request_id = 0);
    /// Asks for a packet's state. Returns the request id.
    std::uint64_t query(std::uint64_t packet, Callback<protocol::QueryResponse> done,
                        std::uint64_t request_id = 0);
    /// Asks for one part of a packet's proof (protocol::kProofCommitment or kProofSeed; the
    /// seed only once the packet is finished). Returns the request id.
    std::uint64_t proof(std::uint64_t packet, std::uint32_t part,
                        Callback<protocol::ProofResponse> done, std::uint64_t request_id = 0);
    void heartbeat(Callback<protocol::HeartbeatResponse> done);
    // --- requests (the original protocol) ---------------------------------------------------
    void shake(Callback<protocol::ShakeResponse> done);
    void grab(std::uint32_t packet, Callback<protocol::GrabResponse> done);

    // --- frames, for tools and tests ---------------------------------------------------------
    /// Sends any frame; `done` gets the frame that answers it (an error frame too) as it is.
    /// A frame that gets no answer (a server-to-client frame) is just sent.
    void send(const protocol::Message& request, Callback<protocol::Message> done);
    /// Sends bytes as they are (malformed frames); what comes back goes to `on_frame`.
    void send_raw(std::span<const std::byte> bytes);
    /// While corked, requests are encoded but not written; `uncork` writes them all at once
    /// (pipelining in one write).
    void cork() noexcept { corked_ = true; }
    void uncork();
    /// Stops or resumes reading from the socket (a client that does not read, for tests).
    void pause_reading();
    void resume_reading();
    /// Bytes written to the socket or queued for it and not yet written.
    [[nodiscard]] std::size_t write_queue_size() const noexcept;

private:
    struct Tag {
        std::uint64_t id{0};
        std::chrono::nanoseconds deadline{0};  // on uv_hrtime's clock
    };
    struct Waiting {
        protocol::Message request;
        Tag tag;
    };
    using Done = std::function<void(std::expected<protocol::Message, ClientError>)>;

    template <class T>
    [[nodiscard]] Done typed(Callback<T> done);
    void submit(const protocol::Message& request, Done done);
    void send_now(const protocol::Message& request, Tag tag);
    void complete(std::uint64_t id, std::expected<protocol::Message, ClientError> result);
    void connect();
    void connected();
    void send_login();
    void logged_in();
    void lose_connection(ClientError why);
    void close_tcp();
    static void on_handle_closed(uv_handle_t* handle);
    void fail_all(const ClientError& why);
    /// close(), reporting `why` (may be null) with the closing state: a refused login or a
    /// connection given up on says why the client stops.
    void close_because(const ClientError* why, std::function<void()> on_closed = {});
    void flush();
    void read_bytes(std::span<const std::byte> bytes);
    void tick();
    void set_state(ClientState s, const ClientError* why = nullptr);
    [[nodiscard]] static std::chrono::nanoseconds now() noexcept;

    uv_loop_t* loop_;
    ClientOptions options_;
    ClientState state_{ClientState::idle};
    uv_tcp_t tcp_{};
    uv_connect_t connect_req_{};
    uv_timer_t timer_{};
    bool tcp_open_{false};
    bool connected_{false};  // the TCP handle is open and connected
    bool timer_open_{false};
    int closing_handles_{0};  // uv_close calls whose callback has not run
    bool reading_wanted_{true};
    bool corked_{false};
    bool reading_{false};
    std::uint32_t failed_connects_{0};
    std::chrono::nanoseconds reconnect_at_{0};
    std::chrono::milliseconds backoff_{0};
    std::chrono::nanoseconds next_heartbeat_{0};
    std::uint64_t heartbeat_id_{0};  // the probe in flight, 0: none
    std::uint64_t login_id_{0};      // the login in flight, 0: none
    std::uint64_t next_id_{1};
    std::uint64_t next_request_id_;
    std::uint64_t next_nonce_;
    ClientSession<Tag> session_;
    std::deque<Waiting> waiting_;  // not sent yet: before login, or after a lost connection
    std::unordered_map<std::uint64_t, Done> callbacks_;
    std::unique_ptr<std::byte[]> read_buffer_;
    std::function<void(ClientState, const ClientError*)> on_state_;
    std::function<void(const protocol::PacketNotice&)> on_notice_;
    std::function<void(const protocol::Message&)> on_frame_;
    std::function<void()> on_closed_;
};

}  // namespace redpacket
