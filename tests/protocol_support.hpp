// What the protocol tests share: byte helpers, one sample message of every type, and the
// golden-frame check.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "redpacket/protocol.hpp"

namespace protocol_test {

using namespace redpacket;
using namespace redpacket::protocol;

using Bytes = std::vector<std::byte>;

inline constexpr std::uint64_t kTime = 0x1122334455667788;

inline Bytes bytes(std::initializer_list<int> values) {
    Bytes out;
    for (int v : values) {
        out.push_back(static_cast<std::byte>(v));
    }
    return out;
}

/// "00 10 00 00 …": readable in a failed CHECK.
inline std::string hex(std::span<const std::byte> in) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string s;
    for (std::byte b : in) {
        if (!s.empty()) {
            s += ' ';
        }
        const auto v = std::to_integer<unsigned>(b);
        s += kDigits[v >> 4U];
        s += kDigits[v & 0xFU];
    }
    return s;
}

inline Bytes encoded(const Message& m, std::uint64_t time = kTime) {
    Bytes out;
    append(out, m, time);
    return out;
}

/// One message of every type, every field non-zero and distinct from its neighbours.
inline std::array<std::uint8_t, 32> proof_value() {
    std::array<std::uint8_t, 32> v{};
    for (std::size_t i = 0; i < v.size(); ++i) {
        v[i] = static_cast<std::uint8_t>(0xC0 + i);
    }
    return v;
}

inline std::vector<Message> samples() {
    AuthLogin auth{.user = 0xA1A2A3A4, .expiry = 1'700'000'000, .token = {}};
    for (std::size_t i = 0; i < auth.token.size(); ++i) {
        auth.token[i] = static_cast<std::uint8_t>(0xE0 + i);
    }
    return {
        LoginRequest{.user = 0x01020304},
        LoginResponse{.user = 0x01020304, .result = 9},
        ShakeRequest{.user = 77},
        ShakeResponse{.user = 77, .result = kShakeGotPacket, .packet = 0x10203, .amount = 888},
        PacketNotice{.packet = 0xCAFEBABE, .amount = 1000, .share_count = 3, .users = {1, 2, 3}},
        GrabRequest{.user = 0, .packet = 0xCAFEBABE},
        GrabResponse{.packet = 0xCAFEBABE, .amount = 333},
        auth,
        AuthLoginResponse{.user = 0xA1A2A3A4, .result = 6},
        CreatePacket{.request_id = 0x0102030405060708, .total = 10'000'000'000, .count = 100,
                     .policy = 1, .ttl_seconds = 86'400},
        CreateResponse{.request_id = 0x0102030405060708, .packet = 0xFEDCBA9876543210},
        Claim{.request_id = 11, .packet = 0xFEDCBA9876543210},
        ClaimResponse{.request_id = 11, .packet = 0xFEDCBA9876543210, .status = 1,
                      .share_index = 42, .amount = 0x1'0000'0001},
        Query{.request_id = 12, .packet = 0xFEDCBA9876543210},
        QueryResponse{.request_id = 12, .packet = 0xFEDCBA9876543210, .total = 10'000,
                      .count = 10, .claimed_count = 4, .remaining = 6'000,
                      .best_user = 0x8000000000000001, .best_amount = 1'500, .state = 2},
        Heartbeat{.nonce = 0xDEADBEEFDEADBEEF},
        HeartbeatResponse{.nonce = 0xDEADBEEFDEADBEEF},
        ErrorReply{.request_id = 13, .code = ErrorCode::pool_full},
        Proof{.request_id = 14, .packet = 0xFEDCBA9876543210, .part = kProofSeed},
        ProofResponse{.request_id = 14, .part = kProofSeed, .status = kProofOk, .policy = 2,
                      .min_share = 1, .value = proof_value()},
    };
}

/// The frames of `samples()` back to back, each with its own time.
inline Bytes sample_stream(std::vector<Frame>& frames) {
    Bytes stream;
    std::uint64_t time = 1'500'000'000;
    for (const Message& m : samples()) {
        frames.push_back(Frame{time, m});
        append(stream, m, time);
        ++time;
    }
    return stream;
}

/// Checks `golden` byte for byte against `m` at kTime, in both directions.
inline void check_golden(const Message& m, const Bytes& golden) {
    CHECK(hex(encoded(m)) == hex(golden));
    const DecodeResult r = decode(golden);
    REQUIRE(r.status == DecodeStatus::frame);
    CHECK(r.consumed == golden.size());
    CHECK(r.frame == Frame{kTime, m});
}

}  // namespace protocol_test
