#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "redpacket/error.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/split.hpp"

using namespace redpacket;

TEST_CASE("every error has a distinct snake_case name", "[error]") {
    const Error all[] = {Error::invalid_amount, Error::invalid_count, Error::invalid_argument,
                         Error::pool_full,      Error::not_found,     Error::queue_full,
                         Error::mailbox_full,   Error::already_exists, Error::io_error,
                         Error::corrupt,        Error::closed,
                         Error::unavailable};
    std::set<std::string> names;
    for (Error e : all) {
        const std::string name{to_string(e)};
        CHECK(name != "unknown_error");
        CHECK(name.find(' ') == std::string::npos);
        names.insert(name);
    }
    CHECK(names.size() == std::size(all));
    CHECK(to_string(Error::pool_full) == "pool_full");
}

TEST_CASE("claim statuses and split policies have stable names", "[error]") {
    CHECK(to_string(ClaimStatus::claimed) == "claimed");
    CHECK(to_string(ClaimStatus::already_claimed) == "already_claimed");
    CHECK(to_string(ClaimStatus::sold_out) == "sold_out");
    CHECK(to_string(ClaimStatus::expired) == "expired");
    CHECK(to_string(ClaimStatus::not_found) == "not_found");
    for (auto p : {SplitPolicy::double_mean, SplitPolicy::line_cut, SplitPolicy::equal,
                   SplitPolicy::fixed}) {
        CHECK(parse_split_policy(to_string(p)) == p);
    }
    CHECK_FALSE(parse_split_policy("random").has_value());
    CHECK_FALSE(parse_split_policy("").has_value());
}
