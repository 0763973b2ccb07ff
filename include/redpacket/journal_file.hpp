// The file layer under the journal and snapshots, injectable so that tests can make a write or
// a sync fail on purpose.
//
// `JournalFileSystem` opens `JournalFile`s and manages directory entries; `posix_file_system()`
// is the real one (pwrite/pread, fdatasync, ftruncate, rename, fsync of the directory).
// `FaultInjectingFileSystem` wraps another file system and fails chosen calls with a chosen
// errno (ENOSPC on the 3rd write, EIO on every sync until cleared…), optionally after writing
// part of the data, and can hold syncs so a test controls exactly when a batch completes.
//
// Errors of these calls are `std::error_code`s (errno, system category). `JournalError` is what
// the journal, snapshot and recovery functions return: a library Error, the errno if any, and
// the file and byte offset concerned.
//
// Thread-safety: file systems are thread-safe. A JournalFile is used by one thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "redpacket/error.hpp"

namespace redpacket {

/// What went wrong in a journal, snapshot or recovery call.
struct JournalError {
    Error code{Error::io_error};  ///< io_error, corrupt, not_found, invalid_argument…
    std::error_code sys;          ///< the errno of the failed call, if one failed
    std::string file;             ///< the file (or directory) concerned, if any
    std::uint64_t offset{0};      ///< byte offset in `file`, for corruption
    std::string message;          ///< what happened, one line
};
/// One line for a log: "<file> at byte <offset>: <message>: <strerror>".
[[nodiscard]] std::string describe(const JournalError& e);

/// An open file. Positional reads and writes; no shared file offset.
class JournalFile {
public:
    virtual ~JournalFile() = default;
    /// Writes all of `data` at `offset` (short writes continue; EINTR is retried).
    [[nodiscard]] virtual std::expected<void, std::error_code> write_at(
        std::uint64_t offset, std::span<const std::byte> data) noexcept = 0;
    /// Reads up to out.size() bytes at `offset`; fewer only at the end of the file.
    [[nodiscard]] virtual std::expected<std::size_t, std::error_code> read_at(
        std::uint64_t offset, std::span<std::byte> out) noexcept = 0;
    /// Makes written data durable (fdatasync).
    [[nodiscard]] virtual std::expected<void, std::error_code> sync() noexcept = 0;
    /// Cuts or extends the file to `size` bytes.
    [[nodiscard]] virtual std::expected<void, std::error_code> truncate(std::uint64_t size) noexcept = 0;
    /// The file's size in bytes.
    [[nodiscard]] virtual std::expected<std::uint64_t, std::error_code> size() noexcept = 0;
};

/// How `JournalFileSystem::open` opens a file.
enum class OpenMode : std::uint8_t {
    read,   ///< read only; the file must exist
    write,  ///< read and write; created (mode 0644) if missing, contents kept
};

/// Files and directories. Paths are plain strings; `list` returns names, not paths.
class JournalFileSystem {
public:
    virtual ~JournalFileSystem() = default;
    [[nodiscard]] virtual std::expected<std::unique_ptr<JournalFile>, std::error_code> open(
        const std::string& path, OpenMode mode) = 0;
    /// Names of the regular files in `dir`, unsorted.
    [[nodiscard]] virtual std::expected<std::vector<std::string>, std::error_code> list(
        const std::string& dir) = 0;
    [[nodiscard]] virtual std::expected<void, std::error_code> remove(const std::string& path) = 0;
    /// Atomically replaces `to` with `from`.
    [[nodiscard]] virtual std::expected<void, std::error_code> rename(const std::string& from,
                                                                      const std::string& to) = 0;
    /// Makes the directory's entries durable (created, renamed and removed files).
    [[nodiscard]] virtual std::expected<void, std::error_code> sync_dir(const std::string& dir) = 0;
    /// Creates `dir` and its parents; success if it exists.
    [[nodiscard]] virtual std::expected<void, std::error_code> create_dirs(const std::string& dir) = 0;
};

/// The real file system.
[[nodiscard]] JournalFileSystem& posix_file_system() noexcept;

/// Wraps a file system and fails chosen calls on purpose. Thread-safe: faults may be set from
/// a test thread while a journal writer thread runs.
class FaultInjectingFileSystem final : public JournalFileSystem {
public:
    /// The calls that can be made to fail.
    enum class Op : std::uint8_t { write, sync, truncate, open, rename, sync_dir };

    /// `base` must outlive this object and every file it opened.
    explicit FaultInjectingFileSystem(JournalFileSystem& base) noexcept;
    ~FaultInjectingFileSystem() override;

    /// Fails the `nth` call of `op` counted from now (1 = the next one) with `error` (an errno),
    /// and the `times − 1` calls after it; `times` 0 = every call from then on, until `clear`.
    void fail(Op op, std::uint64_t nth, int error, std::uint64_t times = 1);
    /// Removes every fault (held syncs stay held; see `hold_syncs`).
    void clear();
    /// A failing write first writes the first half of its bytes, as a disk filling up would.
    void set_partial_writes(bool partial) noexcept;
    /// While held, every sync blocks before it runs; releasing lets them proceed.
    void hold_syncs(bool hold);
    /// Calls of `op` made so far (failed ones included; a held sync counts when it starts).
    [[nodiscard]] std::uint64_t calls(Op op) const noexcept;
    /// Calls of `op` failed on purpose so far.
    [[nodiscard]] std::uint64_t failures(Op op) const noexcept;

    [[nodiscard]] std::expected<std::unique_ptr<JournalFile>, std::error_code> open(
        const std::string& path, OpenMode mode) override;
    [[nodiscard]] std::expected<std::vector<std::string>, std::error_code> list(
        const std::string& dir) override;
    [[nodiscard]] std::expected<void, std::error_code> remove(const std::string& path) override;
    [[nodiscard]] std::expected<void, std::error_code> rename(const std::string& from,
                                                              const std::string& to) override;
    [[nodiscard]] std::expected<void, std::error_code> sync_dir(const std::string& dir) override;
    [[nodiscard]] std::expected<void, std::error_code> create_dirs(const std::string& dir) override;

    /// Counts a call of `op` and returns the error it must fail with, if any (used by files).
    [[nodiscard]] std::error_code on_call(Op op);
    /// Blocks while syncs are held (used by files).
    void wait_sync_release();
    [[nodiscard]] bool partial_writes() const noexcept {
        return partial_.load(std::memory_order_relaxed);
    }

private:
    static constexpr std::size_t kOps = 6;
    struct Rule {
        std::uint64_t first{0};  // call number (1-based) of the first failure; 0 = none
        std::uint64_t last{0};   // last failing call number; UINT64_MAX = until cleared
        int error{0};
    };

    JournalFileSystem& base_;
    mutable std::mutex mutex_;
    std::condition_variable released_;
    Rule rules_[kOps]{};
    bool hold_{false};
    std::atomic<std::uint64_t> calls_[kOps]{};
    std::atomic<std::uint64_t> failures_[kOps]{};
    std::atomic<bool> partial_{false};
};

}  // namespace redpacket
