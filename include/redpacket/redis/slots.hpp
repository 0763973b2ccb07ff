// Redis Cluster addressing without I/O: key slots (CRC16/XMODEM of the key, or of its first
// non-empty {hash tag}), node addresses, and the redirect and retry errors a cluster answers.
//
// Pure functions and plain values; thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/address.hpp"

namespace redpacket::redis {

/// Hash slots of a Redis Cluster.
inline constexpr std::uint32_t kSlots = 16384;

/// CRC-16/XMODEM (polynomial 0x1021, initial 0, no reflection): "123456789" → 0x31C3.
[[nodiscard]] std::uint16_t crc16(std::string_view data) noexcept;
/// The slot of `key`: the CRC16 of the bytes between its first '{' and the first '}' after it
/// when there is at least one, else of the whole key; modulo 16384.
[[nodiscard]] std::uint16_t key_slot(std::string_view key) noexcept;

/// A node, as "host:port".
using NodeAddress = HostPort;

/// A cluster's "go there" answer.
struct Redirect {
    enum class Kind : std::uint8_t { moved, ask };
    Kind kind{Kind::moved};
    std::uint16_t slot{0};
    NodeAddress node;
};
/// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" (error text without the '-').
[[nodiscard]] std::optional<Redirect> parse_redirect(std::string_view error);
/// True for errors a later attempt may not get: TRYAGAIN (keys split by a migration),
/// CLUSTERDOWN (no quorum, a failover under way), LOADING, MASTERDOWN, READONLY (a master
/// turned replica) and NOREPLICAS (min-replicas-to-write not met yet).
[[nodiscard]] bool is_transient_error(std::string_view error) noexcept;

}  // namespace redpacket::redis
