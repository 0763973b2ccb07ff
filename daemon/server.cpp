#include "server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <pthread.h>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/ranges.h>

#include "log.hpp"
#include "redpacket/address.hpp"
#include "isolation.hpp"
#include "redpacket_build_info.hpp"
#include "service_manager.hpp"
#include "store_setup.hpp"

namespace redpacketd {
namespace {

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

[[noreturn]] void fail(const std::string& what) { throw std::runtime_error(what); }

// A non-blocking TCP socket bound to host:port with SO_REUSEADDR and SO_REUSEPORT, so every
// worker can bind its own socket to the same port and the kernel spreads connections.
int bind_reuseport(const std::string& host, std::uint16_t port) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    const auto ip = redpacket::parse_ipv4_host(host);
    if (!ip) {
        fail("host \"" + host + "\" is not an IPv4 address");
    }
    addr.sin_addr.s_addr = *ip;
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fail(std::string("socket: ") + std::strerror(errno));
    }
    const int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        const int e = errno;
        ::close(fd);
        fail(std::string("setsockopt(SO_REUSEPORT): ") + std::strerror(e));
    }
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        const int e = errno;
        ::close(fd);
        fail(fmt::format("bind {}:{}: {}", host, port, std::strerror(e)));
    }
    return fd;
}

std::uint16_t bound_port(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        fail(std::string("getsockname: ") + std::strerror(errno));
    }
    return ntohs(addr.sin_port);
}

}  // namespace

Server::Server(Config config) : loaded_{config} {
    shared_.config = std::move(config);
    Config& c = shared_.config;
    if (c.workers == 0) {
        c.workers = std::max(1U, std::thread::hardware_concurrency());
        c.workers = std::min(c.workers, c.sets);
    }
    set_log_settings(c.log_level, c.log_format);
    shared_.limits.store(c);
    shared_.registry = std::make_unique<redpacket::ConnectionRegistry>(
        redpacket::ShardingConfig{c.sets, c.workers, c.mailbox_capacity});
    shared_.mailboxes =
        std::make_unique<redpacket::WorkerMailboxes<WorkerMessage>>(c.workers, c.mailbox_capacity);
    shared_.rates = std::make_unique<redpacket::RateCounter>(all_event_names(), c.workers);
    shared_.campaigns = std::make_unique<CampaignBoard>(c.shake, c.send);
    for (std::uint32_t w = 0; w < c.workers; ++w) {
        workers_.push_back(std::make_unique<Worker>(shared_, w));
        shared_.workers.push_back(workers_.back().get());
    }
    if (const int rc = uv_loop_init(&loop_); rc != 0) {
        fail(std::string("uv_loop_init: ") + uv_strerror(rc));
    }
}

Server::~Server() {
    if (started_ && !shut_down_) {
        shutdown();
    }
    if (!started_) {
        uv_loop_close(&loop_);
    }
}

void Server::bind_listeners() {
    const Config& c = shared_.config;
    std::uint16_t port = c.port;
    for (auto& w : workers_) {
        const int fd = bind_reuseport(c.host, port);
        port = bound_port(fd);
        w->adopt_listener(fd);
    }
    port_ = port;
}

void Server::start() {
    const Config& c = shared_.config;
    // Before any thread starts (the real-time probe, libuv's pool, journal writers, workers):
    // they inherit a mask that blocks the stop and reload signals, which the main loop reads
    // from a signalfd (signal_watch.hpp says why not uv_signal_t).
    SignalWatch::block_in_this_thread();
    // Before any other thread exists: journal writers and snapshot threads inherit this
    // thread's CPUs, so pinning it keeps them off the workers' cores too.
    isolate();
    // Recover every SET from the journal before anything can connect.
    prepare_journal_dir(c);
    prepare_cluster(c);
    for (auto& w : workers_) {
        w->open_store();
    }
    bind_listeners();
    admin_ = std::make_unique<AdminServer>(&loop_, *this, c.admin_token);
    const auto admin_port = admin_->listen(c.admin_host, c.admin_port);
    if (!admin_port) {
        fail("admin listen: " + admin_port.error());
    }
    admin_port_ = *admin_port;
    uv_async_init(&loop_, &stop_async_, [](uv_async_t* a) {
        static_cast<Server*>(a->data)->begin_shutdown();
    });
    uv_timer_init(&loop_, &drain_timer_);
    stop_async_.data = drain_timer_.data = this;
    if (auto watched = signals_.start(&loop_,
                                      [this](int signum) {
                                          if (signum == SIGHUP) {
                                              reload();
                                              return;
                                          }
                                          log(LogLevel::info, "signal {}: shutting down", signum);
                                          begin_shutdown();
                                      });
        !watched) {
        fail(watched.error());
    }
    for (std::size_t i = 0; i < workers_.size(); ++i) {
        const auto& cores = isolation_.worker_cores;
        workers_[i]->start(cores.empty() ? std::vector<int>{}
                                         : std::vector<int>{cores[i % cores.size()]},
                           isolation_.realtime_priority);
    }
    started_ = true;
    started_at_ms_ = wall_ms();
    start_history();
    log_started();
}

