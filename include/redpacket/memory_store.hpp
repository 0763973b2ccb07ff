// MemoryStore: the embedded PacketStore — one RedPacketPool per SET a thread owns, plus, when
// given a directory, the write-ahead journal of those pools (journal.hpp) and its snapshots.
//
// Every operation completes at once (no allocation beyond what the pool itself does, no hop).
// With a journal, each completion's `durable_at` is the journal sequence its reply waits for:
// the last record appended if the operation appended any, or — for a result that reports money
// answered from records still in flight (a retried claim or create) — the last record
// appended so far; 0 otherwise. Operations that would move money are refused with
// `unavailable` while the journal is failing or its queue is full; changes already made are
// journaled whatever happens (Admission::unbounded) and their replies wait.
//
// Idempotent creates: (sender, request id) → packet, for the last `remembered_creates`
// creates with a non-zero request id; recovered from the journal and kept in snapshots, so a
// retry after a restart finds its packet.
//
// Opening: `open` builds the pools; with a journal directory it recovers them (newest valid
// snapshot, then the journal after it), opens the writer at the next sequence and refunds what
// fell due while the process was down. Snapshots: `snapshot()` encodes every pool on the
// owner's thread and returns a job that waits for the journal and writes the file on any
// other thread.
//
// Ownership and thread-safety: single owner, the thread that owns the SETs (see
// packet_store.hpp); `journal()`'s stats, `journal_lost()` and a SnapshotJob's `run` are safe
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "redpacket/journal.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/proof_archive.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/snapshot.hpp"

namespace redpacket {

class KeptShakes;

/// How a MemoryStore is built.
struct MemoryStoreOptions {
    /// The SETs this store holds.
    std::vector<ShardId> sets;
    /// The pools' configuration; `shard` is set per SET and `seed` becomes seed + SET.
    PoolConfig pool;
    /// The journal directory of these SETs; empty: no journal (nothing survives a restart).
    std::string journal_dir;
    /// The writer's batching and bounds; `on_batch` should wake the owner's loop so that held
    /// replies leave (see `durable_sequence`).
    JournalWriterOptions journal;
    /// Cut a corrupt journal at the first bad record instead of refusing to open.
    bool repair{false};
    /// Create requests remembered for idempotent retries.
    std::size_t remembered_creates{65536};
    /// The files under the journal and snapshots; null: the real file system (the simulator
    /// passes its simulated disk). Must outlive the store and its snapshot jobs.
    JournalFileSystem* fs{nullptr};
    /// With a journal on the real file system and a non-zero value: every packet is archived
    /// when it finishes (its deadline's refund) in `<journal_dir>/proofs.sqlite`
    /// (proof_archive.hpp) and answered from there, by `query`, for this long after it has left
    /// memory. 0: no archive (a packet is gone at deadline + pool.retention).
    std::chrono::seconds proof_retention{0};
    /// The archive's queue, commit interval and cache (its path and retention come from above).
    ProofArchiveOptions archive;
};

/// What `MemoryStore::open` recovered, for the log.
struct MemoryStoreOpenReport {
    std::string snapshot_file;          ///< empty: no snapshot used
    std::uint64_t last_sequence{0};     ///< 0: an empty journal (or none)
    std::uint64_t records_replayed{0};
    std::size_t create_requests{0};
    std::uint64_t refunds_at_open{0};   ///< packets that fell due while the process was down
    std::vector<std::string> warnings;  ///< skipped snapshots, a truncated tail, a repair
};

/// A snapshot encoded on the owner's thread, to be written on another.
class SnapshotJob {
public:
    /// Waits (at most `wait`) until the journal has made every record the snapshot covers
    /// durable, writes the file atomically and prunes the journal. Returns "" on success, or
    /// what went wrong. Blocks: never on an event loop. Thread-safety: any one thread.
    [[nodiscard]] std::string run(std::chrono::milliseconds wait);
    [[nodiscard]] std::uint64_t sequence() const noexcept { return sequence_; }

private:
    friend class MemoryStore;
    JournalWriter* writer_{nullptr};
    JournalFileSystem* fs_{nullptr};
    ProofArchive* archive_{nullptr};  // flushed first: the snapshot may drop retired packets
    std::string dir_;
    std::uint64_t sequence_{0};
    std::vector<std::byte> bytes_;
};

class MemoryStore final : public PacketStore {
public:
    /// Builds (and with a journal directory, recovers) the store; `now` is when packets that
    /// fell due are refunded. Errors: a message naming what failed (file and offset of a
    /// corrupt record, a pool that refuses the configuration).
    [[nodiscard]] static std::expected<std::unique_ptr<MemoryStore>, std::string> open(
        MemoryStoreOptions options, Time now, MemoryStoreOpenReport* report = nullptr);
    ~MemoryStore() override;
    MemoryStore(const MemoryStore&) = delete;
    MemoryStore& operator=(const MemoryStore&) = delete;

