// The events every worker counts: per second (RateCounter) and in total (for /metrics).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

#include "redpacket/protocol.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace redpacketd {

enum class Event : unsigned {
    accepted,
    rejected_max_connections,
    closed,
    logins,
    login_failures,
    login_timeouts,
    idle_timeouts,
    output_cap_closes,
    protocol_errors,
    migrations,
    shake_requests,
    shake_hits,
    shake_misses,
    shake_overloaded,
    grabs,
    grab_hits,
    grab_misses,
    claims,
    creates,
    create_failures,
    queries,
    heartbeats,
    notices,
    rate_limited,
    mailbox_full,
    forwarded,
    forward_limited,  ///< requests refused because max_forwarded were awaiting an answer
    bytes_in,
    bytes_out,
    shake_offered,
    shake_offer_refused,
    packets_sent,
    refunds,
    journal_refusals,  ///< money requests refused: journal failing or its queue full
    held_replies,      ///< reply batches that waited for their journal records to be durable
    // Why the frame decoder refused a stream (each also counts as a protocol error), in
    // protocol::DecodeError order.
    decode_length_too_small,
    decode_length_too_large,
    decode_unknown_command,
    decode_bad_body_length,
    // The outcome of every grab and extended claim, in redpacket::ClaimStatus order (counted by
    // the packet's owner; refusals before the pool is asked — rate limit, journal — are not).
    claim_claimed,
    claim_already_claimed,
    claim_sold_out,
    claim_expired,
    claim_not_found,
    claim_not_allowed,
    count_  // not an event
};

inline constexpr std::size_t kEventCount = static_cast<std::size_t>(Event::count_);

inline constexpr std::array<std::string_view, kEventCount> kEventNames = {
    "accepted",       "rejected_max_connections", "closed",        "logins",
    "login_failures", "login_timeouts",           "idle_timeouts", "output_cap_closes",
    "protocol_errors", "migrations",              "shake_requests", "shake_hits",
    "shake_misses",   "shake_overloaded",         "grabs",         "grab_hits",
    "grab_misses",    "claims",                   "creates",       "create_failures",
    "queries",        "heartbeats",               "notices",       "rate_limited",
    "mailbox_full",   "forwarded",      "forward_limited",      "bytes_in",      "bytes_out",
    "shake_offered",  "shake_offer_refused",      "packets_sent",  "refunds",
    "journal_refusals", "held_replies",
    "decode_length_too_small", "decode_length_too_large", "decode_unknown_command",
    "decode_bad_body_length",
    "claim_claimed",  "claim_already_claimed",    "claim_sold_out", "claim_expired",
    "claim_not_found", "claim_not_allowed"};

/// The event counting a decoder refusal.
[[nodiscard]] constexpr Event decode_event(redpacket::protocol::DecodeError e) noexcept {
    return static_cast<Event>(static_cast<unsigned>(Event::decode_length_too_small) +
                              static_cast<unsigned>(e));
}
static_assert(decode_event(redpacket::protocol::DecodeError::bad_body_length) ==
              Event::decode_bad_body_length);

/// The event counting a claim's outcome.
[[nodiscard]] constexpr Event claim_event(redpacket::ClaimStatus s) noexcept {
    return static_cast<Event>(static_cast<unsigned>(Event::claim_claimed) +
                              static_cast<unsigned>(s));
}
static_assert(claim_event(redpacket::ClaimStatus::not_allowed) == Event::claim_not_allowed);

}  // namespace redpacketd
