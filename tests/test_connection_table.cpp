#include <catch2/catch.hpp>

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "redpacket/connection_table.hpp"
#include "redpacket/detail/ctrl_group.hpp"
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
    constexpr UserId kMaxUser = ~UserId{0};  // no id is reserved: control bytes mark empties
    CHECK_FALSE(t.find(kMaxUser).has_value());
    CHECK_FALSE(t.upsert(kMaxUser, 1).has_value());
    CHECK(t.find(kMaxUser) == 1U);
    CHECK(t.remove(kMaxUser) == 1U);
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
    CHECK(t.capacity() * 7 >= t.size() * 8);  // load factor at most 7/8
    CHECK(t.capacity() == 131072);            // 100,000 entries fit before the next doubling
}

TEST_CASE("a connection table of constant size under churn does not keep growing", "[table]") {
    // A removal in the middle of a probe run leaves a tombstone; they must be dropped by
    // rebuilds at the same size, not paid for with doublings.
    ConnectionTable t;
    std::vector<UserId> live;
    Rng rng{7};
    for (UserId u = 0; u < 1000; ++u) {
        REQUIRE(t.add(u, u).has_value());
        live.push_back(u);
    }
    const std::size_t grown = t.capacity();
    UserId next = 1000;
    for (int step = 0; step < 200000; ++step) {
        const std::size_t k = rng.below(live.size());
        REQUIRE(t.remove(live[k]) == live[k]);
        live[k] = next++;
        REQUIRE(t.add(live[k], live[k]).has_value());
    }
    CHECK(t.size() == 1000);
    CHECK(t.capacity() == grown);
    for (const UserId u : live) {
        REQUIRE(t.find(u) == u);
    }
    std::size_t slots = 0;
    for (std::size_t i = 0; i < t.capacity(); ++i) {
        slots += t.at_slot(i).has_value() ? 1U : 0U;
    }
    CHECK(slots == 1000);
}

namespace {
// What each control-byte group must report for `bytes`, byte by byte.
struct GroupExpect {
    std::uint64_t match = 0;
    std::uint64_t empty = 0;
    std::uint64_t free = 0;
};
GroupExpect expected_group(const std::int8_t* bytes, unsigned width, std::int8_t h2) {
    GroupExpect e;
    for (unsigned i = 0; i < width; ++i) {
        const std::uint64_t bit = std::uint64_t{1} << i;
        e.match |= bytes[i] == h2 ? bit : 0;
        e.empty |= bytes[i] == detail::kEmpty ? bit : 0;
        e.free |= bytes[i] < 0 ? bit : 0;
    }
    return e;
}
template <class Mask>
std::uint64_t positions(Mask m) {
    std::uint64_t bits = 0;
    for (; m; m.clear_lowest()) {
        bits |= std::uint64_t{1} << m.lowest();
    }
    return bits;
}
template <class G>
void check_group_against_bytes() {
    Rng rng{99};
    std::int8_t bytes[16];
    for (int round = 0; round < 20000; ++round) {
        for (auto& b : bytes) {
            const auto r = rng.below(4);  // mostly full slots with few distinct hash bits
            b = r == 0 ? detail::kEmpty
                : r == 1 ? detail::kDeleted
                         : static_cast<std::int8_t>(rng.below(round % 2 == 0 ? 4 : 128));
        }
        const auto h2 = static_cast<std::int8_t>(rng.below(round % 2 == 0 ? 4 : 128));
        const G g{bytes};
        const GroupExpect e = expected_group(bytes, G::kWidth, h2);
        REQUIRE(positions(g.match_empty()) == e.empty);
        REQUIRE(positions(g.match_free()) == e.free);
        const std::uint64_t got = positions(g.match(h2));
        REQUIRE((got & e.match) == e.match);  // every true match reported
        if (got != e.match) {                 // extras: only the word-wide group, only full slots
            REQUIRE(G::kWidth == 8);
            for (unsigned i = 0; i < G::kWidth; ++i) {
                if (((got & ~e.match) >> i) & 1U) {
                    REQUIRE(detail::is_full(bytes[i]));
                }
            }
        }
    }
}
}  // namespace

TEST_CASE("control-byte groups report matches, empty and free slots like a byte loop", "[table]") {
    check_group_against_bytes<detail::SwarGroup>();
#if defined(__SSE2__)
    check_group_against_bytes<detail::SseGroup>();
#endif
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