    // PacketStore.
    void set_sink(StoreSink) override {}  // everything completes at once
    [[nodiscard]] bool serves(ShardId set) const noexcept override {
        return set < pools_.size() && pools_[set] != nullptr;
    }
    [[nodiscard]] std::uint64_t durable_sequence() const noexcept override;
    [[nodiscard]] bool has_room(std::size_t operations) const noexcept override;
    StoreResult<Created> create(StoreTicket ticket, const CreateOp& op) override;
    StoreResult<Claimed> claim(StoreTicket ticket, const ClaimOp& op) override;
    StoreResult<PacketInfo> query(StoreTicket ticket, PacketId packet) override;
    StoreResult<std::optional<ShakeHit>> take(StoreTicket ticket, const TakeOp& op) override;
    StoreResult<PacketId> offer(StoreTicket ticket, const OfferOp& op) override;
    StoreResult<Expired> expire(StoreTicket ticket, const ExpireOp& op) override;
    [[nodiscard]] StoreStats stats() const override;

    /// The pool of SET `set`, or nullptr if this store does not hold it.
    [[nodiscard]] RedPacketPool* pool(ShardId set) noexcept {
        return serves(set) ? pools_[set].get() : nullptr;
    }
    /// The SETs this store holds, ascending.
    [[nodiscard]] const std::vector<ShardId>& sets() const noexcept { return sets_; }
    /// The journal writer, or nullptr without a journal. Its stats are thread-safe.
    [[nodiscard]] const JournalWriter* journal() const noexcept { return journal_.get(); }
    /// The same, to drive a writer opened with JournalWriterOptions::driven (`pump`).
    [[nodiscard]] JournalWriter* journal() noexcept { return journal_.get(); }
    /// Pool changes that could not be journaled (writer closed): each a broken invariant.
    /// Thread-safety: any thread.
    [[nodiscard]] std::uint64_t journal_lost() const noexcept {
        return lost_.load(std::memory_order_relaxed);
    }
    /// A snapshot of every pool at the journal's last sequence; nothing without a journal.
    [[nodiscard]] std::unique_ptr<SnapshotJob> snapshot() const;
    /// Writes and syncs everything journaled and closes the writer (no-op without a journal).
    [[nodiscard]] std::expected<void, JournalError> close();
    /// The proof archive, or nullptr (none configured). Thread-safe.
    [[nodiscard]] ProofArchive* archive() const noexcept { return archive_.get(); }
    /// Without an archive: the issued shake packets kept in memory (until their deadline plus
    /// pool.retention, at least; at most pool.max_packets times the SETs held, in all), and
    /// those forgotten early because that many were kept. Both 0 with an archive.
    /// Thread-safety: any thread.
    [[nodiscard]] std::size_t kept_shakes() const noexcept;
    [[nodiscard]] std::uint64_t kept_shakes_dropped() const noexcept;

private:
    struct RequestKey {
        UserId user;
        std::uint64_t request_id;
        bool operator==(const RequestKey&) const = default;
    };
    struct RequestKeyHash {
        std::size_t operator()(const RequestKey& k) const noexcept {
            return static_cast<std::size_t>((k.user * 0x9e3779b97f4a7c15ULL) ^ k.request_id);
        }
    };

    explicit MemoryStore(MemoryStoreOptions options);
    [[nodiscard]] std::expected<void, std::string> recover(MemoryStoreOpenReport& report);
    /// Runs `op` on SET `set`'s pool with `request_id` stamped on its records, and returns its
    /// result with the sequence a reply must wait for (`money`: the result reports money).
    template <class Op>
    auto journaled(ShardId set, std::uint64_t request_id, Op&& op);
    [[nodiscard]] std::uint64_t hold_for(std::uint64_t before, bool money) const noexcept;
    [[nodiscard]] bool journal_ready() const noexcept;
    void remember_create(const RequestKey& key, PacketId packet);
    void refresh_lost() const noexcept;
    /// Opens the proof archive (before recovery: a replayed create that takes a refunded
    /// packet's slot hands that packet to it).
    [[nodiscard]] std::expected<void, std::string> open_archive();
    /// After recovery: archives again every refunded packet in memory (a killed process's queue
    /// is gone).
    void rearchive();
    /// Archives the packets `refunds` finished in SET `set`; at most once a second, has the
    /// archive delete what is past its retention.
    void archive_finished(ShardId set, const std::vector<Refund>& refunds, Time now);
    /// One packet into the archive, waiting for room rather than dropping it.
    void archive(PacketInfo&& info);

    MemoryStoreOptions options_;
    std::vector<ShardId> sets_;
    std::vector<std::unique_ptr<RedPacketPool>> pools_;       // by SET id; null if not held
    std::unique_ptr<JournalWriter> journal_;
    std::vector<std::unique_ptr<PoolJournal>> pool_journals_;  // by SET id
    std::unordered_map<RequestKey, PacketId, RequestKeyHash> created_by_request_;
    std::vector<RequestKey> created_order_;  // FIFO ring of the keys above
    std::size_t created_next_{0};
    mutable std::atomic<std::uint64_t> lost_{0};
    std::unique_ptr<ProofArchive> archive_;
    Time last_archive_expire_{};
    std::unique_ptr<KeptShakes> kept_shakes_;  // issued shake packets, without an archive
};

}  // namespace redpacket
