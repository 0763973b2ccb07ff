// The error vocabulary of libredpacket.
//
// Expected failures are values: functions return `std::expected<T, Error>` and never throw on a
// hot path. `to_string` gives a stable snake_case name, suitable for logs and metrics labels.
#pragma once

#include <cstdint>
#include <string_view>

namespace redpacket {

/// Why an operation was refused.
enum class Error : std::uint8_t {
    invalid_amount,    ///< total ≤ 0, above the limit, or below count × minimum share
    invalid_count,     ///< share count is 0, above the limit, or wrong for the policy
    invalid_argument,  ///< any other argument out of its domain (reserved key, bad minimum…)
    pool_full,         ///< the pool holds its configured maximum of open packets
    not_found,         ///< no such packet or entry
    queue_full,        ///< the shake supply is at its configured capacity
    mailbox_full,      ///< the owning worker's mailbox is at its configured capacity
    already_exists,    ///< the key is already registered
    io_error,          ///< a file operation failed (the errno travels beside it, e.g. JournalError)
    corrupt,           ///< stored data failed a check: CRC, length, or a replayed event that
                       ///< contradicts the state it is applied to
    closed,            ///< the object was shut down and takes no more work
    unavailable,       ///< a store cannot take the operation now: its journal is failing or
                       ///< full, or a remote store is unreachable; retrying later may succeed
};

/// A stable name for `e`, e.g. "pool_full".
[[nodiscard]] std::string_view to_string(Error e) noexcept;

}  // namespace redpacket
