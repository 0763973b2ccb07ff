// SlotMap: objects in numbered slots whose numbers are reused, each with a generation that
// changes when its object goes — so a reference taken earlier (slot and generation: a
// ConnectionRef in a ConnectionTable, a reply addressed to a connection, a timer's target)
// never reaches the newer object that took the slot. A server keeps its connections here and
// their refs in the registry.
//
// Pointers are not owned. O(1) insert, erase and find; free slots are reused last-freed first.
// Single owner; not thread-safe.
#pragma once

#include <cstdint>
#include <vector>

#include "redpacket/connection_table.hpp"

namespace redpacket {

template <class T>
class SlotMap {
public:
    /// Puts `item` in a free slot and returns the slot.
    std::uint32_t insert(T* item) {
        if (free_.empty()) {
            items_.push_back(item);
            generations_.push_back(1);
            return static_cast<std::uint32_t>(items_.size() - 1);
        }
        const std::uint32_t slot = free_.back();
        free_.pop_back();
        items_[slot] = item;
        return slot;
    }
    /// Empties `slot`; references to it taken before no longer resolve.
    void erase(std::uint32_t slot) noexcept {
        items_[slot] = nullptr;
        ++generations_[slot];
        free_.push_back(slot);
    }
    /// The object in `slot` if its generation is still `generation`, else nullptr.
    [[nodiscard]] T* find(std::uint32_t slot, std::uint32_t generation) const noexcept {
        return slot < items_.size() && generations_[slot] == generation ? items_[slot] : nullptr;
    }
    [[nodiscard]] T* find(ConnectionRef ref) const noexcept {
        return find(static_cast<std::uint32_t>(ref >> 32), static_cast<std::uint32_t>(ref));
    }
    [[nodiscard]] std::uint32_t generation(std::uint32_t slot) const noexcept {
        return generations_[slot];
    }
    /// `slot` and its generation as one value (slot in the high half).
    [[nodiscard]] ConnectionRef ref(std::uint32_t slot) const noexcept {
        return (ConnectionRef{slot} << 32) | generations_[slot];
    }
    /// Calls `fn(T*)` for every object, in slot order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (T* item : items_) {
            if (item != nullptr) {
                fn(item);
            }
        }
    }

private:
    std::vector<T*> items_;
    std::vector<std::uint32_t> generations_;
    std::vector<std::uint32_t> free_;
};

}  // namespace redpacket
