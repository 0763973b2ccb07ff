#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>
#include <vector>

#include "redpacket/split.hpp"

using namespace redpacket;

namespace {

const SplitPolicy kGroupPolicies[] = {SplitPolicy::double_mean, SplitPolicy::line_cut,
                                      SplitPolicy::equal};

std::int64_t sum(const std::vector<Cents>& shares) {
    std::int64_t s = 0;
    for (Cents c : shares) {
        s += c.value;
    }
    return s;
}

void check_valid(const std::vector<Cents>& shares, Cents total, std::uint32_t count,
                 Cents min_share) {
    REQUIRE(shares.size() == count);
    CHECK(sum(shares) == total.value);
    CHECK(std::all_of(shares.begin(), shares.end(), [&](Cents c) { return c >= min_share; }));
}

}  // namespace

TEST_CASE("every policy sums exactly to the total with shares at least the minimum", "[split]") {
    Rng rng{42};
    for (SplitPolicy p : kGroupPolicies) {
        for (std::uint32_t n : {1U, 2U, 3U, 10U, 97U, 1000U}) {
            for (std::int64_t m : {std::int64_t{n}, std::int64_t{n} + 1, std::int64_t{4} * n + 3,
                                   std::int64_t{20000}, std::int64_t{1'000'000'007}}) {
                if (m < n) {
                    continue;
                }
                for (int rep = 0; rep < 20; ++rep) {
                    auto shares = split(p, Cents{m}, n, Cents{1}, rng);
                    REQUIRE(shares.has_value());
                    check_valid(*shares, Cents{m}, n, Cents{1});
                }
            }
        }
    }
}

TEST_CASE("a larger minimum share is honoured by every policy", "[split]") {
    Rng rng{7};
    for (SplitPolicy p : kGroupPolicies) {
        for (int rep = 0; rep < 200; ++rep) {
            auto shares = split(p, Cents{1000}, 10, Cents{50}, rng);
            REQUIRE(shares.has_value());
            check_valid(*shares, Cents{1000}, 10, Cents{50});
        }
    }
}

TEST_CASE("the total equal to count times minimum gives every share the minimum", "[split]") {
    Rng rng{3};
    for (SplitPolicy p : kGroupPolicies) {
        auto shares = split(p, Cents{5 * 100}, 100, Cents{5}, rng);
        REQUIRE(shares.has_value());
        CHECK(std::all_of(shares->begin(), shares->end(), [](Cents c) { return c == Cents{5}; }));
    }
}

TEST_CASE("one share takes the whole total", "[split]") {
    Rng rng{3};
    for (SplitPolicy p : {SplitPolicy::double_mean, SplitPolicy::line_cut, SplitPolicy::equal,
                          SplitPolicy::fixed}) {
        auto shares = split(p, Cents{12345}, 1, Cents{1}, rng);
        REQUIRE(shares.has_value());
        REQUIRE(shares->size() == 1);
        CHECK(shares->front() == Cents{12345});
    }
}

TEST_CASE("the largest count and a 10^12 total work", "[split]") {
    Rng rng{11};
    for (SplitPolicy p : kGroupPolicies) {
        auto big = split(p, Cents{1'000'000'000'000}, kMaxShares, Cents{1}, rng);
        REQUIRE(big.has_value());
        check_valid(*big, Cents{1'000'000'000'000}, kMaxShares, Cents{1});
        // Dense case: barely more money than shares.
        auto dense = split(p, Cents{kMaxShares + 17}, kMaxShares, Cents{1}, rng);
        REQUIRE(dense.has_value());
        check_valid(*dense, Cents{kMaxShares + 17}, kMaxShares, Cents{1});
    }
}

TEST_CASE("invalid amounts and counts are errors, not shares", "[split]") {
    Rng rng{1};
    for (SplitPolicy p : kGroupPolicies) {
        CHECK(split(p, Cents{0}, 1, Cents{1}, rng).error() == Error::invalid_amount);
        CHECK(split(p, Cents{-5}, 1, Cents{1}, rng).error() == Error::invalid_amount);
        CHECK(split(p, Cents{9}, 10, Cents{1}, rng).error() == Error::invalid_amount);
        CHECK(split(p, Cents{99}, 10, Cents{10}, rng).error() == Error::invalid_amount);
        CHECK(split(p, Cents{100}, 0, Cents{1}, rng).error() == Error::invalid_count);
        CHECK(split(p, Cents{10'000'000}, kMaxShares + 1, Cents{1}, rng).error() ==
              Error::invalid_count);
        CHECK(split(p, Cents{100}, 2, Cents{0}, rng).error() == Error::invalid_argument);
        CHECK(split(p, kMaxPacketTotal + Cents{1}, 2, Cents{1}, rng).error() ==
              Error::invalid_amount);
    }
    CHECK(split(SplitPolicy::fixed, Cents{100}, 2, Cents{1}, rng).error() == Error::invalid_count);
    CHECK(validate_split(static_cast<SplitPolicy>(99), Cents{100}, 2).error() ==
          Error::invalid_argument);
}

TEST_CASE("split_into refuses an output span larger than the share limit", "[split]") {
    Rng rng{1};
    std::vector<Cents> out(kMaxShares + 1);
    CHECK(split_into(SplitPolicy::equal, Cents{1'000'000}, out, Cents{1}, rng).error() ==
          Error::invalid_count);
}

TEST_CASE("equal gives the remainder cents to the first shares", "[split]") {
    Rng rng{1};
    auto shares = split(SplitPolicy::equal, Cents{103}, 10, Cents{1}, rng);
    REQUIRE(shares.has_value());
    for (std::size_t i = 0; i < 10; ++i) {
        CHECK(shares->at(i) == Cents{i < 3 ? 11 : 10});
    }
}

TEST_CASE("the same seed gives the same shares and another seed different ones", "[split]") {
    for (SplitPolicy p : {SplitPolicy::double_mean, SplitPolicy::line_cut}) {
        Rng a{2024};
        Rng b{2024};
        Rng c{2025};
        auto sa = split(p, Cents{100000}, 50, Cents{1}, a);
        auto sb = split(p, Cents{100000}, 50, Cents{1}, b);
        auto sc = split(p, Cents{100000}, 50, Cents{1}, c);
        CHECK(*sa == *sb);
        CHECK(*sa != *sc);
    }
}

TEST_CASE("double_mean never exceeds twice the running mean", "[split]") {
    Rng rng{5};
    for (int rep = 0; rep < 2000; ++rep) {
        auto shares = split(SplitPolicy::double_mean, Cents{1000}, 7, Cents{1}, rng);
        REQUIRE(shares.has_value());
        std::int64_t rest = 1000;
        for (std::int64_t i = 0; i + 1 < 7; ++i) {
            const std::int64_t left = 7 - i;
            const Cents share = shares->at(static_cast<std::size_t>(i));
            CHECK(share.value <= std::min(2 * rest / left, rest - (left - 1)));
            rest -= share.value;
        }
        CHECK(shares->back().value == rest);
    }
}

TEST_CASE("the engine draws every value of a small range and nothing outside", "[split]") {
    Rng rng{9};
    std::vector<int> seen(7, 0);
    for (int i = 0; i < 7000; ++i) {
        const std::int64_t v = rng.between(3, 9);
        REQUIRE(v >= 3);
        REQUIRE(v <= 9);
        ++seen[static_cast<std::size_t>(v - 3)];
    }
    for (int count : seen) {
        CHECK(count > 800);  // 1000 expected each; 800 is > 6 standard deviations below
    }
    CHECK(rng.between(5, 5) == 5);
    for (int i = 0; i < 100; ++i) {  // the full range does not overflow
        (void)rng.between(INT64_MIN, INT64_MAX);
        CHECK(rng.between(-5, INT64_MAX) >= -5);
    }
    CHECK(rng.below(1) == 0);
}

TEST_CASE("expected moments are zero for arguments a split would refuse", "[split]") {
    const ShareMoments m = expected_moments(SplitPolicy::equal, Cents{100}, 0, Cents{1}, 0);
    CHECK(m.mean == 0.0);
    CHECK(expected_moments(SplitPolicy::line_cut, Cents{100}, 4, Cents{1}, 4).mean == 0.0);
    CHECK(expected_moments(SplitPolicy::line_cut, Cents{100}, 4, Cents{1}, 3).mean == 25.0);
}
