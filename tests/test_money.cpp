#include <catch2/catch.hpp>

#include "redpacket/money.hpp"

using redpacket::Cents;

TEST_CASE("cents add, subtract, scale and compare exactly", "[money]") {
    Cents a{1'000'000'000'000};
    Cents b{1};
    CHECK((a + b).value == 1'000'000'000'001);
    CHECK((a - b).value == 999'999'999'999);
    CHECK((3 * b).value == 3);
    CHECK(b < a);
    CHECK(Cents{5} == Cents{5});
    a += b;
    CHECK(a.value == 1'000'000'000'001);
    a -= Cents{2};
    CHECK(a.value == 999'999'999'999);
}

TEST_CASE("the largest packet total leaves room for doubling", "[money]") {
    STATIC_REQUIRE(redpacket::kMaxPacketTotal.value <= INT64_MAX / 4);
}
