// LoadGenerator: runs a Plan against one redpacketd over loopback on ONE libuv loop (single
// thread). It opens the plan's connections at the connect rate over source addresses
// 127.0.0.2.., logs each in, paces shake (or claim) requests (seed / smooth / closed), grabs every
// packet it is told about, and measures each reply from its request's scheduled send time.
//
// Lifetime: construct, run() once, then summary(). Every handle lives on the private loop and
// is closed before run() returns. Not thread-safe: everything happens on the loop thread; the
// only outside event is SIGINT, received through a uv_signal_t on the loop.
#pragma once

#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_scrape.hpp"
#include "options.hpp"
#include "proc_sample.hpp"
#include "redpacket/client_session.hpp"
#include "redpacket/protocol.hpp"
#include "report.hpp"

namespace redpacket::load {

class LoadGenerator {
public:
    explicit LoadGenerator(Options options);
    ~LoadGenerator();
    LoadGenerator(const LoadGenerator&) = delete;
    LoadGenerator& operator=(const LoadGenerator&) = delete;

    /// Runs the plan to its end, SIGINT or --max-seconds. Returns the exit code: 0, or 1 if
    /// not every connection logged in (or the CSV could not be written).
    [[nodiscard]] int run();
    /// The JSON summary: options, connection counts and one object per phase.
    [[nodiscard]] nlohmann::json summary() const;

private:
    /// What a connection remembers per request (ClientSession matches the replies).
    struct Pending {
        std::uint64_t scheduled_ns{0};
        std::uint64_t sent_ns{0};
        std::uint32_t phase{0};  ///< index into phases_
    };
    struct Conn {
        LoadGenerator* gen{nullptr};
        uv_tcp_t tcp{};
        uv_connect_t connect{};
        std::uint32_t index{0};
        std::uint32_t user{0};
        /// The library's client protocol: frames out (queued this tick), replies matched.
        ClientSession<Pending> session;
        std::uint64_t packet{0};      ///< --request claim: the packet this connection created
        std::vector<std::uint64_t> made;  ///< --request cycle: created, not yet claimed
        std::uint32_t next_claim{1};  ///< --request claim: claims connection index + this next
        std::uint64_t requests_sent{0};  ///< claims and (cycle) creates: their request ids
        bool open{false};             ///< tcp handle initialised and not yet closed
        bool logged_in{false};
        bool dead{false};             ///< failed or closed; never reused
        bool dirty{false};            ///< in dirty_
    };
    /// Per-phase measurements; replies count toward the phase that sent the request.
    struct PhaseState {
        Counters counts;
        Recorder recorder;
        std::uint64_t started_ns{0};
        std::uint64_t ended_ns{0};
        std::uint64_t full_seconds{0};
        std::uint64_t seconds_on_target{0};
        std::optional<ProcSample> server_start;  ///< --server-pid samples at the phase edges
        std::optional<ProcSample> server_end;
        std::optional<ProcSample> self_start;  ///< the generator's own CPU at the phase edges
        std::optional<ProcSample> self_end;
        std::uint64_t preempted_seconds{0};
        std::uint64_t seconds_on_target_unpreempted{0};
        LatencyHistogram unpreempted;  ///< replies of whole seconds nobody was preempted in
    };

