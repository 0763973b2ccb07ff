#include "redpacket/connection_table.hpp"

#include <algorithm>
#include <bit>
#include <utility>

namespace redpacket {
namespace {
constexpr std::size_t kInitialCapacity = 8;
}  // namespace

ConnectionTable::ConnectionTable(ConnectionTable&& other) noexcept
    : entries_{std::move(other.entries_)},
      capacity_{other.capacity_},
      size_{other.size_},
      shift_{other.shift_} {
    other.clear();
}

ConnectionTable& ConnectionTable::operator=(ConnectionTable&& other) noexcept {
    if (this != &other) {
        entries_ = std::move(other.entries_);
        capacity_ = other.capacity_;
        size_ = other.size_;
        shift_ = other.shift_;
        other.clear();
    }
    return *this;
}

void ConnectionTable::grow() {
    const std::size_t new_capacity = capacity_ == 0 ? kInitialCapacity : capacity_ * 2;
    auto fresh = std::make_unique_for_overwrite<Entry[]>(new_capacity);  // may throw: no change yet
    std::fill_n(fresh.get(), new_capacity, Entry{kReservedUser, 0});
    auto old = std::exchange(entries_, std::move(fresh));
    const std::size_t old_capacity = capacity_;
    capacity_ = new_capacity;
    shift_ = 64 - std::countr_zero(new_capacity);
    for (std::size_t i = 0; i < old_capacity; ++i) {
        if (old[i].user != kReservedUser) {
            entries_[probe(old[i].user)] = old[i];
        }
    }
}

std::expected<void, Error> ConnectionTable::add(UserId user, ConnectionRef conn) {
    if (user == kReservedUser) {
        return std::unexpected(Error::invalid_argument);
    }
    if ((size_ + 1) * 4 > capacity_ * 3) {
        grow();
    }
    Entry& e = entries_[probe(user)];  // one probe: find the user or the slot to fill
    if (e.user == user) {
        return std::unexpected(Error::already_exists);
    }
    e = Entry{user, conn};
    ++size_;
    return {};
}

std::optional<ConnectionRef> ConnectionTable::upsert(UserId user, ConnectionRef conn) {
    if (user == kReservedUser) {
        return std::nullopt;
    }
    if ((size_ + 1) * 4 > capacity_ * 3) {
        grow();
    }
    Entry& e = entries_[probe(user)];
    if (e.user == user) {
        const ConnectionRef previous = e.conn;
        e.conn = conn;
        return previous;
    }
    e = Entry{user, conn};
    ++size_;
    return std::nullopt;
}

std::optional<ConnectionRef> ConnectionTable::remove(UserId user) noexcept {
    if (capacity_ == 0 || user == kReservedUser) {
        return std::nullopt;
    }
    const std::size_t mask = capacity_ - 1;
    std::size_t hole = probe(user);
    if (entries_[hole].user != user) {
        return std::nullopt;
    }
    const ConnectionRef conn = entries_[hole].conn;
    // Backward-shift deletion: pull later members of the probe run into the hole whenever the
    // hole lies on their path from home, so no tombstone is needed.
    for (std::size_t next = (hole + 1) & mask; entries_[next].user != kReservedUser;
         next = (next + 1) & mask) {
        const std::size_t want = home(entries_[next].user);
        if (((next - want) & mask) >= ((next - hole) & mask)) {
            entries_[hole] = entries_[next];
            hole = next;
        }
    }
    entries_[hole] = Entry{kReservedUser, 0};
    --size_;
    return conn;
}

void ConnectionTable::clear() noexcept {
    entries_.reset();
    capacity_ = 0;
    size_ = 0;
    shift_ = 64;
}

}  // namespace redpacket
