#include "redpacket/journal_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <filesystem>

namespace redpacket {
namespace {

std::error_code last_errno() noexcept { return {errno, std::system_category()}; }

// Closes a descriptor on scope exit.
class Fd {
public:
    explicit Fd(int fd) noexcept : fd_{fd} {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    [[nodiscard]] int get() const noexcept { return fd_; }

private:
    int fd_;
};

class PosixFile final : public JournalFile {
public:
    explicit PosixFile(int fd) noexcept : fd_{fd} {}

    std::expected<void, std::error_code> write_at(std::uint64_t offset,
                                                  std::span<const std::byte> data) noexcept override {
        while (!data.empty()) {
            const ssize_t n = ::pwrite(fd_.get(), data.data(), data.size(),
                                       static_cast<off_t>(offset));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return std::unexpected(last_errno());
            }
            data = data.subspan(static_cast<std::size_t>(n));
            offset += static_cast<std::uint64_t>(n);
        }
        return {};
    }
    std::expected<std::size_t, std::error_code> read_at(std::uint64_t offset,
                                                        std::span<std::byte> out) noexcept override {
        std::size_t done = 0;
        while (done < out.size()) {
            const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                                      static_cast<off_t>(offset + done));
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                return std::unexpected(last_errno());
            }
            if (n == 0) {
                break;
            }
            done += static_cast<std::size_t>(n);
        }
        return done;
    }
    std::expected<void, std::error_code> sync() noexcept override {
        if (::fdatasync(fd_.get()) != 0) {
            return std::unexpected(last_errno());
        }
        return {};
    }
    std::expected<void, std::error_code> truncate(std::uint64_t size) noexcept override {
        if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) {
            return std::unexpected(last_errno());
        }
        return {};
    }
    std::expected<std::uint64_t, std::error_code> size() noexcept override {
        struct stat st {};
        if (::fstat(fd_.get(), &st) != 0) {
            return std::unexpected(last_errno());
        }
        return static_cast<std::uint64_t>(st.st_size);
    }

private:
    Fd fd_;
};

class PosixFileSystem final : public JournalFileSystem {
public:
    std::expected<std::unique_ptr<JournalFile>, std::error_code> open(const std::string& path,
                                                                      OpenMode mode) override {
        const int flags = mode == OpenMode::read ? O_RDONLY | O_CLOEXEC
                                                 : O_RDWR | O_CREAT | O_CLOEXEC;
        const int fd = ::open(path.c_str(), flags, 0644);
        if (fd < 0) {
            return std::unexpected(last_errno());
        }
        return std::make_unique<PosixFile>(fd);
    }
    std::expected<std::vector<std::string>, std::error_code> list(const std::string& dir) override {
        std::error_code ec;
        std::vector<std::string> names;
        for (std::filesystem::directory_iterator it{dir, ec}, end; !ec && it != end;
             it.increment(ec)) {
            if (it->is_regular_file(ec)) {
                names.push_back(it->path().filename().string());
            }
        }
        if (ec) {
            return std::unexpected(ec);
        }
        return names;
    }
    std::expected<void, std::error_code> remove(const std::string& path) override {
        if (::unlink(path.c_str()) != 0) {
            return std::unexpected(last_errno());
        }
        return {};
    }
    std::expected<void, std::error_code> rename(const std::string& from,
                                                const std::string& to) override {
        if (::rename(from.c_str(), to.c_str()) != 0) {
            return std::unexpected(last_errno());
        }
        return {};
    }
    std::expected<void, std::error_code> sync_dir(const std::string& dir) override {
        const Fd fd{::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
        if (fd.get() < 0) {
            return std::unexpected(last_errno());
        }
        if (::fsync(fd.get()) != 0) {
            return std::unexpected(last_errno());
        }
        return {};
    }
    std::expected<void, std::error_code> create_dirs(const std::string& dir) override {
        std::error_code ec;
        std::filesystem::create_directories(dir, ec);
        if (ec) {
            return std::unexpected(ec);
        }
        return {};
    }
};

using Op = FaultInjectingFileSystem::Op;

class FaultyFile final : public JournalFile {
public:
    FaultyFile(FaultInjectingFileSystem& fs, std::unique_ptr<JournalFile> base) noexcept
        : fs_{fs}, base_{std::move(base)} {}

