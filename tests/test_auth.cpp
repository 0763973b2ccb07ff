// Login tokens and the host rules shared by the daemon, the client and the tools.
#include <catch2/catch.hpp>

#include "redpacket/address.hpp"
#include "redpacket/auth.hpp"

using namespace redpacket;

TEST_CASE("a token MACs exactly the user and the expiry, big-endian", "[auth]") {
    const auto m = login_token_message(0x01020304, 0x05060708090A0B0CULL);
    CHECK(m == std::array<std::uint8_t, 12>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
    // The MAC itself: HMAC-SHA256("key", those 12 bytes), computed independently with
    //   printf '\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c' | openssl dgst -sha256 -hmac key
    const LoginToken t = make_login_token("key", 0x01020304, 0x05060708090A0B0CULL);
    const LoginToken want{0xe5, 0xc8, 0xd2, 0x67, 0xe1, 0x9c, 0x2d, 0x0b, 0x37, 0xd0, 0x06,
                          0xa7, 0x97, 0x09, 0x8a, 0x02, 0x7e, 0x2c, 0xa6, 0xc3, 0xe4, 0xa4,
                          0x02, 0x91, 0x5a, 0xdf, 0x40, 0x78, 0x54, 0xbe, 0x78, 0x28};
    CHECK(t == want);
}

TEST_CASE("verification accepts the right token until its expiry and nothing else", "[auth]") {
    const LoginToken t = make_login_token("secret", 7, 1000);
    CHECK(verify_login_token("secret", 7, 1000, t, 999));
    CHECK(verify_login_token("secret", 7, 1000, t, 1000));
    CHECK_FALSE(verify_login_token("secret", 7, 1000, t, 1001));  // expired
    CHECK_FALSE(verify_login_token("secret", 8, 1000, t, 999));   // another user
    CHECK_FALSE(verify_login_token("secret", 7, 1001, t, 999));   // another expiry
    CHECK_FALSE(verify_login_token("other", 7, 1000, t, 999));
    CHECK_FALSE(verify_login_token("", 7, 1000, make_login_token("", 7, 1000), 999));
    LoginToken flipped = t;
    flipped[31] ^= 1;
    CHECK_FALSE(verify_login_token("secret", 7, 1000, flipped, 999));
}

TEST_CASE("loopback hosts: 127.0.0.0/8, ::1 and localhost", "[auth]") {
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.255.3.4"));
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("::1"));
    CHECK(is_loopback_host("0:0:0:0:0:0:0:1"));
    CHECK_FALSE(is_loopback_host("10.0.0.1"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("::2"));
    CHECK_FALSE(is_loopback_host(""));
    CHECK(parse_ipv4_host("localhost") == parse_ipv4_host("127.0.0.1"));
    CHECK_FALSE(parse_ipv4_host("::1").has_value());
    CHECK_FALSE(parse_ipv4_host("1.2.3.4.5").has_value());
}
