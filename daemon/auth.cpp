#include "auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace redpacketd {

Token make_token(std::string_view secret, std::uint32_t user, std::uint64_t expiry) {
    std::array<std::uint8_t, 12> message{};
    for (int i = 0; i < 4; ++i) {
        message[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(user >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; ++i) {
        message[static_cast<std::size_t>(4 + i)] =
            static_cast<std::uint8_t>(expiry >> (56 - 8 * i));
    }
    Token token{};
    unsigned int length = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()), message.data(),
         message.size(), token.data(), &length);
    return token;
}

bool verify_token(std::string_view secret, std::uint32_t user, std::uint64_t expiry,
                  const Token& token, std::uint64_t now) {
    const Token expected = make_token(secret, user, expiry);
    const bool match = CRYPTO_memcmp(expected.data(), token.data(), token.size()) == 0;
    return match && expiry >= now;
}

}  // namespace redpacketd
