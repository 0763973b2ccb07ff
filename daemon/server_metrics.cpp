// Server, part 5: GET /metrics in the Prometheus text format, by Prometheus conventions —
// labelled families (one metric per thing counted, `outcome` / `reason` / `kind` / `worker`
// labels), `_total` counters, base units (seconds, bytes, cents), a request-duration histogram
// that sums across workers and daemons, build_info, and the standard process_* metrics.
// `promtool check metrics` runs on a live daemon's output in the test suite.
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "events.hpp"
#include "redpacket_build_info.hpp"
#include "server.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

using namespace std::string_view_literals;

/// Where one event counter goes: its family and the label that tells it from its siblings
/// (empty: the family has that one event only).
struct EventMetric {
    std::string_view event;
    std::string_view family;
    std::string_view label;  // `name="value"`
};

/// A family of event counters and its help.
struct EventFamily {
    std::string_view name;
    std::string_view help;
};

// clang-format off
constexpr auto kEventFamilies = std::to_array<EventFamily>({
    {"requests_total", "Requests received, by kind (logins: those granted; refusals included)."},
    {"claims_total", "Outcomes of grabs and extended claims, where the store was asked."},
    {"shake_outcomes_total", "Shake requests by outcome."},
    {"grab_outcomes_total", "Grabs by outcome."},
    {"refusals_total", "Requests refused before or instead of being served, by reason."},
    {"protocol_errors_total", "Frames refused by the protocol rules (each decode error too)."},
    {"decode_errors_total", "Byte streams the frame decoder refused, by reason."},
    {"connections_accepted_total", "Client connections accepted."},
    {"connections_refused_total", "Client connections refused at accept, by reason."},
    {"connections_closed_total", "Client connections closed, for any reason."},
    {"connections_closed_by_limit_total", "Client connections the daemon closed at a limit."},
    {"connection_migrations_total", "Connections handed to the worker owning their SET."},
    {"forwarded_requests_total", "Requests forwarded to the worker owning their SET."},
    {"transferred_bytes_total", "Bytes read from and written to clients."},
    {"journal_held_replies_total", "Reply batches that waited for their journal records."},
    {"notices_total", "Packet notices pushed to clients."},
    {"campaign_packets_total", "Packets the campaigns offered or sent, and offers refused."},
    {"refunds_total", "Expired group packets refunded."},
});

constexpr auto kEventMetrics = std::to_array<EventMetric>({
    {"logins", "requests_total", R"(kind="login")"},
    {"shake_requests", "requests_total", R"(kind="shake")"},
    {"grabs", "requests_total", R"(kind="grab")"},
    {"claims", "requests_total", R"(kind="claim")"},
    {"creates", "requests_total", R"(kind="create")"},
    {"queries", "requests_total", R"(kind="query")"},
    {"proofs", "requests_total", R"(kind="proof")"},
    {"heartbeats", "requests_total", R"(kind="heartbeat")"},
    {"claim_claimed", "claims_total", R"(outcome="claimed")"},
    {"claim_already_claimed", "claims_total", R"(outcome="already_claimed")"},
    {"claim_sold_out", "claims_total", R"(outcome="sold_out")"},
    {"claim_expired", "claims_total", R"(outcome="expired")"},
    {"claim_not_found", "claims_total", R"(outcome="not_found")"},
    {"claim_not_allowed", "claims_total", R"(outcome="not_allowed")"},
    {"shake_hits", "shake_outcomes_total", R"(outcome="hit")"},
    {"shake_misses", "shake_outcomes_total", R"(outcome="miss")"},
    {"shake_overloaded", "shake_outcomes_total", R"(outcome="overloaded")"},
    {"grab_hits", "grab_outcomes_total", R"(outcome="hit")"},
    {"grab_misses", "grab_outcomes_total", R"(outcome="miss")"},
    {"rate_limited", "refusals_total", R"(reason="rate_limited")"},
    {"mailbox_full", "refusals_total", R"(reason="mailbox_full")"},
    {"forward_limited", "refusals_total", R"(reason="forward_limit")"},
    {"journal_refusals", "refusals_total", R"(reason="journal")"},
    {"login_failures", "refusals_total", R"(reason="login_failed")"},
    {"create_failures", "refusals_total", R"(reason="create_failed")"},
    {"protocol_errors", "protocol_errors_total", ""},
    {"decode_length_too_small", "decode_errors_total", R"(reason="length_too_small")"},
    {"decode_length_too_large", "decode_errors_total", R"(reason="length_too_large")"},
    {"decode_unknown_command", "decode_errors_total", R"(reason="unknown_command")"},
    {"decode_bad_body_length", "decode_errors_total", R"(reason="bad_body_length")"},
    {"accepted", "connections_accepted_total", ""},
    {"rejected_max_connections", "connections_refused_total", R"(reason="max_connections")"},
    {"closed", "connections_closed_total", ""},
    {"login_timeouts", "connections_closed_by_limit_total", R"(reason="login_timeout")"},
    {"idle_timeouts", "connections_closed_by_limit_total", R"(reason="idle_timeout")"},
    {"output_cap_closes", "connections_closed_by_limit_total", R"(reason="output_cap")"},
    {"migrations", "connection_migrations_total", ""},
    {"forwarded", "forwarded_requests_total", ""},
    {"bytes_in", "transferred_bytes_total", R"(direction="in")"},
    {"bytes_out", "transferred_bytes_total", R"(direction="out")"},
    {"held_replies", "journal_held_replies_total", ""},
    {"notices", "notices_total", ""},
    {"shake_offered", "campaign_packets_total", R"(campaign="shake",outcome="offered")"},
    {"shake_offer_refused", "campaign_packets_total", R"(campaign="shake",outcome="refused")"},
    {"packets_sent", "campaign_packets_total", R"(campaign="send",outcome="sent")"},
    {"refunds", "refunds_total", ""},
});
// clang-format on

