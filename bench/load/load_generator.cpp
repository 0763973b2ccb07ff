// LoadGenerator, plan side: the 1 ms tick that walks the phases, paces requests, closes
// one-second windows (CSV row, live line, /stats scrape) and builds the summary.
#include "load_generator.hpp"

#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <limits>
#include <stdexcept>

#include "pacing.hpp"

namespace redpacket::load {
namespace {

constexpr std::uint64_t kSecondNs = 1'000'000'000ULL;
constexpr std::uint64_t kMsNs = 1'000'000ULL;
constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t kDrainNs = 2 * kSecondNs;         // wait for late replies at the end
constexpr std::uint64_t kConnectGraceNs = 10 * kSecondNs;  // beyond count / rate

void check_uv(int rc, const char* what) {
    if (rc != 0) {
        throw std::runtime_error(fmt::format("{}: {}", what, uv_strerror(rc)));
    }
}

}  // namespace

LoadGenerator::LoadGenerator(Options options) : options_{std::move(options)} {
    check_uv(uv_loop_init(&loop_), "uv_loop_init");
    check_uv(uv_timer_init(&loop_, &tick_), "uv_timer_init");
    tick_.data = this;
    check_uv(uv_signal_init(&loop_, &sigint_), "uv_signal_init");
    sigint_.data = this;
    check_uv(uv_idle_init(&loop_, &spin_), "uv_idle_init");
    spin_.data = this;
    if (options_.admin_port != 0) {
        scraper_ = std::make_unique<StatsScraper>(loop_, options_.admin_port, options_.admin_token);
    }
    const std::uint32_t n = options_.plan.connections();
    conns_.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        conns_.push_back(std::make_unique<Conn>());
    }
    phases_.resize(options_.plan.phases.size());
    if (!options_.csv_path.empty()) {
        csv_ = std::fopen(options_.csv_path.c_str(), "w");
        if (csv_ == nullptr) {
            throw std::runtime_error(fmt::format("cannot write {}", options_.csv_path));
        }
        std::fputs(csv_header().c_str(), csv_);
    }
}

LoadGenerator::~LoadGenerator() {
    if (csv_ != nullptr) {
        std::fclose(csv_);
    }
    if (!loop_closed_ && uv_loop_close(&loop_) != 0) {
        // Handles still open (run() was never called): close them and let the callbacks run.
        close_all();
        uv_run(&loop_, UV_RUN_DEFAULT);
        (void)uv_loop_close(&loop_);
    }
}

int LoadGenerator::run() {
    run_start_ns_ = uv_hrtime();
    sample_server();
    start_phase(0, run_start_ns_);
    check_uv(uv_timer_start(&tick_, &LoadGenerator::on_tick, 1, 1), "uv_timer_start");
    if (options_.spin) {
        // An active idle handle makes every loop iteration poll without blocking, and each
        // iteration runs the tick: requests leave within microseconds of their scheduled time
        // instead of up to one timer millisecond late (at the cost of a busy core).
        check_uv(uv_idle_start(&spin_, [](uv_idle_t* h) {
                     static_cast<LoadGenerator*>(h->data)->tick(uv_hrtime());
                 }),
                 "uv_idle_start");
    }
    check_uv(uv_signal_start(&sigint_, &LoadGenerator::on_signal, SIGINT), "uv_signal_start");
    scrape(0);  // the baseline for the first window's server-side count
    uv_run(&loop_, UV_RUN_DEFAULT);
    if (const int rc = uv_loop_close(&loop_); rc != 0) {
        fmt::print(stderr, "uv_loop_close: {}\n", uv_err_name(rc));
    } else {
        loop_closed_ = true;
    }
    if (csv_ != nullptr && std::fflush(csv_) != 0) {
        exit_code_ = 1;
    }
    return exit_code_;
}

void LoadGenerator::on_tick(uv_timer_t* timer) {
    static_cast<LoadGenerator*>(timer->data)->tick(uv_hrtime());
}

void LoadGenerator::on_signal(uv_signal_t* handle, int /*signum*/) {
    auto& g = *static_cast<LoadGenerator*>(handle->data);
    g.stop(uv_hrtime(), "interrupted (SIGINT)");
}

std::uint64_t LoadGenerator::phase_end_ns() const noexcept {
    const Phase& p = options_.plan.phases[phase_];
    return p.kind == PhaseKind::connect ? kNever : phase_start_ns_ + p.duration_ms * kMsNs;
}

