// The memory store's issued shake packets when it has no proof archive: kept in memory until
// their deadline plus the pools' retention, as group packets are (a pool forgets a shake packet
// the moment a shake hands it out), so that the winner can fetch its proof (docs/fairness.md §5a).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <utility>

#include "redpacket/red_packet_pool.hpp"

namespace redpacket {

/// Issued shake packets by full id and by compact id (the newest with those low 32 bits), in
/// issue order. At most `cap` are kept: past it the oldest goes early (counted).
/// Thread-safety: the store's thread; `size` and `dropped_early` from any (the stats).
class KeptShakes {
public:
    explicit KeptShakes(std::size_t cap) : cap_{cap} {}

    /// Keeps `info` (an issued shake packet) until `until`; first forgets those due by `now`,
    /// so that only one still due counts as forgotten early.
    void keep(PacketInfo&& info, Time until, Time now) {
        expire(now);
        while (by_id_.size() >= cap_ && !order_.empty()) {
            forget_front();
            dropped_early_.fetch_add(1, std::memory_order_relaxed);
        }
        const std::uint64_t id = info.id.value;
        newest_by_compact_[static_cast<std::uint32_t>(id)] = id;
        by_id_.insert_or_assign(id, std::move(info));
        order_.emplace_back(until, id);
        size_.store(by_id_.size(), std::memory_order_relaxed);
    }
    /// Forgets those kept until `now` or before, oldest issue first: one issued later with an
    /// earlier deadline waits for those before it (kept a little longer, never shorter).
    void expire(Time now) {
        while (!order_.empty() && order_.front().first <= now) {
            forget_front();
        }
    }
    [[nodiscard]] const PacketInfo* find(PacketId id) const {
        const auto it = by_id_.find(id.value);
        return it == by_id_.end() ? nullptr : &it->second;
    }
    [[nodiscard]] const PacketInfo* find_compact(std::uint32_t compact) const {
        const auto it = newest_by_compact_.find(compact);
        return it == newest_by_compact_.end() ? nullptr : find(PacketId{it->second});
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
    /// Forgotten before their time because `cap` were kept.
    [[nodiscard]] std::uint64_t dropped_early() const noexcept {
        return dropped_early_.load(std::memory_order_relaxed);
    }

private:
    void forget_front() {
        const std::uint64_t id = order_.front().second;
        order_.pop_front();
        by_id_.erase(id);
        const auto c = newest_by_compact_.find(static_cast<std::uint32_t>(id));
        if (c != newest_by_compact_.end() && c->second == id) {
            newest_by_compact_.erase(c);
        }
        size_.store(by_id_.size(), std::memory_order_relaxed);
    }

    std::size_t cap_;
    std::unordered_map<std::uint64_t, PacketInfo> by_id_;
    std::unordered_map<std::uint32_t, std::uint64_t> newest_by_compact_;
    std::deque<std::pair<Time, std::uint64_t>> order_;  // (kept until, id), in issue order
    std::atomic<std::size_t> size_{0};
    std::atomic<std::uint64_t> dropped_early_{0};
};

}  // namespace redpacket