void Server::log_started() const {
    const Config& c = shared_.config;
    log(LogLevel::info, "{}: listening on {}:{} ({} workers, {} SETs), admin on {}:{}, compat mode {}",
        redpacket::build_info::version_line("redpacketd"), c.host, port_, workers_.size(), c.sets,
        c.admin_host, admin_port_, c.compat_mode ? "on" : "off");
    if (c.store == "memory" && c.journal_dir.empty()) {
        log(LogLevel::warn, "no journal (journal_dir is empty): a crash or kill loses every "
                            "packet and claim in memory; set journal_dir to keep them");
    }
    if (c.admin_token.empty()) {
        log(LogLevel::warn, "no admin token: anyone who reaches {}:{} may read the stats and "
                            "start campaigns; set admin_token_file",
            c.admin_host, admin_port_);
    }
}

void Server::isolate() {
    const Config& c = shared_.config;
    // Pin this thread before any other thread exists — the real-time probe, a sanitizer's
    // helper thread, libuv's pool — so that they all start off the workers' CPUs.
    auto plan = plan_isolation(c.cpu_affinity, static_cast<int>(c.realtime_priority), c.workers);
    if (!plan) {
        fail(plan.error());
    }
    if (auto pinned = pin_this_thread(plan->other_cores); !pinned) {
        fail("cpu_affinity: " + pinned.error());
    }
    if (auto permitted = check_realtime_permitted(plan->realtime_priority); !permitted) {
        fail(permitted.error());
    }
    isolation_ = std::move(*plan);
    if (!isolation_.worker_cores.empty() || isolation_.realtime_priority > 0) {
        if (auto started = start_libuv_thread_pool(); !started) {
            fail(started.error());
        }
    }
    if (!isolation_.worker_cores.empty()) {
        log(LogLevel::info, "workers pinned to CPUs {} (worker i on the i-th), other threads on {}",
            fmt::join(isolation_.worker_cores, ","),
            isolation_.other_cores.empty() ? std::string("any CPU (the workers' cover them all)")
                                           : fmt::format("{}", fmt::join(isolation_.other_cores, ",")));
    }
    if (isolation_.realtime_priority > 0) {
        const RtThrottling throttling = rt_throttling();
        log(throttling.on ? LogLevel::info : LogLevel::warn,
            "workers run SCHED_FIFO at priority {}; {}", isolation_.realtime_priority,
            throttling.description);
    }
}

int Server::run() {
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (!shut_down_) {
        shutdown();
        uv_run(&loop_, UV_RUN_DEFAULT);
    }
    if (const int rc = uv_loop_close(&loop_); rc != 0) {
        log(LogLevel::warn, "main loop: uv_loop_close: {}", uv_err_name(rc));
    }
    return 0;
}

void Server::stop() noexcept { uv_async_send(&stop_async_); }

void Server::begin_shutdown() {
    if (draining_) {
        return;
    }
    draining_ = true;
    notify_stopping("draining: answering what was read, then closing");
    shared_.draining_workers.store(static_cast<std::uint32_t>(workers_.size()));
    for (auto& w : workers_) {
        w->request_stop();
    }
    // The admin API keeps answering while the workers drain (/readyz says so); this timer
    // finishes once every worker's loop has returned.
    constexpr std::uint64_t kDrainPollMs = 5;
    uv_timer_start(
        &drain_timer_,
        [](uv_timer_t* t) {
            auto* self = static_cast<Server*>(t->data);
            if (std::ranges::all_of(self->workers_, [](const auto& w) { return w->finished(); })) {
                self->finish_shutdown();
            }
        },
        kDrainPollMs, kDrainPollMs);
}

void Server::shutdown() {
    begin_shutdown();
    finish_shutdown();  // joins: waits for the drain here
}

