// Authenticated login tokens: HMAC-SHA256(secret, user ‖ expiry), both big-endian (u32, u64).
//
// Computed with OpenSSL's libcrypto and compared in constant time. Pure functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace redpacketd {

using Token = std::array<std::uint8_t, 32>;

/// The token a client presents for `user` until `expiry` (unix seconds).
[[nodiscard]] Token make_token(std::string_view secret, std::uint32_t user, std::uint64_t expiry);

/// True if `token` is valid for `user` and `expiry` and `expiry` is not before `now`.
/// The comparison takes the same time whatever the token.
[[nodiscard]] bool verify_token(std::string_view secret, std::uint32_t user, std::uint64_t expiry,
                                const Token& token, std::uint64_t now);

}  // namespace redpacketd
