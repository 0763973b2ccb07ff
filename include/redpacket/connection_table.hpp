// ConnectionTable: a flat open-addressing map from user to connection handle.
//
// One table per shard. Linear probing over one array of 16-byte entries, Fibonacci hashing,
// growth by doubling at 3/4 load, and backward-shift deletion (no tombstones), so a lookup
// touches one or two cache lines and memory stays at 16–43 bytes per entry whatever the churn.
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

#include "redpacket/error.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// An opaque connection handle stored in the table.
using ConnectionRef = std::uint64_t;

/// The one user id a table cannot hold: it marks empty slots.
inline constexpr UserId kReservedUser = ~UserId{0};

/// Flat open-addressing map UserId → ConnectionRef. Single owner.
class ConnectionTable {
public:
    ConnectionTable() = default;
    /// Moves the entries; the source is left empty and usable.
    ConnectionTable(ConnectionTable&& other) noexcept;
    ConnectionTable& operator=(ConnectionTable&& other) noexcept;

    /// Registers `user`. Errors: already_exists, invalid_argument (kReservedUser).
    /// Complexity: O(1) expected, amortised over growth.
    [[nodiscard]] std::expected<void, Error> add(UserId user, ConnectionRef conn);
    /// Registers or replaces `user`, returning the connection it replaced, if any.
    std::optional<ConnectionRef> upsert(UserId user, ConnectionRef conn);
    /// Unregisters `user`, returning its connection if it was present.
    std::optional<ConnectionRef> remove(UserId user) noexcept;
    /// The connection of `user`, if registered.
    [[nodiscard]] std::optional<ConnectionRef> find(UserId user) const noexcept {
        if (capacity_ == 0 || user == kReservedUser) {
            return std::nullopt;
        }
        const Entry& e = entries_[probe(user)];
        if (e.user != user) {
            return std::nullopt;
        }
        return e.conn;
    }

    /// Calls `fn(UserId, ConnectionRef)` for every entry, in table order. `fn` must not
    /// modify the table.
    template <class Fn>
    void for_each(Fn&& fn) const {
        for (std::size_t i = 0; i < capacity_; ++i) {
            if (entries_[i].user != kReservedUser) {
                fn(entries_[i].user, entries_[i].conn);
            }
        }
    }

    /// The entry in slot `i` (< capacity()), if that slot is occupied. With the table at least
    /// 3/8 full after its first growth, probing random slots finds an entry in about 3 tries:
    /// a cheap uniform-ish pick of a registered user. Complexity: O(1).
    [[nodiscard]] std::optional<std::pair<UserId, ConnectionRef>> at_slot(
        std::size_t i) const noexcept {
        if (i >= capacity_ || entries_[i].user == kReservedUser) {
            return std::nullopt;
        }
        return std::pair{entries_[i].user, entries_[i].conn};
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] std::size_t capacity() const noexcept { return capacity_; }
    /// Heap bytes held by the table.
    [[nodiscard]] std::size_t memory_bytes() const noexcept { return capacity_ * sizeof(Entry); }
    /// Removes every entry and releases the memory.
    void clear() noexcept;

private:
    struct Entry {
        UserId user;
        ConnectionRef conn;
    };

    // Fibonacci hashing: the top bits of the product are well mixed even for sequential ids.
    [[nodiscard]] std::size_t home(UserId user) const noexcept {
        return static_cast<std::size_t>((user * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    // The slot holding `user`, or the empty slot where it would go. Inline: the hot path.
    [[nodiscard]] std::size_t probe(UserId user) const noexcept {
        const std::size_t mask = capacity_ - 1;
        std::size_t i = home(user);
        while (entries_[i].user != user && entries_[i].user != kReservedUser) {
            i = (i + 1) & mask;
        }
        return i;
    }
    void grow();

    std::unique_ptr<Entry[]> entries_;
    std::size_t capacity_{0};  // 0 or a power of two
    std::size_t size_{0};
    int shift_{64};
};

}  // namespace redpacket
