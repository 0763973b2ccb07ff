// The redpacketd wire protocol: message types, a frame encoder and a stateless decoder, plus a
// streaming `FrameAssembler` for reads that split or batch frames.
//
// A frame is a 12-byte header — u16 length (whole frame, header included), u16 command, u64 time
// (unix seconds, informational) — followed by a fixed-size body; every integer is big-endian.
// Commands 0–6 are byte-compatible with the original 2017 Go client (u32 fields); commands 16 and
// up are the extended set (u64 ids and money). Every command has exactly one valid frame size,
// so a frame is validated from its first 4 bytes. docs/protocol.md has the byte layouts.
//
// Message structs are plain values that carry the wire integers as they are: decoding any
// well-formed frame and re-encoding it gives back the same bytes. Domain checks (is this policy
// known, is this user logged in) belong to the caller; `*_from_wire` helpers do the mapping.
//
// Ownership and thread-safety: `encode`/`decode` are pure functions that never allocate, never
// throw and never touch memory outside the spans they are given; safe from any thread. A
// `FrameAssembler` is a per-connection value with a fixed inline buffer (no heap); single owner,
// NOT thread-safe.
#pragma once

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/split.hpp"

namespace redpacket::protocol {

/// Bytes in every frame header: u16 length, u16 command, u64 time.
inline constexpr std::size_t kHeaderSize = 12;
/// The largest frame `decode` accepts unless told otherwise.
inline constexpr std::size_t kDefaultMaxFrame = 1024;
/// The largest frame of any known command (query response).
inline constexpr std::size_t kMaxKnownFrame = 72;

/// Frame command ids. 0–6: the original protocol; 16 and up: the extended protocol.
enum class Command : std::uint16_t {
    login_request = 0,
    login_response = 1,
    shake_request = 2,
    shake_response = 3,
    packet_notice = 4,
    grab_request = 5,
    grab_response = 6,
    auth_login = 16,
    auth_login_response = 17,
    create_packet = 18,
    create_response = 19,
    claim = 20,
    claim_response = 21,
    query = 22,
    query_response = 23,
    heartbeat = 24,
    heartbeat_response = 25,
    proof = 26,
    proof_response = 27,
    error = 31,
};

/// A stable snake_case name, e.g. "shake_response"; "unknown_command" for other ids.
[[nodiscard]] std::string_view to_string(Command c) noexcept;

/// The exact size of a `c` frame, header included; nullopt for an unknown id.
[[nodiscard]] constexpr std::optional<std::size_t> frame_size(Command c) noexcept {
    switch (c) {
        case Command::login_request: return 16;
        case Command::login_response: return 20;
        case Command::shake_request: return 16;
        case Command::shake_response: return 28;
        case Command::packet_notice: return 36;
        case Command::grab_request: return 20;
        case Command::grab_response: return 20;
        case Command::auth_login: return 56;
        case Command::auth_login_response: return 20;
        case Command::create_packet: return 40;
        case Command::create_response: return 28;
        case Command::claim: return 28;
        case Command::claim_response: return 44;
        case Command::query: return 28;
        case Command::query_response: return 72;
        case Command::heartbeat: return 20;
        case Command::heartbeat_response: return 20;
        case Command::proof: return 32;
        case Command::proof_response: return 68;
        case Command::error: return 24;
    }
    return std::nullopt;
}

// --- result codes ------------------------------------------------------------------------

/// `result` of login and auth login responses when the login succeeded.
inline constexpr std::uint32_t kResultOk = 0;
/// Shake response result: a packet was handed out (packet and amount are set).
inline constexpr std::uint32_t kShakeGotPacket = 14;
/// Shake response result: no packet is available right now.
inline constexpr std::uint32_t kShakeNoPacket = 15;
/// Shake response result: the server is overloaded; the client should back off.
inline constexpr std::uint32_t kShakeOverloaded = 17;
/// User slots in a packet notice (fixed by the original protocol; unused slots are 0).
inline constexpr std::size_t kNoticeUserSlots = 3;

/// Codes carried by error frames (and by a failed auth login's `result`).
enum class ErrorCode : std::uint32_t {
    malformed_frame = 1,    ///< a field is outside its domain (e.g. an unknown split policy)
    unknown_command = 2,    ///< the command id is not part of the protocol
    bad_length = 3,         ///< the length is below the header, above the limit or wrong
    not_logged_in = 4,      ///< the command needs a login first
    already_logged_in = 5,  ///< a second login on the connection, or the user is elsewhere
    auth_failed = 6,        ///< expired or wrong token
    overloaded = 7,         ///< a queue or mailbox is full; retry later
    invalid_amount = 8,     ///< total out of range for the count and policy
    invalid_count = 9,      ///< share count out of range for the policy
    pool_full = 10,         ///< the owning shard holds its maximum of packets
    not_found = 11,         ///< no such packet
    internal = 12,          ///< a server bug; the request may be retried
    unavailable = 13,       ///< the server is shutting down or the shard is not served here
    invalid_argument = 14,  ///< any other argument out of its domain (e.g. ttl of 0)
};

/// A stable snake_case name, e.g. "pool_full"; "unknown_error_code" for other values.
[[nodiscard]] std::string_view to_string(ErrorCode c) noexcept;
/// The error code a server sends for a library error (queue_full and mailbox_full are
/// overloaded, already_exists is already_logged_in, io_error and closed are unavailable,
/// corrupt is internal).
[[nodiscard]] ErrorCode to_error_code(Error e) noexcept;

// --- messages ----------------------------------------------------------------------------
// One struct per command, fields in wire order. `command` names the frame that carries it.

/// cmd 0, client → server: log in as `user` (original protocol, no authentication).
struct LoginRequest {
    static constexpr Command command = Command::login_request;
    std::uint32_t user{0};
    friend bool operator==(const LoginRequest&, const LoginRequest&) = default;
};

/// cmd 1, server → client: `result` is kResultOk or non-zero on failure.
struct LoginResponse {
    static constexpr Command command = Command::login_response;
    std::uint32_t user{0};
    std::uint32_t result{0};
    friend bool operator==(const LoginResponse&, const LoginResponse&) = default;
};

/// cmd 2, client → server: ask for a shake packet.
struct ShakeRequest {
    static constexpr Command command = Command::shake_request;
    std::uint32_t user{0};
    friend bool operator==(const ShakeRequest&, const ShakeRequest&) = default;
};

/// cmd 3, server → client: `result` is kShakeGotPacket, kShakeNoPacket or kShakeOverloaded.
struct ShakeResponse {
    static constexpr Command command = Command::shake_response;
    std::uint32_t user{0};
    std::uint32_t result{0};
    std::uint32_t packet{0};  ///< compact packet id; 0 unless a packet was handed out
    std::uint32_t amount{0};  ///< cents
    friend bool operator==(const ShakeResponse&, const ShakeResponse&) = default;
};

/// cmd 4, server → client: a group packet was sent to up to three users.
struct PacketNotice {
    static constexpr Command command = Command::packet_notice;
    std::uint32_t packet{0};
    std::uint32_t amount{0};
    std::uint32_t share_count{0};
    std::array<std::uint32_t, kNoticeUserSlots> users{};  ///< unused slots are 0
    friend bool operator==(const PacketNotice&, const PacketNotice&) = default;
};

/// cmd 5, client → server: grab a share of `packet` (the original client sends user 0).
struct GrabRequest {
    static constexpr Command command = Command::grab_request;
    std::uint32_t user{0};
    std::uint32_t packet{0};
    friend bool operator==(const GrabRequest&, const GrabRequest&) = default;
};

/// cmd 6, server → client: `amount` 0 means nothing was grabbed.
struct GrabResponse {
    static constexpr Command command = Command::grab_response;
    std::uint32_t packet{0};
    std::uint32_t amount{0};
    friend bool operator==(const GrabResponse&, const GrabResponse&) = default;
};

/// cmd 16, client → server: log in with an HMAC-SHA256 token valid until `expiry`.
struct AuthLogin {
    static constexpr Command command = Command::auth_login;
    std::uint32_t user{0};
    std::uint64_t expiry{0};  ///< unix seconds
    std::array<std::uint8_t, 32> token{};
    friend bool operator==(const AuthLogin&, const AuthLogin&) = default;
};

/// cmd 17, server → client: `result` is kResultOk or an ErrorCode value (e.g. auth_failed).
struct AuthLoginResponse {
    static constexpr Command command = Command::auth_login_response;
    std::uint32_t user{0};
    std::uint32_t result{0};
    friend bool operator==(const AuthLoginResponse&, const AuthLoginResponse&) = default;
};

/// cmd 18, client → server: create a group packet of `total` cents in `count` shares.
struct CreatePacket {
    static constexpr Command command = Command::create_packet;
    std::uint64_t request_id{0};
    std::uint64_t total{0};  ///< cents
    std::uint32_t count{0};
    std::uint32_t policy{0};  ///< SplitPolicy value; see split_policy_from_wire
    std::uint32_t ttl_seconds{0};
    friend bool operator==(const CreatePacket&, const CreatePacket&) = default;
};

/// cmd 19, server → client: the new packet's id.
struct CreateResponse {
    static constexpr Command command = Command::create_response;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    friend bool operator==(const CreateResponse&, const CreateResponse&) = default;
};

/// cmd 20, client → server: claim one share of `packet`.
struct Claim {
    static constexpr Command command = Command::claim;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    friend bool operator==(const Claim&, const Claim&) = default;
};

/// cmd 21, server → client: the outcome of a claim.
struct ClaimResponse {
    static constexpr Command command = Command::claim_response;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    std::uint32_t status{0};  ///< ClaimStatus value; see claim_status_from_wire
    std::uint32_t share_index{0};
    std::uint64_t amount{0};  ///< cents
    friend bool operator==(const ClaimResponse&, const ClaimResponse&) = default;
};

/// cmd 22, client → server: ask for a packet's state.
struct Query {
    static constexpr Command command = Command::query;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    friend bool operator==(const Query&, const Query&) = default;
};

/// cmd 23, server → client: a packet snapshot (best_* are 0 while nothing is claimed).
struct QueryResponse {
    static constexpr Command command = Command::query_response;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    std::uint64_t total{0};
    std::uint32_t count{0};
    std::uint32_t claimed_count{0};
    std::uint64_t remaining{0};
    std::uint64_t best_user{0};
    std::uint64_t best_amount{0};
    std::uint32_t state{0};  ///< PacketState value; see packet_state_from_wire
    friend bool operator==(const QueryResponse&, const QueryResponse&) = default;
};

/// cmd 24, client → server: keep-alive; the server echoes `nonce`.
struct Heartbeat {
    static constexpr Command command = Command::heartbeat;
    std::uint64_t nonce{0};
    friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

/// cmd 25, server → client: the echo of a heartbeat.
struct HeartbeatResponse {
    static constexpr Command command = Command::heartbeat_response;
    std::uint64_t nonce{0};
    friend bool operator==(const HeartbeatResponse&, const HeartbeatResponse&) = default;
};

/// Parts of a packet's proof (docs/fairness.md).
inline constexpr std::uint32_t kProofCommitment = 0;
inline constexpr std::uint32_t kProofSeed = 1;
/// Proof response status: `value` holds the part asked for.
inline constexpr std::uint32_t kProofOk = 0;
/// Proof response status: the seed is withheld until the packet is finished (every share
/// claimed, or expired and refunded); `value` is zero.
inline constexpr std::uint32_t kProofWithheld = 1;
/// Proof response status: the packet was made without a seed (verifiable splits off, or
/// before they existed); `value` is zero.
inline constexpr std::uint32_t kProofUnavailable = 2;

/// cmd 26, client → server: ask for one part of a packet's proof.
struct Proof {
    static constexpr Command command = Command::proof;
    std::uint64_t request_id{0};
    std::uint64_t packet{0};
    std::uint32_t part{kProofCommitment};  ///< kProofCommitment or kProofSeed
    friend bool operator==(const Proof&, const Proof&) = default;
};

/// cmd 27, server → client: a part of a packet's proof, with the split's terms that the query
/// response does not carry (total and count are there).
struct ProofResponse {
    static constexpr Command command = Command::proof_response;
    std::uint64_t request_id{0};
    std::uint32_t part{kProofCommitment};
    std::uint32_t status{kProofOk};
    std::uint32_t policy{0};     ///< SplitPolicy value
    std::uint32_t min_share{0};  ///< cents
    std::array<std::uint8_t, 32> value{};  ///< the commitment or the seed
    friend bool operator==(const ProofResponse&, const ProofResponse&) = default;
};

/// cmd 31, server → client: a request failed (request_id 0 when the frame had none).
struct ErrorReply {
    static constexpr Command command = Command::error;
    std::uint64_t request_id{0};
    ErrorCode code{ErrorCode::internal};  ///< any u32 round-trips, named or not
    friend bool operator==(const ErrorReply&, const ErrorReply&) = default;
};

/// Any message. Every alternative is trivially copyable, so a Message is never valueless.
using Message =
    std::variant<LoginRequest, LoginResponse, ShakeRequest, ShakeResponse, PacketNotice,
                 GrabRequest, GrabResponse, AuthLogin, AuthLoginResponse, CreatePacket,
                 CreateResponse, Claim, ClaimResponse, Query, QueryResponse, Heartbeat,
                 HeartbeatResponse, Proof, ProofResponse, ErrorReply>;

/// A client → server message: a request of either protocol. The service's inputs carry these.
using Request = std::variant<LoginRequest, ShakeRequest, GrabRequest, AuthLogin, CreatePacket,
                             Claim, Query, Heartbeat, Proof>;
/// A server → client message: a response, a notice or an error. The service's replies carry
/// these.
using Response = std::variant<LoginResponse, ShakeResponse, PacketNotice, GrabResponse,
                              AuthLoginResponse, CreateResponse, ClaimResponse, QueryResponse,
                              HeartbeatResponse, ProofResponse, ErrorReply>;

/// Whether `T` is one of variant `V`'s alternatives.
template <class T, class V>
struct IsAlternative;
template <class T, class... M>
struct IsAlternative<T, std::variant<M...>> : std::disjunction<std::is_same<T, M>...> {};

/// A readable one-line description of a message, e.g. "error{request_id=0, code=7 (overloaded)}"
/// (for logs, test failures and tools). Allocates.
[[nodiscard]] std::string describe(const Message& m);

/// The command of the frame that carries `m` (a Message, Request or Response).
template <class... M>
[[nodiscard]] Command command_of(const std::variant<M...>& m) noexcept {
    return std::visit([](const auto& msg) noexcept { return msg.command; }, m);
}
[[nodiscard]] inline Command command_of(const Message& m) noexcept {
    return command_of<>(m);
}

/// A decoded frame: the header's time and the message.
struct Frame {
    std::uint64_t time{0};  ///< unix seconds, informational
    Message message;
    friend bool operator==(const Frame&, const Frame&) = default;
};

// --- wire values of library enums ----------------------------------------------------------

/// The wire value of a split policy (double_mean 0, line_cut 1, equal 2, fixed 3).
[[nodiscard]] constexpr std::uint32_t to_wire(SplitPolicy p) noexcept {
    return static_cast<std::uint32_t>(p);
}

/// The request id an extended message (a Message, Request or Response) carries; 0 for a message
/// without one (the original protocol's).
template <class... M>
[[nodiscard]] std::uint64_t request_id_of(const std::variant<M...>& m) noexcept {
    return std::visit(
        [](const auto& msg) noexcept -> std::uint64_t {
            if constexpr (requires { msg.request_id; }) {
                return msg.request_id;
            } else {
                return 0;
            }
        },
        m);
}
/// The same for a message struct or a Message (a struct converts to one).
[[nodiscard]] inline std::uint64_t request_id_of(const Message& m) noexcept {
    return request_id_of<>(m);
}

/// The packet id a message (a Message, Request or Response) names (a grab's compact one
/// zero-extended); 0 for one naming none.
template <class... M>
[[nodiscard]] std::uint64_t packet_of(const std::variant<M...>& m) noexcept {
    return std::visit(
        [](const auto& msg) noexcept -> std::uint64_t {
            if constexpr (requires { msg.packet; }) {
                return msg.packet;
            } else {
                return 0;
            }
        },
        m);
}
/// The same for a message struct or a Message (a struct converts to one).
[[nodiscard]] inline std::uint64_t packet_of(const Message& m) noexcept {
    return packet_of<>(m);
}
/// The wire value of a claim status (claimed 0 … not_found 4).
[[nodiscard]] constexpr std::uint32_t to_wire(ClaimStatus s) noexcept {
    return static_cast<std::uint32_t>(s);
}
/// The wire value of a packet state (open 0, sold_out 1, expired 2).
[[nodiscard]] constexpr std::uint32_t to_wire(PacketState s) noexcept {
    return static_cast<std::uint32_t>(s);
}
/// The split policy of a create request; nullopt for an unknown value.
[[nodiscard]] std::optional<SplitPolicy> split_policy_from_wire(std::uint32_t v) noexcept;
/// The claim status of a claim response; nullopt for an unknown value.
[[nodiscard]] std::optional<ClaimStatus> claim_status_from_wire(std::uint32_t v) noexcept;
/// The packet state of a query response; nullopt for an unknown value.
[[nodiscard]] std::optional<PacketState> packet_state_from_wire(std::uint32_t v) noexcept;

// --- encoding ------------------------------------------------------------------------------

/// Writes the frame of `m` stamped with `time` at the start of `out`. Returns the bytes
/// written (frame_size(command_of(m))), or 0 with `out` untouched if `out` is too small.
/// Complexity: O(1), no allocation.
[[nodiscard]] std::size_t encode(const Message& m, std::uint64_t time,
                                 std::span<std::byte> out) noexcept;

/// Appends the frame of `m` to `out` (may allocate; throws std::bad_alloc).
void append(std::vector<std::byte>& out, const Message& m, std::uint64_t time);
/// The same for a response.
void append(std::vector<std::byte>& out, const Response& m, std::uint64_t time);

// --- decoding ------------------------------------------------------------------------------

/// What `decode` found at the start of its input.
enum class DecodeStatus : std::uint8_t {
    frame,      ///< a complete, valid frame: `frame` and `consumed` are set
    need_more,  ///< a valid prefix of a frame; call again with more bytes
    error,      ///< the stream is broken: `error` is set; nothing after it can be trusted
};

/// Why a frame was rejected; checked in this order as soon as length and command are read.
enum class DecodeError : std::uint8_t {
    length_too_small,  ///< length < kHeaderSize
    length_too_large,  ///< length > the max frame size
    unknown_command,   ///< not a Command id
    bad_body_length,   ///< length != frame_size(command)
};

/// A stable snake_case name, e.g. "bad_body_length".
[[nodiscard]] std::string_view to_string(DecodeError e) noexcept;
/// The error code a server reports before closing: unknown_command, otherwise bad_length.
[[nodiscard]] ErrorCode to_error_code(DecodeError e) noexcept;

/// Result of `decode`.
struct DecodeResult {
    DecodeStatus status{DecodeStatus::need_more};
    std::size_t consumed{0};  ///< bytes of the frame; 0 unless status == frame
    Frame frame{};            ///< meaningful when status == frame
    DecodeError error{DecodeError::length_too_small};  ///< meaningful when status == error
};

/// Decodes the frame at the start of `in`. Rejects a bad length or command from the first 4
/// bytes, without waiting for the body. Never reads outside `in`; no allocation.
[[nodiscard]] DecodeResult decode(std::span<const std::byte> in,
                                  std::size_t max_frame = kDefaultMaxFrame) noexcept;

// --- streaming -----------------------------------------------------------------------------

/// Turns a byte stream read in arbitrary chunks into frames. Complete frames are decoded in
/// place from the caller's chunk; only a frame that straddles two chunks is copied into the
/// fixed inline buffer (at most kMaxKnownFrame bytes, no heap). Errors are sticky: the first
/// one ends the stream until `reset()`. Single owner; not thread-safe.
class FrameAssembler {
public:
    /// `max_frame` as for `decode`.
    explicit FrameAssembler(std::size_t max_frame = kDefaultMaxFrame) noexcept
        : max_frame_{max_frame} {}

