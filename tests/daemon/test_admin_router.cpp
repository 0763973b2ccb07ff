// The admin router without sockets: routes, auth, JSON bodies, query-string forms.
#include <catch2/catch.hpp>

#include "fake_admin_backend.hpp"

using namespace admin_test;

TEST_CASE("healthz answers ok without a token even when one is configured", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/healthz", {}, "");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    CHECK(r.content_type.starts_with("text/plain"));
    CHECK(call(backend, "POST", "/healthz", {}, "").status == 405);
    CHECK(backend.calls() == 0);
}

TEST_CASE("livez is healthz under its probe name and needs no token", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/livez", {}, "");
    CHECK(r.status == 200);
    CHECK(r.body == "ok\n");
    CHECK(call(backend, "DELETE", "/livez", {}, "").status == 405);
    backend.not_ready_ = "draining: shutting down";
    CHECK(call(backend, "GET", "/livez", {}, "").status == 200);  // alive while not ready
    CHECK(backend.calls() == 0);
}

TEST_CASE("readyz answers the backend's readiness with the reason, without a token", "[admin]") {
    FakeBackend backend;
    auto r = call(backend, "GET", "/readyz", {}, "");
    CHECK(r.status == 200);
    CHECK(r.body == "ready\n");
    backend.not_ready_ = "journal failing on 1 of 2 workers";
    r = call(backend, "GET", "/readyz", {}, "");
    CHECK(r.status == 503);
    CHECK(r.body == "not ready: journal failing on 1 of 2 workers\n");
    CHECK(r.content_type.starts_with("text/plain"));
    CHECK(call(backend, "POST", "/readyz", {}, "").status == 405);
}

TEST_CASE("stats, metrics and campaigns come from the backend", "[admin]") {
    FakeBackend backend;
    const auto stats = call(backend, "GET", "/stats");
    CHECK(stats.status == 200);
    CHECK(stats.content_type == "application/json");
    CHECK(json::parse(stats.body) == json{{"connections", 7}});

    const auto metrics = call(backend, "GET", "/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.content_type == "text/plain; version=0.0.4");
    CHECK(metrics.body == backend.metrics());

    const auto campaigns = call(backend, "GET", "/campaigns");
    CHECK(campaigns.status == 200);
    CHECK(json::parse(campaigns.body)["shake"]["enabled"] == false);
}

TEST_CASE("a configured token guards every route but healthz", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> routes{
        {"GET", "/stats"},
        {"GET", "/metrics"},
        {"GET", "/campaigns"},
        {"POST", "/campaigns/shake"},
        {"POST", "/campaigns/send"},
        {"GET", "/yaohongbao?qps=1&sum=1"},
        {"GET", "/fahongbao?qps=1&sum=1&min=1&max=2"},
        {"GET", "/packets/1/proof"},
        {"GET", "/no/such/path"}};
    const std::vector<std::string> refused{
        "",                            // absent
        "Bearer",                      // no token
        "Bearer s3cret-tokeN",         // same length, one byte differs
        "Bearer s3cret-token-longer",  // a prefix match is not a match
        "Bearer s3cret",               // shorter
        "Basic czNjcmV0LXRva2Vu",      // another scheme
        "s3cret-token"};               // no scheme
    for (const auto& [method, url] : routes) {
        for (const auto& authorization : refused) {
            INFO(method << " " << url << " with '" << authorization << "'");
            const auto r = call(backend, method, url, "{}", authorization);
            CHECK(r.status == 401);
            CHECK_FALSE(error_of(r).empty());
        }
    }
    CHECK(backend.calls() == 0);

    CHECK(call(backend, "GET", "/stats", {}, "Bearer s3cret-token").status == 200);
    CHECK(call(backend, "GET", "/stats", {}, "bearer s3cret-token").status == 200);
    CHECK(call(backend, "GET", "/stats", {}, "  Bearer   s3cret-token  ").status == 200);
    SECTION("an empty token turns authentication off") {
        CHECK(call(backend, "GET", "/stats", {}, "", "").status == 200);
        CHECK(call(backend, "GET", "/stats", {}, "Bearer whatever", "").status == 200);
    }
}

TEST_CASE("posting a shake campaign hands every field to the backend", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "POST", "/campaigns/shake",
                        R"({"rate": 500, "total": 40000, "min_amount": 2, "max_amount": 50,
                            "ttl_seconds": 30})");
    REQUIRE(r.status == 200);
    CHECK(json::parse(r.body) == json{{"started", "shake"}, {"rate", 500}});
    REQUIRE(backend.shakes().size() == 1);
    const auto c = backend.shakes()[0];
    CHECK(c.enabled);  // posted means on unless the body says otherwise
    CHECK(c.rate == 500);
    CHECK(c.total == 40000);
    CHECK(c.min_amount == 2);
    CHECK(c.max_amount == 50);
    CHECK(c.ttl_seconds == 30);
}

