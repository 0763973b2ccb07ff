// FrameAssembler: frames delivered whole and in order however the stream is cut.
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

// --- FrameAssembler ----------------------------------------------------------------------

namespace {

struct Collector {
    std::vector<Frame> frames;
    void operator()(const Frame& f) { frames.push_back(f); }
};

}  // namespace

TEST_CASE("the assembler delivers every frame of one chunk in order", "[protocol]") {
    std::vector<Frame> expected;
    const Bytes stream = sample_stream(expected);
    FrameAssembler assembler;
    Collector got;
    const auto n = assembler.feed(stream, got);
    REQUIRE(n.has_value());
    CHECK(*n == expected.size());
    CHECK(got.frames == expected);
    CHECK(assembler.idle());
    CHECK(assembler.feed({}, got) == std::size_t{0});
}

TEST_CASE("the assembler gives the same frames wherever the stream is split", "[protocol]") {
    std::vector<Frame> expected;
    const Bytes stream = sample_stream(expected);
    for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
        INFO("split at " << cut);
        FrameAssembler assembler;
        Collector got;
        const auto a = assembler.feed(std::span{stream}.first(cut), got);
        const auto b = assembler.feed(std::span{stream}.subspan(cut), got);
        REQUIRE(a.has_value());
        REQUIRE(b.has_value());
        CHECK(*a + *b == expected.size());
        CHECK(got.frames == expected);
        CHECK(assembler.idle());
    }
}

TEST_CASE("the assembler is idle exactly on frame boundaries when fed byte by byte",
          "[protocol]") {
    std::vector<Frame> expected;
    const Bytes stream = sample_stream(expected);
    std::set<std::size_t> boundaries{0};
    std::size_t at = 0;
    for (const Frame& f : expected) {
        at += *frame_size(command_of(f.message));
        boundaries.insert(at);
    }
    FrameAssembler assembler;
    Collector got;
    for (std::size_t i = 0; i < stream.size(); ++i) {
        const auto n = assembler.feed(std::span{stream}.subspan(i, 1), got);
        REQUIRE(n.has_value());
        const bool boundary = boundaries.count(i + 1) != 0;
        CHECK(*n == (boundary ? 1U : 0U));
        CHECK(assembler.idle() == boundary);
        CHECK(assembler.buffered() < kMaxKnownFrame);
    }
    CHECK(got.frames == expected);
}

TEST_CASE("the assembler handles random chunk sizes", "[protocol]") {
    std::vector<Frame> expected;
    const Bytes one = sample_stream(expected);
    Bytes stream;
    for (int i = 0; i < 20; ++i) {
        stream.insert(stream.end(), one.begin(), one.end());
    }
    std::mt19937_64 rng{20170101};
    std::uniform_int_distribution<std::size_t> size{0, 150};
    FrameAssembler assembler;
    Collector got;
    std::size_t delivered = 0;
    for (std::size_t at = 0; at < stream.size();) {
        const std::size_t n = std::min(size(rng), stream.size() - at);
        const auto r = assembler.feed(std::span{stream}.subspan(at, n), got);
        REQUIRE(r.has_value());
        delivered += *r;
        at += n;
    }
    CHECK(delivered == 20 * expected.size());
    REQUIRE(got.frames.size() == 20 * expected.size());
    for (std::size_t i = 0; i < got.frames.size(); ++i) {
        REQUIRE(got.frames[i] == expected[i % expected.size()]);
    }
    CHECK(assembler.idle());
}

TEST_CASE("an error mid-stream stops the assembler and later frames are not delivered",
          "[protocol]") {
    Bytes stream = encoded(LoginRequest{.user = 1});
    append(stream, ShakeRequest{.user = 1}, kTime);
    const Bytes bad = bytes({0x00, 0x10, 0x00, 0x07});  // unknown command 7
    stream.insert(stream.end(), bad.begin(), bad.end());
    append(stream, ShakeRequest{.user = 2}, kTime);

    FrameAssembler assembler;
    Collector got;
    const auto r = assembler.feed(stream, got);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == DecodeError::unknown_command);
    CHECK(got.frames.size() == 2);
    CHECK(assembler.error() == DecodeError::unknown_command);
    CHECK_FALSE(assembler.idle());

    // Sticky: valid bytes afterwards are refused with the same error.
    const auto again = assembler.feed(encoded(Heartbeat{}), got);
    CHECK(again == std::unexpected(DecodeError::unknown_command));
    CHECK(got.frames.size() == 2);

    assembler.reset();
    CHECK(assembler.idle());
    CHECK(assembler.feed(encoded(Heartbeat{}), got) == std::size_t{1});
}

TEST_CASE("the assembler rejects a straddling bad header once its 4th byte arrives",
          "[protocol]") {
    FrameAssembler assembler;
    Collector got;
    CHECK(assembler.feed(bytes({0x00}), got) == std::size_t{0});
    CHECK(assembler.feed(bytes({0x14, 0x00}), got) == std::size_t{0});
    CHECK(assembler.buffered() == 3);
    // The 4th byte makes login (cmd 0) with length 20: wrong, though no body byte is here.
    CHECK(assembler.feed(bytes({0x00}), got) == std::unexpected(DecodeError::bad_body_length));
    CHECK(got.frames.empty());

    FrameAssembler small{16};
    CHECK(small.feed(bytes({0x00, 0x48, 0x00}), got) == std::size_t{0});
    CHECK(small.feed(bytes({0x17, 0x00}), got) == std::unexpected(DecodeError::length_too_large));
}

TEST_CASE("a frame completed from held bytes is followed by frames of the same chunk",
          "[protocol]") {
    const Bytes a = encoded(ClaimResponse{.request_id = 1, .amount = 5});
    const Bytes b = encoded(Claim{.request_id = 2});
    Bytes tail(a.begin() + 10, a.end());
    tail.insert(tail.end(), b.begin(), b.end());
    tail.insert(tail.end(), a.begin(), a.begin() + 3);

    FrameAssembler assembler;
    Collector got;
    CHECK(assembler.feed(std::span{a}.first(10), got) == std::size_t{0});
    CHECK(assembler.buffered() == 10);
    CHECK(assembler.feed(tail, got) == std::size_t{2});
    CHECK(assembler.buffered() == 3);
    CHECK_FALSE(assembler.idle());
    REQUIRE(got.frames.size() == 2);
    CHECK(got.frames[0].message == Message{ClaimResponse{.request_id = 1, .amount = 5}});
    CHECK(got.frames[1].message == Message{Claim{.request_id = 2}});
}

