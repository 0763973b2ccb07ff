// Fuzz target: the wire decoder (`decode`) and the streaming `FrameAssembler`, fed an arbitrary
// byte stream in arbitrary chunkings.
//
// Input layout: byte 0 picks the max frame size (low 3 bits) and how many chunk-size bytes
// follow (high 5 bits, 1–16 after a modulo); those bytes are the chunk sizes (0–255, cycled;
// 0 feeds an empty chunk); the rest is the stream. make_seeds writes inputs of this shape.
//
// Properties:
// - the stateless reference (decode in a loop) yields frames that re-encode byte-exact to the
//   bytes they came from, each of its command's exact size; no proper prefix of a frame is
//   accepted or rejected (need_more), and a rejection is decided from the bad frame's first 4
//   bytes alone;
// - a FrameAssembler fed the stream in one piece, and another fed it chunk by chunk (each
//   chunk copied into its own heap block, so ASan sees any read past a chunk or into an
//   earlier one), deliver exactly the reference's frames and stop with the reference's error;
// - `feed` returns the number of frames it delivered; after the error every feed returns the
//   same error and delivers nothing, even a valid frame; `reset` makes it work again;
// - a partial frame held between chunks is at most kMaxKnownFrame − 1 bytes and, at the end
//   of an unbroken stream, is exactly the tail after the last frame.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "redpacket/protocol.hpp"