    std::expected<void, std::error_code> write_at(std::uint64_t offset,
                                                  std::span<const std::byte> data) noexcept override {
        if (const std::error_code e = fs_.on_call(Op::write)) {
            if (fs_.partial_writes() && data.size() > 1) {
                (void)base_->write_at(offset, data.first(data.size() / 2));
            }
            return std::unexpected(e);
        }
        return base_->write_at(offset, data);
    }
    std::expected<std::size_t, std::error_code> read_at(std::uint64_t offset,
                                                        std::span<std::byte> out) noexcept override {
        return base_->read_at(offset, out);
    }
    std::expected<void, std::error_code> sync() noexcept override {
        const std::error_code e = fs_.on_call(Op::sync);
        fs_.wait_sync_release();
        if (e) {
            return std::unexpected(e);
        }
        return base_->sync();
    }
    std::expected<void, std::error_code> truncate(std::uint64_t size) noexcept override {
        if (const std::error_code e = fs_.on_call(Op::truncate)) {
            return std::unexpected(e);
        }
        return base_->truncate(size);
    }
    std::expected<std::uint64_t, std::error_code> size() noexcept override { return base_->size(); }

private:
    FaultInjectingFileSystem& fs_;
    std::unique_ptr<JournalFile> base_;
};

}  // namespace

std::string describe(const JournalError& e) {
    std::string out = e.file.empty() ? std::string{} : e.file;
    if (!e.file.empty() && e.code == Error::corrupt) {
        out += " at byte " + std::to_string(e.offset);
    }
    if (!out.empty()) {
        out += ": ";
    }
    out += e.message.empty() ? std::string{to_string(e.code)} : e.message;
    if (e.sys) {
        out += ": " + e.sys.message();
    }
    return out;
}

JournalFileSystem& posix_file_system() noexcept {
    static PosixFileSystem fs;
    return fs;
}

FaultInjectingFileSystem::FaultInjectingFileSystem(JournalFileSystem& base) noexcept
    : base_{base} {}
FaultInjectingFileSystem::~FaultInjectingFileSystem() = default;

void FaultInjectingFileSystem::fail(Op op, std::uint64_t nth, int error, std::uint64_t times) {
    const std::lock_guard lock{mutex_};
    const auto i = static_cast<std::size_t>(op);
    const std::uint64_t first = calls_[i].load(std::memory_order_relaxed) + (nth == 0 ? 1 : nth);
    rules_[i] = Rule{first, times == 0 ? UINT64_MAX : first + times - 1, error};
}

void FaultInjectingFileSystem::clear() {
    const std::lock_guard lock{mutex_};
    for (Rule& r : rules_) {
        r = Rule{};
    }
}

void FaultInjectingFileSystem::set_partial_writes(bool partial) noexcept {
    partial_.store(partial, std::memory_order_relaxed);
}

void FaultInjectingFileSystem::hold_syncs(bool hold) {
    {
        const std::lock_guard lock{mutex_};
        hold_ = hold;
    }
    released_.notify_all();
}

std::uint64_t FaultInjectingFileSystem::calls(Op op) const noexcept {
    return calls_[static_cast<std::size_t>(op)].load(std::memory_order_acquire);
}

std::uint64_t FaultInjectingFileSystem::failures(Op op) const noexcept {
    return failures_[static_cast<std::size_t>(op)].load(std::memory_order_acquire);
}

std::error_code FaultInjectingFileSystem::on_call(Op op) {
    const std::lock_guard lock{mutex_};
    const auto i = static_cast<std::size_t>(op);
    const std::uint64_t n = calls_[i].fetch_add(1, std::memory_order_acq_rel) + 1;
    const Rule& r = rules_[i];
    if (r.first != 0 && n >= r.first && n <= r.last) {
        failures_[i].fetch_add(1, std::memory_order_acq_rel);
        return {r.error, std::system_category()};
    }
    return {};
}

void FaultInjectingFileSystem::wait_sync_release() {
    std::unique_lock lock{mutex_};
    released_.wait(lock, [this] { return !hold_; });
}

std::expected<std::unique_ptr<JournalFile>, std::error_code> FaultInjectingFileSystem::open(
    const std::string& path, OpenMode mode) {
    if (mode == OpenMode::write) {
        if (const std::error_code e = on_call(Op::open)) {
            return std::unexpected(e);
        }
    }
    auto file = base_.open(path, mode);
    if (!file) {
        return std::unexpected(file.error());
    }
    return std::make_unique<FaultyFile>(*this, std::move(*file));
}

std::expected<std::vector<std::string>, std::error_code> FaultInjectingFileSystem::list(
    const std::string& dir) {
    return base_.list(dir);
}

std::expected<void, std::error_code> FaultInjectingFileSystem::remove(const std::string& path) {
    return base_.remove(path);
}

std::expected<void, std::error_code> FaultInjectingFileSystem::rename(const std::string& from,
                                                                      const std::string& to) {
    if (const std::error_code e = on_call(Op::rename)) {
        return std::unexpected(e);
    }
    return base_.rename(from, to);
}

std::expected<void, std::error_code> FaultInjectingFileSystem::sync_dir(const std::string& dir) {
    if (const std::error_code e = on_call(Op::sync_dir)) {
        return std::unexpected(e);
    }
    return base_.sync_dir(dir);
}

std::expected<void, std::error_code> FaultInjectingFileSystem::create_dirs(const std::string& dir) {
    return base_.create_dirs(dir);
}

}  // namespace redpacket
