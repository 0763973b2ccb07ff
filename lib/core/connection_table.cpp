#include "redpacket/connection_table.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace redpacket {
namespace {
constexpr std::size_t kInitialCapacity = 16;  // at least one group: the cloned tail fits
// The most slots that may hold an entry or a tombstone: 7/8 of them.
constexpr std::size_t max_load(std::size_t capacity) noexcept { return capacity - capacity / 8; }
}  // namespace

ConnectionTable::ConnectionTable(ConnectionTable&& other) noexcept
    : block_{std::move(other.block_)},
      entries_{other.entries_},
      ctrl_{other.ctrl_},
      capacity_{other.capacity_},
      size_{other.size_},
      growth_left_{other.growth_left_},
      shift_{other.shift_} {
    other.clear();
}

ConnectionTable& ConnectionTable::operator=(ConnectionTable&& other) noexcept {
    if (this != &other) {
        block_ = std::move(other.block_);
        entries_ = other.entries_;
        ctrl_ = other.ctrl_;
        capacity_ = other.capacity_;
        size_ = other.size_;
        growth_left_ = other.growth_left_;
        shift_ = other.shift_;
        other.clear();
    }
    return *this;
}

inline std::size_t ConnectionTable::find_or_free(UserId user, bool& found) const noexcept {
    const std::uint64_t h = hash(user);
    const std::size_t mask = capacity_ - 1;
    std::size_t free = kNoSlot;
    for (std::size_t pos = home(h);; pos = (pos + Group::kWidth) & mask) {
        const Group g{ctrl_ + pos};
        for (auto m = g.match(h2(h)); m; m.clear_lowest()) {
            const std::size_t i = (pos + m.lowest()) & mask;
            if (entries_[i].user == user) {
                found = true;
                return i;
            }
        }
        if (const auto f = g.match_free(); f && free == kNoSlot) {
            free = (pos + f.lowest()) & mask;  // at or before this group's first empty slot
        }
        if (g.match_empty()) {
            found = false;
            return free;
        }
    }
}

void ConnectionTable::rebuild(std::size_t new_capacity) {
    static_assert(alignof(Entry) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    // Allocate before touching the table: a throw leaves it unchanged. The entries and control
    // bytes are implicit-lifetime types, created in the byte array by its allocation.
    const std::size_t entry_bytes = new_capacity * sizeof(Entry);
    auto block = std::make_unique_for_overwrite<std::byte[]>(entry_bytes + ctrl_bytes(new_capacity));
    auto old_block = std::exchange(block_, std::move(block));
    const Entry* old_entries = std::exchange(entries_, reinterpret_cast<Entry*>(block_.get()));
    const std::int8_t* old_ctrl =
        std::exchange(ctrl_, reinterpret_cast<std::int8_t*>(block_.get() + entry_bytes));
    std::fill_n(ctrl_, ctrl_bytes(new_capacity), detail::kEmpty);
    const std::size_t old_capacity = std::exchange(capacity_, new_capacity);
    shift_ = 64 - std::countr_zero(new_capacity);
    growth_left_ = max_load(new_capacity) - size_;
    const std::size_t mask = new_capacity - 1;
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (!detail::is_full(old_ctrl[i])) {
            continue;
        }
        // Distinct users into a table without tombstones, at most 5/8 full: no key to compare,
        // just the first empty slot from home, found byte by byte.
        const std::uint64_t h = hash(old_entries[i].user);
        std::size_t slot = home(h);
        while (ctrl_[slot] != detail::kEmpty) {
            slot = (slot + 1) & mask;
        }
        entries_[slot] = old_entries[i];
        set_ctrl(slot, h2(h));
    }
}

void ConnectionTable::rehash_for_insert() {
    if ((size_ + 1) * 8 <= capacity_ * 5) {
        // At most 5/8 entries, the rest of the 7/8 tombstones: drop them and keep the size.
        // At least 1/4 of the slots are then free, so churn at a constant size rebuilds at
        // most once per capacity/4 insertions (4 moves per insertion, amortised).
        rebuild(capacity_);
    } else {
        rebuild(capacity_ * 2);
    }
}

inline void ConnectionTable::place(UserId user, ConnectionRef conn, std::size_t free) {
    if (ctrl_[free] == detail::kEmpty) {
        if (growth_left_ == 0) {
            rehash_for_insert();
            bool found = false;
            free = find_or_free(user, found);  // a rebuilt table has no tombstones: empty
        }
        --growth_left_;
    }
    entries_[free] = Entry{user, conn};
    set_ctrl(free, h2(hash(user)));
    ++size_;
}

std::expected<void, Error> ConnectionTable::add(UserId user, ConnectionRef conn) {
    if (capacity_ == 0) {
        rebuild(kInitialCapacity);
    }
    bool found = false;
    const std::size_t i = find_or_free(user, found);
    if (found) {
        return std::unexpected(Error::already_exists);
    }
    place(user, conn, i);
    return {};
}

std::optional<ConnectionRef> ConnectionTable::upsert(UserId user, ConnectionRef conn) {
    if (capacity_ == 0) {
        rebuild(kInitialCapacity);
    }
    bool found = false;
    const std::size_t i = find_or_free(user, found);
    if (found) {
        return std::exchange(entries_[i].conn, conn);
    }
    place(user, conn, i);
    return std::nullopt;
}

void ConnectionTable::clear() noexcept {
    block_.reset();
    entries_ = nullptr;
    ctrl_ = nullptr;
    capacity_ = 0;
    size_ = 0;
    growth_left_ = 0;
    shift_ = 64;
}

}  // namespace redpacket
