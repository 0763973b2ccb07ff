// Host names as the daemon, the client and the tools accept them: which are loopback, and the
// IPv4 address a listener binds. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace redpacket {

/// True for "localhost", any address of 127.0.0.0/8 and the IPv6 loopback ::1.
[[nodiscard]] bool is_loopback_host(std::string_view host) noexcept;

/// The IPv4 address (network byte order) of a dotted quad, or of "localhost" (127.0.0.1);
/// nothing for anything else.
[[nodiscard]] std::optional<std::uint32_t> parse_ipv4_host(std::string_view host) noexcept;

}  // namespace redpacket