    /// Feeds the next bytes of the stream and calls `on_frame(const Frame&)` for each frame
    /// completed, in order. Returns the number of frames delivered by this call, or the first
    /// error (frames before it were delivered; the assembler stays failed). `on_frame` must
    /// not throw. Complexity: O(chunk size).
    template <class Fn>
        requires std::invocable<Fn&, const Frame&>
    [[nodiscard]] std::expected<std::size_t, DecodeError> feed(
        std::span<const std::byte> chunk,
        Fn&& on_frame) noexcept(std::is_nothrow_invocable_v<Fn&, const Frame&>) {
        if (error_) {
            return std::unexpected(*error_);
        }
        std::size_t delivered = 0;
        if (held_ != 0) {
            const DecodeResult r = complete_partial(chunk);
            if (r.status != DecodeStatus::frame) {
                return finish(r, delivered);
            }
            on_frame(r.frame);
            ++delivered;
        }
        while (!chunk.empty()) {
            const DecodeResult r = decode(chunk, max_frame_);
            if (r.status != DecodeStatus::frame) {
                if (r.status == DecodeStatus::need_more) {
                    hold(chunk);
                }
                return finish(r, delivered);
            }
            on_frame(r.frame);
            ++delivered;
            chunk = chunk.subspan(r.consumed);
        }
        return delivered;
    }