/// Upper bounds of the request-duration histogram, in nanoseconds (5 µs .. 1 s).
constexpr std::array<std::uint64_t, 17> kDurationBoundsNs{
    5'000,      10'000,     25'000,      50'000,      100'000,     250'000,
    500'000,    1'000'000,  2'500'000,   5'000'000,   10'000'000,  25'000'000,
    50'000'000, 100'000'000, 250'000'000, 500'000'000, 1'000'000'000};

/// The exposition text: families announced once, samples after their family.
class Exposition {
public:
    void family(std::string_view name, std::string_view type, std::string_view help) {
        fmt::format_to(out(), "# HELP {0} {1}\n# TYPE {0} {2}\n", full(name), help, type);
    }
    template <class V>
    void sample(std::string_view name, std::string_view labels, V value) {
        if (labels.empty()) {
            fmt::format_to(out(), "{} {}\n", full(name), value);
        } else {
            fmt::format_to(out(), "{}{{{}}} {}\n", full(name), labels, value);
        }
    }
    template <class V>
    void single(std::string_view name, std::string_view type, std::string_view help, V value) {
        family(name, type, help);
        sample(name, "", value);
    }
    std::string take() { return std::move(text_); }

private:
    /// "process_*" keeps its standard name; the rest are the daemon's.
    static std::string full(std::string_view name) {
        return name.starts_with("process_") ? std::string(name) : fmt::format("redpacketd_{}", name);
    }
    std::back_insert_iterator<std::string> out() { return std::back_inserter(text_); }
    std::string text_;
};

std::uint64_t u64(const nlohmann::json& v) { return v.get<std::uint64_t>(); }
std::int64_t i64(const nlohmann::json& v) { return v.get<std::int64_t>(); }
double seconds_from_us(const nlohmann::json& v) { return static_cast<double>(u64(v)) / 1e6; }

/// The process_* metrics every Prometheus client library exports.
void process_metrics(Exposition& e, std::int64_t started_at_ms) {
    rusage usage{};
    if (getrusage(RUSAGE_SELF, &usage) == 0) {
        const auto secs = [](const timeval& t) {
            return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
        };
        e.single("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.",
                 secs(usage.ru_utime) + secs(usage.ru_stime));
    }
    std::ifstream statm("/proc/self/statm");
    std::uint64_t pages_virtual = 0, pages_resident = 0;
    if (statm >> pages_virtual >> pages_resident) {
        const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
        e.single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                 pages_virtual * page);
        e.single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                 pages_resident * page);
    }
    if (DIR* fds = ::opendir("/proc/self/fd")) {
        std::uint64_t open = 0;
        while (const dirent* entry = ::readdir(fds)) {
            open += entry->d_name[0] != '.' ? 1U : 0U;
        }
        ::closedir(fds);
        e.single("process_open_fds", "gauge", "Number of open file descriptors.", open - 1);  // minus the DIR's own
    }
    rlimit fds{};
    if (getrlimit(RLIMIT_NOFILE, &fds) == 0) {
        e.single("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                 static_cast<std::uint64_t>(fds.rlim_cur));
    }
    e.single("process_start_time_seconds", "gauge",
             "Start time of the process since unix epoch in seconds.",
             static_cast<double>(started_at_ms) / 1000.0);
}

