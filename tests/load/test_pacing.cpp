// Pacing arithmetic: the seed scheme matches the original client's, smooth is exact per second.
#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "options.hpp"
#include "pacing.hpp"

using namespace redpacket::load;

TEST_CASE("the seed group is users over qps, at least one", "[load]") {
    CHECK(seed_group(19000, 30000) == 1);
    CHECK(seed_group(19000, 6000) == 3);
    CHECK(seed_group(1000, 1000) == 1);
    CHECK(seed_group(10, 0) == 1);
}

TEST_CASE("seed mode's per-second count matches the original arithmetic", "[load]") {
    // Brute force: count users u with u % g == s % g, as the original client decided it.
    for (const auto& [users, qps] : {std::pair<std::uint64_t, std::uint64_t>{19000, 6000},
                                    {2000, 3000}, {1000, 300}, {7, 2}, {100, 100}}) {
        const std::uint64_t g = seed_group(users, qps);
        for (std::uint64_t s = 0; s < 2 * g + 3; ++s) {
            std::uint64_t expected = 0;
            for (std::uint64_t u = 0; u < users; ++u) {
                expected += u % g == s % g ? 1U : 0U;
                CHECK(seed_sends(u, s, users, qps) == (u % g == s % g));
            }
            CHECK(requests_in_second(Mode::seed, users, qps, s) == expected);
        }
    }
    // 19000 users at 6000 qps: g = 3, so each second carries 6334 or 6333 requests.
    CHECK(requests_in_second(Mode::seed, 19000, 6000, 0) == 6334);
    CHECK(requests_in_second(Mode::seed, 19000, 6000, 2) == 6333);
}

TEST_CASE("seed mode sends each user exactly once every g seconds, at the second's start",
          "[load]") {
    const std::uint64_t users = 1000;
    const std::uint64_t qps = 300;  // g = 3
    std::map<std::uint32_t, std::vector<std::uint64_t>> seconds_of;
    for (std::uint64_t s = 0; s < 9; ++s) {
        const std::uint64_t n = requests_in_second(Mode::seed, users, qps, s);
        for (std::uint64_t i = 0; i < n; ++i) {
            const Slot slot = slot_of(Mode::seed, users, qps, s, i);
            CHECK(slot.offset_ns == 0);
            CHECK(slot.user % 3 == s % 3);
            seconds_of[slot.user].push_back(s);
        }
    }
    REQUIRE(seconds_of.size() == users);
    for (const auto& [user, seconds] : seconds_of) {
        REQUIRE(seconds.size() == 3);
        CHECK(seconds[1] - seconds[0] == 3);
        CHECK(seconds[2] - seconds[1] == 3);
    }
}

TEST_CASE("smooth mode carries exactly qps requests evenly spaced inside each second", "[load]") {
    for (const std::uint64_t qps : {1ULL, 7ULL, 3000ULL, 6000ULL}) {
        for (std::uint64_t s = 0; s < 3; ++s) {
            const std::uint64_t n = requests_in_second(Mode::smooth, 2000, qps, s);
            REQUIRE(n == qps);
            std::uint64_t previous = 0;
            for (std::uint64_t i = 0; i < n; ++i) {
                const Slot slot = slot_of(Mode::smooth, 2000, qps, s, i);
                CHECK(slot.offset_ns < 1'000'000'000ULL);
                CHECK(slot.offset_ns == i * 1'000'000'000ULL / qps);
                if (i > 0) {
                    const std::uint64_t gap = slot.offset_ns - previous;
                    CHECK(gap + 1 >= 1'000'000'000ULL / qps);
                    CHECK(gap <= 1'000'000'000ULL / qps + 1);
                }
                previous = slot.offset_ns;
            }
        }
    }
}

TEST_CASE("smooth mode spreads requests round-robin over all users", "[load]") {
    const std::uint64_t users = 2000;
    const std::uint64_t qps = 3000;
    std::map<std::uint32_t, int> per_user;
    for (std::uint64_t s = 0; s < 2; ++s) {  // 6000 requests = 3 per user
        for (std::uint64_t i = 0; i < qps; ++i) {
            ++per_user[slot_of(Mode::smooth, users, qps, s, i).user];
        }
    }
    REQUIRE(per_user.size() == users);
    for (const auto& [user, n] : per_user) {
        CHECK(n == 3);
    }
}

TEST_CASE("closed mode schedules nothing per second", "[load]") {
    CHECK(requests_in_second(Mode::closed, 100, 1000, 0) == 0);
}

TEST_CASE("modes round-trip through their names", "[load]") {
    for (Mode m : {Mode::seed, Mode::smooth, Mode::closed}) {
        CHECK(mode_from_string(to_string(m)) == m);
    }
    CHECK_FALSE(mode_from_string("burst").has_value());
}

TEST_CASE("only IPv4 loopback hosts are load targets", "[load]") {
    CHECK(is_ipv4_loopback("127.0.0.1"));
    CHECK(is_ipv4_loopback("127.255.3.4"));
    CHECK(is_ipv4_loopback("localhost"));
    CHECK_FALSE(is_ipv4_loopback("10.0.0.1"));
    CHECK_FALSE(is_ipv4_loopback("128.0.0.1"));
    CHECK_FALSE(is_ipv4_loopback("::1"));  // loopback, but the generator speaks IPv4 only
}

TEST_CASE("a non-loopback target is refused with a clear error", "[load]") {
    const char* argv[] = {"redpacket-load", "--port", "1", "--target", "192.168.1.5"};
    const auto o = parse_options(5, argv);
    REQUIRE_FALSE(o.has_value());
    CHECK(o.error().exit_code == 2);
    CHECK(o.error().message ==
          "--target 192.168.1.5: only IPv4 loopback targets (127.0.0.0/8) are allowed");
}

TEST_CASE("the workload is named by --request, and an unknown one, or one that needs the daemon against "
          "--echo, is refused",
          "[load]") {
    const auto parse = [](std::vector<const char*> extra) {
        std::vector<const char*> argv = {"redpacket-load", "--port", "1", "--plan",
                                           "connect 10 @ 100/s; qps 10 for 1s"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        return parse_options(static_cast<int>(argv.size()), argv.data());
    };
    CHECK(parse({}).value().workload == Workload::shake);
    CHECK(parse({"--request", "claim"}).value().workload == Workload::claim);
    const auto cycle = parse({"--request", "cycle", "--cycle-ttl", "5"});
    REQUIRE(cycle.has_value());
    CHECK(cycle->workload == Workload::cycle);
    CHECK(cycle->cycle_ttl == 5);
    CHECK(parse({"--request", "cycle"}).value().cycle_ttl == 2);
    const auto unknown = parse({"--request", "grab"});
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().exit_code == 2);
    CHECK(unknown.error().message == "--request grab: expected shake, claim or cycle");
    const auto echo = parse({"--request", "cycle", "--echo"});
    REQUIRE_FALSE(echo.has_value());
    CHECK(echo.error().message == "--request cycle cannot run against --echo");
    CHECK(parse({"--request", "shake", "--echo"}).has_value());
    CHECK_FALSE(parse({"--request", "cycle", "--cycle-ttl", "0"}).has_value());
}
