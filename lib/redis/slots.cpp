#include "redpacket/redis/slots.hpp"

#include <array>
#include <charconv>

namespace redpacket::redis {
namespace {

constexpr std::array<std::uint16_t, 256> make_table() {
    std::array<std::uint16_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
        std::uint32_t crc = i << 8;
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1;
        }
        t[i] = static_cast<std::uint16_t>(crc);
    }
    return t;
}
constexpr auto kTable = make_table();

bool starts_with(std::string_view s, std::string_view prefix) noexcept {
    return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

std::uint16_t crc16(std::string_view data) noexcept {
    std::uint16_t crc = 0;
    for (const char c : data) {
        crc = static_cast<std::uint16_t>(
            (crc << 8) ^ kTable[((crc >> 8) ^ static_cast<std::uint8_t>(c)) & 0xFFU]);
    }
    return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept {
    const auto open = key.find('{');
    if (open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<std::uint16_t>(crc16(key) % kSlots);
}

std::optional<Redirect> parse_redirect(std::string_view error) {
    Redirect r;
    if (starts_with(error, "MOVED ")) {
        error.remove_prefix(6);
    } else if (starts_with(error, "ASK ")) {
        r.kind = Redirect::Kind::ask;
        error.remove_prefix(4);
    } else {
        return std::nullopt;
    }
    const auto space = error.find(' ');
    if (space == std::string_view::npos) {
        return std::nullopt;
    }
    unsigned slot = 0;
    const auto [end, ec] = std::from_chars(error.data(), error.data() + space, slot);
    if (ec != std::errc{} || end != error.data() + space || slot >= kSlots) {
        return std::nullopt;
    }
    const auto node = parse_host_port(error.substr(space + 1));
    if (!node) {
        return std::nullopt;
    }
    r.slot = static_cast<std::uint16_t>(slot);
    r.node = *node;
    return r;
}

bool is_transient_error(std::string_view error) noexcept {
    for (const std::string_view prefix :
         {"TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY", "NOREPLICAS"}) {
        if (starts_with(error, prefix)) {
            return true;
        }
    }
    return false;
}

}  // namespace redpacket::redis
