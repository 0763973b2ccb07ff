#include "redpacket/auth.hpp"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace redpacket {

std::array<std::uint8_t, 12> login_token_message(std::uint32_t user,
                                                 std::uint64_t expiry) noexcept {
    std::array<std::uint8_t, 12> message{};
    for (std::size_t i = 0; i < 4; ++i) {
        message[i] = static_cast<std::uint8_t>(user >> (24 - 8 * i));
    }
    for (std::size_t i = 0; i < 8; ++i) {
        message[4 + i] = static_cast<std::uint8_t>(expiry >> (56 - 8 * i));
    }
    return message;
}

LoginToken make_login_token(std::string_view secret, std::uint32_t user,
                            std::uint64_t expiry) noexcept {
    const auto message = login_token_message(user, expiry);
    LoginToken token{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), message.data(),
         message.size(), token.data(), &length);
    return token;
}

bool verify_login_token(std::string_view secret, std::uint32_t user, std::uint64_t expiry,
                        const LoginToken& token, std::uint64_t now) noexcept {
    if (secret.empty()) {
        return false;
    }
    const LoginToken expected = make_login_token(secret, user, expiry);
    const bool match = CRYPTO_memcmp(expected.data(), token.data(), token.size()) == 0;
    return match && expiry >= now;
}

std::expected<std::string, std::string> read_secret_file(const std::string& path,
                                                         bool allow_readable) {
    namespace fs = std::filesystem;
    const std::string quoted = "\"" + path + "\"";
    std::error_code ec;
    const fs::file_status status = fs::status(path, ec);
    if (ec) {
        return std::unexpected("cannot read " + quoted);
    }
    if (!fs::is_regular_file(status)) {
        return std::unexpected(quoted + " is not a regular file");
    }
    const fs::perms perms = status.permissions();
    constexpr fs::perms shared = fs::perms::group_all | fs::perms::others_all;
    if (!allow_readable && (perms & shared) != fs::perms::none) {
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(perms & fs::perms::mask));
        return std::unexpected(quoted + " has mode " + mode +
                               ": group or others have access to it; make it 0600 (chmod 600)");
    }
    std::string secret;
    try {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            return std::unexpected("cannot read " + quoted);
        }
        secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        if (in.bad()) {
            return std::unexpected("cannot read " + quoted);
        }
    } catch (const std::exception& e) {
        return std::unexpected("cannot read " + quoted + ": " + e.what());
    }
    if (secret.ends_with('\n')) {
        secret.pop_back();
        if (secret.ends_with('\r')) {
            secret.pop_back();
        }
    }
    if (secret.empty()) {
        return std::unexpected(quoted + " is empty");
    }
    return secret;
}

}  // namespace redpacket
