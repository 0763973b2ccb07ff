#include "redpacket/address.hpp"

#include <arpa/inet.h>

#include <array>
#include <charconv>
#include <string>

namespace redpacket {

bool is_loopback_host(std::string_view host) noexcept {
    if (const auto v4 = parse_ipv4_host(host)) {
        return (ntohl(*v4) >> 24) == 127;
    }
    const std::string s(host.substr(0, 64));
    in6_addr v6{};
    return host.size() < 64 && inet_pton(AF_INET6, s.c_str(), &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
}

std::optional<std::uint32_t> parse_ipv4_host(std::string_view host) noexcept {
    if (host == "localhost") {
        return htonl(INADDR_LOOPBACK);
    }
    if (host.size() > 15) {
        return std::nullopt;
    }
    const std::string s(host);
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) {
        return std::nullopt;
    }
    return a.s_addr;
}

std::optional<HostPort> parse_host_port(std::string_view s) {
    const auto colon = s.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == s.size()) {
        return std::nullopt;
    }
    unsigned port = 0;
    const std::string_view digits = s.substr(colon + 1);
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    return HostPort{std::string(s.substr(0, colon)), static_cast<std::uint16_t>(port)};
}

std::expected<std::vector<HostPort>, std::string> parse_host_port_list(std::string_view list) {
    std::vector<HostPort> out;
    while (!list.empty()) {
        const auto comma = list.find(',');
        const std::string_view item = list.substr(0, comma);
        const auto node = parse_host_port(item);
        if (!node) {
            return std::unexpected("\"" + std::string(item) + "\" is not host:port");
        }
        out.push_back(*node);
        list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
    if (out.empty()) {
        return std::unexpected(std::string("no node given"));
    }
    return out;
}

}  // namespace redpacket
