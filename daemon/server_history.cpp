// Server: the last minute, a sample a second, for the dashboard (GET /stats "history" and
// "latency_last_second_us"). The per-second rates of events are the RateCounter's; this keeps
// what is not an event: connections, the latency of the requests served in each second (the
// workers' histograms then less their histograms a second before), and the money's totals.
#include <algorithm>
#include <chrono>
#include <cmath>

#include "server.hpp"

namespace redpacketd {

void Server::start_history() {
    uv_timer_init(&loop_, &history_timer_);
    history_timer_.data = this;
    uv_timer_start(
        &history_timer_, [](uv_timer_t* t) { static_cast<Server*>(t->data)->sample_history(); },
        1000, 1000);
    uv_unref(reinterpret_cast<uv_handle_t*>(&history_timer_));  // never keeps the loop alive
}

void Server::sample_history() {
    redpacket::LatencyHistogram now;
    GaugeTotals published;
    for (const auto& w : workers_) {
        now.merge(w->latency());
        published.add(w->published());
    }
    Second s;
    s.time_s = std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
    s.connections = shared_.connections.load(std::memory_order_relaxed);
    s.logged_in = static_cast<std::uint64_t>(std::max<std::int64_t>(published[Gauge::logged_in], 0));
    s.latency = now.since(history_latency_).summary();
    s.group_created = published[Gauge::amount_created];
    s.group_claimed = published[Gauge::amount_claimed];
    s.group_refunded = published[Gauge::amount_refunded];
    history_latency_ = now;
    history_.push_back(s);
    if (history_.size() > kHistorySeconds) {
        history_.pop_front();
    }
}

nlohmann::json Server::history_json() const {
    const auto column = [this](auto pick) {
        nlohmann::json values = nlohmann::json::array();
        for (const Second& s : history_) {
            values.push_back(pick(s));
        }
        return values;
    };
    const auto us = [](std::uint64_t ns) { return std::round(static_cast<double>(ns) / 100.0) / 10.0; };
    return {{"time_s", column([](const Second& s) { return s.time_s; })},
            {"connections", column([](const Second& s) { return s.connections; })},
            {"logged_in", column([](const Second& s) { return s.logged_in; })},
            {"requests", column([](const Second& s) { return s.latency.count; })},
            {"latency_us",
             {{"p50", column([&](const Second& s) { return us(s.latency.p50); })},
              {"p99", column([&](const Second& s) { return us(s.latency.p99); })},
              {"p999", column([&](const Second& s) { return us(s.latency.p999); })},
              {"max", column([&](const Second& s) { return us(s.latency.max); })}}},
            {"money",
             {{"group_created", column([](const Second& s) { return s.group_created; })},
              {"group_claimed", column([](const Second& s) { return s.group_claimed; })},
              {"group_refunded", column([](const Second& s) { return s.group_refunded; })}}}};
}

}  // namespace redpacketd
