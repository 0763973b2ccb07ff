// Snapshots: the live state of a worker's pools at one journal sequence, so that recovery
// replays only the journal after it and older segments can be deleted.
//
// A snapshot holds, per pool, the events `RedPacketPool::for_each_live` reports (as journal
// records) and its `PoolCheckpoint` (every counter, the shake serial, slot generations); plus
// the sequence of the last journal record whose effect it includes, and the caller's create
// idempotency entries (user, request id → packet). File `snapshot-<sequence, 20 digits>.snap`,
// written atomically (temporary file, fdatasync, rename, fsync of the directory), with a
// CRC-32C over the whole content; docs/journal.md has the layout.
//
// How the daemon takes one: on the pools' thread, note `writer.last_sequence()` (every record
// up to it is reflected in the pools, none after) and encode the live pools at it; then, on
// any other thread, wait until `writer.durable_sequence()` reaches that sequence and call
// `write_snapshot_bytes` — a snapshot must never cover records the journal may still lose.
//
// Which snapshot recovery loads: the newest one that reads back valid. A corrupt newer one is
// skipped with a warning; that is safe because `prune_journal` keeps the segments after the
// oldest snapshot it keeps (two by default), and recovery still fails if the journal does not
// continue from the snapshot it loaded.
//
// Thread-safety: `capture` and `restore_pool` need the pool's owner thread; everything else is
// a pure function of its arguments or works on files only, and is safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/journal_file.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace redpacket {

/// A create request the daemon answered: a retry with the same (user, request id) gets the
/// same packet.
struct CreateRequestEntry {
    UserId user{0};
    std::uint64_t request_id{0};
    PacketId packet;
    friend bool operator==(const CreateRequestEntry&, const CreateRequestEntry&) = default;
};

/// The live state of one pool.
struct PoolSnapshot {
    ShardId shard{0};
    std::uint32_t max_packets{0};  ///< ids depend on it: the restoring pool must match
    PoolCheckpoint checkpoint;
    std::vector<JournalRecord> events;  ///< for_each_live, as records with sequence 0
    friend bool operator==(const PoolSnapshot&, const PoolSnapshot&) = default;
};

/// The live state of several pools at one journal sequence.
struct Snapshot {
    std::uint64_t sequence{0};  ///< last journal sequence included (0: before any record)
    std::vector<PoolSnapshot> pools;
    std::vector<CreateRequestEntry> create_requests;
    friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

/// Captures one pool. Complexity: O(live packets + live shares + shake supply + slots).
[[nodiscard]] PoolSnapshot capture(const RedPacketPool& pool);

/// Rebuilds a fresh pool (nothing created or offered yet, same shard and max_packets) from a
/// captured one. Errors: invalid_argument (pool not fresh or not matching), or the error of
/// the first event or checkpoint the pool refuses (the pool is then partly rebuilt: discard it).
[[nodiscard]] std::expected<void, Error> restore_pool(RedPacketPool& pool,
                                                      const PoolSnapshot& snapshot);

/// "snapshot-<sequence, 20 digits>.snap".
[[nodiscard]] std::string snapshot_name(std::uint64_t sequence);
/// The sequence of a snapshot file name, or nothing for other names.
[[nodiscard]] std::optional<std::uint64_t> parse_snapshot_name(std::string_view name) noexcept;

/// The file content of `snapshot`. Allocates only the result, sized exactly up front.
[[nodiscard]] std::vector<std::byte> encode_snapshot(const Snapshot& snapshot);
/// The file content of a snapshot of live pools at `sequence`: the same bytes as
/// `encode_snapshot` of {sequence, `capture` of each pool, create_requests}, without building
/// the captures (no record objects, no per-packet allocation: besides the result, sized
/// exactly up front, only each pool's checkpoint is allocated). For a service snapshotting
/// large pools periodically. Needs the pools' owner thread. Complexity: O(2 × live events +
/// slots).
[[nodiscard]] std::vector<std::byte> encode_snapshot(std::uint64_t sequence,
                                                     std::span<const RedPacketPool* const> pools,
                                                     std::span<const CreateRequestEntry> create_requests);
/// Parses file content; checks the CRC first and never reads past `bytes`. `file` only names
/// the source in errors (corrupt, with the byte offset of the bad field).
[[nodiscard]] std::expected<Snapshot, JournalError> decode_snapshot(
    std::span<const std::byte> bytes, const std::string& file = {});

/// Writes `snapshot` to `dir/snapshot_name(snapshot.sequence)` atomically. Returns the path.
[[nodiscard]] std::expected<std::string, JournalError> write_snapshot(JournalFileSystem& fs,
                                                                      const std::string& dir,
                                                                      const Snapshot& snapshot);
/// Writes already encoded content (`encode_snapshot` of a snapshot at `sequence`) the same way.
/// Lets a caller encode on its own thread and do only the I/O elsewhere.
[[nodiscard]] std::expected<std::string, JournalError> write_snapshot_bytes(
    JournalFileSystem& fs, const std::string& dir, std::uint64_t sequence,
    std::span<const std::byte> bytes);
/// Reads and decodes one snapshot file.
[[nodiscard]] std::expected<Snapshot, JournalError> read_snapshot(JournalFileSystem& fs,
                                                                  const std::string& path);

/// A snapshot file of a directory.
struct SnapshotInfo {
    std::string file;  ///< full path
    std::uint64_t sequence;
};
/// The snapshots of `dir`, oldest first (empty if `dir` does not exist).
[[nodiscard]] std::expected<std::vector<SnapshotInfo>, JournalError> list_snapshots(
    JournalFileSystem& fs, const std::string& dir);

/// The snapshot recovery starts from.
struct SnapshotChoice {
    std::optional<Snapshot> snapshot;  ///< the newest valid snapshot, if any
    std::string file;                  ///< its path
    std::vector<std::string> skipped;  ///< newer files skipped as corrupt: path and reason
};
/// Finds the newest snapshot of `dir` that reads back valid. Corrupt newer files are skipped
/// and listed (recovery then still fails if the journal does not continue from the snapshot
/// it uses, or from sequence 1 without one). Errors: I/O failures other than bad content.
[[nodiscard]] std::expected<SnapshotChoice, JournalError> load_newest_snapshot(
    JournalFileSystem& fs, const std::string& dir);

/// What `prune_journal` deleted.
struct PruneReport {
    std::vector<std::string> removed_segments;
    std::vector<std::string> removed_snapshots;  ///< older snapshots and leftover temporaries
};
/// Deletes the segments whose every record has a sequence ≤ `sequence` (never the last
/// segment, which a writer may be appending to). Thread-safety: may run beside a writer.
[[nodiscard]] std::expected<PruneReport, JournalError> remove_covered_segments(
    JournalFileSystem& fs, const std::string& dir, std::uint64_t sequence);
/// Keeps the newest `keep_snapshots` (≥ 1) snapshots, deletes older ones and leftover
/// temporary files, and removes the segments covered by the oldest snapshot kept, so that a
/// corrupt newest snapshot still leaves a complete older snapshot + journal. May run beside a
/// writer, but not beside a `write_snapshot` into the same directory (its temporary file would
/// be removed): run it after the write, on the same thread.
[[nodiscard]] std::expected<PruneReport, JournalError> prune_journal(JournalFileSystem& fs,
                                                                     const std::string& dir,
                                                                     std::size_t keep_snapshots = 2);

}  // namespace redpacket