void LoadGenerator::tick(std::uint64_t now) {
    if (stopped_) {
        return;
    }
    if (now - run_start_ns_ >= options_.max_seconds * kSecondNs) {
        stop(now, "--max-seconds reached");
        return;
    }
    if (draining_) {
        const bool idle = std::all_of(conns_.begin(), conns_.end(),
                                      [](const auto& c) { return c->session.pending() == 0; });
        if (idle || now >= drain_deadline_ns_) {
            stop(now, "plan complete");
        }
        return;
    }
    for (;;) {
        if (options_.plan.phases[phase_].kind == PhaseKind::connect) {
            step_connect(now);
            if (stopped_) {
                return;
            }
        }
        const std::uint64_t boundary = std::min(window_start_ns_ + kSecondNs, phase_end_ns());
        if (now < boundary) {
            generate_until(now);
            break;
        }
        generate_until(boundary - 1);
        close_window(boundary);
        if (boundary == phase_end_ns()) {
            end_phase(boundary);
            if (draining_ || stopped_) {
                break;
            }
        }
    }
    flush_dirty();
}

void LoadGenerator::step_connect(std::uint64_t now) {
    const Phase& p = options_.plan.phases[phase_];
    const std::uint64_t elapsed = now - phase_start_ns_;
    const std::uint64_t due = std::min<std::uint64_t>(
        p.count, elapsed / kMsNs * p.rate / 1000 + 1);
    while (opened_ < due) {
        open_connection(opened_++);
    }
    if (logged_in_ + login_failures_ >= p.count) {
        close_window(now);
        end_phase(now);
        return;
    }
    if (elapsed > std::uint64_t{p.count} * kSecondNs / p.rate + kConnectGraceNs) {
        fmt::print(stderr, "connect phase timed out: {} of {} logged in\n", logged_in_, p.count);
        login_failures_ = p.count - logged_in_;
        close_window(now);
        end_phase(now);
    }
}

void LoadGenerator::generate_until(std::uint64_t until) {
    const Phase& p = options_.plan.phases[phase_];
    if (p.kind != PhaseKind::qps || options_.mode == Mode::closed) {
        return;
    }
    const std::uint64_t n = conns_.size();
    const std::uint64_t end = phase_end_ns();
    for (;;) {
        const std::uint64_t second_start = phase_start_ns_ + cursor_second_ * kSecondNs;
        if (second_start >= end || second_start > until) {
            return;
        }
        const std::uint64_t count = requests_in_second(options_.mode, n, p.qps, cursor_second_);
        while (cursor_i_ < count) {
            const Slot s = slot_of(options_.mode, n, p.qps, cursor_second_, cursor_i_);
            const std::uint64_t at = second_start + s.offset_ns;
            if (at > until || at >= end) {
                return;
            }
            ++cursor_i_;
            Conn& c = *conns_[s.user];
            if (c.logged_in && !c.dead) {
                send_request(c, at, uv_hrtime());
            } else {
                ++unsendable_;  // its connection is gone: counted as an error of the phase
                ++window_.errors;
                ++phases_[phase_].counts.errors;
            }
        }
        ++cursor_second_;
        cursor_i_ = 0;
    }
}

void LoadGenerator::start_phase(std::uint32_t index, std::uint64_t now) {
    phase_ = index;
    phase_start_ns_ = now;
    window_start_ns_ = now;
    window_index_ = 0;
    cursor_second_ = 0;
    cursor_i_ = 0;
    PhaseState& ps = phases_[index];
    ps.started_ns = now;
    ps.server_start = last_server_;  // sampled at the window edge that ended the last phase
    ps.self_start = last_self_;
    const Phase& p = options_.plan.phases[index];
    if (p.kind == PhaseKind::qps && options_.mode == Mode::seed &&
        p.qps > conns_.size() && !options_.quiet) {
        fmt::print(stderr, "note: seed mode with {} users < qps {}: each user sends once a second "
                   "(≈ {} req/s), as the original scheme does\n", conns_.size(), p.qps,
                   conns_.size());
    }
    if (p.kind == PhaseKind::qps && options_.mode == Mode::closed) {
        for (auto& c : conns_) {
            for (std::uint32_t k = 0; k < options_.inflight && c->logged_in && !c->dead; ++k) {
                send_request(*c, now, now);
            }
        }
    }
}

void LoadGenerator::end_phase(std::uint64_t now) {
    phases_[phase_].ended_ns = now;
    phases_[phase_].server_end = last_server_;
    phases_[phase_].self_end = last_self_;
    const Phase& p = options_.plan.phases[phase_];
    if (p.kind == PhaseKind::connect) {
        connected_ = logged_in_;
    }
    if (p.kind == PhaseKind::connect && logged_in_ < p.count) {
        fmt::print(stderr, "only {} of {} connections logged in ({} failed)\n", logged_in_,
                   p.count, login_failures_);
        exit_code_ = 1;
        stop(now, "connect failed");
        return;
    }
    if (phase_ + 1 >= options_.plan.phases.size()) {
        draining_ = true;
        drain_deadline_ns_ = now + kDrainNs;
        return;
    }
    start_phase(phase_ + 1, now);
}

