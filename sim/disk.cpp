// SimDisk (disk.hpp).
#include "disk.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace redpacket::sim {
namespace {

std::error_code sys(int e) { return {e, std::system_category()}; }

class SimFile final : public JournalFile {
public:
    SimFile(SimDisk& disk, std::shared_ptr<SimDisk::Node> node, std::uint64_t epoch, bool write)
        : disk_{disk}, node_{std::move(node)}, epoch_{epoch}, write_{write} {}

    std::expected<void, std::error_code> write_at(
        std::uint64_t offset, std::span<const std::byte> data) noexcept override {
        if (!disk_.alive(epoch_) || !write_) {
            return std::unexpected(sys(EBADF));
        }
        std::size_t n = data.size();
        const bool fail = disk_.fail(disk_.write_fail_permille);
        if (fail) {
            n /= 2;  // a disk filling up: part of it, then ENOSPC
        }
        auto& bytes = node_->data;
        const auto at = static_cast<std::size_t>(offset);
        if (bytes.size() < at + n) {
            bytes.resize(at + n);
        }
        std::copy_n(data.begin(), n, bytes.begin() + static_cast<std::ptrdiff_t>(at));
        node_->durable = std::min(node_->durable, at);
        if (fail) {
            ++disk_.counters().write_failures;
            return std::unexpected(sys(ENOSPC));
        }
        return {};
    }
    std::expected<std::size_t, std::error_code> read_at(
        std::uint64_t offset, std::span<std::byte> out) noexcept override {
        if (!disk_.alive(epoch_)) {
            return std::unexpected(sys(EBADF));
        }
        const auto& bytes = node_->data;
        const auto at = static_cast<std::size_t>(offset);
        if (at >= bytes.size()) {
            return std::size_t{0};
        }
        const std::size_t n = std::min(out.size(), bytes.size() - at);
        std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), n, out.begin());
        return n;
    }
    std::expected<void, std::error_code> sync() noexcept override {
        if (!disk_.alive(epoch_)) {
            return std::unexpected(sys(EBADF));
        }
        ++disk_.counters().syncs;
        if (node_->durable == node_->data.size()) {
            return {};  // nothing dirty: nothing to fail
        }
        if (disk_.fail(disk_.sync_fail_permille)) {
            ++disk_.counters().sync_failures;
            return std::unexpected(sys(EIO));
        }
        node_->durable = node_->data.size();
        return {};
    }
    std::expected<void, std::error_code> truncate(std::uint64_t size) noexcept override {
        if (!disk_.alive(epoch_) || !write_) {
            return std::unexpected(sys(EBADF));
        }
        node_->data.resize(static_cast<std::size_t>(size));
        node_->durable = std::min(node_->durable, node_->data.size());
        return {};
    }
    std::expected<std::uint64_t, std::error_code> size() noexcept override {
        if (!disk_.alive(epoch_)) {
            return std::unexpected(sys(EBADF));
        }
        return node_->data.size();
    }

private:
    SimDisk& disk_;
    std::shared_ptr<SimDisk::Node> node_;
    std::uint64_t epoch_;
    bool write_;
};

}  // namespace

std::string SimDisk::dir_of(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? std::string{} : path.substr(0, slash);
}

void SimDisk::remember(const std::string& path) {
    const auto it = entries_.find(path);
    if (it != entries_.end() && it->second.durable && !undone_.contains(path)) {
        undone_.emplace(path, it->second.node);
    }
}

std::expected<std::unique_ptr<JournalFile>, std::error_code> SimDisk::open(const std::string& path,
                                                                           OpenMode mode) {
    if (!call()) {
        return std::unexpected(sys(EBADF));
    }
    auto it = entries_.find(path);
    if (it == entries_.end()) {
        if (mode == OpenMode::read) {
            return std::unexpected(sys(ENOENT));
        }
        it = entries_.emplace(path, Entry{std::make_shared<Node>(), false}).first;
    }
    return std::make_unique<SimFile>(*this, it->second.node, epoch_, mode == OpenMode::write);
}

std::expected<std::vector<std::string>, std::error_code> SimDisk::list(const std::string& dir) {
    if (!call()) {
        return std::unexpected(sys(EBADF));
    }
    std::vector<std::string> names;
    const std::string prefix = dir + "/";
    for (auto it = entries_.lower_bound(prefix);
         it != entries_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
        if (it->first.find('/', prefix.size()) == std::string::npos) {
            names.push_back(it->first.substr(prefix.size()));
        }
    }
    return names;
}

std::expected<void, std::error_code> SimDisk::remove(const std::string& path) {
    if (!call()) {
        return std::unexpected(sys(EBADF));
    }
    if (!entries_.contains(path)) {
        return std::unexpected(sys(ENOENT));
    }
    remember(path);
    entries_.erase(path);
    return {};
}

std::expected<void, std::error_code> SimDisk::rename(const std::string& from,
                                                     const std::string& to) {
    if (!call()) {
        return std::unexpected(sys(EBADF));
    }
    const auto it = entries_.find(from);
    if (it == entries_.end()) {
        return std::unexpected(sys(ENOENT));
    }
    std::shared_ptr<Node> node = it->second.node;
    remember(from);
    remember(to);
    entries_.erase(from);
    entries_[to] = Entry{std::move(node), false};
    return {};
}

std::expected<void, std::error_code> SimDisk::sync_dir(const std::string& dir) {
    if (!call()) {
        return std::unexpected(sys(EBADF));
    }
    for (auto& [path, entry] : entries_) {
        if (dir_of(path) == dir) {
            entry.durable = true;
        }
    }
    std::erase_if(undone_, [&](const auto& kv) { return dir_of(kv.first) == dir; });
    return {};
}

void SimDisk::crash(bool power_loss, bool tear) {
    ++epoch_;
    ++stats_.crashes;
    frozen_ = true;
    tripped_ = false;
    armed_.reset();
    if (!power_loss) {
        return;
    }
    std::erase_if(entries_, [](const auto& kv) { return !kv.second.durable; });
    for (auto& [path, node] : undone_) {
        entries_[path] = Entry{node, true};
    }
    undone_.clear();
    for (auto& [path, entry] : entries_) {
        Node& n = *entry.node;
        std::size_t keep = n.durable;
        if (tear && n.data.size() > n.durable) {
            const std::size_t torn =
                static_cast<std::size_t>(rng_.below(n.data.size() - n.durable));
            keep += torn;
            stats_.torn_bytes += torn;
        }
        n.data.resize(keep);
        n.durable = keep;  // what survived a crash is on the platter
    }
}

}  // namespace redpacket::sim