    /// True on a frame boundary: no partial frame held and no error.
    [[nodiscard]] bool idle() const noexcept { return held_ == 0 && !error_; }
    /// Bytes of the partial frame held between calls (< kMaxKnownFrame).
    [[nodiscard]] std::size_t buffered() const noexcept { return held_; }
    /// The error that stopped the stream, if any.
    [[nodiscard]] std::optional<DecodeError> error() const noexcept { return error_; }
    /// Drops any partial frame and error, as for a new connection.
    void reset() noexcept {
        held_ = 0;
        error_.reset();
    }

private:
    /// Moves bytes from `chunk` into the partial frame until it is complete, invalid or
    /// `chunk` runs out; returns `decode` of the held bytes (held_ is 0 unless need_more).
    DecodeResult complete_partial(std::span<const std::byte>& chunk) noexcept;
    /// Keeps the tail of a chunk, a valid frame prefix, for the next call.
    void hold(std::span<const std::byte> rest) noexcept;
    /// Records an error (status error) and returns what `feed` returns for `r`.
    std::expected<std::size_t, DecodeError> finish(const DecodeResult& r,
                                                   std::size_t delivered) noexcept;

    std::array<std::byte, kMaxKnownFrame> buf_{};
    std::size_t held_{0};
    std::size_t max_frame_;
    std::optional<DecodeError> error_;
};

}  // namespace redpacket::protocol
