// Fuzz target: snapshot files, `decode_snapshot` and `encode_snapshot`
// (include/redpacket/snapshot.hpp), and `restore_pool` on what decodes.
//
// Input layout: byte 0 is the mode, the rest the file content.
// - mode & 1 == 0: the content as it is;
// - mode & 1 == 1: the trailing CRC recomputed, so that the parser behind it is reached (a
//   snapshot written by a buggy version, or edited by hand, has a valid CRC).
// Bits 1–7 of the mode seed the bit positions flipped below.
//
// Properties:
// - decode never accepts content whose trailing CRC does not match crc32c of the rest,
//   recomputed here, and never reads past the content (ASan: it sits in a block of its size);
// - an accepted snapshot re-encodes byte-exact, and flipping any one bit of it (up to 6
//   positions derived from the input) or cutting its last byte makes it rejected;
// - a rejection is `corrupt` with a message, and its offset lies inside the content;
// - restore_pool of each decoded pool (when its shard and max_packets make a small pool) never
//   crashes; when it succeeds, the restored pool's own snapshot restores into another fresh pool
//   and captures the same again (a restored state survives the next snapshot), and encoding
//   the live pool gives the bytes of encoding its capture.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <span>
#include <vector>

#include "fuzz_check.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/snapshot.hpp"

namespace {

using namespace redpacket;

/// Pools bigger than this are not built (the config comes from the input).
constexpr std::uint32_t kMaxPoolPackets = 4096;

std::optional<RedPacketPool> fresh_pool(ShardId shard, std::uint32_t max_packets) {
    if (shard > kMaxShard || max_packets == 0 || max_packets > kMaxPoolPackets) {
        return std::nullopt;
    }
    PoolConfig config;
    config.shard = shard;
    config.max_packets = max_packets;
    config.shake_capacity = 1024;
    try {
        return RedPacketPool{config};
    } catch (const std::exception&) {
        return std::nullopt;  // a configuration the pool refuses at start-up
    }
}

void check_restore(const PoolSnapshot& snapshot) {
    auto pool = fresh_pool(snapshot.shard, snapshot.max_packets);
    if (!pool || !restore_pool(*pool, snapshot)) {
        return;
    }
    const PoolSnapshot first = capture(*pool);
    const RedPacketPool* live[] = {&*pool};
    REDPACKET_FUZZ_CHECK(encode_snapshot(7, live, {}) == encode_snapshot(Snapshot{7, {first}, {}}),
                         "encoding a live pool gives the bytes of encoding its capture");
    auto again = fresh_pool(snapshot.shard, snapshot.max_packets);
    REDPACKET_FUZZ_CHECK(again.has_value(), "the same pool config builds twice");
    const auto restored = restore_pool(*again, first);
    REDPACKET_FUZZ_CHECK(restored.has_value(), "the snapshot of a restored pool restores");
    REDPACKET_FUZZ_CHECK(capture(*again) == first,
                         "a restored pool captures what it was restored from");
}

void check_accepted(const std::vector<std::byte>& bytes, const Snapshot& s, std::uint8_t seed) {
    const auto body = std::span{bytes}.first(bytes.size() - 4);
    std::uint32_t stored = 0;
    std::memcpy(&stored, bytes.data() + body.size(), 4);
    REDPACKET_FUZZ_CHECK(stored == crc32c(body), "an accepted snapshot's CRC matches");
    REDPACKET_FUZZ_CHECK(encode_snapshot(s) == bytes, "decode then encode gives back the same bytes");

    std::vector<std::byte> copy = bytes;
    const std::size_t bits = bytes.size() * 8;
    const std::size_t positions[] = {seed % bits,
                                     bits - 1 - seed % 32U,
                                     (seed * 2654435761U) % bits,
                                     (s.sequence ^ seed) % bits,
                                     (bits / 2 + seed) % bits,
                                     64 + seed % 64U};
    for (const std::size_t bit : positions) {
        copy[bit / 8] ^= std::byte{static_cast<std::uint8_t>(1U << (bit % 8))};
        REDPACKET_FUZZ_CHECK(!decode_snapshot(copy),
                             "a snapshot with any one bit flipped is rejected");
        copy[bit / 8] ^= std::byte{static_cast<std::uint8_t>(1U << (bit % 8))};
    }
    copy.pop_back();
    REDPACKET_FUZZ_CHECK(!decode_snapshot(copy), "a snapshot cut short is rejected");

    for (const PoolSnapshot& pool : s.pools) {
        check_restore(pool);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t mode = data[0];
    std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data) + 1,
                                 reinterpret_cast<const std::byte*>(data) + size);
    if ((mode & 1U) != 0 && bytes.size() >= 4) {
        const std::uint32_t crc = crc32c(std::span{bytes}.first(bytes.size() - 4));
        std::memcpy(bytes.data() + bytes.size() - 4, &crc, 4);
    }
    const auto decoded = decode_snapshot(bytes, "fuzz.snap");
    if (!decoded) {
        REDPACKET_FUZZ_CHECK(decoded.error().code == Error::corrupt && !decoded.error().message.empty(),
                             "bad content is corrupt, with a message");
        REDPACKET_FUZZ_CHECK(decoded.error().offset <= bytes.size(),
                             "the reported offset lies inside the content");
        return 0;
    }
    check_accepted(bytes, *decoded, static_cast<std::uint8_t>(mode >> 1U));
    return 0;
}
