// The events a worker's transport counts (sockets, frames, mailboxes): per second (RateCounter)
// and in total (for /metrics). The request rules' events are the library's ServiceEvent; the
// RateCounter holds these first, then those (`kServiceEventBase` on).
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/protocol.hpp"
#include "redpacket/request_service.hpp"

namespace redpacketd {

enum class Event : unsigned {
    accepted,
    rejected_max_connections,
    closed,
    login_timeouts,
    idle_timeouts,
    output_cap_closes,
    migrations,
    mailbox_full,
    forwarded,
    forward_limited,  ///< requests refused because max_forwarded were awaiting an answer
    bytes_in,
    bytes_out,
    held_replies,  ///< reply batches that waited for their journal records to be durable
    // Why the frame decoder refused a stream (each also counts as a protocol error), in
    // protocol::DecodeError order.
    decode_length_too_small,
    decode_length_too_large,
    decode_unknown_command,
    decode_bad_body_length,
    count_  // not an event
};

inline constexpr std::size_t kEventCount = static_cast<std::size_t>(Event::count_);
/// RateCounter id of the first ServiceEvent.
inline constexpr std::size_t kServiceEventBase = kEventCount;

inline constexpr std::array<std::string_view, kEventCount> kEventNames = {
    "accepted",           "rejected_max_connections", "closed",          "login_timeouts",
    "idle_timeouts",      "output_cap_closes",        "migrations",      "mailbox_full",
    "forwarded",          "forward_limited",          "bytes_in",        "bytes_out",
    "held_replies",       "decode_length_too_small",  "decode_length_too_large",
    "decode_unknown_command", "decode_bad_body_length"};

/// Every counted event's name: the transport's, then the service's (RateCounter order).
[[nodiscard]] inline std::vector<std::string> all_event_names() {
    std::vector<std::string> names{kEventNames.begin(), kEventNames.end()};
    for (const std::string_view n : redpacket::service_event_names()) {
        names.emplace_back(n);
    }
    return names;
}

/// The event counting a decoder refusal.
[[nodiscard]] constexpr Event decode_event(redpacket::protocol::DecodeError e) noexcept {
    return static_cast<Event>(static_cast<unsigned>(Event::decode_length_too_small) +
                              static_cast<unsigned>(e));
}
static_assert(decode_event(redpacket::protocol::DecodeError::bad_body_length) ==
              Event::decode_bad_body_length);

}  // namespace redpacketd
