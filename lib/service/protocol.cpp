#include "redpacket/protocol.hpp"
#include "redpacket/assert.hpp"
#include "redpacket/detail/overloaded.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <tuple>
#include <utility>

namespace redpacket::protocol {
namespace {

// --- big-endian fields ---------------------------------------------------------------------
// memcpy + byteswap compiles to one load/store and a bswap; no alignment is assumed.

template <class U>
void put_be(std::byte*& p, U v) noexcept {
    if constexpr (std::endian::native == std::endian::little) {
        v = std::byteswap(v);
    }
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
}

template <class U>
U get_be(const std::byte*& p) noexcept {
    U v;
    std::memcpy(&v, p, sizeof v);
    p += sizeof v;
    if constexpr (std::endian::native == std::endian::little) {
        v = std::byteswap(v);
    }
    return v;
}

void put(std::byte*& p, std::uint32_t v) noexcept { put_be(p, v); }
void put(std::byte*& p, std::uint64_t v) noexcept { put_be(p, v); }
void put(std::byte*& p, ErrorCode v) noexcept { put_be(p, static_cast<std::uint32_t>(v)); }
void put(std::byte*& p, const std::array<std::uint32_t, kNoticeUserSlots>& v) noexcept {
    for (std::uint32_t x : v) {
        put_be(p, x);
    }
}
void put(std::byte*& p, const std::array<std::uint8_t, 32>& v) noexcept {
    std::memcpy(p, v.data(), v.size());
    p += v.size();
}

void get(const std::byte*& p, std::uint32_t& v) noexcept { v = get_be<std::uint32_t>(p); }
void get(const std::byte*& p, std::uint64_t& v) noexcept { v = get_be<std::uint64_t>(p); }
void get(const std::byte*& p, ErrorCode& v) noexcept {
    v = static_cast<ErrorCode>(get_be<std::uint32_t>(p));
}
void get(const std::byte*& p, std::array<std::uint32_t, kNoticeUserSlots>& v) noexcept {
    for (std::uint32_t& x : v) {
        x = get_be<std::uint32_t>(p);
    }
}
void get(const std::byte*& p, std::array<std::uint8_t, 32>& v) noexcept {
    std::memcpy(v.data(), p, v.size());
    p += v.size();
}

// --- layouts: the body fields of each message, in wire order -----------------------------

constexpr auto fields(std::type_identity<LoginRequest>) noexcept {
    return std::tuple{&LoginRequest::user};
}
constexpr auto fields(std::type_identity<LoginResponse>) noexcept {
    return std::tuple{&LoginResponse::user, &LoginResponse::result};
}
constexpr auto fields(std::type_identity<ShakeRequest>) noexcept {
    return std::tuple{&ShakeRequest::user};
}
constexpr auto fields(std::type_identity<ShakeResponse>) noexcept {
    return std::tuple{&ShakeResponse::user, &ShakeResponse::result, &ShakeResponse::packet,
                      &ShakeResponse::amount};
}
constexpr auto fields(std::type_identity<PacketNotice>) noexcept {
    return std::tuple{&PacketNotice::packet, &PacketNotice::amount, &PacketNotice::share_count,
                      &PacketNotice::users};
}
constexpr auto fields(std::type_identity<GrabRequest>) noexcept {
    return std::tuple{&GrabRequest::user, &GrabRequest::packet};
}
constexpr auto fields(std::type_identity<GrabResponse>) noexcept {
    return std::tuple{&GrabResponse::packet, &GrabResponse::amount};
}
constexpr auto fields(std::type_identity<AuthLogin>) noexcept {
    return std::tuple{&AuthLogin::user, &AuthLogin::expiry, &AuthLogin::token};
}
constexpr auto fields(std::type_identity<AuthLoginResponse>) noexcept {
    return std::tuple{&AuthLoginResponse::user, &AuthLoginResponse::result};
}
constexpr auto fields(std::type_identity<CreatePacket>) noexcept {
    return std::tuple{&CreatePacket::request_id, &CreatePacket::total, &CreatePacket::count,
                      &CreatePacket::policy, &CreatePacket::ttl_seconds};
}
constexpr auto fields(std::type_identity<CreateResponse>) noexcept {
    return std::tuple{&CreateResponse::request_id, &CreateResponse::packet};
}
constexpr auto fields(std::type_identity<Claim>) noexcept {
    return std::tuple{&Claim::request_id, &Claim::packet};
}
constexpr auto fields(std::type_identity<ClaimResponse>) noexcept {
    return std::tuple{&ClaimResponse::request_id, &ClaimResponse::packet, &ClaimResponse::status,
                      &ClaimResponse::share_index, &ClaimResponse::amount};
}
constexpr auto fields(std::type_identity<Query>) noexcept {
    return std::tuple{&Query::request_id, &Query::packet};
}
constexpr auto fields(std::type_identity<QueryResponse>) noexcept {
    return std::tuple{&QueryResponse::request_id,    &QueryResponse::packet,
                      &QueryResponse::total,         &QueryResponse::count,
                      &QueryResponse::claimed_count, &QueryResponse::remaining,
                      &QueryResponse::best_user,     &QueryResponse::best_amount,
                      &QueryResponse::state};
}
constexpr auto fields(std::type_identity<Heartbeat>) noexcept {
    return std::tuple{&Heartbeat::nonce};
}
constexpr auto fields(std::type_identity<HeartbeatResponse>) noexcept {
    return std::tuple{&HeartbeatResponse::nonce};
}
constexpr auto fields(std::type_identity<Proof>) noexcept {
    return std::tuple{&Proof::request_id, &Proof::packet, &Proof::part};
}
constexpr auto fields(std::type_identity<ProofResponse>) noexcept {
    return std::tuple{&ProofResponse::request_id, &ProofResponse::part, &ProofResponse::status,
                      &ProofResponse::policy, &ProofResponse::min_share, &ProofResponse::value};
}
constexpr auto fields(std::type_identity<ErrorReply>) noexcept {
    return std::tuple{&ErrorReply::request_id, &ErrorReply::code};
}

/// Pointers to T's body fields, in wire order.
template <class T>
constexpr auto kFields = fields(std::type_identity<T>{});

template <std::size_t I>
using Alternative = std::variant_alternative_t<I, Message>;
constexpr auto kAlternatives = std::make_index_sequence<std::variant_size_v<Message>>{};

/// Frame size implied by T's layout (every field type's size is its wire size).
template <class T>
constexpr std::size_t layout_size() noexcept {
    return std::apply(
        [](auto... field) { return (kHeaderSize + ... + sizeof(std::declval<T&>().*field)); },
        kFields<T>);
}

// Pins the layouts to the documented frame table: a field added to a struct but not to its
// layout, or a wrong entry in frame_size, fails the build.
template <std::size_t... I>
constexpr bool layouts_match_frame_sizes(std::index_sequence<I...>) noexcept {
    return ((frame_size(Alternative<I>::command) == layout_size<Alternative<I>>()) && ...);
}
template <std::size_t... I>
constexpr std::size_t largest_frame(std::index_sequence<I...>) noexcept {
    return std::max({layout_size<Alternative<I>>()...});
}
static_assert(layouts_match_frame_sizes(kAlternatives));
static_assert(largest_frame(kAlternatives) == kMaxKnownFrame);
static_assert(kMaxKnownFrame <= kDefaultMaxFrame);
// Request and Response split Message: every message is exactly one of the two.
template <std::size_t... I>
constexpr bool requests_and_responses_split(std::index_sequence<I...>) noexcept {
    return ((IsAlternative<Alternative<I>, Request>::value !=
             IsAlternative<Alternative<I>, Response>::value) &&
            ...);
}
static_assert(requests_and_responses_split(kAlternatives));
static_assert(std::variant_size_v<Request> + std::variant_size_v<Response> ==
              std::variant_size_v<Message>);

template <class T>
void read_message(const std::byte* p, Message& out) noexcept {
    T& msg = out.emplace<T>();
    std::apply([&](auto... field) { (get(p, msg.*field), ...); }, kFields<T>);
}

/// Command ids are below this; the decoder's dispatch table has one slot per id.
constexpr std::size_t kCommandSlots = 32;
using Reader = void (*)(const std::byte* body, Message& out) noexcept;

template <std::size_t... I>
constexpr std::array<Reader, kCommandSlots> make_readers(std::index_sequence<I...>) noexcept {
    std::array<Reader, kCommandSlots> table{};
    ((table[static_cast<std::size_t>(Alternative<I>::command)] = &read_message<Alternative<I>>),
     ...);
    return table;
}
constexpr auto kReaders = make_readers(kAlternatives);

// Which ids have a reader, as plain bools: GCC with -fsanitize=undefined does not treat a
// function-pointer comparison as a constant expression.
template <std::size_t... I>
constexpr std::array<bool, kCommandSlots> make_known(std::index_sequence<I...>) noexcept {
    std::array<bool, kCommandSlots> table{};
    ((table[static_cast<std::size_t>(Alternative<I>::command)] = true), ...);
    return table;
}
constexpr auto kKnown = make_known(kAlternatives);

// Every id frame_size knows has exactly one message type, and no other id has one.
constexpr bool readers_match_commands() noexcept {
    std::size_t readers = 0;
    for (std::uint32_t id = 0; id <= 0xFFFF; ++id) {
        const bool readable = id < kCommandSlots && kKnown[id];
        readers += readable ? 1 : 0;
        if (readable != frame_size(static_cast<Command>(id)).has_value()) {
            return false;
        }
    }
    return readers == std::variant_size_v<Message>;
}
static_assert(readers_match_commands());

/// The body reader of command id `cmd`, or nullptr for an unknown id.
Reader reader_of(std::uint16_t cmd) noexcept {
    return cmd < kCommandSlots ? kReaders[cmd] : nullptr;
}

/// The error for a frame starting with this length and command id, if it is invalid.
std::optional<DecodeError> check_header(std::size_t length, std::uint16_t cmd,
                                        std::size_t max_frame) noexcept {
    if (length < kHeaderSize) {
        return DecodeError::length_too_small;
    }
    if (length > max_frame) {
        return DecodeError::length_too_large;
    }
    if (reader_of(cmd) == nullptr) {
        return DecodeError::unknown_command;
    }
    if (length != frame_size(static_cast<Command>(cmd))) {
        return DecodeError::bad_body_length;
    }
    return std::nullopt;
}

// The wire values of library enums are part of the protocol: renumbering them breaks clients.
static_assert(to_wire(SplitPolicy::double_mean) == 0 && to_wire(SplitPolicy::line_cut) == 1 &&
              to_wire(SplitPolicy::equal) == 2 && to_wire(SplitPolicy::fixed) == 3);
static_assert(to_wire(ClaimStatus::claimed) == 0 && to_wire(ClaimStatus::already_claimed) == 1 &&
              to_wire(ClaimStatus::sold_out) == 2 && to_wire(ClaimStatus::expired) == 3 &&
              to_wire(ClaimStatus::not_found) == 4 && to_wire(ClaimStatus::not_allowed) == 5);
static_assert(to_wire(PacketState::open) == 0 && to_wire(PacketState::sold_out) == 1 &&
              to_wire(PacketState::expired) == 2);

}  // namespace

// --- names -----------------------------------------------------------------------------------

std::string_view to_string(Command c) noexcept {
    switch (c) {
        case Command::login_request: return "login_request";
        case Command::login_response: return "login_response";
        case Command::shake_request: return "shake_request";
        case Command::shake_response: return "shake_response";
        case Command::packet_notice: return "packet_notice";
        case Command::grab_request: return "grab_request";
        case Command::grab_response: return "grab_response";
        case Command::auth_login: return "auth_login";
        case Command::auth_login_response: return "auth_login_response";
        case Command::create_packet: return "create_packet";
        case Command::create_response: return "create_response";
        case Command::claim: return "claim";
        case Command::claim_response: return "claim_response";
        case Command::query: return "query";
        case Command::query_response: return "query_response";
        case Command::heartbeat: return "heartbeat";
        case Command::heartbeat_response: return "heartbeat_response";
        case Command::proof: return "proof";
        case Command::proof_response: return "proof_response";
        case Command::error: return "error";
    }
    return "unknown_command";
}

std::string_view to_string(ErrorCode c) noexcept {
    switch (c) {
        case ErrorCode::malformed_frame: return "malformed_frame";
        case ErrorCode::unknown_command: return "unknown_command";
        case ErrorCode::bad_length: return "bad_length";
        case ErrorCode::not_logged_in: return "not_logged_in";
        case ErrorCode::already_logged_in: return "already_logged_in";
        case ErrorCode::auth_failed: return "auth_failed";
        case ErrorCode::overloaded: return "overloaded";
        case ErrorCode::invalid_amount: return "invalid_amount";
        case ErrorCode::invalid_count: return "invalid_count";
        case ErrorCode::pool_full: return "pool_full";
        case ErrorCode::not_found: return "not_found";
        case ErrorCode::internal: return "internal";
        case ErrorCode::unavailable: return "unavailable";
        case ErrorCode::invalid_argument: return "invalid_argument";
    }
    return "unknown_error_code";
}

std::string_view to_string(DecodeError e) noexcept {
    switch (e) {
        case DecodeError::length_too_small: return "length_too_small";
        case DecodeError::length_too_large: return "length_too_large";
        case DecodeError::unknown_command: return "unknown_command";
        case DecodeError::bad_body_length: return "bad_body_length";
    }
    return "unknown_decode_error";
}

ErrorCode to_error_code(Error e) noexcept {
    switch (e) {
        case Error::invalid_amount: return ErrorCode::invalid_amount;
        case Error::invalid_count: return ErrorCode::invalid_count;
        case Error::invalid_argument: return ErrorCode::invalid_argument;
        case Error::pool_full: return ErrorCode::pool_full;
        case Error::not_found: return ErrorCode::not_found;
        case Error::queue_full: return ErrorCode::overloaded;
        case Error::mailbox_full: return ErrorCode::overloaded;
        case Error::already_exists: return ErrorCode::already_logged_in;
        case Error::io_error: return ErrorCode::unavailable;  // e.g. the journal cannot write
        case Error::corrupt: return ErrorCode::internal;
        case Error::closed: return ErrorCode::unavailable;
        case Error::unavailable: return ErrorCode::unavailable;
    }
    return ErrorCode::internal;
}

ErrorCode to_error_code(DecodeError e) noexcept {
    return e == DecodeError::unknown_command ? ErrorCode::unknown_command : ErrorCode::bad_length;
}

std::optional<SplitPolicy> split_policy_from_wire(std::uint32_t v) noexcept {
    if (v > to_wire(SplitPolicy::fixed)) {
        return std::nullopt;
    }
    return static_cast<SplitPolicy>(v);
}

std::optional<ClaimStatus> claim_status_from_wire(std::uint32_t v) noexcept {
    if (v > to_wire(ClaimStatus::not_allowed)) {
        return std::nullopt;
    }
    return static_cast<ClaimStatus>(v);
}

std::optional<PacketState> packet_state_from_wire(std::uint32_t v) noexcept {
    if (v > to_wire(PacketState::expired)) {
        return std::nullopt;
    }
    return static_cast<PacketState>(v);
}

// --- codec -----------------------------------------------------------------------------------

namespace {

// Message and Response are variants of the same structs: one encoder for both.
template <class V>
std::size_t encode_variant(const V& m, std::uint64_t time, std::span<std::byte> out) noexcept {
    return std::visit(
        [&]<class T>(const T& msg) noexcept -> std::size_t {
            constexpr std::size_t size = layout_size<T>();
            if (out.size() < size) {
                return 0;
            }
            std::byte* p = out.data();
            put_be(p, static_cast<std::uint16_t>(size));
            put_be(p, static_cast<std::uint16_t>(T::command));
            put_be(p, time);
            std::apply([&](auto... field) { (put(p, msg.*field), ...); }, kFields<T>);
            return size;
        },
        m);
}

template <class V>
void append_variant(std::vector<std::byte>& out, const V& m, std::uint64_t time) {
    const std::size_t at = out.size();
    out.resize(at + frame_size(command_of(m)).value_or(0));
    [[maybe_unused]] const std::size_t written = encode_variant(m, time, std::span{out}.subspan(at));
    REDPACKET_ASSERT(written == out.size() - at);
}

}  // namespace

std::size_t encode(const Message& m, std::uint64_t time, std::span<std::byte> out) noexcept {
    return encode_variant(m, time, out);
}

void append(std::vector<std::byte>& out, const Message& m, std::uint64_t time) {
    append_variant(out, m, time);
}

void append(std::vector<std::byte>& out, const Response& m, std::uint64_t time) {
    append_variant(out, m, time);
}

DecodeResult decode(std::span<const std::byte> in, std::size_t max_frame) noexcept {
    DecodeResult r;
    if (in.size() < 4) {
        return r;  // need_more
    }
    const std::byte* p = in.data();
    const std::size_t length = get_be<std::uint16_t>(p);
    const std::uint16_t cmd = get_be<std::uint16_t>(p);
    if (const auto error = check_header(length, cmd, max_frame)) {
        r.status = DecodeStatus::error;
        r.error = *error;
        return r;
    }
    if (in.size() < length) {
        return r;  // need_more
    }
    r.status = DecodeStatus::frame;
    r.consumed = length;
    r.frame.time = get_be<std::uint64_t>(p);
    reader_of(cmd)(p, r.frame.message);
    return r;
}

// --- FrameAssembler --------------------------------------------------------------------------

DecodeResult FrameAssembler::complete_partial(std::span<const std::byte>& chunk) noexcept {
    for (;;) {
        // Until length and command are held, take just those 4 bytes so that they are
        // validated before any body byte is copied; then take the rest of the frame.
        std::size_t want = 4;
        if (held_ >= 4) {
            const std::byte* p = buf_.data();
            want = get_be<std::uint16_t>(p);
        }
        const std::size_t take = std::min(want - held_, chunk.size());
        if (take != 0) {
            std::memcpy(buf_.data() + held_, chunk.data(), take);
            held_ += take;
            chunk = chunk.subspan(take);
        }
        DecodeResult r = decode(std::span{buf_}.first(held_), max_frame_);
        if (r.status == DecodeStatus::frame) {
            held_ = 0;
        }
        if (r.status != DecodeStatus::need_more || chunk.empty()) {
            return r;
        }
    }
}

void FrameAssembler::hold(std::span<const std::byte> rest) noexcept {
    // decode said need_more, so `rest` is under 4 bytes or a validated prefix of a frame of at
    // most kMaxKnownFrame bytes: it fits.
    const std::size_t n = std::min(rest.size(), buf_.size());
    std::memcpy(buf_.data(), rest.data(), n);
    held_ = n;
}

std::expected<std::size_t, DecodeError> FrameAssembler::finish(const DecodeResult& r,
                                                               std::size_t delivered) noexcept {
    if (r.status == DecodeStatus::error) {
        held_ = 0;
        error_ = r.error;
        return std::unexpected(r.error);
    }
    return delivered;
}

namespace {

std::string fields(std::string_view name,
                   std::initializer_list<std::pair<std::string_view, std::uint64_t>> values) {
    std::string out(name);
    out += '{';
    bool first = true;
    for (const auto& [key, value] : values) {
        out += first ? "" : ", ";
        out += key;
        out += '=';
        out += std::to_string(value);
        first = false;
    }
    out += '}';
    return out;
}

}  // namespace

std::string describe(const Message& m) {
    return std::visit(
        detail::Overloaded{
            [](const ErrorReply& e) {
                return fields("error", {{"request_id", e.request_id},
                                        {"code", static_cast<std::uint32_t>(e.code)}}) +
                       " (" + std::string(to_string(e.code)) + ")";
            },
            [](const LoginResponse& r) {
                return fields("login_response", {{"user", r.user}, {"result", r.result}});
            },
            [](const AuthLoginResponse& r) {
                return fields("auth_login_response", {{"user", r.user}, {"result", r.result}});
            },
            [](const ShakeResponse& r) {
                return fields("shake_response", {{"user", r.user}, {"result", r.result},
                                                 {"packet", r.packet}, {"amount", r.amount}});
            },
            [](const GrabResponse& r) {
                return fields("grab_response", {{"packet", r.packet}, {"amount", r.amount}});
            },
            [](const PacketNotice& n) {
                return fields("packet_notice",
                              {{"packet", n.packet}, {"amount", n.amount},
                               {"shares", n.share_count}, {"user0", n.users[0]},
                               {"user1", n.users[1]}, {"user2", n.users[2]}});
            },
            [](const CreateResponse& r) {
                return fields("create_response",
                              {{"request_id", r.request_id}, {"packet", r.packet}});
            },
            [](const ClaimResponse& r) {
                return fields("claim_response",
                              {{"request_id", r.request_id}, {"packet", r.packet},
                               {"status", r.status}, {"share", r.share_index},
                               {"amount", r.amount}});
            },
            [](const QueryResponse& r) {
                return fields("query_response",
                              {{"request_id", r.request_id}, {"packet", r.packet},
                               {"total", r.total}, {"count", r.count},
                               {"claimed", r.claimed_count}, {"remaining", r.remaining},
                               {"state", r.state}});
            },
            [](const HeartbeatResponse& r) {
                return fields("heartbeat_response", {{"nonce", r.nonce}});
            },
            [](const ProofResponse& r) {
                return fields("proof_response", {{"request_id", r.request_id}, {"part", r.part},
                                                 {"status", r.status}, {"policy", r.policy},
                                                 {"min_share", r.min_share}});
            },
            [](const auto& other) { return std::string(to_string(other.command)); },
        },
        m);
}

}  // namespace redpacket::protocol
