// Server: /stats, the admin API's JSON view (server_metrics.cpp renders /metrics from it),
// and /readyz's verdict.
// Both read atomics and the RateCounter, never worker-owned state.
#include <algorithm>

#include <fmt/format.h>

#include "server.hpp"
#include "redpacket_build_info.hpp"

namespace redpacketd {
namespace {

constexpr int kRateWindow = 60;

void add_published(nlohmann::json& j, const GaugeTotals& t, bool any_worker) {
    using G = Gauge;
    // What peers can make the daemon hold, now (all workers) and at most so far (the largest
    // one worker held): reply bytes queued to slow readers, forwarded requests awaiting their
    // answer, replies waiting for room in a full mailbox, reply bytes waiting for the journal.
    j["queues"] = {{"output_bytes", t[G::output_bytes]},  {"output_bytes_peak", t[G::output_bytes_peak]},
                   {"forwarded", t[G::forwarded]},        {"forwarded_peak", t[G::forwarded_peak]},
                   {"reply_retry", t[G::reply_retry]},    {"reply_retry_peak", t[G::reply_retry_peak]},
                   {"held_bytes", t[G::held_bytes]},      {"held_bytes_peak", t[G::held_bytes_peak]}};
    // Every worker has published its totals (every 100 ms) at least this many times: a client
    // that needs numbers newer than some moment waits for this to pass its value then + 1.
    j["publish_rounds"] = any_worker ? t.publish_rounds : 0;
    j["logged_in"] = t[G::logged_in];
    j["packets_open"] = t[G::packets_live];
    j["shake_queued"] = t[G::shake_queued];
    j["money"] = {{"group_created", t[G::amount_created]},
                  {"group_claimed", t[G::amount_claimed]},
                  {"group_refunded", t[G::amount_refunded]},
                  {"group_outstanding", t[G::amount_outstanding]},
                  {"shake_offered", t[G::shake_amount_offered]},
                  {"shake_issued", t[G::shake_amount_issued]},
                  {"shake_expired", t[G::shake_amount_expired]}};
    j["invariant_violations"] = t[G::invariant_violations];
}

/// The proof archives' counters, summed over the workers (docs/fairness.md §5a).
nlohmann::json archive_stats(const std::vector<Worker*>& workers) {
    redpacket::ProofArchiveStats sum;
    bool enabled = false;
    std::uint64_t kept = 0;     // without an archive: issued shake packets kept in memory
    std::uint64_t forgot = 0;   // and those forgotten early (the cap was reached)
    for (const Worker* w : workers) {
        const redpacket::MemoryStore* store = w->memory_store();
        if (store != nullptr) {
            kept += store->kept_shakes();
            forgot += store->kept_shakes_dropped();
        }
        if (const redpacket::ProofArchive* a = store ? store->archive() : nullptr) {
            const redpacket::ProofArchiveStats s = a->stats();
            enabled = true;
            sum.archived += s.archived;
            sum.dropped += s.dropped;
            sum.pending += s.pending;
            sum.deleted += s.deleted;
            sum.reads += s.reads;
            sum.hits += s.hits;
            sum.errors += s.errors;
            if (!s.last_error.empty()) {
                sum.last_error = s.last_error;
            }
        }
    }
    return {{"enabled", enabled}, {"archived", sum.archived}, {"dropped", sum.dropped},
            {"pending", sum.pending},   {"deleted", sum.deleted},   {"reads", sum.reads},
            {"hits", sum.hits},         {"errors", sum.errors},     {"last_error", sum.last_error},
            {"shakes_in_memory", kept}, {"shakes_forgotten_early", forgot}};
}

nlohmann::json journal_stats(const Config& c, const std::vector<Worker*>& workers) {
    nlohmann::json journal = {{"enabled", !c.journal_dir.empty()}, {"fsync", c.journal_fsync}};
    std::uint64_t records = 0, bytes = 0, batches = 0, syncs = 0, failures = 0, failing = 0,
                  pending = 0, lost = 0, max_batch = 0;
    for (const Worker* w : workers) {
        const redpacket::MemoryStore* store = w->memory_store();
        if (const redpacket::JournalWriter* jw = store ? store->journal() : nullptr) {
            const redpacket::JournalWriterStats js = jw->stats();
            records += js.records;
            bytes += js.bytes;
            batches += js.batches;
            syncs += js.syncs;
            failures += js.failures;
            max_batch = std::max(max_batch, js.max_batch);
            failing += jw->failed() ? 1U : 0U;
            const std::uint64_t last = jw->last_sequence();
            const std::uint64_t durable = jw->durable_sequence();
            pending += last > durable ? last - durable : 0;
        }
        lost += store != nullptr ? store->journal_lost() : 0;
    }
    journal["records"] = records;
    journal["bytes"] = bytes;
    journal["batches"] = batches;
    journal["syncs"] = syncs;
    journal["max_batch"] = max_batch;
    journal["failures"] = failures;
    journal["failing_workers"] = failing;
    journal["pending"] = pending;
    journal["lost"] = lost;
    journal["proof_archive"] = archive_stats(workers);
    return journal;
}

/// A remote store's counters, summed over the workers (latency: the largest worker's).
nlohmann::json store_stats(const Config& c, const std::vector<Worker*>& workers) {
    nlohmann::json store = {{"kind", c.store}};
    if (c.store == "memory") {
        return store;
    }
    GaugeTotals t;
    for (const Worker* w : workers) {
        t.add(w->published());
    }
    const auto u = [&](Gauge g) { return static_cast<std::uint64_t>(t[g]); };
    StoreCounters sum{u(Gauge::store_round_trips), u(Gauge::store_commands), u(Gauge::store_moved),
                      u(Gauge::store_ask), u(Gauge::store_retries), u(Gauge::store_failures),
                      u(Gauge::store_timeouts), u(Gauge::store_refusals),
                      u(Gauge::store_short_waits), u(Gauge::store_shakes_known_empty),
                      u(Gauge::store_notices_received), u(Gauge::store_connects),
                      t[Gauge::store_lease_held] != 0, {}};
    sum.latency.count = u(Gauge::store_latency_count);
    sum.latency.p50 = u(Gauge::store_latency_p50);
    sum.latency.p99 = u(Gauge::store_latency_p99);
    store["round_trips"] = sum.round_trips;  // network round trips (a pipelined batch: one)
    store["commands"] = sum.commands;
    store["moved"] = sum.moved;
    store["ask"] = sum.ask;
    store["retries"] = sum.retries;
    store["failures"] = sum.failures;    // commands that ended in an error reply or a lost node
    store["timeouts"] = sum.timeouts;    // commands that ran out of redis_timeout_ms
    store["refusals"] = sum.refusals;    // requests answered "unavailable"
    store["short_waits"] = sum.short_waits;  // money writes WAIT did not confirm in time
    store["shakes_known_empty"] = sum.shakes_known_empty;  // shakes answered without a call
    store["notices_received"] = sum.notices_received;
    store["connects"] = sum.connects;
    store["lease_held"] = sum.lease_held;
    // A gauge, not a counter: masters that cannot satisfy redis_wait_replicas now.
    store["masters_short_of_replicas"] = u(Gauge::store_masters_short);
    store["latency_ns"] = {{"count", sum.latency.count}, {"p50", sum.latency.p50},
                           {"p99", sum.latency.p99}};
    return store;
}

/// Per-second counts of the last complete seconds, oldest first.
nlohmann::json rates_json(const redpacket::RateCounter& rates) {
    nlohmann::json out = nlohmann::json::object();
    const auto last = rates.last_complete_second();
    if (!last) {
        return out;
    }
    std::vector<std::int64_t> seconds;
    for (std::int64_t s = *last - kRateWindow + 1; s <= *last; ++s) {
        seconds.push_back(s);
    }
    out["seconds"] = seconds;
    const auto& names = rates.events();
    for (std::size_t e = 0; e < names.size(); ++e) {
        std::vector<std::uint64_t> values;
        for (const std::int64_t s : seconds) {
            values.push_back(rates.total(static_cast<redpacket::EventId>(e), s).value_or(0));
        }
        out[names[e]] = std::move(values);
    }
    return out;
}

}  // namespace

nlohmann::json Server::stats() const {
    const Config& c = shared_.config;
    nlohmann::json j;
    j["workers"] = workers_.size();
    j["sets"] = c.sets;
    j["connections"] = shared_.connections.load(std::memory_order_relaxed);
    GaugeTotals published;
    redpacket::LatencyHistogram latency;
    for (const auto& w : workers_) {
        published.add(w->published());
        latency.merge(w->latency());
    }
    add_published(j, published, !workers_.empty());
    j["journal"] = journal_stats(c, shared_.workers);
    j["store"] = store_stats(c, shared_.workers);
    const redpacket::LatencySummary l = latency.summary();
    j["latency_ns"] = {{"count", l.count}, {"p50", l.p50}, {"p90", l.p90},
                       {"p99", l.p99},     {"p999", l.p999}, {"max", l.max}};
    // The last minute, a sample a second (the dashboard's charts), and its newest second.
    j["history"] = history_json();
    nlohmann::json newest = {{"requests", 0}, {"p50", 0}, {"p99", 0}, {"max", 0}};
    if (const auto& h = j["history"]; !h["time_s"].empty()) {
        newest = {{"requests", h["requests"].back()},
                {"p50", h["latency_us"]["p50"].back()},
                {"p99", h["latency_us"]["p99"].back()},
                {"max", h["latency_us"]["max"].back()}};
    }
    j["latency_last_second_us"] = std::move(newest);
    nlohmann::json totals = nlohmann::json::object();
    const std::vector<std::uint64_t> values = event_totals();
    const auto& names = shared_.rates->events();
    for (std::size_t e = 0; e < names.size(); ++e) {
        totals[names[e]] = values[e];
    }
    j["totals"] = std::move(totals);
    j["rates"] = rates_json(*shared_.rates);
    const auto last = shared_.rates->last_complete_second();
    j["last_complete_second"] = last ? nlohmann::json(*last) : nlohmann::json(nullptr);
    j["campaigns"] = campaigns();
    j["loop"] = loop_lag_json();
    j["reloads"] = {{"ok", reloads_.ok}, {"failed", reloads_.failed}};
    nlohmann::json limits = nlohmann::json::object();  // in force now (SIGHUP may change them)
    for (const RuntimeLimits::Field& f : RuntimeLimits::kFields) {
        limits[std::string(f.key)] = limit(shared_.limits.*f.value);
    }
    j["limits"] = std::move(limits);
    j["build"] = {{"version", redpacket::build_info::kVersion},
                  {"commit", redpacket::build_info::kCommit},
                  {"build_type", redpacket::build_info::kBuildType}};
    j["admin_proof_reads"] = {{"asked", admin_reads_.asked},
                              {"refused", admin_reads_.refused},
                              {"timed_out", admin_reads_.timed_out}};
    std::vector<std::uint64_t> sizes(c.sets, 0);
    for (redpacket::ShardId s = 0; s < c.sets; ++s) {
        sizes[s] = workers_[shared_.registry->worker_of(s)]->set_size(s);
    }
    j["set_sizes"] = std::move(sizes);
    return j;
}

std::expected<void, std::string> Server::readiness() const {
    if (!started_) {
        return std::unexpected(std::string("starting"));
    }
    if (draining_) {
        return std::unexpected(std::string("draining: shutting down"));
    }
    const auto failing =
        journal_stats(shared_.config, shared_.workers)["failing_workers"].get<std::uint64_t>();
    if (failing > 0) {
        return std::unexpected(fmt::format(
            "journal failing on {} of {} workers: money requests are refused", failing,
            workers_.size()));
    }
    return {};
}

// The workers' loop lateness in the last complete second: the worst worker, and each one.
nlohmann::json Server::loop_lag_json() const {
    nlohmann::json j{{"tick_late_max_us", 0}, {"iteration_max_us", 0}, {"tick_late_peak_us", 0},
                     {"workers", nlohmann::json::array()}};
    const auto r = std::memory_order_relaxed;
    for (const auto& w : workers_) {
        const PublishedLoopLag& lag = w->loop_lag();
        const nlohmann::json one{{"tick_late_max_us", lag.tick_late_max_us.load(r)},
                                 {"iteration_max_us", lag.iteration_max_us.load(r)},
                                 {"tick_late_peak_us", lag.tick_late_peak_us.load(r)}};
        for (const auto& [key, value] : one.items()) {
            j[key] = std::max(j[key].get<std::uint64_t>(), value.get<std::uint64_t>());
        }
        j["workers"].push_back(one);
    }
    return j;
}

}  // namespace redpacketd
