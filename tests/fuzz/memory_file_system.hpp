// An in-memory JournalFileSystem for the fuzz targets: files are byte vectors in a map keyed by
// path, so a journal directory can be built, scanned, truncated and repaired without touching
// the disk, thousands of times a second.
//
// Directories are implicit: `list(dir)` returns the names of the files whose path is
// "dir/<name>" with no further '/', and fails with ENOENT when there is none and the directory
// was never created. Every call succeeds otherwise (failures are the FaultInjectingFileSystem's
// business, not the decoders').
//
// Thread-safety: none; one fuzz input at a time.
#pragma once

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "redpacket/journal_file.hpp"

namespace redpacket::fuzz {

class MemoryFileSystem final : public JournalFileSystem {
public:
    using Bytes = std::vector<std::byte>;

    /// The content of every file, by path.
    [[nodiscard]] const std::map<std::string, std::shared_ptr<Bytes>>& files() const noexcept {
        return files_;
    }
    /// Creates or replaces a file.
    void put(const std::string& path, Bytes content) {
        files_[path] = std::make_shared<Bytes>(std::move(content));
    }
    /// A deep copy (files are shared with open handles, so copying the map is not enough).
    [[nodiscard]] MemoryFileSystem clone() const {
        MemoryFileSystem out;
        out.dirs_ = dirs_;
        for (const auto& [path, bytes] : files_) {
            out.put(path, *bytes);
        }
        return out;
    }

    std::expected<std::unique_ptr<JournalFile>, std::error_code> open(const std::string& path,
                                                                      OpenMode mode) override {
        auto it = files_.find(path);
        if (it == files_.end()) {
            if (mode == OpenMode::read) {
                return std::unexpected(std::error_code{ENOENT, std::system_category()});
            }
            it = files_.emplace(path, std::make_shared<Bytes>()).first;
        }
        return std::make_unique<File>(it->second);
    }
    std::expected<std::vector<std::string>, std::error_code> list(const std::string& dir) override {
        const std::string prefix = dir + "/";
        std::vector<std::string> names;
        for (const auto& entry : files_) {
            const std::string& path = entry.first;
            if (path.starts_with(prefix) && path.find('/', prefix.size()) == std::string::npos) {
                names.push_back(path.substr(prefix.size()));
            }
        }
        if (names.empty() && !dirs_.contains(dir)) {
            return std::unexpected(std::error_code{ENOENT, std::system_category()});
        }
        return names;
    }
    std::expected<void, std::error_code> remove(const std::string& path) override {
        if (files_.erase(path) == 0) {
            return std::unexpected(std::error_code{ENOENT, std::system_category()});
        }
        return {};
    }
    std::expected<void, std::error_code> rename(const std::string& from,
                                                const std::string& to) override {
        auto it = files_.find(from);
        if (it == files_.end()) {
            return std::unexpected(std::error_code{ENOENT, std::system_category()});
        }
        auto bytes = it->second;
        files_.erase(it);
        files_[to] = std::move(bytes);
        return {};
    }
    std::expected<void, std::error_code> sync_dir(const std::string&) override { return {}; }
    std::expected<void, std::error_code> create_dirs(const std::string& dir) override {
        dirs_.insert(dir);
        return {};
    }

private:
    class File final : public JournalFile {
    public:
        explicit File(std::shared_ptr<Bytes> bytes) noexcept : bytes_{std::move(bytes)} {}
        std::expected<void, std::error_code> write_at(
            std::uint64_t offset, std::span<const std::byte> data) noexcept override {
            const auto at = static_cast<std::size_t>(offset);
            if (bytes_->size() < at + data.size()) {
                bytes_->resize(at + data.size());
            }
            std::ranges::copy(data, bytes_->begin() + static_cast<std::ptrdiff_t>(at));
            return {};
        }
        std::expected<std::size_t, std::error_code> read_at(
            std::uint64_t offset, std::span<std::byte> out) noexcept override {
            if (offset >= bytes_->size()) {
                return 0;
            }
            const auto at = static_cast<std::size_t>(offset);
            const std::size_t n = std::min(out.size(), bytes_->size() - at);
            std::memcpy(out.data(), bytes_->data() + at, n);
            return n;
        }
        std::expected<void, std::error_code> sync() noexcept override { return {}; }
        std::expected<void, std::error_code> truncate(std::uint64_t size) noexcept override {
            bytes_->resize(static_cast<std::size_t>(size));
            return {};
        }
        std::expected<std::uint64_t, std::error_code> size() noexcept override {
            return bytes_->size();
        }

    private:
        std::shared_ptr<Bytes> bytes_;
    };

    std::map<std::string, std::shared_ptr<Bytes>> files_;
    std::set<std::string> dirs_;
};

}  // namespace redpacket::fuzz
