// Server: builds the shared state, binds one SO_REUSEPORT listening socket per worker, starts
// the workers, and runs the main loop (admin HTTP API and signals). It is the AdminBackend:
// its views read atomics and the RateCounter, so they are safe on the main thread while the
// workers run.
#pragma once

#include <functional>

#include <uv.h>

#include <deque>
#include <memory>
#include <vector>

#include "admin_backend.hpp"
#include "admin_http.hpp"
#include "config.hpp"
#include "isolation.hpp"
#include "signal_watch.hpp"
#include "worker.hpp"

namespace redpacketd {

class Server final : public AdminBackend {
public:
    /// Validated config in; nothing is bound yet.
    explicit Server(Config config);
    ~Server() override;
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Binds the client port and the admin port and starts the workers. Throws
    /// std::runtime_error with a clear message on any start-up failure.
    void start();
    /// Runs the main loop until SIGINT/SIGTERM or `stop()`, then shuts everything down.
    /// Returns the process exit code.
    int run();
    /// Asks `run()` to shut down. Thread-safety: any thread.
    void stop() noexcept;
    /// Where SIGHUP reads the settings again (main: the same command line). Before start().
    using ReloadSource = std::function<std::expected<Config, std::string>()>;
    void set_reload_source(ReloadSource source) { reload_source_ = std::move(source); }

    [[nodiscard]] std::uint16_t port() const noexcept { return port_; }
    [[nodiscard]] std::uint16_t admin_port() const noexcept { return admin_port_; }
    [[nodiscard]] std::uint32_t worker_count() const noexcept {
        return static_cast<std::uint32_t>(workers_.size());
    }

    // AdminBackend.
    [[nodiscard]] nlohmann::json stats() const override;
    [[nodiscard]] std::string metrics() const override;
    [[nodiscard]] std::expected<nlohmann::json, std::pair<int, std::string>> packet_proof(
        std::uint64_t packet) override;
    [[nodiscard]] nlohmann::json campaigns() const override;
    [[nodiscard]] std::expected<void, std::string> readiness() const override;
    std::expected<nlohmann::json, std::string> start_shake(
        const ShakeCampaignConfig& campaign) override;
    std::expected<nlohmann::json, std::string> start_send(
        const SendCampaignConfig& campaign) override;

private:
    void bind_listeners();
    /// The ready line's log twin, and a warning for each unsafe setting (no journal, no token).
    void log_started() const;
    /// Plans the isolation settings (or throws) and pins this thread off the workers' CPUs.
    void isolate();
    template <class Settings>
    [[nodiscard]] std::expected<void, std::string> check_campaign(Settings Config::*slot,
                                                                  const Settings& c) const;
    /// Asks the workers to drain; the main loop (admin API included) keeps running until they
    /// are done, then finish_shutdown closes everything.
    void begin_shutdown();
    /// SIGHUP (server_reload.cpp).
    void reload();
    void finish_shutdown();
    /// begin_shutdown, then waits for the drain right here.
    void shutdown();
    [[nodiscard]] nlohmann::json loop_lag_json() const;
    /// The dashboard's last minute (server_history.cpp): a sample a second on the main loop.
    void start_history();
    void sample_history();
    [[nodiscard]] nlohmann::json history_json() const;
    /// Lifetime totals of every event (transport, then service), summed over workers.
    [[nodiscard]] std::vector<std::uint64_t> event_totals() const;

    Shared shared_;
    IsolationPlan isolation_;
    std::vector<std::unique_ptr<Worker>> workers_;
    uv_loop_t loop_{};
    SignalWatch signals_;  // SIGINT, SIGTERM, SIGHUP
    ReloadSource reload_source_;
    Config loaded_;  // the settings as last loaded (main thread only)
    struct Reloads {
        std::uint64_t ok{0};
        std::uint64_t failed{0};
    } reloads_;  // main thread only
    uv_async_t stop_async_{};
    uv_timer_t drain_timer_{};
    std::unique_ptr<AdminServer> admin_;
    std::uint16_t port_{0};
    std::uint16_t admin_port_{0};
    // GET /packets/<id>/proof's reads of a worker (admin thread only).
    struct AdminReads {
        std::uint64_t asked{0};
        std::uint64_t refused{0};    // mailbox full, store unavailable, worker gone
        std::uint64_t timed_out{0};  // over admin_read_timeout_ms
    } admin_reads_;
    // One sample a second, the last kHistorySeconds (main thread only): what the dashboard
    // charts, so that a page opened mid-run shows the last minute.
    static constexpr std::size_t kHistorySeconds = 60;
    struct Second {
        std::int64_t time_s{0};
        std::uint64_t connections{0};
        std::uint64_t logged_in{0};
        redpacket::LatencySummary latency;  // of the requests served in that second
        std::int64_t group_created{0};      // cumulative cents
        std::int64_t group_claimed{0};
        std::int64_t group_refunded{0};
    };
    std::deque<Second> history_;
    redpacket::LatencyHistogram history_latency_;  // the workers' histograms at the last sample
    uv_timer_t history_timer_{};
    bool started_{false};
    bool draining_{false};  // main thread only
    bool shut_down_{false};
    std::int64_t started_at_ms_{0};
};

}  // namespace redpacketd