void LoadGenerator::close_window(std::uint64_t end) {
    const Phase& p = options_.plan.phases[phase_];
    PhaseState& ps = phases_[phase_];
    SecondRow row;
    row.elapsed_s = static_cast<double>(end - run_start_ns_) / 1e9;
    row.phase = phase_ + 1;
    row.kind = to_string(p.kind);
    row.second = window_index_;
    row.window_ms = (end - window_start_ns_) / kMsNs;
    row.target = p.kind == PhaseKind::qps && options_.mode != Mode::closed ? p.qps : 0;
    row.connections = logged_in_;
    row.counts = window_;
    row.latency = window_latency_.summary();
    const std::optional<ProcSample> server_before = last_server_;
    const std::optional<ProcSample> self_before = last_self_;
    sample_server();
    fill_samples(row, server_before, self_before);
    if (end - window_start_ns_ == kSecondNs) {
        ++ps.full_seconds;
        const bool hit = on_target(window_.responses, row.target);
        ps.seconds_on_target += hit ? 1 : 0;
        if (row.preempted) {
            ++ps.preempted_seconds;
        } else {
            ps.seconds_on_target_unpreempted += hit ? 1 : 0;
            ps.unpreempted.merge(window_latency_);
        }
    }
    if (!options_.quiet) {
        fmt::print(stderr,
                   "[{:7.2f}s] {} {}/{} s{}: sent {} resp {} got {} none {} ovl {} err {} "
                   "notices {} grabs {} p99 {:.0f}us conns {}\n",
                   row.elapsed_s, row.kind, row.phase, options_.plan.phases.size(), row.second,
                   window_.sent, window_.responses, window_.got, window_.none, window_.overloaded,
                   window_.errors, window_.notices, window_.grabs,
                   static_cast<double>(row.latency.p99) / 1000.0, row.connections);
    }
    if (scraper_) {
        if (held_row_) {
            write_row(*held_row_);  // its sample never came
        }
        held_row_ = std::make_unique<SecondRow>(row);
        scrape(window_index_ + 1);
    } else {
        write_row(row);
    }
    window_ = Counters{};
    window_latency_.reset();
    window_start_ns_ = end;
    ++window_index_;
}

void LoadGenerator::write_row(const SecondRow& row) {
    if (csv_ != nullptr) {
        std::fputs(csv_row(row).c_str(), csv_);
    }
}

void LoadGenerator::scrape(std::uint64_t /*window*/) {
    if (!scraper_) {
        return;
    }
    const bool started = scraper_->fetch([this](std::optional<StatsSample> s) {
        if (s) {
            if (held_row_) {
                if (have_server_sample_ && s->shake_requests >= last_server_requests_) {
                    held_row_->server_requests =
                        static_cast<std::int64_t>(s->shake_requests - last_server_requests_);
                }
                held_row_->server_connections = static_cast<std::int64_t>(s->connections);
            }
            last_server_requests_ = s->shake_requests;
            have_server_sample_ = true;
        } else {
            have_server_sample_ = false;  // the next delta would span two windows
        }
        if (held_row_) {
            write_row(*held_row_);
            held_row_.reset();
        }
    });
    if (!started) {
        have_server_sample_ = false;
    }
}

namespace {

std::int64_t grown(std::uint64_t before, std::uint64_t after) {
    return static_cast<std::int64_t>(after > before ? after - before : 0);
}

}  // namespace

void LoadGenerator::fill_samples(SecondRow& row, const std::optional<ProcSample>& server_before,
                                 const std::optional<ProcSample>& self_before) const {
    if (server_before && last_server_) {
        row.server_cpu_ms = grown(server_before->cpu_ms, last_server_->cpu_ms);
        row.server_rss_kb = static_cast<std::int64_t>(last_server_->rss_kb);
        row.server_runq_us = grown(server_before->runq_wait_us, last_server_->runq_wait_us);
        row.server_nvcsw = grown(server_before->nvcsw, last_server_->nvcsw);
    }
    if (self_before && last_self_) {
        row.load_runq_us = grown(self_before->runq_wait_us, last_self_->runq_wait_us);
        row.load_nvcsw = grown(self_before->nvcsw, last_self_->nvcsw);
    }
    const auto threshold = static_cast<std::int64_t>(options_.preempt_threshold_us);
    row.preempted = row.server_runq_us >= threshold || row.load_runq_us >= threshold;
}

