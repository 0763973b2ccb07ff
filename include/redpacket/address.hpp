// Host names as the daemon, the client and the tools accept them: which are loopback, and the
// IPv4 address a listener binds. Pure functions; thread-safe.
#pragma once

#include <compare>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redpacket {

/// True for "localhost", any address of 127.0.0.0/8 and the IPv6 loopback ::1.
[[nodiscard]] bool is_loopback_host(std::string_view host) noexcept;

/// The IPv4 address (network byte order) of a dotted quad, or of "localhost" (127.0.0.1);
/// nothing for anything else.
[[nodiscard]] std::optional<std::uint32_t> parse_ipv4_host(std::string_view host) noexcept;

/// A "host:port" address.
struct HostPort {
    std::string host;
    std::uint16_t port{0};
    friend auto operator<=>(const HostPort&, const HostPort&) = default;
    [[nodiscard]] std::string to_string() const { return host + ":" + std::to_string(port); }
};
/// Parses "host:port" (port 1..65535).
[[nodiscard]] std::optional<HostPort> parse_host_port(std::string_view host_port);
/// Parses a comma-separated list of "host:port"; the error names the bad entry.
[[nodiscard]] std::expected<std::vector<HostPort>, std::string> parse_host_port_list(
    std::string_view list);

}  // namespace redpacket
