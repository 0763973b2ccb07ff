// SimDisk: the simulator's disk — a JournalFileSystem in memory that keeps, for every file, what
// was written and what a sync made durable, and for every directory which entries a directory
// sync made durable. `crash` keeps only what was durable (and, if told, a torn piece of the
// first unsynced bytes after it), as a power cut would; files opened before a crash fail every
// later call (their process is dead). Writes and syncs fail on purpose at the rates set.
//
// Files are assumed appended to (the journal and snapshot writers only write at or past what is
// durable); a write or truncate below the durable size makes the file durable only up to there.
// Single-threaded, like the rest of the simulator.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "redpacket/journal_file.hpp"
#include "redpacket/random.hpp"

namespace redpacket::sim {

class SimDisk final : public JournalFileSystem {
public:
    /// Faults are drawn from `rng` (the world's).
    explicit SimDisk(Rng& rng) noexcept : rng_{rng} {}

    std::uint32_t sync_fail_permille{0};   ///< syncs that fail with EIO
    std::uint32_t write_fail_permille{0};  ///< writes that write half, then fail with ENOSPC

    /// The process dies: files it opened fail from now on. With `power_loss` (a power cut, not
    /// just kill -9, whose written bytes the kernel keeps): every file back to its durable bytes
    /// (plus, with `tear`, a random piece of the bytes written after them), every entry not
    /// made durable by a directory sync undone.
    void crash(bool power_loss, bool tear);
    /// After a crash, nothing reaches the disk (open, remove, rename, list, sync_dir fail with
    /// EBADF too) until the next process starts: `restart`.
    void restart() noexcept { frozen_ = false; }
    /// The process dies in the middle of what it is doing: after `calls` more calls, every
    /// call fails (as a process killed between a write and its fsync). `tripped` tells the
    /// world to carry out the crash at the end of the current event.
    void arm(std::uint32_t calls) noexcept { armed_ = calls; }
    [[nodiscard]] bool tripped() const noexcept { return tripped_; }

    struct Stats {
        std::uint64_t syncs{0}, sync_failures{0}, write_failures{0}, torn_bytes{0}, crashes{0};
    };
    [[nodiscard]] const Stats& stats() const noexcept { return stats_; }

    // JournalFileSystem.
    [[nodiscard]] std::expected<std::unique_ptr<JournalFile>, std::error_code> open(
        const std::string& path, OpenMode mode) override;
    [[nodiscard]] std::expected<std::vector<std::string>, std::error_code> list(
        const std::string& dir) override;
    [[nodiscard]] std::expected<void, std::error_code> remove(const std::string& path) override;
    [[nodiscard]] std::expected<void, std::error_code> rename(const std::string& from,
                                                              const std::string& to) override;
    [[nodiscard]] std::expected<void, std::error_code> sync_dir(const std::string& dir) override;
    [[nodiscard]] std::expected<void, std::error_code> create_dirs(const std::string&) override {
        return {};  // directories are implicit
    }

    struct Node {
        std::vector<std::byte> data;
        std::size_t durable{0};  ///< bytes of `data` a sync made durable
    };
    /// For SimFile.
    [[nodiscard]] bool alive(std::uint64_t epoch) noexcept { return epoch == epoch_ && call(); }
    /// Counts a call against an armed crash; false once the process is dead.
    [[nodiscard]] bool call() noexcept {
        if (frozen_ || tripped_) {
            return false;
        }
        if (armed_ && (*armed_)-- == 0) {
            tripped_ = true;
            armed_.reset();
            return false;
        }
        return true;
    }
    [[nodiscard]] bool fail(std::uint32_t permille) noexcept {
        return permille != 0 && rng_.below(1000) < permille;
    }
    Stats& counters() noexcept { return stats_; }

private:
    /// A directory entry: its file and whether a directory sync made the entry durable.
    struct Entry {
        std::shared_ptr<Node> node;
        bool durable{false};
    };
    [[nodiscard]] static std::string dir_of(const std::string& path);
    /// The durable entry `path` had before it was removed or replaced, to restore at a crash.
    void remember(const std::string& path);

    Rng& rng_;
    std::uint64_t epoch_{1};
    bool frozen_{false};
    bool tripped_{false};
    std::optional<std::uint32_t> armed_;
    std::map<std::string, Entry> entries_;
    std::map<std::string, std::shared_ptr<Node>> undone_;  // durable entries gone since a sync
    Stats stats_;
};

}  // namespace redpacket::sim
