// Plan parsing: the text form, the JSON form and their error messages.
#include <catch2/catch.hpp>

#include "plan.hpp"

using namespace redpacket::load;

TEST_CASE("the text plan reads connect, hold and qps phases in order", "[load]") {
    const auto plan =
        parse_plan("connect 2000 @ 1000/s; hold 2s; qps 3000 for 10s; qps 6000 for 500ms");
    REQUIRE(plan.has_value());
    REQUIRE(plan->phases.size() == 4);
    CHECK(plan->phases[0] == Phase{PhaseKind::connect, 2000, 1000, 0, 0});
    CHECK(plan->phases[1] == Phase{PhaseKind::hold, 0, 0, 0, 2000});
    CHECK(plan->phases[2] == Phase{PhaseKind::qps, 0, 0, 3000, 10000});
    CHECK(plan->phases[3] == Phase{PhaseKind::qps, 0, 0, 6000, 500});
    CHECK(plan->connections() == 2000);
}

TEST_CASE("the text plan tolerates missing spaces around @ and a trailing semicolon", "[load]") {
    const auto plan = parse_plan("  connect 10@5 ;qps 7 for 1.5s;");
    REQUIRE(plan.has_value());
    CHECK(plan->phases[0] == Phase{PhaseKind::connect, 10, 5, 0, 0});
    CHECK(plan->phases[1] == Phase{PhaseKind::qps, 0, 0, 7, 1500});
}

TEST_CASE("plan errors name the phase and what was wrong", "[load]") {
    CHECK(parse_plan("").error() == "the plan is empty");
    CHECK(parse_plan("hold 2s; connect 5 @ 1/s").error() ==
          "the plan must start with a connect phase");
    CHECK(parse_plan("connect 5 @ 1/s; connect 5 @ 1/s").error() ==
          "phase 2: only one connect phase is allowed (the first)");
    CHECK(parse_plan("connect 5 @ 1/s; qps x for 2s").error() ==
          "phase 2: qps: 'x' is not a whole number");
    CHECK(parse_plan("connect 0 @ 1/s").error() ==
          "phase 1: connect count: 0 is out of range 1..1000000");
    CHECK(parse_plan("connect 5 @ 1/s; hold soon").error() ==
          "phase 2: 'soon' is not a duration (e.g. 10s, 500ms)");
    CHECK(parse_plan("connect 5 @ 1/s; jump 3").error().starts_with(
        "phase 2: cannot read phase 'jump 3'"));
}

TEST_CASE("durations accept seconds, milliseconds and bare seconds", "[load]") {
    CHECK(parse_duration_ms("2s").value() == 2000);
    CHECK(parse_duration_ms("250ms").value() == 250);
    CHECK(parse_duration_ms("3").value() == 3000);
    CHECK(parse_duration_ms("0.5s").value() == 500);
    CHECK_FALSE(parse_duration_ms("0s").has_value());
    CHECK_FALSE(parse_duration_ms("-1s").has_value());
    CHECK_FALSE(parse_duration_ms("s").has_value());
}

TEST_CASE("the JSON plan gives the same phases as the text plan", "[load]") {
    const auto json = parse_plan_json(R"([{"connect": 2000, "rate": 1000}, {"hold": "2s"},
                                          {"qps": 3000, "for": 10}])");
    const auto text = parse_plan("connect 2000 @ 1000/s; hold 2s; qps 3000 for 10s");
    REQUIRE(json.has_value());
    REQUIRE(text.has_value());
    CHECK(json->phases == text->phases);
}

TEST_CASE("the JSON plan rejects non-lists and unknown phases", "[load]") {
    CHECK(parse_plan_json("{}").error() == "the plan file must hold a JSON list of phases");
    CHECK(parse_plan_json("[1,").error() == "the plan file must hold a JSON list of phases");
    CHECK(parse_plan_json(R"([{"connect": 5}])").error() ==
          "phase 1: connect rate: 0 is out of range 1..10000000");
    CHECK(parse_plan_json(R"([{"connect": 5, "rate": 5}, {"sleep": 1}])")
              .error()
              .starts_with("phase 2: unknown phase"));
}
