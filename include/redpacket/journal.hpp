// The write-ahead journal: JournalWriter (group commit on its own thread), PoolJournal (a pool
// observer that feeds it) and scan_journal (the recovery read, with torn-tail and repair rules).
//
// A journal is a directory of append-only segment files `journal-<first sequence, 20
// digits>.log` holding JournalRecords (journal_record.hpp, docs/journal.md), sequence numbers
// continuous across segments. A segment is closed and the next one started once it reaches
// `segment_bytes`; a writer opened on an existing journal always starts a new segment.
//
// Group commit. `append` (called by an event-loop thread) only encodes the record into the
// pending buffer and returns its sequence number: it never waits for I/O (it takes a mutex held
// for a buffer swap or one record copy) and never drops — when `max_pending` records are not yet
// durable it refuses with queue_full. Under fsync=batch the writer thread starts a batch at most
// every `max_delay` — earlier once `max_batch` records are pending — taking everything pending:
// one write call, one fdatasync. An idle writer starts at once, so a lone record waits for one
// sync only, and under load the records that arrive during a sync form the next batch (a record
// waits at most max_delay plus the sync in progress). After each batch the writer publishes
// `durable_sequence()` and calls `on_batch` (the daemon's uv_async_send) so that replies waiting
// on those records can go out. fsync=always syncs (and publishes) each record alone; fsync=off
// writes whatever is pending at once and never syncs: "durable" then means handed to the
// kernel, which survives a process crash but not a power cut.
//
// Failures. When a write or sync fails (ENOSPC, EIO), the batch is not reported durable,
// `failed()` turns true with the errno, `on_batch` is still called (so waiters can be answered
// with an error), the segment is truncated back to the end of the last durable record, and the
// same records — plus any appended since — are written again with exponential backoff until a
// write and sync succeed; then failed() clears. Nothing is dropped or written twice.
//
// Thread-safety: JournalWriter's members are safe from any thread (appends are ordered by the
// mutex); `on_batch` runs on the writer thread. PoolJournal belongs to its pool's thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/journal_file.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace redpacket {

// --- segments --------------------------------------------------------------------------------

/// The file name of the segment whose first record has `first_sequence`.
[[nodiscard]] std::string segment_name(std::uint64_t first_sequence);
/// The first sequence of a segment file name, or nothing for other names.
[[nodiscard]] std::optional<std::uint64_t> parse_segment_name(std::string_view name) noexcept;

/// One segment of a journal directory.
struct SegmentInfo {
    std::string file;              ///< full path
    std::uint64_t first_sequence;  ///< from the name
};
/// The segments of `dir` in sequence order (an empty list if `dir` does not exist).
[[nodiscard]] std::expected<std::vector<SegmentInfo>, JournalError> list_segments(
    JournalFileSystem& fs, const std::string& dir);

// --- writer ----------------------------------------------------------------------------------

/// When records are made durable.
enum class FsyncPolicy : std::uint8_t {
    always,  ///< one fdatasync per record
    batch,   ///< group commit: one fdatasync per batch
    off,     ///< write, never sync (durable against a process crash only)
};
/// "always", "batch" or "off".
[[nodiscard]] std::string_view to_string(FsyncPolicy p) noexcept;
/// Parses a name produced by `to_string`.
[[nodiscard]] std::optional<FsyncPolicy> parse_fsync_policy(std::string_view name) noexcept;

/// How a JournalWriter batches, bounds and retries.
struct JournalWriterOptions {
    FsyncPolicy fsync{FsyncPolicy::batch};
    /// fsync=batch: the shortest interval between the starts of two batches, unless
    /// `max_batch` records are pending (0 = start whenever the previous batch is done).
    std::chrono::microseconds max_delay{2000};
    /// fsync=batch: start a batch early once this many records are pending.
    std::size_t max_batch{1024};
    /// Records appended but not yet durable beyond which `append` refuses (queue_full).
    std::size_t max_pending{1U << 16};
    /// Roll to a new segment once the current one holds this many bytes.
    std::uint64_t segment_bytes{std::uint64_t{64} << 20};
    /// Backoff between attempts after a failure: doubles from min to max.
    std::chrono::milliseconds retry_min{1};
    std::chrono::milliseconds retry_max{200};
    /// Failed attempts `close()` makes before it gives up on records not yet durable.
    std::uint32_t close_attempts{10};
    /// Called on the writer thread after every batch, durable or failed. Must not throw.
    std::function<void()> on_batch;
    /// No writer thread: the owner calls `pump()` to write and sync what is pending, one batch
    /// a call, and applies max_delay and the retry backoff itself (the deterministic simulator
    /// drives its simulated disk this way). `on_batch` then runs inside `pump`.
    bool driven{false};
};