using Workers = std::vector<std::unique_ptr<Worker>>;

/// Each worker's lifetime count of event `id` (transport events first, then service events).
std::uint64_t event_total(const Worker& w, std::size_t id) {
    return id < kEventCount ? w.transport_events().total(id)
                            : w.service_events().total(id - kEventCount);
}

void event_metrics(Exposition& e, const Workers& workers, const std::vector<std::string>& names) {
    const auto labels = [](std::string_view label, std::size_t worker) {
        return fmt::format("{}{}worker=\"{}\"", label, label.empty() ? "" : ",", worker);
    };
    std::vector<bool> mapped(names.size(), false);
    for (const EventFamily& family : kEventFamilies) {
        e.family(family.name, "counter", family.help);
        for (const EventMetric& m : kEventMetrics) {
            const auto it = std::ranges::find(names, m.event);
            if (m.family != family.name || it == names.end()) {
                continue;
            }
            const auto id = static_cast<std::size_t>(it - names.begin());
            mapped[id] = true;
            for (std::size_t w = 0; w < workers.size(); ++w) {
                e.sample(family.name, labels(m.label, w), event_total(*workers[w], id));
            }
        }
    }
    // An event added without a row above still shows, under a name a test looks for.
    if (std::ranges::find(mapped, false) != mapped.end()) {
        e.family("unmapped_events_total", "counter", "Events without a metric of their own (a bug).");
        for (std::size_t id = 0; id < names.size(); ++id) {
            for (std::size_t w = 0; w < workers.size() && !mapped[id]; ++w) {
                e.sample("unmapped_events_total", labels(fmt::format("event=\"{}\"", names[id]), w),
                         event_total(*workers[w], id));
            }
        }
    }
}

void money_and_state_metrics(Exposition& e, const nlohmann::json& s) {
    const auto& money = s["money"];
    e.family("money_cents_total", "counter",
             "Money through the pools in cents: group packets created, claimed and refunded; "
             "shake packets offered, issued and expired.");
    for (const auto& [kind, flows] :
         {std::pair{"group"sv, std::array{"created"sv, "claimed"sv, "refunded"sv}},
          std::pair{"shake"sv, std::array{"offered"sv, "issued"sv, "expired"sv}}}) {
        for (const std::string_view flow : flows) {
            e.sample("money_cents_total", fmt::format(R"(kind="{}",flow="{}")", kind, flow),
                     i64(money[fmt::format("{}_{}", kind, flow)]));
        }
    }
    e.single("money_outstanding_cents", "gauge",
             "Money in open group packets, not yet claimed or refunded, in cents.",
             i64(money["group_outstanding"]));
    e.single("connections", "gauge", "Open client connections.", u64(s["connections"]));
    e.single("logged_in_connections", "gauge", "Connections registered in a SET.",
             u64(s["logged_in"]));
    e.single("packets_open", "gauge", "Group packets live in the pools.", u64(s["packets_open"]));
    e.single("shake_queued_packets", "gauge", "Shake packets waiting in the supplies.",
             u64(s["shake_queued"]));
    e.single("invariant_violations", "gauge",
             "Pools whose money does not balance now, plus pool changes the journal lost since "
             "start (must stay 0).",
             u64(s["invariant_violations"]) + u64(s["journal"]["lost"]));
}

