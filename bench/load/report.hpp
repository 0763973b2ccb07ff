// Measurement and reporting for redpacket-load: the coordinated-omission-free Recorder, the
// per-second counters and CSV row, and the per-phase JSON summary. Plain values; single owner
// (the load generator's loop thread), not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "redpacket/latency_histogram.hpp"

namespace redpacket::load {

/// Latency of each reply measured from its request's SCHEDULED send time: when the generator
/// (or the server) falls behind, the wait before the actual send is counted too, so a stall
/// shows up in the tail instead of being hidden (no coordinated omission).
class Recorder {
public:
    /// Records one reply; `sent_ns` only feeds the send-lag maximum. Times share one clock.
    void record(std::uint64_t scheduled_ns, std::uint64_t sent_ns, std::uint64_t replied_ns) noexcept;
    /// Latencies of the current phase.
    [[nodiscard]] const LatencyHistogram& phase() const noexcept { return phase_; }
    /// Latencies of the current second.
    [[nodiscard]] const LatencyHistogram& second() const noexcept { return second_; }
    /// The largest (actual − scheduled) send delay this phase, ns: how far the generator lagged.
    [[nodiscard]] std::uint64_t max_send_lag_ns() const noexcept { return max_send_lag_ns_; }
    void reset_second() noexcept { second_.reset(); }
    void reset_phase() noexcept {
        phase_.reset();
        second_.reset();
        max_send_lag_ns_ = 0;
    }

private:
    LatencyHistogram phase_;
    LatencyHistogram second_;
    std::uint64_t max_send_lag_ns_{0};
};

/// Counts of one window (a second or a phase).
struct Counters {
    std::uint64_t sent{0};        ///< shake requests written
    std::uint64_t responses{0};   ///< shake responses and errors matched to a request
    std::uint64_t got{0};         ///< result 14
    std::uint64_t none{0};        ///< result 15
    std::uint64_t overloaded{0};  ///< result 17
    std::uint64_t errors{0};      ///< other results, error frames, requests lost to a closed link
    std::uint64_t notices{0};     ///< packet notices received
    std::uint64_t grabs{0};       ///< grab responses received
    std::uint64_t shake_cents{0};
    std::uint64_t grab_cents{0};
    Counters& operator+=(const Counters& o) noexcept;
    friend bool operator==(const Counters&, const Counters&) = default;
};

/// One CSV row: a second of a phase (the last one of a phase may be shorter).
struct SecondRow {
    double elapsed_s{0};           ///< since the run started, at the end of the window
    std::uint32_t phase{0};        ///< 1-based
    std::string_view kind;         ///< "connect", "hold", "qps"
    std::uint64_t second{0};       ///< 0-based within the phase
    std::uint64_t window_ms{0};    ///< 1000 except for a phase's last, partial second
    std::uint64_t target{0};       ///< target requests per second (0 outside qps phases)
    std::uint64_t connections{0};  ///< logged-in connections at the end of the window
    Counters counts;
    LatencySummary latency;         ///< ns, of replies received in the window
    std::int64_t server_requests{-1};     ///< the daemon's shake requests in the window; -1 unknown
    std::int64_t server_connections{-1};  ///< the daemon's open connections; -1 unknown
    std::int64_t server_cpu_ms{-1};  ///< the daemon's CPU time in the window (--server-pid)
    std::int64_t server_rss_kb{-1};  ///< the daemon's RSS at the end of the window
    /// What the scheduler did in the window (schedstat, status): run-queue wait summed over
    /// threads and involuntary switches, of the daemon (--server-pid) and of this generator;
    /// -1 unknown. `preempted`: either wait reached --preempt-threshold-us.
    std::int64_t server_runq_us{-1};
    std::int64_t server_nvcsw{-1};
    std::int64_t load_runq_us{-1};
    std::int64_t load_nvcsw{-1};
    bool preempted{false};
};

/// The CSV header line (with '\n').
[[nodiscard]] std::string csv_header();
/// One CSV line (with '\n'); latencies in µs with one decimal.
[[nodiscard]] std::string csv_row(const SecondRow& row);

/// True if `count` is within ±`tolerance` (a fraction) of `target`; false for target 0.
[[nodiscard]] bool on_target(std::uint64_t count, std::uint64_t target,
                             double tolerance = 0.005) noexcept;

/// Totals of one phase, for the JSON summary.
struct PhaseReport {
    std::uint32_t index{0};  ///< 1-based
    std::string_view kind;
    std::uint64_t target_qps{0};
    std::uint64_t duration_ms{0};  ///< as run (shorter if interrupted)
    Counters counts;
    LatencySummary latency;  ///< ns
    std::uint64_t max_send_lag_ns{0};
    std::uint64_t full_seconds{0};       ///< whole seconds in the phase
    std::uint64_t seconds_on_target{0};  ///< whole seconds with responses within ±0.5% of target
    /// The daemon's resources over the phase (--server-pid); -1 unknown.
    std::int64_t server_cpu_ms{-1};
    std::int64_t server_rss_start_kb{-1};
    std::int64_t server_rss_end_kb{-1};
    std::int64_t load_cpu_ms{-1};  ///< the load generator's own CPU time over the phase
    /// Scheduler evidence over the phase (as in SecondRow), and the latency of the replies
    /// received in whole seconds that were not preempted.
    std::int64_t server_runq_us{-1};
    std::int64_t server_nvcsw{-1};
    std::int64_t load_runq_us{-1};
    std::int64_t load_nvcsw{-1};
    std::uint64_t preempted_seconds{0};
    std::uint64_t seconds_on_target_unpreempted{0};
    LatencySummary latency_unpreempted;  ///< ns
};

/// The JSON object of one phase (latencies in µs).
[[nodiscard]] nlohmann::json to_json(const PhaseReport& p);

}  // namespace redpacket::load