TEST_CASE("missing keys keep the struct defaults and enabled may be turned off", "[admin]") {
    FakeBackend backend;
    REQUIRE(call(backend, "POST", "/campaigns/send", "{}").status == 200);
    REQUIRE(call(backend, "POST", "/campaigns/shake", R"({"enabled": false})").status == 200);
    const SendCampaignConfig defaults{};
    const auto send = backend.sends().at(0);
    CHECK(send.enabled);
    CHECK(send.rate == defaults.rate);
    CHECK(send.total == defaults.total);
    CHECK(send.min_total == defaults.min_total);
    CHECK(send.max_total == defaults.max_total);
    CHECK(send.shares == defaults.shares);
    CHECK(send.policy == defaults.policy);
    CHECK(send.ttl_seconds == defaults.ttl_seconds);
    CHECK_FALSE(backend.shakes().at(0).enabled);
    CHECK(backend.shakes().at(0).rate == ShakeCampaignConfig{}.rate);
}

TEST_CASE("posting a send campaign parses every field including the policy name", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "POST", "/campaigns/send",
                        R"({"rate": 10, "total": 0, "min_total": 5, "max_total": 9,
                            "shares": 2, "policy": "line_cut", "ttl_seconds": 7})");
    REQUIRE(r.status == 200);
    const auto c = backend.sends().at(0);
    CHECK(c.rate == 10);
    CHECK(c.total == 0);
    CHECK(c.min_total == 5);
    CHECK(c.max_total == 9);
    CHECK(c.shares == 2);
    CHECK(c.policy == redpacket::SplitPolicy::line_cut);
    CHECK(c.ttl_seconds == 7);

    const auto bad = call(backend, "POST", "/campaigns/send", R"({"policy": "random"})");
    CHECK(bad.status == 400);
    CHECK_THAT(error_of(bad), Catch::Contains("policy"));
    CHECK(backend.sends().size() == 1);
}

TEST_CASE("an unknown key is refused with a message naming it", "[admin]") {
    FakeBackend backend;
    const auto shake = call(backend, "POST", "/campaigns/shake", R"({"rate": 1, "qps": 2})");
    CHECK(shake.status == 400);
    CHECK_THAT(error_of(shake), Catch::Contains("'qps'"));
    // A shake-only key is unknown to the send campaign.
    const auto send = call(backend, "POST", "/campaigns/send", R"({"min_amount": 1})");
    CHECK(send.status == 400);
    CHECK_THAT(error_of(send), Catch::Contains("'min_amount'"));
    CHECK(backend.calls() == 0);
}