/// What peers can make the daemon hold, now and at its peak since start: (metric, /stats
/// "queues" key, help).
constexpr std::array<std::array<std::string_view, 3>, 8> kQueueGauges{{
    {"output_queued_bytes", "output_bytes", "Reply bytes queued to clients that read slowly."},
    {"output_queued_peak_bytes", "output_bytes_peak",
     "Most reply bytes one worker has had queued to slow clients since start."},
    {"forwarded_in_flight", "forwarded", "Requests forwarded to another worker, not yet answered."},
    {"forwarded_in_flight_peak", "forwarded_peak",
     "Most forwarded requests one worker has had awaiting an answer since start."},
    {"reply_retry_queued", "reply_retry", "Cross-worker replies waiting for room in a full mailbox."},
    {"reply_retry_queued_peak", "reply_retry_peak",
     "Most cross-worker replies one worker has had waiting for mailbox room since start."},
    {"held_reply_bytes", "held_bytes", "Reply bytes waiting for their journal records to be durable."},
    {"held_reply_peak_bytes", "held_bytes_peak",
     "Most reply bytes one worker has held for the journal since start."},
}};

void queue_metrics(Exposition& e, const nlohmann::json& q) {
    for (const auto& [name, key, help] : kQueueGauges) {
        e.single(name, "gauge", help, u64(q[std::string(key)]));
    }
}

void loop_metrics(Exposition& e, const nlohmann::json& loop) {
    const auto per_worker = [&](std::string_view name, std::string_view key, std::string_view help) {
        e.family(name, "gauge", help);
        std::size_t w = 0;
        for (const auto& one : loop["workers"]) {
            e.sample(name, fmt::format("worker=\"{}\"", w++), seconds_from_us(one[key]));
        }
    };
    per_worker("loop_tick_lateness_seconds", "tick_late_max_us",
               "Most the worker's 10 ms tick fired late in the last complete second (preempted or busy).");
    per_worker("loop_iteration_max_seconds", "iteration_max_us",
               "Longest loop iteration's own work (callbacks, not the wait for events) in the last "
               "complete second.");
    per_worker("loop_tick_lateness_peak_seconds", "tick_late_peak_us",
               "Most the worker's tick has fired late since start.");
}

void journal_and_store_metrics(Exposition& e, const nlohmann::json& s) {
    const auto& jn = s["journal"];
    for (const auto& [key, name] : {std::pair{"records", "journal_records_total"},
                                    std::pair{"bytes", "journal_written_bytes_total"},
                                    std::pair{"batches", "journal_batches_total"},
                                    std::pair{"syncs", "journal_syncs_total"},
                                    std::pair{"failures", "journal_write_failures_total"}}) {
        e.single(name, "counter", fmt::format("Journal {} since start (all workers).", key), u64(jn[key]));
    }
    e.single("journal_failing_workers", "gauge", "Workers whose journal is failing to write (must be 0).",
             u64(jn["failing_workers"]));
    e.single("journal_pending_records", "gauge", "Journal records appended but not yet durable.",
             u64(jn["pending"]));
    const auto& pa = jn["proof_archive"];
    for (const auto& [key, help] :
         {std::pair{"archived", "Finished packets written to the proof archive."},
          std::pair{"dropped", "Finished packets not archived: its queue was full."},
          std::pair{"deleted", "Archived packets deleted past proof_retention_seconds."},
          std::pair{"reads", "Queries and proofs of packets gone from memory, asked of the archive."},
          std::pair{"hits", "Archive reads that found the packet."},
          std::pair{"errors", "Failed proof-archive reads and writes (/stats names the last)."}}) {
        e.single(fmt::format("proof_archive_{}_total", key), "counter", help, u64(pa[key]));
    }
    e.single("proof_archive_pending", "gauge", "Finished packets queued for the proof archive.",
             u64(pa["pending"]));
    e.single("proof_shakes_in_memory", "gauge",
             "Without a proof archive: issued shake packets kept in memory for their proofs.",
             u64(pa["shakes_in_memory"]));
    e.single("proof_shakes_forgotten_early_total", "counter",
             "Without a proof archive: issued shake packets forgotten before their deadline plus "
             "retention_seconds (a worker had max_packets_per_set times its SETs kept).",
             u64(pa["shakes_forgotten_early"]));
    if (s["store"]["kind"] == "memory") {
        return;
    }
    e.single("redis_masters_short_of_replicas", "gauge",
             "Masters with fewer replicas than redis_wait_replicas: payouts on their slots are "
             "refused (WAIT falls short).",
             u64(s["store"]["masters_short_of_replicas"]));
    for (const auto& [key, value] : s["store"].items()) {
        if (value.is_number_unsigned() && key != "masters_short_of_replicas") {
            e.single(fmt::format("store_{}_total", key), "counter",
                     fmt::format("Remote store {} since start (all workers).", key), u64(value));
        }
    }
    e.single("store_lease_held", "gauge", "1 while this daemon holds the campaign lease.",
             s["store"]["lease_held"].get<bool>() ? 1 : 0);
}

