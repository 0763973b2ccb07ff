// Login tokens of the extended protocol's authenticated login (cmd 16, docs/protocol.md).
//
// A token is HMAC-SHA256 keyed with the server's secret over exactly 12 bytes: the user as a
// big-endian u32, then the expiry (unix seconds) as a big-endian u64. The service that issues
// tokens and the daemon that checks them share only the secret. Verification recomputes the
// MAC and compares in constant time (CRYPTO_memcmp), so how long it takes does not depend on
// how many leading bytes of a forged token are right.
//
// Pure functions on OpenSSL's libcrypto; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace redpacket {

/// An HMAC-SHA256 login token.
using LoginToken = std::array<std::uint8_t, 32>;

/// The bytes a token MACs: user (u32) then expiry (u64), both big-endian.
[[nodiscard]] std::array<std::uint8_t, 12> login_token_message(std::uint32_t user,
                                                               std::uint64_t expiry) noexcept;

/// The token a client presents to log in as `user` until `expiry` (unix seconds).
[[nodiscard]] LoginToken make_login_token(std::string_view secret, std::uint32_t user,
                                          std::uint64_t expiry) noexcept;

/// True if `token` is the token of (`user`, `expiry`) under `secret` and `expiry` ≥ `now`
/// (unix seconds). An empty secret accepts nothing. Constant time in the token's bytes.
[[nodiscard]] bool verify_login_token(std::string_view secret, std::uint32_t user,
                                      std::uint64_t expiry, const LoginToken& token,
                                      std::uint64_t now) noexcept;

/// The secret kept in the file at `path`: the whole file, one trailing newline (\n or \r\n)
/// dropped. Refused, with a message naming the file and what to do: a file that is missing,
/// unreadable, not a regular file or empty, and, unless `allow_readable`, one that group or
/// others have any access to (its mode is in the message). Used by the daemon for its secret
/// files and by the tools that log in with the daemon's secret.
[[nodiscard]] std::expected<std::string, std::string> read_secret_file(const std::string& path,
                                                                       bool allow_readable);

}  // namespace redpacket
