#include <catch2/catch.hpp>

#include <unordered_map>

#include "redpacket/connection_table.hpp"
#include "redpacket/random.hpp"
#include "redpacket/slot_map.hpp"

using namespace redpacket;

TEST_CASE("a connection table adds, finds and removes users", "[table]") {
    ConnectionTable t;
    CHECK(t.size() == 0);
    CHECK_FALSE(t.find(1).has_value());
    CHECK_FALSE(t.remove(1).has_value());
    REQUIRE(t.add(1, 100).has_value());
    REQUIRE(t.add(2, 200).has_value());
    CHECK(t.add(1, 999).error() == Error::already_exists);
    CHECK(t.find(1) == 100U);
    CHECK(t.find(2) == 200U);
    CHECK(t.size() == 2);
    CHECK(t.remove(1) == 100U);
    CHECK_FALSE(t.find(1).has_value());
    CHECK(t.size() == 1);
    CHECK(t.upsert(2, 201) == 200U);
    CHECK_FALSE(t.upsert(3, 300).has_value());
    CHECK(t.find(2) == 201U);
    CHECK(t.add(kReservedUser, 1).error() == Error::invalid_argument);
    CHECK_FALSE(t.upsert(kReservedUser, 1).has_value());
    CHECK_FALSE(t.find(kReservedUser).has_value());
    t.clear();
    CHECK(t.size() == 0);
    CHECK(t.memory_bytes() == 0);
    CHECK_FALSE(t.find(2).has_value());
}

TEST_CASE("a connection table agrees with std::unordered_map under random churn", "[table]") {
    ConnectionTable t;
    std::unordered_map<UserId, ConnectionRef> model;
    Rng rng{31337};
    for (int step = 0; step < 200000; ++step) {
        // A small key space forces long probe runs, wrap-around and backward shifts.
        const UserId user = rng.below(3000) * 64;
        switch (rng.below(3)) {
            case 0: {
                const bool fresh = model.find(user) == model.end();
                CHECK(t.add(user, user + 1).has_value() == fresh);
                model.emplace(user, user + 1);
                break;
            }
            case 1: {
                const auto expected = model.find(user);
                const auto got = t.remove(user);
                REQUIRE(got.has_value() == (expected != model.end()));
                if (got) {
                    CHECK(*got == expected->second);
                    model.erase(expected);
                }
                break;
            }
            default: {
                const auto expected = model.find(user);
                const auto got = t.find(user);
                REQUIRE(got.has_value() == (expected != model.end()));
                if (got) {
                    CHECK(*got == expected->second);
                }
            }
        }
        REQUIRE(t.size() == model.size());
    }
    std::size_t visited = 0;
    t.for_each([&](UserId u, ConnectionRef c) {
        ++visited;
        CHECK(model.at(u) == c);
    });
    CHECK(visited == model.size());
}

TEST_CASE("a connection table stays under 64 bytes per entry as it grows", "[table]") {
    ConnectionTable t;
    for (UserId u = 0; u < 100000; ++u) {
        REQUIRE(t.add(u, u).has_value());
        CHECK(t.memory_bytes() <= 64 * std::max<std::size_t>(t.size(), 8));
    }
    CHECK(t.capacity() * 3 >= t.size() * 4);  // load factor at most 3/4
}

TEST_CASE("a moved-from connection table is empty and still usable", "[table]") {
    ConnectionTable a;
    REQUIRE(a.add(1, 10).has_value());
    ConnectionTable b{std::move(a)};
    CHECK(b.find(1) == 10U);
    CHECK(a.size() == 0);                // NOLINT(bugprone-use-after-move): documented state
    CHECK_FALSE(a.find(1).has_value());  // NOLINT(bugprone-use-after-move)
    REQUIRE(a.add(2, 20).has_value());
    b = std::move(a);
    CHECK(b.find(2) == 20U);
    CHECK_FALSE(b.find(1).has_value());
    CHECK_FALSE(a.remove(2).has_value());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("slots expose exactly the registered entries", "[table]") {
    ConnectionTable t;
    CHECK_FALSE(t.at_slot(0).has_value());
    for (UserId u = 1; u <= 20; ++u) {
        REQUIRE(t.add(u, u + 100).has_value());
    }
    std::size_t found = 0;
    for (std::size_t i = 0; i < t.capacity(); ++i) {
        if (auto e = t.at_slot(i)) {
            ++found;
            CHECK(e->second == e->first + 100);
            CHECK(t.find(e->first) == e->second);
        }
    }
    CHECK(found == 20);
    CHECK_FALSE(t.at_slot(t.capacity()).has_value());
}

TEST_CASE("a slot map's references never reach an object that reused the slot", "[slots]") {
    redpacket::SlotMap<int> slots;
    int a = 1, b = 2, c = 3;
    const std::uint32_t sa = slots.insert(&a);
    const std::uint32_t sb = slots.insert(&b);
    const redpacket::ConnectionRef ref_a = slots.ref(sa);
    CHECK(slots.find(ref_a) == &a);
    slots.erase(sa);
    CHECK(slots.find(ref_a) == nullptr);
    const std::uint32_t sc = slots.insert(&c);
    CHECK(sc == sa);  // reused
    CHECK(slots.find(ref_a) == nullptr);
    CHECK(slots.find(slots.ref(sc)) == &c);
    CHECK(slots.find(sb, slots.generation(sb)) == &b);
    CHECK(slots.find(99, 1) == nullptr);
    int seen = 0;
    slots.for_each([&](int* p) { seen += *p; });
    CHECK(seen == 5);
}
