// Fuzz target: every message type of the wire protocol (original and extended), decoded from an
// arbitrary body.
//
// Input layout: byte 0 is the command id (0–255; ids without a message are "unknown"), bytes
// 1–8 the header time (big-endian, as on the wire), the rest the body, cut or zero-padded to
// the command's body size; whatever follows the body is appended after the frame as the next
// bytes of the stream.
//
// Properties, for each of the 20 message types:
// - the frame decodes to that message type, consuming exactly its size, whatever follows it;
//   re-encoding (with `encode` and with `append`) gives back the same bytes, and decoding the
//   re-encoded frame gives back the same message;
// - encoding into a buffer one byte short writes nothing and returns 0;
// - the `*_from_wire` mappings accept exactly the documented values and round-trip them, and
//   `to_string` names every known command and error code;
// - an id without a message is rejected as unknown_command from the first 4 bytes, whatever
//   its body.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <variant>
#include <vector>

#include "fuzz_check.hpp"
#include "redpacket/protocol.hpp"

namespace {

using namespace redpacket::protocol;
using redpacket::fuzz::InputReader;

constexpr std::byte kSentinel{0xA5};

/// Domain mappings of the fields that carry library enums.
void check_wire_values(const Message& m) {
    if (const auto* create = std::get_if<CreatePacket>(&m)) {
        const auto policy = split_policy_from_wire(create->policy);
        REDPACKET_FUZZ_CHECK(policy.has_value() == (create->policy <= 3),
                             "split policies are exactly the wire values 0-3");
        REDPACKET_FUZZ_CHECK(!policy || to_wire(*policy) == create->policy,
                             "a split policy maps back to its wire value");
    }
    if (const auto* claim = std::get_if<ClaimResponse>(&m)) {
        const auto status = claim_status_from_wire(claim->status);
        REDPACKET_FUZZ_CHECK(status.has_value() == (claim->status <= 5),
                             "claim statuses are exactly the wire values 0-5");
        REDPACKET_FUZZ_CHECK(!status || to_wire(*status) == claim->status,
                             "a claim status maps back to its wire value");
    }
    if (const auto* query = std::get_if<QueryResponse>(&m)) {
        const auto state = packet_state_from_wire(query->state);
        REDPACKET_FUZZ_CHECK(state.has_value() == (query->state <= 2),
                             "packet states are exactly the wire values 0-2");
        REDPACKET_FUZZ_CHECK(!state || to_wire(*state) == query->state,
                             "a packet state maps back to its wire value");
    }
    if (const auto* error = std::get_if<ErrorReply>(&m)) {
        const auto code = static_cast<std::uint32_t>(error->code);
        const bool named = to_string(error->code) != "unknown_error_code";
        REDPACKET_FUZZ_CHECK(named == (code >= 1 && code <= 14),
                             "error codes 1-14 are named, others are not");
    }
    REDPACKET_FUZZ_CHECK(to_string(command_of(m)) != "unknown_command",
                         "every message's command is named");
}

void check_known(Command cmd, std::size_t size, std::span<const std::byte> frame,
                 std::span<const std::byte> stream) {
    // Alone, and followed by the rest of the stream: the same message, the same size.
    const DecodeResult alone = decode(frame);
    const DecodeResult first = decode(stream);
    REDPACKET_FUZZ_CHECK(alone.status == DecodeStatus::frame && alone.consumed == size,
                         "a frame of a known command with its exact size decodes");
    REDPACKET_FUZZ_CHECK(first.status == DecodeStatus::frame && first.consumed == size &&
                             first.frame == alone.frame,
                         "bytes after a frame do not change it");
    REDPACKET_FUZZ_CHECK(command_of(alone.frame.message) == cmd,
                         "the message type is the header's command");

    std::array<std::byte, kMaxKnownFrame + 1> out{};
    std::ranges::fill(out, kSentinel);
    REDPACKET_FUZZ_CHECK(encode(alone.frame.message, alone.frame.time,
                                std::span{out}.first(size - 1)) == 0,
                         "encode refuses a buffer one byte short");
    REDPACKET_FUZZ_CHECK(std::ranges::all_of(out, [](std::byte b) { return b == kSentinel; }),
                         "a refused encode writes nothing");
    REDPACKET_FUZZ_CHECK(encode(alone.frame.message, alone.frame.time, out) == size,
                         "encode writes the frame size");
    REDPACKET_FUZZ_CHECK(std::memcmp(out.data(), frame.data(), size) == 0,
                         "decode then encode gives back the same bytes");
    REDPACKET_FUZZ_CHECK(out[size] == kSentinel, "encode writes nothing past the frame");

    std::vector<std::byte> appended{std::byte{1}, std::byte{2}};
    append(appended, alone.frame.message, alone.frame.time);
    REDPACKET_FUZZ_CHECK(appended.size() == size + 2 &&
                             std::memcmp(appended.data() + 2, frame.data(), size) == 0,
                         "append writes the same bytes as encode, after what was there");

    const DecodeResult again = decode(std::span{out}.first(size));
    REDPACKET_FUZZ_CHECK(again.status == DecodeStatus::frame && again.frame == alone.frame,
                         "encode then decode gives back the same message");
    check_wire_values(alone.frame.message);
}

void check_unknown(std::span<const std::byte> frame) {
    const DecodeResult r = decode(frame);
    REDPACKET_FUZZ_CHECK(r.status == DecodeStatus::error && r.error == DecodeError::unknown_command,
                         "an id without a message is unknown_command");
    const DecodeResult head = decode(frame.first(4));
    REDPACKET_FUZZ_CHECK(head.status == DecodeStatus::error && head.error == r.error,
                         "unknown_command is decided from the first 4 bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    InputReader in{redpacket::fuzz::as_bytes(data, size)};
    const auto id = static_cast<std::uint16_t>(in.byte());
    const auto cmd = static_cast<Command>(id);
    const auto time = in.take(8);
    const auto known = frame_size(cmd);
    // Unknown ids get a plausible length: the header plus up to 60 body bytes.
    const std::size_t body = known ? *known - kHeaderSize : std::min<std::size_t>(in.rest().size(), 60);
    const std::size_t length = kHeaderSize + body;

    // The frame in a block of its exact size (ASan catches any read past it), and the stream.
    std::vector<std::byte> frame(length);
    frame[0] = static_cast<std::byte>(length >> 8U);
    frame[1] = static_cast<std::byte>(length & 0xFFU);
    frame[2] = static_cast<std::byte>(id >> 8U);
    frame[3] = static_cast<std::byte>(id & 0xFFU);
    std::ranges::copy(time, frame.begin() + 4);  // zero-padded when short
    std::ranges::copy(in.take(body), frame.begin() + kHeaderSize);
    std::vector<std::byte> stream = frame;
    const auto tail = in.rest();
    stream.insert(stream.end(), tail.begin(), tail.end());

    if (known) {
        check_known(cmd, length, frame, stream);
    } else {
        check_unknown(frame);
    }
    return 0;
}