TEST_CASE("bad JSON and wrong types are refused with 400", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> cases{
        {"{", "JSON"},
        {"", "JSON"},
        {"[1, 2]", "object"},
        {R"("rate")", "object"},
        {R"({"rate": "200"})", "'rate'"},
        {R"({"rate": 2.5})", "'rate'"},
        {R"({"rate": -1})", "'rate'"},
        {R"({"rate": 4294967296})", "'rate'"},
        {R"({"rate": true})", "'rate'"},
        {R"({"total": -5})", "'total'"},
        {R"({"total": 1e30})", "'total'"},
        {R"({"min_amount": 9223372036854775808})", "'min_amount'"},
        {R"({"enabled": 1})", "'enabled'"},
        {R"({"ttl_seconds": null})", "'ttl_seconds'"}};
    for (const auto& [body, named] : cases) {
        INFO(body);
        const auto r = call(backend, "POST", "/campaigns/shake", body);
        CHECK(r.status == 400);
        CHECK_THAT(error_of(r), Catch::Contains(named));
    }
    CHECK(backend.calls() == 0);
    // The extremes that do fit are accepted.
    CHECK(call(backend, "POST", "/campaigns/shake",
               R"({"rate": 4294967295, "min_amount": -9223372036854775808})")
              .status == 200);
}

TEST_CASE("a campaign the backend refuses is a 400 carrying its message", "[admin]") {
    FakeBackend backend;
    backend.refusal_ = "min_amount must not exceed max_amount";
    const auto r =
        call(backend, "POST", "/campaigns/shake", R"({"min_amount": 9, "max_amount": 1})");
    CHECK(r.status == 400);
    CHECK(error_of(r) == backend.refusal_);
    CHECK(call(backend, "GET", "/fahongbao?qps=1&sum=1&min=1&max=2").status == 400);
}

TEST_CASE("yaohongbao maps qps and sum onto the shake campaign", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/yaohongbao?qps=200&sum=40000");
    REQUIRE(r.status == 200);
    const auto c = backend.shakes().at(0);
    const ShakeCampaignConfig defaults{};
    CHECK(c.enabled);
    CHECK(c.rate == 200);
    CHECK(c.total == 40000);
    CHECK(c.min_amount == defaults.min_amount);
    CHECK(c.max_amount == defaults.max_amount);
    CHECK(c.ttl_seconds == defaults.ttl_seconds);
    CHECK(backend.sends().empty());
    // Parameter order does not matter.
    REQUIRE(call(backend, "GET", "/yaohongbao?sum=5&qps=6").status == 200);
    CHECK(backend.shakes().at(1).rate == 6);
    CHECK(backend.shakes().at(1).total == 5);
}

TEST_CASE("fahongbao maps qps, sum, min and max onto the send campaign", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", "/fahongbao?qps=200&sum=20000&min=1&max=100");
    REQUIRE(r.status == 200);
    const auto c = backend.sends().at(0);
    const SendCampaignConfig defaults{};
    CHECK(c.enabled);
    CHECK(c.rate == 200);
    CHECK(c.total == 20000);
    CHECK(c.min_total == 1);
    CHECK(c.max_total == 100);
    CHECK(c.shares == defaults.shares);
    CHECK(c.policy == defaults.policy);
    CHECK(c.ttl_seconds == defaults.ttl_seconds);
    CHECK(backend.shakes().empty());
}

TEST_CASE("a bad, missing, unknown or repeated query parameter is refused by name", "[admin]") {
    FakeBackend backend;
    const std::vector<std::pair<std::string, std::string>> cases{
        {"/yaohongbao", "'qps'"},
        {"/yaohongbao?qps=200", "'sum'"},
        {"/yaohongbao?qps=abc&sum=1", "'qps'"},
        {"/yaohongbao?qps=&sum=1", "'qps'"},
        {"/yaohongbao?qps&sum=1", "'qps'"},
        {"/yaohongbao?qps=-1&sum=1", "'qps'"},
        {"/yaohongbao?qps=+1&sum=1", "'qps'"},
        {"/yaohongbao?qps=1x&sum=1", "'qps'"},
        {"/yaohongbao?qps=4294967296&sum=1", "'qps'"},
        {"/yaohongbao?qps=1&sum=18446744073709551616", "'sum'"},
        {"/yaohongbao?qps=1&sum=1&bonus=2", "'bonus'"},
        {"/yaohongbao?qps=1&qps=2&sum=1", "'qps'"},
        {"/fahongbao?qps=200&sum=20000&min=1", "'max'"},
        {"/fahongbao?qps=200&sum=20000&min=one&max=100", "'min'"},
        {"/fahongbao?qps=200&sum=20000&min=1&max=9223372036854775808", "'max'"}};
    for (const auto& [url, named] : cases) {
        INFO(url);
        const auto r = call(backend, "GET", url);
        CHECK(r.status == 400);
        CHECK_THAT(error_of(r), Catch::Contains(named));
    }
    CHECK(backend.calls() == 0);
    CHECK(call(backend, "GET", "/yaohongbao?qps=1&sum=2&").status == 200);  // empty pair skipped
}

