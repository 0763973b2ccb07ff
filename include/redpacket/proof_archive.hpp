// ProofArchive: finished packets kept on disk after they leave memory, so that their proofs
// (docs/fairness.md) can still be fetched for a stated time — `retention` after the packet
// finished (its deadline's refund) — while memory stays bounded whatever the retention.
//
// One SQLite database (libsqlite3) per store: a row per packet, keyed by its full id, holding
// what a query and a proof answer (terms, seed, state, every claim in order). Rows are written
// by the archive's own thread, in batches of at most `commit_interval`, each batch one
// transaction synced to disk (synchronous=FULL, WAL); rows older than `retention` are deleted
// by the same thread. `put` only copies the packet into a bounded queue: the caller's thread
// never waits for the disk. `get` reads on the caller's thread (a primary-key lookup; SQLite's
// page cache is capped at `cache_kib`), so memory is the queue plus that cache.
//
// Durability: a row is durable once `flush` has returned true after its `put`. The memory store
// flushes before each snapshot (a snapshot may drop a retired packet, and the journal after it
// is then pruned), and at recovery re-archives every finished packet that replay restores or
// drops (docs/journal.md, "The proof archive").
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "redpacket/error.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace redpacket {

struct ProofArchiveOptions {
    std::string path;                                       ///< the database file
    std::chrono::seconds retention{std::chrono::hours{24 * 7}};  ///< kept after finishing
    /// Packets queued for the writer; beyond, a put is refused (counted). At half of it a store
    /// refuses creates (`backlogged`); the memory store raises it to twice the packets it can
    /// hold alive, so those can all finish into the other half.
    std::size_t max_pending{1U << 16};
    std::chrono::milliseconds commit_interval{200};  ///< longest wait before a batch commits
    std::uint32_t cache_kib{2048};       ///< SQLite's page cache per connection
    /// The store's clock (unix ms): a row whose `finished_at` is older than now − retention is
    /// no longer answered (and is deleted). Empty: the system clock.
    std::function<Time()> clock;
};

/// Counters since open. Thread-safety: a copy taken under the archive's lock.
struct ProofArchiveStats {
    std::uint64_t archived{0};   ///< rows written (a packet archived again counts again)
    std::uint64_t dropped{0};    ///< puts refused: the queue held max_pending packets
    std::uint64_t pending{0};    ///< queued or being written now
    std::uint64_t deleted{0};    ///< rows past their retention, removed
    std::uint64_t reads{0};      ///< gets
    std::uint64_t hits{0};       ///< gets that found the packet
    std::uint64_t errors{0};     ///< failed statements; the last one's message below
    std::string last_error;
};

class ProofArchive {
public:
    /// Opens (creating if needed) the database at `options.path` and starts its writer thread.
    /// Errors: a message naming the file and what SQLite said.
    [[nodiscard]] static std::expected<std::unique_ptr<ProofArchive>, std::string> open(
        ProofArchiveOptions options);
    /// Commits what is queued and stops the writer.
    ~ProofArchive();
    ProofArchive(const ProofArchive&) = delete;
    ProofArchive& operator=(const ProofArchive&) = delete;

    /// Queues a finished packet, kept until `finished_at` + retention (unix ms, the store's
    /// clock; the memory store passes the packet's deadline). False if the queue is full
    /// (counted in `dropped`; `info` is then left as it was). A packet put again replaces its
    /// row. Its `allowed` list is not kept.
    bool put(PacketInfo&& info, Time finished_at);
    /// Deletes packet `id`'s row, if any, in the writer's next batch; reads answer nothing for
    /// it from now on. Not bounded by max_pending (the memory store forgets at most its shake
    /// supply, once, at recovery).
    void forget(PacketId id);
    /// The archived packet `id`: nullopt if it is not there (never archived, or past its
    /// retention by the clock, deleted or not yet); Error::unavailable if the database could
    /// not be read, Error::corrupt if its row does not decode.
    [[nodiscard]] std::expected<std::optional<PacketInfo>, Error> get(PacketId id);
    /// The archived shake packet whose id has these low 32 bits (a shake response's compact
    /// id; the shake bit must be set, else nullopt), the newest (highest serial) if several
    /// within the retention do. Errors as `get`. An index lookup (on shake rows only).
    [[nodiscard]] std::expected<std::optional<PacketInfo>, Error> find_shake(std::uint32_t compact);
    /// Waits (at most `wait`) until every packet put before the call is committed to disk;
    /// false if that did not happen in time or a commit failed.
    [[nodiscard]] bool flush(std::chrono::milliseconds wait);
    /// Deletes the rows that finished before `now` − retention, in the writer's next batch (which
    /// it starts now). The writer also does this with every batch, by the newest `finished_at`
    /// it has seen.
    void expire(Time now);
    [[nodiscard]] ProofArchiveStats stats() const;
    /// True while the queue holds max_pending / 2 packets or more: a store then refuses new
    /// packets (it could not archive them all when they finish). Cheap: one relaxed load.
    [[nodiscard]] bool backlogged() const noexcept;
    [[nodiscard]] const ProofArchiveOptions& options() const noexcept { return options_; }

    /// A row's bytes and back (little-endian; tested for the round trip).
    [[nodiscard]] static std::string encode(const PacketInfo& info);
    [[nodiscard]] static std::optional<PacketInfo> decode(PacketId id, std::string_view bytes);

private:
    struct Impl;
    explicit ProofArchive(ProofArchiveOptions options);
    /// The oldest `finished_at` still answered: the clock's now − retention (unix ms).
    [[nodiscard]] std::int64_t oldest_kept() const;
    ProofArchiveOptions options_;
    std::unique_ptr<Impl> impl_;
};

}  // namespace redpacket
