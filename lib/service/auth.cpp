#include "redpacket/auth.hpp"

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

}  // namespace redpacket