TEST_CASE("a packet's proof comes from the backend by id, and a bad id is 400", "[admin][proof]") {
    FakeBackend backend;
    const auto found = call(backend, "GET", "/packets/18446744073709551615/proof");
    CHECK(found.status == 200);
    CHECK(json::parse(found.body) == json{{"packet", 18446744073709551615ULL}});
    const auto missing = call(backend, "GET", "/packets/404/proof");
    CHECK(missing.status == 404);
    CHECK(error_of(missing) == "no packet 404");
    CHECK(backend.proofs() == std::vector<std::uint64_t>{18446744073709551615ULL, 404});
    for (const std::string id : {"", "-1", "+1", "1x", "0x10", "18446744073709551616", "1 "}) {
        INFO("id '" << id << "'");
        const auto r = call(backend, "GET", "/packets/" + id + "/proof");
        CHECK(r.status == 400);
        CHECK_THAT(error_of(r), Catch::Contains("must be an integer"));
    }
    CHECK(call(backend, "POST", "/packets/1/proof").status == 405);
    CHECK(call(backend, "GET", "/packets/1").status == 404);
    CHECK(call(backend, "GET", "/packets/1/proof/x").status == 404);
    CHECK(backend.proofs().size() == 2);  // none of the refused ones reached the backend
}

TEST_CASE("unknown paths are 404 and wrong methods are 405", "[admin]") {
    FakeBackend backend;
    CHECK(call(backend, "GET", "/").status == 404);
    CHECK(call(backend, "GET", "/stats/").status == 404);
    CHECK(call(backend, "GET", "/campaigns/other").status == 404);
    CHECK_THAT(error_of(call(backend, "GET", "/nope")), Catch::Contains("/nope"));
    for (const auto& [method, url] :
         std::vector<std::pair<std::string, std::string>>{{"POST", "/stats"},
                                                          {"DELETE", "/metrics"},
                                                          {"PUT", "/campaigns"},
                                                          {"GET", "/campaigns/shake"},
                                                          {"GET", "/campaigns/send"},
                                                          {"POST", "/yaohongbao?qps=1&sum=1"},
                                                          {"HEAD", "/fahongbao"}}) {
        INFO(method << " " << url);
        const auto r = call(backend, method, url, "{}");
        CHECK(r.status == 405);
        CHECK_FALSE(error_of(r).empty());
    }
    CHECK(backend.calls() == 0);
}

TEST_CASE("route turns a throwing backend into a 500 instead of throwing", "[admin]") {
    FakeBackend backend;
    backend.throw_ = true;
    HttpResponse r{};
    REQUIRE_NOTHROW(r = call(backend, "GET", "/stats"));
    CHECK(r.status == 500);
    CHECK_THAT(error_of(r), Catch::Contains("backend exploded"));
}

TEST_CASE("error messages with invalid UTF-8 still produce a JSON body", "[admin]") {
    FakeBackend backend;
    const auto r = call(backend, "GET", std::string("/\xff\xfe"));
    CHECK(r.status == 404);
    CHECK_FALSE(error_of(r).empty());
    const auto key = call(backend, "GET", std::string("/yaohongbao?\xc3=1"));
    CHECK(key.status == 400);
    CHECK_FALSE(error_of(key).empty());
}

