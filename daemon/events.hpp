// The events every worker counts: per second (RateCounter) and in total (for /metrics).
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

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
    "journal_refusals", "held_replies"};

}  // namespace redpacketd