    // load_connections.cpp: sockets, login, frames, writes.
    void open_connection(std::uint32_t index);
    static void on_connect(uv_connect_t* req, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    void on_reply(Conn& c, Pending&& p, RequestKind kind, const protocol::Message& reply,
                  std::uint64_t now);
    void on_other(Conn& c, const protocol::Message& m, std::uint64_t now);
    void logged_in(Conn& c, std::uint32_t result);
    /// How a paced request ended: a packet won (shake hit, share claimed), nothing (no shake
    /// packet; already claimed, sold out), overloaded, or an error.
    enum class Outcome : std::uint8_t { got, none, overloaded, error };
    void on_answer(Conn& c, const Pending& p, Outcome outcome, std::uint32_t amount,
                   std::uint64_t now);
    /// --request cycle: a paced create answered (its packet is the next request's claim).
    void on_cycle_create(Conn& c, const Pending& p, const protocol::Message& reply,
                         std::uint64_t now);
    void on_create_reply(Conn& c, const protocol::Message& reply);
    void send_login(Conn& c);
    void queue(Conn& c, const protocol::Message& m);
    void queue(Conn& c, const protocol::Message& m, Pending tag);
    /// Sends the workload's next request (a shake; a claim of the next connection's packet; for
    /// cycle, a create or the claim of the packet it made).
    void send_request(Conn& c, std::uint64_t scheduled_ns, std::uint64_t now);
    void flush_dirty();
    void flush(Conn& c);
    void fail_connection(Conn& c, const char* why);

    // load_generator.cpp: phases, pacing, windows, reporting.
    static void on_tick(uv_timer_t* timer);
    static void on_signal(uv_signal_t* handle, int signum);
    void tick(std::uint64_t now);
    [[nodiscard]] std::uint64_t phase_end_ns() const noexcept;
    void step_connect(std::uint64_t now);
    void generate_until(std::uint64_t until);
    void start_phase(std::uint32_t index, std::uint64_t now);
    void end_phase(std::uint64_t now);
    void close_window(std::uint64_t end);
    /// The window's resource and scheduler columns from the samples before and after it.
    void fill_samples(SecondRow& row, const std::optional<ProcSample>& server_before,
                      const std::optional<ProcSample>& self_before) const;
    void write_row(const SecondRow& row);
    void scrape(std::uint64_t window);
    /// Samples --server-pid (nullopt without one or if it is gone) into last_server_, and
    /// this process into last_self_.
    void sample_server();
    void stop(std::uint64_t now, const char* why);
    void close_all();

    Options options_;
    uv_loop_t loop_{};
    uv_timer_t tick_{};
    uv_signal_t sigint_{};
    uv_idle_t spin_{};  ///< --spin: tick on every loop iteration
    std::unique_ptr<StatsScraper> scraper_;
    std::vector<std::unique_ptr<Conn>> conns_;
    std::vector<Conn*> dirty_;
    std::vector<PhaseState> phases_;
    std::unique_ptr<std::byte[]> read_buffer_;  ///< one for the loop

    std::uint64_t run_start_ns_{0};
    std::uint32_t phase_{0};
    std::uint64_t phase_start_ns_{0};
    std::uint64_t window_start_ns_{0};
    std::uint64_t window_index_{0};
    Counters window_;
    LatencyHistogram window_latency_;
    std::uint64_t cursor_second_{0};  ///< pacing cursor: second and request index within it
    std::uint64_t cursor_i_{0};

    std::uint32_t opened_{0};
    std::uint32_t logged_in_{0};
    std::uint32_t login_failures_{0};
    std::uint32_t cycle_create_errors_{0};  ///< --request cycle: the first 5 are printed
    std::uint32_t closed_by_server_{0};
    std::uint64_t unanswered_{0};
    std::uint64_t unsendable_{0};
    bool draining_{false};
    std::uint64_t drain_deadline_ns_{0};
    bool stopped_{false};
    bool loop_closed_{false};
    std::uint32_t connected_{0};  ///< logged in when the connect phase ended
    std::string stop_reason_{"plan complete"};
    int exit_code_{0};

    std::FILE* csv_{nullptr};
    std::unique_ptr<SecondRow> held_row_;  ///< waits for its /stats sample
    std::uint64_t last_server_requests_{0};
    bool have_server_sample_{false};
    std::optional<ProcSample> last_server_;  ///< the daemon at the last window edge
    std::optional<ProcSample> last_self_;    ///< this process at the last window edge
};

}  // namespace redpacket::load
