#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "protocol_support.hpp"

using namespace protocol_test;

// --- the original protocol, pinned byte for byte ------------------------------------------

TEST_CASE("a login frame is 16 bytes in big-endian", "[protocol]") {
    check_golden(LoginRequest{.user = 0x01020304},
                 bytes({0x00, 0x10, 0x00, 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x01, 0x02, 0x03, 0x04}));
}

TEST_CASE("a login response carries user and result in 20 bytes", "[protocol]") {
    check_golden(LoginResponse{.user = 0x01020304, .result = kResultOk},
                 bytes({0x00, 0x14, 0x00, 0x01, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00}));
}

TEST_CASE("a shake request is 16 bytes with command 2", "[protocol]") {
    check_golden(ShakeRequest{.user = 7},
                 bytes({0x00, 0x10, 0x00, 0x02, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x00, 0x00, 0x00, 0x07}));
}

TEST_CASE("a shake response is 28 bytes: user, result, packet, amount", "[protocol]") {
    check_golden(ShakeResponse{.user = 0x0A0B0C0D,
                               .result = kShakeGotPacket,
                               .packet = 0x00010203,
                               .amount = 888},
                 bytes({0x00, 0x1C, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                        0x77, 0x88, 0x0A, 0x0B, 0x0C, 0x0D, 0x00, 0x00, 0x00, 0x0E,
                        0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x03, 0x78}));
    check_golden(ShakeResponse{.user = 5, .result = kShakeNoPacket, .packet = 0, .amount = 0},
                 bytes({0x00, 0x1C, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                        0x77, 0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x0F,
                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
    check_golden(ShakeResponse{.user = 5, .result = kShakeOverloaded, .packet = 0, .amount = 0},
                 bytes({0x00, 0x1C, 0x00, 0x03, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                        0x77, 0x88, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x11,
                        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

TEST_CASE("a packet notice is 36 bytes with exactly three user slots", "[protocol]") {
    check_golden(PacketNotice{.packet = 0xCAFEBABE,
                              .amount = 1000,
                              .share_count = 3,
                              .users = {1, 2, 0xFFFFFFFF}},
                 bytes({0x00, 0x24, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0xCA, 0xFE, 0xBA, 0xBE, 0x00, 0x00, 0x03, 0xE8, 0x00, 0x00, 0x00, 0x03,
                        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0xFF, 0xFF, 0xFF, 0xFF}));
    // Fewer users: the unused slots are zero, the frame keeps its size.
    check_golden(PacketNotice{.packet = 1, .amount = 2, .share_count = 3, .users = {9, 0, 0}},
                 bytes({0x00, 0x24, 0x00, 0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
                        0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}));
}

TEST_CASE("a grab request from the original client carries user 0 and the packet", "[protocol]") {
    check_golden(GrabRequest{.user = 0, .packet = 0xCAFEBABE},
                 bytes({0x00, 0x14, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x00, 0x00, 0x00, 0x00, 0xCA, 0xFE, 0xBA, 0xBE}));
}

TEST_CASE("a grab response is 20 bytes: packet and amount", "[protocol]") {
    check_golden(GrabResponse{.packet = 0xCAFEBABE, .amount = 0x12345678},
                 bytes({0x00, 0x14, 0x00, 0x06, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0xCA, 0xFE, 0xBA, 0xBE, 0x12, 0x34, 0x56, 0x78}));
}

TEST_CASE("extended frames put u64 fields big-endian after the same header", "[protocol]") {
    check_golden(ErrorReply{.request_id = 0x0102030405060708, .code = ErrorCode::not_found},
                 bytes({0x00, 0x18, 0x00, 0x1F, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
                        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x0B}));
    check_golden(CreatePacket{.request_id = 1,
                              .total = 0x0A0B0C0D0E0F1011,
                              .count = 10,
                              .policy = to_wire(SplitPolicy::equal),
                              .ttl_seconds = 60},
                 bytes({0x00, 0x28, 0x00, 0x12, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                        0x77, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                        0x0A, 0x0B, 0x0C, 0x0D, 0x0E, 0x0F, 0x10, 0x11, 0x00, 0x00,
                        0x00, 0x0A, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x3C}));
    check_golden(Proof{.request_id = 2, .packet = 0x0102030405060708, .part = kProofSeed},
                 bytes({0x00, 0x20, 0x00, 0x1A, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
                        0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02,
                        0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00, 0x00, 0x01}));
    Bytes proof_reply = bytes({0x00, 0x44, 0x00, 0x1B, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66,
                               0x77, 0x88, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,
                               0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                               0x00, 0x03, 0x00, 0x00, 0x00, 0x05});
    for (std::uint8_t b : proof_value()) {
        proof_reply.push_back(std::byte{b});
    }
    check_golden(ProofResponse{.request_id = 2, .part = kProofCommitment, .status = kProofWithheld,
                               .policy = 3, .min_share = 5, .value = proof_value()},
                 proof_reply);
}

// --- sizes, names, round trips -----------------------------------------------------------

TEST_CASE("every message encodes to its command's frame size", "[protocol]") {
    std::set<std::size_t> kinds;
    for (const Message& m : samples()) {
        kinds.insert(m.index());
        const Bytes frame = encoded(m);
        REQUIRE(frame_size(command_of(m)).has_value());
        CHECK(frame.size() == *frame_size(command_of(m)));
        CHECK(frame.size() <= kMaxKnownFrame);
    }
    CHECK(kinds.size() == std::variant_size_v<Message>);
    CHECK(frame_size(Command::query_response) == kMaxKnownFrame);
    for (int id : {7, 8, 15, 28, 30, 32, 100, 0xFFFF}) {
        CHECK_FALSE(frame_size(static_cast<Command>(id)).has_value());
        CHECK(to_string(static_cast<Command>(id)) == "unknown_command");
    }
}

TEST_CASE("decoding an encoded message gives the same message and time back", "[protocol]") {
    for (const Message& m : samples()) {
        for (std::uint64_t time : {std::uint64_t{0}, kTime, ~std::uint64_t{0}}) {
            const Bytes frame = encoded(m, time);
            const DecodeResult r = decode(frame);
            REQUIRE(r.status == DecodeStatus::frame);
            CHECK(r.consumed == frame.size());
            CHECK(r.frame == Frame{time, m});
            CHECK(command_of(r.frame.message) == command_of(m));
            CHECK(encoded(r.frame.message, r.frame.time) == frame);
        }
    }
}

TEST_CASE("commands, error codes and decode errors have distinct stable names", "[protocol]") {
    std::set<std::string> names;
    for (const Message& m : samples()) {
        names.insert(std::string{to_string(command_of(m))});
    }
    CHECK(names.size() == std::variant_size_v<Message>);
    CHECK(names.count("unknown_command") == 0);
    CHECK(to_string(Command::packet_notice) == "packet_notice");

    std::set<std::string> codes;
    for (std::uint32_t v = 1; v <= 14; ++v) {
        codes.insert(std::string{to_string(static_cast<ErrorCode>(v))});
    }
    CHECK(codes.size() == 14);
    CHECK(codes.count("unknown_error_code") == 0);
    CHECK(to_string(ErrorCode::not_logged_in) == "not_logged_in");
    CHECK(to_string(static_cast<ErrorCode>(999)) == "unknown_error_code");
    CHECK(to_string(DecodeError::bad_body_length) == "bad_body_length");
    CHECK(to_string(DecodeError::length_too_large) == "length_too_large");
}

TEST_CASE("library enums map to and from their documented wire values", "[protocol]") {
    CHECK(split_policy_from_wire(0) == SplitPolicy::double_mean);
    CHECK(split_policy_from_wire(3) == SplitPolicy::fixed);
    CHECK_FALSE(split_policy_from_wire(4).has_value());
    CHECK(claim_status_from_wire(to_wire(ClaimStatus::sold_out)) == ClaimStatus::sold_out);
    CHECK(claim_status_from_wire(4) == ClaimStatus::not_found);
    CHECK(claim_status_from_wire(5) == ClaimStatus::not_allowed);
    CHECK_FALSE(claim_status_from_wire(6).has_value());
    CHECK(packet_state_from_wire(2) == PacketState::expired);
    CHECK_FALSE(packet_state_from_wire(3).has_value());
    CHECK(to_error_code(Error::pool_full) == ErrorCode::pool_full);
    CHECK(to_error_code(Error::mailbox_full) == ErrorCode::overloaded);
    CHECK(to_error_code(Error::not_found) == ErrorCode::not_found);
    CHECK(to_error_code(DecodeError::unknown_command) == ErrorCode::unknown_command);
    CHECK(to_error_code(DecodeError::bad_body_length) == ErrorCode::bad_length);
}

TEST_CASE("encode writes nothing and returns 0 when the buffer is too small", "[protocol]") {
    const Message m = QueryResponse{.request_id = 1, .packet = 2};
    std::array<std::byte, kMaxKnownFrame + 1> out{};
    out.fill(std::byte{0x5A});
    CHECK(encode(m, kTime, std::span{out}.first(kMaxKnownFrame - 1)) == 0);
    for (std::byte b : out) {
        REQUIRE(b == std::byte{0x5A});
    }
    CHECK(encode(m, kTime, std::span{out}.first(kMaxKnownFrame)) == kMaxKnownFrame);
    CHECK(out[kMaxKnownFrame] == std::byte{0x5A});  // nothing past the frame
    CHECK(encode(LoginRequest{1}, kTime, {}) == 0);
}

TEST_CASE("append adds one frame after the bytes already in the vector", "[protocol]") {
    Bytes out = bytes({0xAB});
    append(out, Heartbeat{.nonce = 5}, kTime);
    append(out, LoginRequest{.user = 6}, kTime);
    REQUIRE(out.size() == 1 + 20 + 16);
    CHECK(out[0] == std::byte{0xAB});
    const DecodeResult first = decode(std::span{out}.subspan(1));
    REQUIRE(first.status == DecodeStatus::frame);
    CHECK(first.consumed == 20);  // only the first of the two frames
    CHECK(first.frame.message == Message{Heartbeat{.nonce = 5}});
}

// --- decode errors and partial input -------------------------------------------------------

namespace {

DecodeResult decode_header(int length, int cmd, std::size_t max_frame = kDefaultMaxFrame) {
    const Bytes head = bytes({length >> 8, length & 0xFF, cmd >> 8, cmd & 0xFF});
    return decode(head, max_frame);
}

void check_rejected(int length, int cmd, DecodeError expected) {
    INFO("length " << length << ", command " << cmd);
    const DecodeResult r = decode_header(length, cmd);
    REQUIRE(r.status == DecodeStatus::error);
    CHECK(r.error == expected);
    CHECK(r.consumed == 0);
}

}  // namespace

TEST_CASE("a bad length or command is rejected from the first 4 bytes", "[protocol]") {
    check_rejected(0, 0, DecodeError::length_too_small);
    check_rejected(11, 0, DecodeError::length_too_small);
    check_rejected(65535, 0, DecodeError::length_too_large);
    check_rejected(1025, 31, DecodeError::length_too_large);
    check_rejected(16, 7, DecodeError::unknown_command);
    check_rejected(16, 15, DecodeError::unknown_command);
    check_rejected(16, 100, DecodeError::unknown_command);
    check_rejected(16, 0xFFFF, DecodeError::unknown_command);
    check_rejected(20, 0, DecodeError::bad_body_length);   // login is 16
    check_rejected(12, 23, DecodeError::bad_body_length);  // query response is 72
    check_rejected(73, 23, DecodeError::bad_body_length);
    // Validation order: length bounds, then command, then body length.
    check_rejected(5, 100, DecodeError::length_too_small);
    check_rejected(2000, 100, DecodeError::length_too_large);
    check_rejected(100, 100, DecodeError::unknown_command);
}

TEST_CASE("the max frame size is a parameter of decode", "[protocol]") {
    CHECK(decode_header(72, 23, 71).error == DecodeError::length_too_large);
    CHECK(decode_header(72, 23, 72).status == DecodeStatus::need_more);
    const Bytes frame = encoded(QueryResponse{});
    CHECK(decode(frame, 72).status == DecodeStatus::frame);
    CHECK(decode(frame, 64).status == DecodeStatus::error);
}

TEST_CASE("fewer than 4 bytes or a partial body asks for more", "[protocol]") {
    const Bytes frame = encoded(ShakeResponse{.user = 1, .result = kShakeGotPacket});
    for (std::size_t n = 0; n < frame.size(); ++n) {
        // The whole frame is in memory; decode must judge only the n bytes it is given.
        INFO("prefix of " << n << " bytes");
        const DecodeResult r = decode(std::span{frame}.first(n));
        CHECK(r.status == DecodeStatus::need_more);
        CHECK(r.consumed == 0);
    }
    // Even bytes that would start an invalid frame are not judged before 4 are present.
    CHECK(decode(bytes({0x00})).status == DecodeStatus::need_more);
    CHECK(decode(bytes({0x00, 0x00, 0x00})).status == DecodeStatus::need_more);
}

// --- random input ----------------------------------------------------------------------------

namespace {

/// What decode must say about `in`, worked out independently of it.
struct Verdict {
    DecodeStatus status{DecodeStatus::need_more};
    DecodeError error{};
    std::size_t length{0};
};

Verdict reference_decode(std::span<const std::byte> in) {
    if (in.size() < 4) {
        return {};
    }
    const std::size_t length = std::to_integer<std::size_t>(in[0]) * 256 +
                               std::to_integer<std::size_t>(in[1]);
    const auto cmd = static_cast<Command>(std::to_integer<unsigned>(in[2]) * 256 +
                                          std::to_integer<unsigned>(in[3]));
    const auto error = [](DecodeError e) { return Verdict{DecodeStatus::error, e, 0}; };
    if (length < kHeaderSize) {
        return error(DecodeError::length_too_small);
    }
    if (length > kDefaultMaxFrame) {
        return error(DecodeError::length_too_large);
    }
    if (!frame_size(cmd)) {
        return error(DecodeError::unknown_command);
    }
    if (frame_size(cmd) != length) {
        return error(DecodeError::bad_body_length);
    }
    return {in.size() < length ? DecodeStatus::need_more : DecodeStatus::frame, {}, length};
}

/// Random chunks of 0–100 bytes; half of those with 4+ bytes start with a known command and a
/// length of its frame size −1, +0 or +1, so that every decode outcome is common.
class RandomChunks {
public:
    explicit RandomChunks(std::uint64_t seed) : rng_{seed} {}

    /// An exactly sized heap block, so that ASan flags any read past its end.
    std::unique_ptr<std::byte[]> next(std::size_t& size) {
        static constexpr std::uint16_t kIds[] = {0,  1,  2,  3,  4,  5,  6,  16, 17,
                                                 18, 19, 20, 21, 22, 23, 24, 25, 31};
        size = std::uniform_int_distribution<std::size_t>{0, 100}(rng_);
        auto block = std::make_unique<std::byte[]>(size);
        for (std::size_t i = 0; i < size; ++i) {
            block[i] = static_cast<std::byte>(byte());
        }
        if (size >= 4 && (byte() & 1U) != 0) {
            const std::uint16_t cmd = kIds[byte() % std::size(kIds)];
            const std::size_t length = *frame_size(static_cast<Command>(cmd)) + byte() % 3 - 1;
            block[0] = static_cast<std::byte>(length >> 8U);
            block[1] = static_cast<std::byte>(length & 0xFFU);
            block[2] = std::byte{0};
            block[3] = static_cast<std::byte>(cmd);
        }
        return block;
    }

private:
    unsigned byte() { return std::uniform_int_distribution<unsigned>{0, 255}(rng_); }

    std::mt19937_64 rng_;
};

}  // namespace

TEST_CASE("decode of random bytes never overreads and every frame re-encodes exactly",
          "[protocol]") {
    RandomChunks chunks{0x5EED};
    std::array<std::size_t, 3> outcomes{};  // indexed by DecodeStatus
    for (int iteration = 0; iteration < 100'000; ++iteration) {
        std::size_t size = 0;
        const auto block = chunks.next(size);
        const std::span<const std::byte> in{block.get(), size};
        const DecodeResult r = decode(in);
        const Verdict expected = reference_decode(in);
        REQUIRE(r.status == expected.status);
        ++outcomes[static_cast<std::size_t>(r.status)];
        if (r.status == DecodeStatus::error) {
            REQUIRE(r.error == expected.error);
        } else if (r.status == DecodeStatus::frame) {
            REQUIRE(r.consumed == expected.length);
            REQUIRE(hex(encoded(r.frame.message, r.frame.time)) == hex(in.first(r.consumed)));
        } else {
            REQUIRE(r.consumed == 0);
        }
    }
    // Each outcome was exercised often enough to mean something.
    for (std::size_t count : outcomes) {
        CHECK(count > 5'000);
    }
}

TEST_CASE("request_id_of and packet_of read the ids a message carries, 0 where it has none",
          "[protocol]") {
    using namespace redpacket::protocol;
    CHECK(request_id_of(Claim{7, 9}) == 7);
    CHECK(packet_of(Claim{7, 9}) == 9);
    CHECK(request_id_of(Proof{3, 4, kProofSeed}) == 3);
    CHECK(packet_of(Proof{3, 4, kProofSeed}) == 4);
    CHECK(request_id_of(ErrorReply{5, ErrorCode::overloaded}) == 5);
    CHECK(request_id_of(GrabRequest{1, 0xABCDEF01}) == 0);  // the original protocol has none
    CHECK(packet_of(GrabRequest{1, 0xABCDEF01}) == 0xABCDEF01);
    CHECK(packet_of(ShakeRequest{1}) == 0);
    CHECK(request_id_of(Heartbeat{8}) == 0);
}
