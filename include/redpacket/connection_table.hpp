// ConnectionTable: a flat open-addressing map from user to connection handle.
//
// One table per shard. One array of 16-byte entries plus one control byte per slot (empty,
// tombstone, or 7 bits of the key's hash), linear probing scanned a group of 16 control bytes
// at a time (SSE2; 8 with plain integer arithmetic elsewhere, see detail/ctrl_group.hpp), so a
// lookup compares the key only in slots whose hash bits match — usually one. Fibonacci
// hashing; growth by doubling at 7/8 load (entries and tombstones). A removal leaves a
// tombstone only when the next slot is full (otherwise its slot is simply empty again), and
// when tombstones fill the table while at most 5/8 of it are entries, it is rebuilt at the same
// size instead of doubled. Memory: 17 bytes per slot; 19–39 bytes per entry in a table that
// only grew, at most 55 under churn at a constant size (a table never shrinks).
// The connection handle is an opaque 64-bit value chosen by the caller (an index, a pointer).
//
// Thread-safety: single owner, not thread-safe — the worker that owns the shard.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <utility>

#include "redpacket/detail/ctrl_group.hpp"
#include "redpacket/error.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// An opaque connection handle stored in the table.
using ConnectionRef = std::uint64_t;

/// Flat open-addressing map UserId → ConnectionRef. Single owner.
class ConnectionTable {
public:
    ConnectionTable() = default;
    /// Moves the entries; the source is left empty and usable.
    ConnectionTable(ConnectionTable&& other) noexcept;
    ConnectionTable& operator=(ConnectionTable&& other) noexcept;

    /// Registers `user` (any id). Errors: already_exists.
    /// Complexity: O(1) expected, amortised over growth.
    [[nodiscard]] std::expected<void, Error> add(UserId user, ConnectionRef conn);
    /// Registers or replaces `user`, returning the connection it replaced, if any.
    std::optional<ConnectionRef> upsert(UserId user, ConnectionRef conn);
    /// Unregisters `user`, returning its connection if it was present.
    std::optional<ConnectionRef> remove(UserId user) noexcept {
        const std::size_t i = find_slot(user);
        if (i == kNoSlot) {
            return std::nullopt;
        }
        --size_;
        // When the probe run ends right after this slot, no search needs to pass it: it
        // becomes empty again. Otherwise a tombstone keeps the run going (a rebuild at the
        // same size drops tombstones once they, not entries, fill the table).
        const bool run_ends = ctrl_[(i + 1) & (capacity_ - 1)] == detail::kEmpty;
        set_ctrl(i, run_ends ? detail::kEmpty : detail::kDeleted);
        growth_left_ += run_ends ? 1 : 0;
        return entries_[i].conn;
    }
    /// The connection of `user`, if registered.
    [[nodiscard]] std::optional<ConnectionRef> find(UserId user) const noexcept {
        const std::size_t i = find_slot(user);
        if (i == kNoSlot) {
            return std::nullopt;
        }
        return entries_[i].conn;
    }

    /// Calls `fn(UserId, ConnectionRef)` for every entry, in table order. `fn` must not
    /// modify the table.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (std::size_t i = 0; i < capacity_; ++i) {
            if (detail::is_full(ctrl_[i])) {
                fn(entries_[i].user, entries_[i].conn);
            }
        }
    }

    /// The entry in slot `i` (< capacity()), if that slot is occupied. After its first growth a
    /// table is at least 7/16 full if it only grew (5/16 under churn), so probing random slots
    /// finds an entry in 2–3 tries: a cheap uniform-ish pick of a registered user. O(1).
    [[nodiscard]] std::optional<std::pair<UserId, ConnectionRef>> at_slot(
        std::size_t i) const noexcept {
        if (i >= capacity_ || !detail::is_full(ctrl_[i])) {
            return std::nullopt;
        }
        return std::pair{entries_[i].user, entries_[i].conn};
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// Heap bytes held by the table.
    [[nodiscard]] std::size_t memory_bytes() const noexcept {
        return capacity_ == 0 ? 0 : capacity_ * sizeof(Entry) + ctrl_bytes(capacity_);
    }
    /// Removes every entry and releases the memory.
    void clear() noexcept;

private:
    struct Entry {
        UserId user;
        ConnectionRef conn;
    };

    using Group = detail::Group;
    static constexpr std::size_t kNoSlot = ~std::size_t{0};

    // The control bytes: one per slot, then the first kWidth - 1 again, so a group read at
    // any slot needs no wrap-around.
    static constexpr std::size_t ctrl_bytes(std::size_t capacity) noexcept {
        return capacity + Group::kWidth - 1;
    }
    // Fibonacci hashing: the top bits of the product are well mixed even for sequential ids.
    // They pick the home slot; the 7 bits below them are the control byte (independent of
    // the home, so neighbours in a probe run rarely share them).
    [[nodiscard]] std::uint64_t hash(UserId user) const noexcept {
        return user * 0x9e3779b97f4a7c15ULL;
    }
    [[nodiscard]] std::size_t home(std::uint64_t h) const noexcept {
        return static_cast<std::size_t>(h >> shift_);
    }
    [[nodiscard]] std::int8_t h2(std::uint64_t h) const noexcept {
        return static_cast<std::int8_t>((h >> (shift_ - 7)) & 0x7f);
    }
    // The slot holding `user`, or kNoSlot. Inline: the hot path.
    [[nodiscard]] std::size_t find_slot(UserId user) const noexcept {
        if (capacity_ == 0) {
            return kNoSlot;
        }
        const std::uint64_t h = hash(user);
        const std::size_t mask = capacity_ - 1;
        for (std::size_t pos = home(h);; pos = (pos + Group::kWidth) & mask) {
            const Group g{ctrl_ + pos};
            for (auto m = g.match(h2(h)); m; m.clear_lowest()) {
                const std::size_t i = (pos + m.lowest()) & mask;
                if (entries_[i].user == user) {
                    return i;
                }
            }
            if (g.match_empty()) {  // the probe run ends in this group
                return kNoSlot;
            }
        }
    }
    // Where `user` is, or (not found) the first free slot of its probe run; `found` says which.
    std::size_t find_or_free(UserId user, bool& found) const noexcept;
    void set_ctrl(std::size_t i, std::int8_t c) noexcept {
        ctrl_[i] = c;
        if (i < Group::kWidth - 1) {
            ctrl_[capacity_ + i] = c;  // the clone read by groups that start near the end
        }
    }
    // Makes room for one more entry in an empty slot: a rebuild at the same size when
    // tombstones fill the table, else twice the size. Never called on an empty table: add and
    // upsert allocate the first one before probing.
    void rehash_for_insert();
    void rebuild(std::size_t new_capacity);
    // Writes a user known to be absent into `free` (find_or_free's answer), first making room
    // when that slot is empty and no empty slot may be filled.
    void place(UserId user, ConnectionRef conn, std::size_t free);

    // One allocation: the entries, then the control bytes (fewer calls to malloc, and one
    // block to return to it, as a growing table frees every size it had).
    std::unique_ptr<std::byte[]> block_;
    Entry* entries_{nullptr};
    std::int8_t* ctrl_{nullptr};
    std::size_t capacity_{0};     // 0 or a power of two, at least 16
    std::size_t size_{0};
    std::size_t growth_left_{0};  // empty slots that may still be filled before a rehash
    int shift_{64};
};

}  // namespace redpacket
