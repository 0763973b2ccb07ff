// JournalRecord: one pool state change as the write-ahead journal stores it, and its codec.
//
// A record is what a PoolEvent says plus where it belongs: a sequence number (strictly
// increasing per journal, no gaps), the shard of the pool, and the client's request id (creates
// and claims, so exactly-once survives a restart). A created record carries the split policy,
// every share amount and the users the packet is restricted to, so replay rebuilds the packet
// exactly.
//
// Encoding (little-endian, docs/journal.md has the table): u32 length, u32 CRC-32C of the
// length field, the fixed fields, n × i64 shares, m × u64 allowed claimers (m in the u16 that
// older journals kept 0 as reserved), for a verifiable packet its 32-byte seed and i64 minimum
// share (flagged by the policy byte's top bit; older journals have neither), and a u32 CRC-32C
// of everything before it.
// The length has its own CRC so that a flipped length bit is recognised as corruption instead of
// being trusted to skip or to run past the end of the file; the trailing CRC catches any other
// flipped bit and any record cut short.
//
// Thread-safety: pure functions; `encode_*` never allocate, `decode_record` allocates only to
// grow the caller's share vector. Neither reads or writes outside the spans given.
#pragma once

#include <cstddef>
#include <array>
#include <cstdint>
#include <optional>
#include <expected>
#include <span>
#include <string_view>
#include <vector>

#include "redpacket/money.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/split.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// Bytes of the record header: u32 length, u32 CRC-32C of the length.
inline constexpr std::size_t kRecordHeaderSize = 8;
/// Bytes of a record without shares (every kind but created).
inline constexpr std::size_t kRecordFixedSize = 76;
/// Bytes a verifiable created record adds: the seed and the minimum share.
inline constexpr std::size_t kRecordProofSize = 32 + 8;
/// Bytes of the largest record: a verifiable created record of kMaxShares shares restricted to
/// kMaxAllowedClaimers users.
inline constexpr std::size_t kMaxRecordSize =
    kRecordFixedSize + 8 * (std::size_t{kMaxShares} + kMaxAllowedClaimers) + kRecordProofSize;

/// One journaled state change.
struct JournalRecord {
    std::uint64_t sequence{0};
    PoolEventKind kind{PoolEventKind::created};
    SplitPolicy policy{SplitPolicy::double_mean};  ///< created only
    ShardId shard{0};
    PacketId packet;
    UserId user{0};
    Cents amount;
    std::uint32_t index{0};
    Time at{};
    std::uint64_t request_id{0};  ///< the client's request (created, claimed); 0 = none
    std::vector<Cents> shares;     ///< created only: every share, in hand-out order
    std::vector<UserId> allowed;   ///< created only: the only users who may claim, ascending
    /// created, verifiable packets: the seed and the smallest share of the split.
    std::optional<std::array<std::uint8_t, 32>> seed;
    Cents min_share;

    friend bool operator==(const JournalRecord&, const JournalRecord&) = default;
};

/// The record of a pool event.
[[nodiscard]] JournalRecord to_record(const PoolEvent& event, ShardId shard,
                                      std::uint64_t request_id, std::uint64_t sequence);
/// The event a record describes, for `RedPacketPool::replay` (its shares and allowed list
/// point into `record`).
[[nodiscard]] PoolEvent to_event(const JournalRecord& record) noexcept;

/// Encoded bytes of a record with `share_count` shares, `allowed_count` allowed claimers and,
/// if `proof`, a seed.
[[nodiscard]] constexpr std::size_t record_size(std::size_t share_count,
                                                std::size_t allowed_count = 0,
                                                bool proof = false) noexcept {
    return kRecordFixedSize + 8 * (share_count + allowed_count) + (proof ? kRecordProofSize : 0);
}
/// Encoded bytes of `record`.
[[nodiscard]] inline std::size_t record_size(const JournalRecord& record) noexcept {
    return record_size(record.shares.size(), record.allowed.size(), record.seed.has_value());
}

/// Writes `record` at the start of `out`. Returns the bytes written, or 0 (out untouched) if
/// `out` is too small or the record has more than kMaxShares shares or kMaxAllowedClaimers
/// allowed claimers. Complexity: O(size).
[[nodiscard]] std::size_t encode_record(const JournalRecord& record,
                                        std::span<std::byte> out) noexcept;
/// Writes the record of `event` (with this sequence, shard and request id) at the start of
/// `out`, as `encode_record(to_record(...))` would, without building a JournalRecord.
[[nodiscard]] std::size_t encode_event(std::uint64_t sequence, ShardId shard,
                                       std::uint64_t request_id, const PoolEvent& event,
                                       std::span<std::byte> out) noexcept;

/// Why bytes are not a record.
enum class RecordError : std::uint8_t {
    truncated,   ///< the input ends inside the record (a torn write, or more to read)
    bad_header,  ///< the length field fails its CRC
    bad_length,  ///< the length is outside [kRecordFixedSize, kMaxRecordSize] or not
                 ///< kRecordFixedSize plus a multiple of 8
    bad_crc,     ///< the record fails its CRC
    bad_field,   ///< CRC-valid but malformed: unknown kind or policy, more than kMaxShares
                 ///< shares or kMaxAllowedClaimers allowed claimers, a length that disagrees
                 ///< with those counts, shares or allowed claimers on a kind other than created
};
/// A stable name, e.g. "bad_crc".
[[nodiscard]] std::string_view to_string(RecordError e) noexcept;

/// The length of the record at the start of `in`, from its header alone (truncated if fewer
/// than kRecordHeaderSize bytes, bad_header, bad_length).
[[nodiscard]] std::expected<std::size_t, RecordError> peek_record_length(
    std::span<const std::byte> in) noexcept;

/// Decodes the record at the start of `in` into `out` (reusing the capacity of out.shares).
/// Returns the bytes it occupies. Checks, in order: header CRC, length bounds, that the whole
/// record is present, its CRC, then its fields. On error `out` is unspecified.
[[nodiscard]] std::expected<std::size_t, RecordError> decode_record(std::span<const std::byte> in,
                                                                    JournalRecord& out);

}  // namespace redpacket