void LoadGenerator::sample_server() {
    if (options_.server_pid > 0) {
        last_server_ = sample_process(static_cast<pid_t>(options_.server_pid));
    }
    last_self_ = sample_process(getpid());
}

void LoadGenerator::stop(std::uint64_t now, const char* why) {
    if (stopped_) {
        return;
    }
    if (!draining_ && phases_[phase_].ended_ns == 0) {
        if (now > window_start_ns_) {
            close_window(now);
        }
        phases_[phase_].ended_ns = now;
        phases_[phase_].server_end = last_server_;
        phases_[phase_].self_end = last_self_;
    }
    stopped_ = true;
    stop_reason_ = why;
    if (held_row_ && !scraper_->busy()) {
        write_row(*held_row_);  // otherwise the running scrape writes it (the loop waits for it)
        held_row_.reset();
    }
    if (!options_.quiet) {
        fmt::print(stderr, "stopping: {}\n", why);
    }
    close_all();
}

void LoadGenerator::close_all() {
    stopped_ = true;
    for (auto& c : conns_) {
        if (c->open) {
            fail_connection(*c, "stopping");
            c->open = false;
            if (!uv_is_closing(reinterpret_cast<uv_handle_t*>(&c->tcp))) {
                uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), nullptr);
            }
        }
    }
    for (auto* h : {reinterpret_cast<uv_handle_t*>(&tick_), reinterpret_cast<uv_handle_t*>(&sigint_),
                    reinterpret_cast<uv_handle_t*>(&spin_)}) {
        if (!uv_is_closing(h)) {
            uv_close(h, nullptr);
        }
    }
}

nlohmann::json LoadGenerator::summary() const {
    nlohmann::json phases = nlohmann::json::array();
    for (std::uint32_t i = 0; i < phases_.size(); ++i) {
        const Phase& p = options_.plan.phases[i];
        const PhaseState& ps = phases_[i];
        PhaseReport r;
        r.index = i + 1;
        r.kind = to_string(p.kind);
        r.target_qps = p.kind == PhaseKind::qps && options_.mode != Mode::closed ? p.qps : 0;
        r.duration_ms = ps.ended_ns > ps.started_ns ? (ps.ended_ns - ps.started_ns) / kMsNs : 0;
        r.counts = ps.counts;
        r.latency = ps.recorder.phase().summary();
        r.max_send_lag_ns = ps.recorder.max_send_lag_ns();
        r.full_seconds = ps.full_seconds;
        r.seconds_on_target = ps.seconds_on_target;
        if (ps.server_start && ps.server_end) {
            r.server_cpu_ms =
                static_cast<std::int64_t>(ps.server_end->cpu_ms - ps.server_start->cpu_ms);
            r.server_rss_start_kb = static_cast<std::int64_t>(ps.server_start->rss_kb);
            r.server_rss_end_kb = static_cast<std::int64_t>(ps.server_end->rss_kb);
            r.server_runq_us = grown(ps.server_start->runq_wait_us, ps.server_end->runq_wait_us);
            r.server_nvcsw = grown(ps.server_start->nvcsw, ps.server_end->nvcsw);
        }
        if (ps.self_start && ps.self_end) {
            r.load_cpu_ms = static_cast<std::int64_t>(ps.self_end->cpu_ms - ps.self_start->cpu_ms);
            r.load_runq_us = grown(ps.self_start->runq_wait_us, ps.self_end->runq_wait_us);
            r.load_nvcsw = grown(ps.self_start->nvcsw, ps.self_end->nvcsw);
        }
        r.preempted_seconds = ps.preempted_seconds;
        r.seconds_on_target_unpreempted = ps.seconds_on_target_unpreempted;
        r.latency_unpreempted = ps.unpreempted.summary();
        phases.push_back(to_json(r));
    }
    nlohmann::json j;
    j["mode"] = std::string(to_string(options_.mode));
    j["target"] = fmt::format("{}:{}", options_.target, options_.port);
    j["sources"] = options_.sources;
    j["inflight"] = options_.inflight;
    j["echo"] = options_.echo;
    j["spin"] = options_.spin;
    j["connections"] = conns_.size();
    j["logged_in"] = connected_;
    j["login_failures"] = login_failures_;
    j["closed_by_server"] = closed_by_server_;
    j["unanswered_at_stop"] = unanswered_;
    j["unsendable"] = unsendable_;
    j["stop_reason"] = stop_reason_;
    j["exit_code"] = exit_code_;
    j["phases"] = std::move(phases);
    return j;
}

}  // namespace redpacket::load
