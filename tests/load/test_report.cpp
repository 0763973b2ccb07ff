// Coordinated-omission-free accounting, CSV rows, on-target seconds and /stats parsing.
#include <catch2/catch.hpp>

#include <algorithm>

#include "http_scrape.hpp"
#include "report.hpp"

using namespace redpacket::load;

namespace {
constexpr std::uint64_t kMs = 1'000'000;
}

TEST_CASE("the recorder measures from the scheduled time, not the send time", "[load]") {
    Recorder r;
    // Scheduled at 0, written 40 ms late (the generator stalled), answered 1 ms after the write.
    r.record(0, 40 * kMs, 41 * kMs);
    CHECK(r.phase().count() == 1);
    CHECK(r.phase().max() == 41 * kMs);
    CHECK(r.max_send_lag_ns() == 40 * kMs);
}

TEST_CASE("a stalled reply shows up in p99 even when every send was on time", "[load]") {
    Recorder r;
    // 980 requests answered in 100 µs; 20 sent on time but stuck 50 ms in the server.
    for (std::uint64_t i = 0; i < 980; ++i) {
        r.record(i * kMs, i * kMs, i * kMs + 100'000);
    }
    for (std::uint64_t i = 0; i < 20; ++i) {
        r.record(i * kMs, i * kMs, i * kMs + 50 * kMs);
    }
    const auto s = r.phase().summary();
    CHECK(s.p50 < 101'000);
    CHECK(s.p90 < 101'000);
    CHECK(s.p99 > 49 * kMs);
    CHECK(s.max == 50 * kMs);
    CHECK(r.max_send_lag_ns() == 0);
}

TEST_CASE("requests queued behind a stall all count their wait (no coordinated omission)",
          "[load]") {
    Recorder r;
    // 1000 requests scheduled 1 ms apart; the loop stalls for the first 100 ms, so the first
    // 100 go out together at 100 ms and are answered at once. A send-time clock would see 0 µs.
    for (std::uint64_t i = 0; i < 1000; ++i) {
        const std::uint64_t scheduled = i * kMs;
        const std::uint64_t sent = std::max(scheduled, 100 * kMs);
        r.record(scheduled, sent, sent + 10'000);
    }
    const auto s = r.phase().summary();
    CHECK(s.p50 < 20'000);
    CHECK(s.p99 > 85 * kMs);  // request i < 100 waited (100 − i) ms before it could be sent
    CHECK(s.max >= 100 * kMs);
    CHECK(r.max_send_lag_ns() == 100 * kMs);
}

TEST_CASE("second latencies reset without touching the phase", "[load]") {
    Recorder r;
    r.record(0, 0, 5 * kMs);
    r.reset_second();
    CHECK(r.second().count() == 0);
    CHECK(r.phase().count() == 1);
    r.reset_phase();
    CHECK(r.phase().count() == 0);
}

TEST_CASE("the CSV header and a row have the same columns in the documented order", "[load]") {
    SecondRow row;
    row.elapsed_s = 12.5;
    row.phase = 3;
    row.kind = "qps";
    row.second = 4;
    row.window_ms = 1000;
    row.target = 3000;
    row.connections = 2000;
    row.counts = Counters{3000, 2999, 10, 2980, 9, 0, 2, 2, 1234, 56};
    row.latency.p50 = 123'400;
    row.latency.p99 = 1'500'000;
    row.latency.max = 2'000'049;
    row.server_requests = 3001;
    row.server_connections = 2000;
    row.server_cpu_ms = 412;
    row.server_rss_kb = 20480;
    row.server_runq_us = 1500;
    row.server_nvcsw = 7;
    row.load_runq_us = 20;
    row.load_nvcsw = 1;
    row.preempted = true;
    const std::string header = csv_header();
    const std::string line = csv_row(row);
    CHECK(header ==
          "elapsed_s,phase,kind,second,window_ms,target,connections,sent,responses,got,none,"
          "overloaded,errors,notices,grabs,shake_cents,grab_cents,p50_us,p99_us,max_us,"
          "server_requests,server_connections,server_cpu_ms,server_rss_kb,server_runq_us,"
          "server_nvcsw,load_runq_us,load_nvcsw,preempted\n");
    CHECK(line == "12.500,3,qps,4,1000,3000,2000,3000,2999,10,2980,9,0,2,2,1234,56,123.4,1500.0,"
                  "2000.0,3001,2000,412,20480,1500,7,20,1,1\n");
    const auto columns = [](const std::string& s) {
        return std::count(s.begin(), s.end(), ',') + 1;
    };
    CHECK(columns(header) == columns(line));
}

TEST_CASE("unknown server columns are written as -1", "[load]") {
    SecondRow row;
    row.kind = "hold";
    CHECK(csv_row(row).ends_with(",-1,-1,-1,-1,-1,-1,-1,-1,0\n"));
}

TEST_CASE("a second is on target within plus or minus half a percent", "[load]") {
    CHECK(on_target(3000, 3000));
    CHECK(on_target(3015, 3000));
    CHECK(on_target(2985, 3000));
    CHECK_FALSE(on_target(3016, 3000));
    CHECK_FALSE(on_target(2984, 3000));
    CHECK_FALSE(on_target(0, 0));
}

TEST_CASE("counters add field by field", "[load]") {
    Counters a{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    a += Counters{1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(a == Counters{2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
}

TEST_CASE("the phase JSON carries percentiles in microseconds and the result counts", "[load]") {
    PhaseReport p;
    p.index = 2;
    p.kind = "qps";
    p.target_qps = 500;
    p.counts = Counters{10, 9, 1, 7, 1, 0, 0, 0, 0, 0};
    p.latency.p50 = 1500;
    p.latency.max = 2'000'000;
    p.preempted_seconds = 2;
    p.latency_unpreempted.p99 = 7000;
    p.server_runq_us = 1234;
    const auto j = to_json(p);
    CHECK(j["preempted_seconds"] == 2);
    CHECK(j["latency_unpreempted_us"]["p99"] == 7.0);
    CHECK(j["server_runq_us"] == 1234);
    CHECK_FALSE(j.contains("load_runq_us"));  // unknown: left out
    CHECK(j["requests"] == 10);
    CHECK(j["responses"] == 9);
    CHECK(j["got"].get<int>() + j["none"].get<int>() + j["overloaded"].get<int>() == 9);
    CHECK(j["latency_us"]["p50"].get<double>() == Approx(1.5));
    CHECK(j["latency_us"]["max"].get<double>() == Approx(2000.0));
    CHECK_FALSE(j.contains("server_cpu_ms"));  // unknown without --server-pid

    p.server_cpu_ms = 18;  // 18 ms over 9 responses: 2000 µs each
    p.server_rss_start_kb = 1000;
    p.server_rss_end_kb = 1500;
    const auto k = to_json(p);
    CHECK(k["server_cpu_ms"] == 18);
    CHECK(k["server_cpu_us_per_response"].get<double>() == Approx(2000.0));
    CHECK(k["server_rss_end_kb"] == 1500);
}

TEST_CASE("the /stats response yields shake requests and connections", "[load]") {
    const auto s = parse_stats_response(200, R"({"connections": 12, "totals": {"shake_requests": 345}})");
    REQUIRE(s.has_value());
    CHECK(s->connections == 12);
    CHECK(s->shake_requests == 345);
    CHECK_FALSE(parse_stats_response(404, "{}").has_value());
    CHECK_FALSE(parse_stats_response(401, R"({"connections": 12, "totals": {"shake_requests": 345}})")
                    .has_value());
    CHECK_FALSE(parse_stats_response(200, R"({"connections": 1})").has_value());
    CHECK_FALSE(parse_stats_response(200, "not json").has_value());
}
