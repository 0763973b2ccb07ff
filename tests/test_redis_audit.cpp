// redpacket::redis::audit_set: each money rule of a SET's dumped keys, broken one at a time.
#include <catch2/catch.hpp>

#include "redpacket/redis/audit.hpp"

using redpacket::redis::audit_set;
using redpacket::redis::ClusterAuditReport;
using redpacket::redis::SetDump;

namespace {

/// SET 3 with packet 8195 (300 cents in shares 100 + 120 + 80, claimed by users 7 and 9) and
/// packet 16387 (50 cents in one share, expired and refunded), and a shake supply holding one
/// 5-cent packet of 12 offered (7 issued).
SetDump balanced() {
    SetDump d;
    d.set = 3;
    d.p = {{"8195", "1,300,3,0,99999,0,0"}, {"16387", "1,50,1,0,10,0,0"}};
    d.sh = {{"8195:0", "100"}, {"8195:1", "120"}, {"8195:2", "80"}, {"16387:0", "50"}};
    d.cl = {{"8195:n", "2"},     {"8195:0", "7"},   {"8195:u:7", "0"},
            {"8195:1", "9"},     {"8195:u:9", "1"}, {"16387:r", "1"}};
    d.rf = {{"16387", "50,11"}};
    d.tot = {{"created", "350"},      {"claimed", "220"},     {"refunded", "50"},
             {"shake_offered", "12"}, {"shake_issued", "7"}, {"shake_expired", "0"}};
    d.sq = {"12291:5:99999"};
    return d;
}

ClusterAuditReport audit(const SetDump& d) {
    ClusterAuditReport r;
    audit_set(d, r);
    return r;
}

}  // namespace

TEST_CASE("a balanced SET passes the audit and its books are reported", "[redis][audit]") {
    const ClusterAuditReport r = audit(balanced());
    CHECK(r.violations.empty());
    CHECK(r.packets == 2);
    CHECK(r.claims == 2);
    CHECK(r.created == 350);
    CHECK(r.claimed == 220);
    CHECK(r.refunded == 50);
    CHECK(r.outstanding == 80);  // share 2 of packet 8195
}

TEST_CASE("the audit names each broken money rule", "[redis][audit]") {
    const auto only = [](const SetDump& d, const std::string& needle) {
        const ClusterAuditReport r = audit(d);
        REQUIRE(!r.violations.empty());
        bool found = false;
        for (const auto& v : r.violations) {
            found = found || v.what.find(needle) != std::string::npos;
        }
        INFO(r.violations.front().what);
        CHECK(found);
    };
    SetDump d = balanced();
    d.sh["8195:2"] = "81";  // a share changed: shares no longer add up to the total
    only(d, "shares add up to 301");
    d = balanced();
    d.sh["8195:2"] = "0";
    d.sh["8195:1"] = "200";
    only(d, "share 2 is 0 cents");
    d = balanced();
    d.cl["8195:1"] = "7";  // one user in two shares
    only(d, "user 7 holds two shares");
    d = balanced();
    d.cl["8195:n"] = "3";  // counted claimed, nobody holds it
    only(d, "share 2 is counted claimed but has no claimer");
    d = balanced();
    d.cl["16387:n"] = "1";  // a claim after the refund: the refund no longer matches
    d.cl["16387:0"] = "11";
    d.cl["16387:u:11"] = "0";
    only(d, "refunded 50 but 0 was unclaimed");
    d = balanced();
    d.cl.erase("16387:r");  // refunded, but claims would not see it
    only(d, "refund record and refund mark disagree");
    d = balanced();
    d.tot["claimed"] = "200";  // counters that do not match the packets
    only(d, "!= 80 unclaimed");
    d = balanced();
    d.sq.clear();  // a shake packet vanished from the supply
    only(d, "!= 0 queued");
    d = balanced();
    d.p["8195"] = "1,300,3,0,99999,1,0";  // restricted, to nobody who claimed
    only(d, "claimed a packet restricted to others");
    d = balanced();
    d.cl["99:0"] = "5";
    only(d, "a claim of a packet that does not exist");
}
