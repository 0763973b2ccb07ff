// CampaignLease: a granted renewal holds the lease until its send time plus nine tenths of the
// TTL, on this process's clock; later or out-of-order grants never shorten it; a refusal ends it.
#include <catch2/catch.hpp>

#include "redpacket/redis/campaign_lease.hpp"

using redpacket::redis::CampaignLease;
using namespace std::chrono_literals;

TEST_CASE("a granted lease is held from nothing until its send time plus nine tenths of the TTL",
          "[campaign_lease]") {
    CampaignLease lease;
    CHECK_FALSE(lease.held(0));
    lease.granted(1000, 900ms);
    CHECK(lease.held(1000));
    CHECK(lease.held(1809));
    CHECK_FALSE(lease.held(1810));  // 1000 + 900 - 90: before Redis can let the key expire
}

TEST_CASE("a grant answered late, after a newer one, does not shorten the lease",
          "[campaign_lease]") {
    CampaignLease lease;
    lease.granted(2000, 3000ms);  // the newer renewal's answer came first
    lease.granted(1000, 3000ms);  // an older renewal retried after a lost connection
    CHECK(lease.held(4699));
    CHECK_FALSE(lease.held(4700));
}

TEST_CASE("a refusal ends the lease at once, and a later grant starts it again", "[campaign_lease]") {
    CampaignLease lease;
    lease.granted(1000, 3000ms);
    lease.refused();
    CHECK_FALSE(lease.held(1001));
    lease.granted(5000, 3000ms);
    CHECK(lease.held(5001));
}