namespace {

using namespace redpacket::protocol;
using redpacket::fuzz::InputReader;

constexpr std::array<std::size_t, 8> kMaxFrames{kDefaultMaxFrame, kMaxKnownFrame, kHeaderSize, 16,
                                                28,               40,             65535,       0};

/// What the stateless decoder finds in the whole stream.
struct Reference {
    std::vector<Frame> frames;
    std::vector<std::size_t> offsets;  ///< where each frame starts
    std::size_t consumed{0};           ///< bytes of all frames
    std::optional<DecodeError> error;  ///< the rejection, at offset `consumed`
};

Reference decode_all(std::span<const std::byte> stream, std::size_t max_frame) {
    Reference ref;
    for (;;) {
        const auto rest = stream.subspan(ref.consumed);
        const DecodeResult r = decode(rest, max_frame);
        if (r.status == DecodeStatus::need_more) {
            REDPACKET_FUZZ_CHECK(r.consumed == 0, "need_more consumes nothing");
            return ref;
        }
        if (r.status == DecodeStatus::error) {
            REDPACKET_FUZZ_CHECK(rest.size() >= 4, "a rejection needs the first 4 bytes");
            ref.error = r.error;
            return ref;
        }
        REDPACKET_FUZZ_CHECK(r.consumed >= kHeaderSize && r.consumed <= rest.size(),
                             "a frame lies inside the input");
        ref.frames.push_back(r.frame);
        ref.offsets.push_back(ref.consumed);
        ref.consumed += r.consumed;
    }
}

/// Every frame re-encodes to its own bytes, and none of its prefixes decides early.
void check_reference(const Reference& ref, std::span<const std::byte> stream,
                     std::size_t max_frame) {
    std::array<std::byte, kMaxKnownFrame> buf{};
    for (std::size_t i = 0; i < ref.frames.size(); ++i) {
        const Frame& f = ref.frames[i];
        const std::size_t size = frame_size(command_of(f.message)).value_or(0);
        const std::size_t end = i + 1 < ref.offsets.size() ? ref.offsets[i + 1] : ref.consumed;
        const auto source = stream.subspan(ref.offsets[i], end - ref.offsets[i]);
        REDPACKET_FUZZ_CHECK(size == source.size(), "a frame has its command's exact size");
        const std::size_t written = encode(f.message, f.time, buf);
        REDPACKET_FUZZ_CHECK(written == size, "encode writes the frame size");
        REDPACKET_FUZZ_CHECK(std::memcmp(buf.data(), source.data(), size) == 0,
                             "decode then encode gives back the same bytes");
        for (std::size_t k = 0; k < size; ++k) {
            const DecodeResult early = decode(source.first(k), max_frame);
            REDPACKET_FUZZ_CHECK(early.status == DecodeStatus::need_more,
                                 "a proper prefix of a valid frame is need_more");
        }
    }
    if (ref.error) {
        const auto bad = stream.subspan(ref.consumed, 4);
        const DecodeResult r = decode(bad, max_frame);
        REDPACKET_FUZZ_CHECK(r.status == DecodeStatus::error && r.error == *ref.error,
                             "a rejection is decided by the first 4 bytes of the frame");
    }
}

/// One assembler's view of the stream.
struct Delivered {
    std::vector<Frame> frames;
    std::optional<DecodeError> error;
};

/// Feeds one chunk (copied into a block of its exact size) and checks what `feed` reports.
void feed_chunk(FrameAssembler& a, std::span<const std::byte> chunk, Delivered& out) {
    std::unique_ptr<std::byte[]> copy;
    if (!chunk.empty()) {
        copy = std::make_unique<std::byte[]>(chunk.size());
        std::memcpy(copy.get(), chunk.data(), chunk.size());
    }
    const std::size_t before = out.frames.size();
    const auto r = a.feed(std::span<const std::byte>{copy.get(), chunk.size()},
                          [&](const Frame& f) { out.frames.push_back(f); });
    const std::size_t delivered = out.frames.size() - before;
    if (out.error) {
        REDPACKET_FUZZ_CHECK(!r && r.error() == *out.error && delivered == 0,
                             "a failed assembler delivers nothing and repeats its error");
    } else if (!r) {
        out.error = r.error();
    } else {
        REDPACKET_FUZZ_CHECK(*r == delivered, "feed returns the number of frames delivered");
    }
    REDPACKET_FUZZ_CHECK(a.error() == out.error, "error() reports the sticky error");
    REDPACKET_FUZZ_CHECK(a.buffered() < kMaxKnownFrame, "a held partial frame is bounded");
    REDPACKET_FUZZ_CHECK(a.idle() == (a.buffered() == 0 && !out.error),
                         "idle means no partial frame and no error");
}

void check_same(const Delivered& got, const Reference& ref, std::span<const std::byte> stream,
                const FrameAssembler& a) {
    REDPACKET_FUZZ_CHECK(got.frames == ref.frames,
                         "the assembler delivers exactly the stateless decoder's frames");
    REDPACKET_FUZZ_CHECK(got.error == ref.error, "the assembler stops with the same error");
    if (!ref.error) {
        REDPACKET_FUZZ_CHECK(a.buffered() == stream.size() - ref.consumed,
                             "the bytes after the last frame are held");
    } else {
        REDPACKET_FUZZ_CHECK(a.buffered() == 0, "a failed assembler holds nothing");
    }
}

/// After an error nothing gets through, not even a valid frame; after `reset` it does.
void check_sticky_then_reset(FrameAssembler& a, Delivered& d, std::size_t max_frame) {
    std::array<std::byte, kMaxKnownFrame> buf{};
    const Frame probe{7, Heartbeat{0x0123456789abcdefULL}};
    const std::size_t n = encode(probe.message, probe.time, buf);
    const auto bytes = std::span<const std::byte>{buf.data(), n};
    const bool failed = d.error.has_value();
    feed_chunk(a, bytes, d);  // checks that a failed assembler delivers nothing
    if (!failed) {
        return;
    }
    a.reset();
    REDPACKET_FUZZ_CHECK(a.idle() && !a.error(), "reset clears the error and the partial frame");
    std::vector<Frame> after;
    const auto r = a.feed(bytes, [&](const Frame& f) { after.push_back(f); });
    const DecodeResult expect = decode(bytes, max_frame);  // max_frame may refuse 20 bytes
    if (expect.status == DecodeStatus::frame) {
        REDPACKET_FUZZ_CHECK(r && *r == 1 && after.size() == 1 && after[0] == probe,
                             "after reset a valid frame is delivered");
    } else {
        REDPACKET_FUZZ_CHECK(!r && r.error() == expect.error && after.empty(),
                             "after reset the assembler rejects what decode rejects");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    InputReader in{redpacket::fuzz::as_bytes(data, size)};
    const std::uint8_t head = in.byte();
    const std::size_t max_frame = kMaxFrames[head & 7U];
    const std::size_t table_size = ((head >> 3U) % 16U) + 1;
    std::vector<std::size_t> chunks;
    for (const std::byte b : in.take(table_size)) {
        chunks.push_back(static_cast<std::size_t>(b));
    }
    if (std::ranges::all_of(chunks, [](std::size_t c) { return c == 0; })) {
        chunks.push_back(1);  // guarantee progress
    }
    const std::span<const std::byte> stream = in.rest();

    const Reference ref = decode_all(stream, max_frame);
    check_reference(ref, stream, max_frame);

    FrameAssembler whole{max_frame};
    Delivered one_piece;
    feed_chunk(whole, stream, one_piece);
    check_same(one_piece, ref, stream, whole);

    FrameAssembler chunked{max_frame};
    Delivered pieces;
    std::size_t at = 0;
    for (std::size_t i = 0; at < stream.size(); ++i) {
        const std::size_t n = std::min(chunks[i % chunks.size()], stream.size() - at);
        feed_chunk(chunked, stream.subspan(at, n), pieces);
        at += n;
    }
    check_same(pieces, ref, stream, chunked);

    check_sticky_then_reset(chunked, pieces, max_frame);
    return 0;
}
