// Recorder, CSV and JSON formatting.
#include "report.hpp"

#include <fmt/format.h>

#include <cmath>

namespace redpacket::load {
namespace {

double us(std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; }

}  // namespace

void Recorder::record(std::uint64_t scheduled_ns, std::uint64_t sent_ns,
                      std::uint64_t replied_ns) noexcept {
    const std::uint64_t latency = replied_ns > scheduled_ns ? replied_ns - scheduled_ns : 0;
    phase_.record(latency);
    second_.record(latency);
    if (sent_ns > scheduled_ns && sent_ns - scheduled_ns > max_send_lag_ns_) {
        max_send_lag_ns_ = sent_ns - scheduled_ns;
    }
}

Counters& Counters::operator+=(const Counters& o) noexcept {
    sent += o.sent;
    responses += o.responses;
    got += o.got;
    none += o.none;
    overloaded += o.overloaded;
    errors += o.errors;
    notices += o.notices;
    grabs += o.grabs;
    shake_cents += o.shake_cents;
    grab_cents += o.grab_cents;
    return *this;
}

std::string csv_header() {
    return "elapsed_s,phase,kind,second,window_ms,target,connections,sent,responses,got,none,"
           "overloaded,errors,notices,grabs,shake_cents,grab_cents,p50_us,p99_us,max_us,"
           "server_requests,server_connections,server_cpu_ms,server_rss_kb,server_runq_us,"
           "server_nvcsw,load_runq_us,load_nvcsw,preempted\n";
}

std::string csv_row(const SecondRow& r) {
    const Counters& c = r.counts;
    return fmt::format("{:.3f},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{:.1f},{:.1f},{:.1f},"
                       "{},{},{},{},{},{},{},{},{}\n",
                       r.elapsed_s, r.phase, r.kind, r.second, r.window_ms, r.target,
                       r.connections, c.sent, c.responses, c.got, c.none, c.overloaded, c.errors,
                       c.notices, c.grabs, c.shake_cents, c.grab_cents, us(r.latency.p50),
                       us(r.latency.p99), us(r.latency.max), r.server_requests,
                       r.server_connections, r.server_cpu_ms, r.server_rss_kb,
                       r.server_runq_us, r.server_nvcsw, r.load_runq_us, r.load_nvcsw,
                       r.preempted ? 1 : 0);
}

bool on_target(std::uint64_t count, std::uint64_t target, double tolerance) noexcept {
    if (target == 0) {
        return false;
    }
    const double diff = std::abs(static_cast<double>(count) - static_cast<double>(target));
    return diff <= tolerance * static_cast<double>(target);
}

nlohmann::json to_json(const PhaseReport& p) {
    const Counters& c = p.counts;
    nlohmann::json j;
    j["phase"] = p.index;
    j["kind"] = std::string(p.kind);
    j["target_qps"] = p.target_qps;
    j["duration_ms"] = p.duration_ms;
    j["requests"] = c.sent;
    j["responses"] = c.responses;
    j["got"] = c.got;
    j["none"] = c.none;
    j["overloaded"] = c.overloaded;
    j["errors"] = c.errors;
    j["notices"] = c.notices;
    j["grabs"] = c.grabs;
    j["shake_cents"] = c.shake_cents;
    j["grab_cents"] = c.grab_cents;
    j["latency_us"] = {{"count", p.latency.count},  {"p50", us(p.latency.p50)},
                       {"p90", us(p.latency.p90)},  {"p99", us(p.latency.p99)},
                       {"p999", us(p.latency.p999)}, {"max", us(p.latency.max)}};
    j["max_send_lag_us"] = us(p.max_send_lag_ns);
    j["full_seconds"] = p.full_seconds;
    j["seconds_on_target"] = p.seconds_on_target;
    if (p.server_cpu_ms >= 0) {
        j["server_cpu_ms"] = p.server_cpu_ms;
        j["server_cpu_us_per_response"] =
            c.responses > 0 ? static_cast<double>(p.server_cpu_ms) * 1000.0 /
                                  static_cast<double>(c.responses)
                            : 0.0;
    }
    if (p.load_cpu_ms >= 0) {
        j["load_cpu_ms"] = p.load_cpu_ms;
    }
    const auto& q = p.latency_unpreempted;
    j["preempted_seconds"] = p.preempted_seconds;
    j["seconds_on_target_unpreempted"] = p.seconds_on_target_unpreempted;
    j["latency_unpreempted_us"] = {{"count", q.count}, {"p50", us(q.p50)}, {"p99", us(q.p99)},
                                   {"p999", us(q.p999)}, {"max", us(q.max)}};
    for (const auto& [key, value] : {std::pair{"server_runq_us", p.server_runq_us},
                                     std::pair{"server_nvcsw", p.server_nvcsw},
                                     std::pair{"load_runq_us", p.load_runq_us},
                                     std::pair{"load_nvcsw", p.load_nvcsw}}) {
        if (value >= 0) {
            j[key] = value;
        }
    }
    if (p.server_rss_start_kb >= 0) {
        j["server_rss_start_kb"] = p.server_rss_start_kb;
        j["server_rss_end_kb"] = p.server_rss_end_kb;
    }
    return j;
}

}  // namespace redpacket::load
