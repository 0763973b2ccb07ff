// The keys of one SET in the Redis store, in the order the functions library declares them
// (KEYS in lib/redis/redpacket.lua): shared by RedisStore and the audit.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace redpacket::redis {

enum SetKey : std::size_t { kP, kSh, kCl, kAl, kDl, kRt, kRf, kRq, kCp, kSq, kTot, kSetKeyCount };

inline constexpr std::array<std::string_view, kSetKeyCount> kSetKeyNames = {
    "p", "sh", "cl", "al", "dl", "rt", "rf", "rq", "cp", "sq", "tot"};

/// "{<prefix>:s:<set>}:" — every key of the SET starts with it (one hash slot).
inline std::string set_tag(std::string_view prefix, std::uint32_t set) {
    return "{" + std::string(prefix) + ":s:" + std::to_string(set) + "}:";
}

}  // namespace redpacket::redis