/// A writer's counters (each read with relaxed ordering).
struct JournalWriterStats {
    std::uint64_t records{0};    ///< records made durable
    std::uint64_t bytes{0};      ///< bytes made durable
    std::uint64_t batches{0};    ///< completed batches
    std::uint64_t syncs{0};      ///< successful fdatasync calls
    std::uint64_t failures{0};   ///< failed attempts (write, sync, truncate or roll)
    std::uint64_t max_batch{0};  ///< most records in one batch
    std::uint64_t refused{0};    ///< appends refused because the queue was full
    std::uint64_t segments{0};   ///< segments opened by this writer
};

/// Whether `append` may exceed `max_pending`.
enum class Admission : std::uint8_t {
    bounded,    ///< refuse with queue_full past max_pending
    unbounded,  ///< always accept: for changes already made (see PoolJournal)
};

/// Appends records to a journal directory on its own thread, with group commit.
class JournalWriter {
public:
    /// Creates `dir` if needed, starts segment `segment_name(next_sequence)` and the writer
    /// thread. `next_sequence` is 1 for a new journal, or recovery's last sequence + 1. An
    /// existing non-empty file of that name is an error (it would hold those sequences).
    [[nodiscard]] static std::expected<std::unique_ptr<JournalWriter>, JournalError> open(
        JournalFileSystem& fs, std::string dir, std::uint64_t next_sequence,
        JournalWriterOptions options = {});

    /// Closes (see `close`); errors are dropped.
    ~JournalWriter();
    JournalWriter(const JournalWriter&) = delete;
    JournalWriter& operator=(const JournalWriter&) = delete;

    /// Queues `record` (its `sequence` is ignored) and returns the sequence number it gets.
    /// Errors: queue_full, closed. Complexity: O(record size); never waits for I/O.
    [[nodiscard]] std::expected<std::uint64_t, Error> append(
        const JournalRecord& record, Admission admission = Admission::bounded);
    /// Queues the record of a pool event, without building a JournalRecord.
    [[nodiscard]] std::expected<std::uint64_t, Error> append(
        const PoolEvent& event, ShardId shard, std::uint64_t request_id,
        Admission admission = Admission::bounded);

    /// True if `records` more bounded appends would be accepted now.
    [[nodiscard]] bool has_room(std::size_t records = 1) const noexcept;
    /// Every record with a sequence ≤ this is durable (acquire: what the writer saw is visible).
    [[nodiscard]] std::uint64_t durable_sequence() const noexcept {
        return durable_.load(std::memory_order_acquire);
    }
    /// The sequence of the last record appended (next_sequence − 1 before any).
    [[nodiscard]] std::uint64_t last_sequence() const noexcept {
        return last_.load(std::memory_order_acquire);
    }
    /// True from a failed write or sync until the next batch succeeds.
    [[nodiscard]] bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    /// The errno of the most recent failure (kept after it clears).
    [[nodiscard]] std::error_code last_error() const noexcept;
    [[nodiscard]] JournalWriterStats stats() const noexcept;
    [[nodiscard]] const JournalWriterOptions& options() const noexcept { return options_; }

    /// Blocks until `sequence` is durable or `timeout` passes; true if durable. For tests,
    /// benchmarks and shutdown — never on an event loop.
    [[nodiscard]] bool wait_durable(std::uint64_t sequence, std::chrono::milliseconds timeout);

    /// Options::driven only: one attempt at writing and syncing every record pending (and any
    /// being retried) on the caller's thread. Returns false if there was nothing to write.
    bool pump();

    /// Stops accepting records, writes and syncs everything pending (retrying a failure up to
    /// `close_attempts` times), and joins the writer thread. Idempotent. Errors: the records
    /// that could not be made durable (io_error, naming the last errno).
    [[nodiscard]] std::expected<void, JournalError> close();

private:
    struct Private;
    JournalWriter(JournalFileSystem& fs, std::string dir, std::uint64_t next_sequence,
                  JournalWriterOptions options, std::unique_ptr<JournalFile> file);
    template <class Encode>
    std::expected<std::uint64_t, Error> enqueue(std::size_t size, Admission admission,
                                                Encode&& encode);
    bool next_batch(std::chrono::steady_clock::time_point& last_start);
    void take_pending();  // moves pending records behind the batch; mutex_ held
    /// Publishes an attempt's outcome (counters, on_batch, waiters).
    void attempted(bool ok, std::error_code error);
    /// Gives up on the records not durable at close; mutex_ held.
    void give_up(std::error_code error);
    void run();

    JournalFileSystem& fs_;
    const std::string dir_;
    const JournalWriterOptions options_;
    std::unique_ptr<Private> state_;  // writer-thread state: file, offsets, batch buffer
    std::thread thread_;