void duration_histogram(Exposition& e, const redpacket::LatencyHistogram& latency) {
    constexpr std::string_view name = "request_duration_seconds";
    e.family(name, "histogram",
             "Time a worker took to serve a read of requests, from the read to its replies queued "
             "(each request counts its read's time; a reply waiting for a forwarded request or the "
             "store is not in it, nor a read that moved its connection to another worker); all "
             "workers; 17 buckets from 5 us to 1 s, sum from the daemon histogram's bucket "
             "midpoints (within 0.4 %).");
    // +Inf and _count from the same bucket reads as the bounds, so they never disagree.
    std::vector<std::uint64_t> bounds(kDurationBoundsNs.begin(), kDurationBoundsNs.end());
    bounds.push_back(UINT64_MAX);
    const std::vector<std::uint64_t> counts = latency.counts_below(bounds);
    const std::string bucket = fmt::format("{}_bucket", name);
    for (std::size_t i = 0; i < kDurationBoundsNs.size(); ++i) {
        e.sample(bucket, fmt::format("le=\"{}\"", static_cast<double>(kDurationBoundsNs[i]) / 1e9),
                 counts[i]);
    }
    e.sample(bucket, R"(le="+Inf")", counts.back());
    e.sample(fmt::format("{}_sum", name), "", latency.approximate_sum() / 1e9);
    e.sample(fmt::format("{}_count", name), "", counts.back());
}

}  // namespace

std::string Server::metrics() const {
    Exposition e;
    const nlohmann::json s = stats();
    event_metrics(e, workers_, shared_.rates->events());
    money_and_state_metrics(e, s);
    queue_metrics(e, s["queues"]);
    loop_metrics(e, s["loop"]);
    journal_and_store_metrics(e, s);
    redpacket::LatencyHistogram latency;
    for (const auto& w : workers_) {
        latency.merge(w->latency());
    }
    duration_histogram(e, latency);
    e.family("admin_proof_reads_total", "counter", "GET /packets/<id>/proof reads of a worker.");
    e.sample("admin_proof_reads_total", "", admin_reads_.asked);
    e.family("admin_proof_read_failures_total", "counter",
             "GET /packets/<id>/proof reads that got no answer, by reason.");
    e.sample("admin_proof_read_failures_total", R"(reason="refused")", admin_reads_.refused);
    e.sample("admin_proof_read_failures_total", R"(reason="timed_out")", admin_reads_.timed_out);
    if (admin_) {
        const AdminCounts& admin = admin_->counts();
        e.family("admin_requests_total", "counter",
                 "Admin API requests the daemon answered, by status code (not libmicrohttpd's own "
                 "refusals, such as its 431).");
        for (const auto& [status, n] : admin.by_status) {
            e.sample("admin_requests_total", fmt::format(R"(code="{}")", status), n);
        }
        e.single("admin_auth_failures_total", "counter",
                 "Admin API requests refused for a missing or wrong bearer token (logged).",
                 admin.auth_failures);
        e.single("admin_refused_connections_total", "counter",
                 "Admin connections libmicrohttpd would not take (logged).",
                 admin.refused_handoffs);
    }
    e.family("limit", "gauge",
             "The limits in force now (SIGHUP may change them), by setting: max_connections and "
             "max_forwarded are counts, output_cap is bytes, *_ms are milliseconds.");
    for (const RuntimeLimits::Field& f : RuntimeLimits::kFields) {
        e.sample("limit", fmt::format(R"(limit="{}")", f.key), limit(shared_.limits.*f.value));
    }
    e.family("config_reloads_total", "counter", "SIGHUP reloads of the settings, by outcome.");
    e.sample("config_reloads_total", R"(outcome="ok")", reloads_.ok);
    e.sample("config_reloads_total", R"(outcome="failed")", reloads_.failed);
    e.family("build_info", "gauge", "The running build: version, git commit and build type.");
    e.sample("build_info",
             fmt::format(R"(version="{}",commit="{}",build_type="{}")", redpacket::build_info::kVersion,
                         redpacket::build_info::kCommit, redpacket::build_info::kBuildType),
             1);
    process_metrics(e, started_at_ms_);
    return e.take();
}

}  // namespace redpacketd