void Server::finish_shutdown() {
    if (shut_down_) {
        return;
    }
    shut_down_ = true;
    uv_timer_stop(&drain_timer_);
    for (auto& w : workers_) {
        w->join();
    }
    for (auto& w : workers_) {
        w->close_loop();
    }
    if (admin_) {
        admin_->close();
    }
    signals_.close();
    uv_close(reinterpret_cast<uv_handle_t*>(&stop_async_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&drain_timer_), nullptr);
    if (history_timer_.data != nullptr) {
        uv_close(reinterpret_cast<uv_handle_t*>(&history_timer_), nullptr);
    }
    const std::vector<std::uint64_t> totals = event_totals();
    const auto service = [&](redpacket::ServiceEvent e) {
        return totals[kServiceEventBase + static_cast<std::size_t>(e)];
    };
    using E = redpacket::ServiceEvent;
    std::uint64_t requests = 0;  // every kind requests_total counts, logins to heartbeats
    for (const E kind : {E::logins, E::shake_requests, E::grabs, E::claims, E::creates, E::queries,
                         E::proofs, E::heartbeats}) {
        requests += service(kind);
    }
    log(LogLevel::info, "stopped: {} connections served, {} requests",
        totals[static_cast<std::size_t>(Event::accepted)], requests);
}

std::vector<std::uint64_t> Server::event_totals() const {
    std::vector<std::uint64_t> totals(kEventCount + redpacket::kServiceEventCount, 0);
    for (const auto& w : workers_) {
        for (std::size_t e = 0; e < kEventCount; ++e) {
            totals[e] += w->transport_events().total(e);
        }
        for (std::size_t e = 0; e < redpacket::kServiceEventCount; ++e) {
            totals[kServiceEventBase + e] += w->service_events().total(e);
        }
    }
    return totals;
}

// --- campaigns ---------------------------------------------------------------------------

nlohmann::json Server::campaigns() const {
    std::uint64_t shake_done = 0;
    std::uint64_t send_done = 0;
    for (const auto& w : workers_) {
        shake_done += static_cast<std::uint64_t>(w->published().get(Gauge::shake_campaign_done));
        send_done += static_cast<std::uint64_t>(w->published().get(Gauge::send_campaign_done));
    }
    const ShakeCampaignConfig shake = shared_.campaigns->shake();
    const SendCampaignConfig send = shared_.campaigns->send();
    return {{"shake",
             {{"enabled", shake.enabled},
              {"rate", shake.rate},
              {"total", shake.total},
              {"min_amount", shake.min_amount},
              {"max_amount", shake.max_amount},
              {"ttl_seconds", shake.ttl_seconds},
              {"offered", shake_done}}},
            {"send",
             {{"enabled", send.enabled},
              {"rate", send.rate},
              {"total", send.total},
              {"min_total", send.min_total},
              {"max_total", send.max_total},
              {"shares", send.shares},
              {"policy", std::string(redpacket::to_string(send.policy))},
              {"ttl_seconds", send.ttl_seconds},
              {"sent", send_done}}}};
}

// A campaign posted through the admin API obeys the same rules as one in the config file:
// validate() a copy of the running config with the campaign put in, plus a rate window (the
// file allows rate 0 for a disabled campaign; a posted one must run).
template <class Settings>
std::expected<void, std::string> Server::check_campaign(Settings Config::*slot,
                                                        const Settings& c) const {
    if (c.rate < 1 || c.rate > 10'000'000) {
        return std::unexpected("rate must be in [1, 10000000]");
    }
    Config candidate = shared_.config;
    candidate.*slot = c;
    return validate(candidate);
}

std::expected<nlohmann::json, std::string> Server::start_shake(const ShakeCampaignConfig& c) {
    if (auto ok = check_campaign(&Config::shake, c); !ok) {
        return std::unexpected(ok.error());
    }
    shared_.campaigns->post(c);  // workers pick it up on their next tick
    log(LogLevel::info, "shake campaign: {} packets/s, total {}, amounts {}..{}", c.rate, c.total,
        c.min_amount, c.max_amount);
    return campaigns()["shake"];
}

std::expected<nlohmann::json, std::string> Server::start_send(const SendCampaignConfig& c) {
    if (auto ok = check_campaign(&Config::send, c); !ok) {
        return std::unexpected(ok.error());
    }
    shared_.campaigns->post(c);
    log(LogLevel::info, "send campaign: {} packets/s, total {}, totals {}..{} in {} shares", c.rate,
        c.total, c.min_total, c.max_total, c.shares);
    return campaigns()["send"];
}

}  // namespace redpacketd