    std::mutex close_mutex_;    // serialises close()
    mutable std::mutex mutex_;  // guards the members below up to the atomics
    std::condition_variable work_;
    std::condition_variable durable_cv_;
    std::vector<std::byte> pending_;  // encoded records waiting for the writer thread
    std::size_t pending_count_{0};
    std::uint64_t pending_first_{0};
    std::uint64_t next_sequence_;
    bool stopping_{false};
    bool closed_{false};
    std::optional<JournalError> close_error_;

    std::atomic<std::uint64_t> durable_;
    std::atomic<std::uint64_t> last_;
    std::atomic<bool> failed_{false};
    std::atomic<int> last_errno_{0};
    struct Counters {
        std::atomic<std::uint64_t> records{0}, bytes{0}, batches{0}, syncs{0}, failures{0},
            max_batch{0}, refused{0}, segments{0};
    } counters_;
};

// --- pool observer ---------------------------------------------------------------------------

/// Journals the events of one pool: `pool.set_observer(PoolObserver::bind(journal))`. Events
/// are appended with Admission::unbounded, because the pool has already changed when it
/// reports them; callers keep the queue bounded by asking `writer.has_room()` before a
/// client-driven pool call (create, claim, offer, take) and refusing the request otherwise.
/// Single owner: the pool's thread.
class PoolJournal {
public:
    PoolJournal(JournalWriter& writer, ShardId shard) noexcept : writer_{writer}, shard_{shard} {}

    /// The client request id stamped on the records of the following pool calls (0 = none):
    /// set it before create / claim, reset it to 0 after.
    void set_request(std::uint64_t request_id) noexcept { request_id_ = request_id; }
    /// The observer entry point.
    void on_pool_event(const PoolEvent& event) noexcept;
    /// The sequence of the last record this adapter appended (0 if none): a reply reporting
    /// money may leave once `writer.durable_sequence()` reaches it.
    [[nodiscard]] std::uint64_t last_sequence() const noexcept { return last_sequence_; }
    /// Events that could not be appended (writer closed): each is a broken invariant.
    [[nodiscard]] std::uint64_t lost() const noexcept { return lost_; }

private:
    JournalWriter& writer_;
    ShardId shard_;
    std::uint64_t request_id_{0};
    std::uint64_t last_sequence_{0};
    std::uint64_t lost_{0};
};

// --- reading and recovery scan ----------------------------------------------------------------

/// How `scan_journal` treats damage.
struct JournalScanOptions {
    /// Truncate a torn record at the end of the last segment (else only report it).
    bool truncate_torn_tail{true};
    /// Truncate at the first bad record anywhere and delete every later segment, instead of
    /// failing. What is dropped is reported.
    bool repair{false};
    /// Fail on a sequence gap (else report it in `gaps` and go on; the audit uses this).
    bool require_continuity{true};
};

/// Where a record was read.
struct RecordLocation {
    const std::string* file;
    std::uint64_t offset;
};

/// A sequence gap found with require_continuity = false.
struct SequenceGap {
    std::uint64_t expected;
    std::uint64_t found;
    std::string file;
    std::uint64_t offset;
};

/// Bytes dropped from one place: a torn tail, or a repair.
struct DroppedData {
    std::string file;
    std::uint64_t offset{0};      ///< where the file was cut
    std::uint64_t bytes{0};       ///< bytes cut from that file
    RecordError reason{RecordError::truncated};
    std::vector<std::string> removed_segments;  ///< later segments deleted (repair only)
    std::uint64_t removed_bytes{0};             ///< their total size
};

/// What `scan_journal` read and what it dropped.
struct JournalScanReport {
    std::vector<SegmentInfo> segments;  ///< segments read (after any repair)
    std::uint64_t records{0};
    std::uint64_t first_sequence{0};  ///< 0 if no records
    std::uint64_t last_sequence{0};   ///< 0 if no records
    std::uint64_t bytes{0};           ///< bytes of valid records
    std::optional<DroppedData> torn_tail;  ///< a torn last record, truncated (or not, if told)
    std::optional<DroppedData> repaired;   ///< corruption cut away under repair = true
    std::vector<SequenceGap> gaps;
};

/// Called for each valid record in order; an error stops the scan and is returned.
using RecordVisitor =
    std::function<std::expected<void, JournalError>(const JournalRecord&, const RecordLocation&)>;

/// Reads every segment of `dir` in order, verifying each record's CRC and length, that the
/// first record of a segment has the sequence in its name, and that sequences continue. A bad
/// record at the very end of the last segment (cut short, or failing its CRC with no valid
/// record after it) is a torn tail: reported and truncated. Any other bad record is an error
/// (corrupt) naming the file and byte offset — unless `repair`, which truncates there, deletes
/// the later segments and reports what it dropped. Complexity: O(bytes); each segment is read
/// into memory whole.
[[nodiscard]] std::expected<JournalScanReport, JournalError> scan_journal(
    JournalFileSystem& fs, const std::string& dir, const RecordVisitor& visit,
    JournalScanOptions options = {});

}  // namespace redpacket
