#include "redpacket/address.hpp"

#include <arpa/inet.h>

#include <array>
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

}  // namespace redpacket
