// The packet record the Redis store keeps (HASH p: id -> "sender,total,count,policy,expires,
// allowed,rid,proof") and rp_query's reply, read back: shared by the store and the audit so
// that both read the same fields the same way. Internal to lib/redis.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/redis/cluster_client.hpp"

namespace redpacket::redis {

/// A decimal integer that is the whole of `s`.
[[nodiscard]] std::optional<std::int64_t> to_int(std::string_view s) noexcept;
/// `s` cut at every `sep` (always at least one field).
[[nodiscard]] std::vector<std::string_view> split_on(std::string_view s, char sep);

/// The record's 8th field: "seed hex:min share", or "0" for a packet made without a seed.
[[nodiscard]] std::string proof_field(const std::optional<Seed>& seed, Cents min_share);
/// The seed and minimum share of a proof field; nullopt for "0" or anything unreadable.
[[nodiscard]] std::optional<std::pair<Seed, Cents>> parse_proof_field(std::string_view f);

/// A PacketInfo from rp_query's reply: record, claimed count, refund, the packet's id (`id`
/// may be a compact one), then (user, amount) pairs. `now`: wall-clock ms (a packet past its deadline reads expired before any sweep).
[[nodiscard]] std::expected<PacketInfo, Error> packet_info(PacketId id, const Value& v,
                                                           std::int64_t now);

}  // namespace redpacket::redis
