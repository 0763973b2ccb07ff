// Worker: the loop — set-up, the 10 ms tick (campaigns, expiry, snapshots, statistics),
// mailbox wake-ups, and shutdown. SIGTERM/SIGINT first drains — no new connections or requests,
// but what was already read is finished: replies held for the journal, requests forwarded to
// other workers (and theirs forwarded here), replies queued to slow readers — then closes
// every connection once all workers are done, or at shutdown_grace_ms.
#include "worker.hpp"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <stdexcept>

#include "isolation.hpp"
#include "log.hpp"
#include "store_setup.hpp"

namespace redpacketd {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr std::size_t kDrainBatch = 1024;
constexpr std::uint64_t kTickMs = 10;
constexpr std::int64_t kPublishEveryMs = 100;

void check_uv(int rc, const char* what) {
    if (rc != 0) {
        throw std::runtime_error(fmt::format("{}: {}", what, uv_strerror(rc)));
    }
}

void count_down(std::atomic<std::uint32_t>& n) noexcept {
    std::uint32_t v = n.load();
    while (v > 0 && !n.compare_exchange_weak(v, v - 1)) {
    }
}

}  // namespace

Worker::Worker(Shared& shared, std::uint32_t index)
    : shared_{shared},
      config_{shared.config},
      index_{index},
      read_buffer_{std::make_unique<std::uint8_t[]>(kReadBufferSize)},
      transport_{kEventCount, &shared.rates->writer(index), 0},
      service_events_{redpacket::kServiceEventCount, &shared.rates->writer(index),
                      static_cast<redpacket::EventId>(kServiceEventBase)},
      snapshots_{&loop_, index, std::chrono::seconds{shared.config.snapshot_interval_s}},
      peers_{*shared.mailboxes, [this](Event e) { count(e); }},
      set_sizes_{std::make_unique<std::atomic<std::uint64_t>[]>(shared.config.sets)} {
    check_uv(uv_loop_init(&loop_), "uv_loop_init");
    loop_.data = this;
    check_uv(uv_async_init(&loop_, &async_, &Worker::on_async), "uv_async_init");
    async_.data = this;
    check_uv(uv_timer_init(&loop_, &tick_), "uv_timer_init");
    tick_.data = this;
    check_uv(uv_timer_init(&loop_, &sweep_), "uv_timer_init");
    sweep_.data = this;
    check_uv(uv_check_init(&loop_, &flush_check_), "uv_check_init");
    flush_check_.data = this;
    check_uv(uv_check_start(&flush_check_,
                            [](uv_check_t* h) {
                                auto* w = static_cast<Worker*>(h->data);
                                w->flush_unsealed();
                                w->lag_.on_check(uv_hrtime());
                            }),
             "uv_check_start");
    check_uv(uv_prepare_init(&loop_, &wait_prepare_), "uv_prepare_init");
    wait_prepare_.data = this;
    check_uv(uv_prepare_start(&wait_prepare_,
                              [](uv_prepare_t* h) {
                                  static_cast<Worker*>(h->data)->lag_.before_wait(uv_hrtime());
                              }),
             "uv_prepare_start");
    for (redpacket::ShardId s = 0; s < config_.sets; ++s) {
        set_sizes_[s].store(0, std::memory_order_relaxed);
    }
    shared.mailboxes->set_wake(index, this, &Worker::wake);
    refresh_clock();
    last_tick_ms_ = now_ms_;
}

Worker::~Worker() {
    if (!thread_.joinable() && !loop_closed_) {
        close_unstarted();
    }
    slots_.for_each([](Connection* c) { delete c; });
}

// The daemon failed to start before this worker's thread ran (a store that refused, a port in
// use): close what the constructor, open_store and adopt_listener opened, so that the loop
// closes and nothing it allocated is left behind.
void Worker::close_unstarted() noexcept {
    if (listening_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
        listening_ = false;
    }
    stop_on_loop();
    uv_run(&loop_, UV_RUN_DEFAULT);  // until only the unreferenced async handle is left
    close_loop();
}

void Worker::open_store() {
    handle_ = redpacketd::open_store(config_, *shared_.registry, index_, &loop_,
                                     [this]() noexcept { uv_async_send(&async_); },
                                     shared_.lease);
    store_ = &handle_->store();
    memory_ = handle_->memory();
    handle_->start();
    service_ = std::make_unique<redpacket::RequestService>(
        service_config(config_), *store_, *shared_.registry, index_, service_events_);
    // A later completion is the service's next input.
    store_->set_sink([this](redpacket::StoreCompletion&& done) {
        lag_.woke(uv_hrtime());
        refresh_clock();
        step(std::move(done), nullptr);
    });
    refresh_clock();
    snapshots_.reset(now_ms_);
}

void Worker::adopt_listener(int fd) {
    check_uv(uv_tcp_init(&loop_, &listener_), "uv_tcp_init");
    listener_.data = this;
    check_uv(uv_tcp_open(&listener_, fd), "uv_tcp_open");
    check_uv(uv_listen(reinterpret_cast<uv_stream_t*>(&listener_),
                       static_cast<int>(config_.backlog), &Worker::on_connection),
             "uv_listen");
    listening_ = true;
}

void Worker::start(std::vector<int> cores, int realtime_priority) {
    check_uv(uv_timer_start(&tick_, &Worker::on_tick, kTickMs, kTickMs), "uv_timer_start");
    const std::uint64_t sweep_ms =
        std::clamp<std::uint64_t>(std::min(config_.login_timeout_ms, config_.idle_timeout_ms) / 4,
                                  20, 1000);
    check_uv(uv_timer_start(&sweep_, &Worker::on_sweep, sweep_ms, sweep_ms), "uv_timer_start");
    auto started = start_isolated_thread(fmt::format("rp-worker-{}", index_ % 1000),
                                         std::move(cores), realtime_priority, [this] {
                                             // Returns once stop_on_loop has closed all but the
                                             // (unreferenced) async handle, which stays valid
                                             // until close_loop: a peer may still wake us.
                                             uv_run(&loop_, UV_RUN_DEFAULT);
                                             finished_.store(true, std::memory_order_release);
                                         });
    thread_ = std::move(started.thread);
    if (!started.isolated) {
        log(LogLevel::error, "worker {}: isolation refused: {}", index_, started.isolated.error());
    }
}

void Worker::close_loop() {
    // Every worker thread has been joined: nobody can post or wake any more. Close what the
    // mailbox still holds (sockets handed over too late) and then the loop itself.
    shared_.mailboxes->drain(index_, SIZE_MAX, [this](WorkerMessage&& m) {
        if (auto* migrate = std::get_if<Migrate>(&m); migrate && migrate->migration) {
            ::close(migrate->migration->fd);
            shared_.connections.fetch_sub(1);
        }
    });
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
    loop_closed_ = true;
    if (const int rc = uv_loop_close(&loop_); rc != 0) {
        log(LogLevel::error, "worker {}: uv_loop_close: {}", index_, uv_err_name(rc));
    }
}

void Worker::request_stop() noexcept {
    stop_requested_.store(true);
    uv_async_send(&async_);
}

void Worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Worker::wake(void* self) noexcept {
    // Safe at any time: the async handle is closed only in close_loop, after every worker
    // thread has been joined.
    uv_async_send(&static_cast<Worker*>(self)->async_);
}

void Worker::refresh_clock() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    now_ms_ = static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

void Worker::on_async(uv_async_t* handle) {
    Worker& w = *static_cast<Worker*>(handle->data);
    w.lag_.woke(uv_hrtime());
    w.refresh_clock();
    if (w.stop_requested_.load() && !w.draining_ && !w.stopping_) {
        w.begin_drain();
    }
    w.shared_.mailboxes->drain(w.index_, kDrainBatch,
                               [&w](WorkerMessage&& m) { w.on_message(std::move(m)); });
    w.release_held();  // the journal writer wakes us after every batch
    w.check_drain();
}

// --- the tick --------------------------------------------------------------------------------

void Worker::on_tick(uv_timer_t* timer) {
    Worker& w = *static_cast<Worker*>(timer->data);
    w.refresh_clock();
    w.lag_.on_tick(uv_hrtime(), std::uint64_t{kTickMs} * 1'000'000);
    w.lag_.roll(w.now_ms_ / 1000, w.published_lag_);
    const std::int64_t elapsed = std::clamp<std::int64_t>(w.now_ms_ - w.last_tick_ms_, 0, 1000);
    w.last_tick_ms_ = w.now_ms_;
    w.shared_.rates->writer(w.index_).advance(w.now_ms_ / 1000);
    w.peers_.retry();
    w.pick_up_campaigns();
    if (!w.draining_) {  // no new store operations while draining
        w.step(redpacket::Tick{elapsed, true}, nullptr);
    }
    if (!w.draining_ && w.memory_ != nullptr) {
        w.snapshots_.maybe_start(*w.memory_, w.now_ms_);
    }
    if (w.now_ms_ / kPublishEveryMs != (w.now_ms_ - elapsed) / kPublishEveryMs || elapsed == 0) {
        w.publish();
    }
    w.check_drain();
}

void Worker::pick_up_campaigns() {
    if (auto shake = shared_.campaigns->shake_since(shake_generation_, shake_restarts_)) {
        service_->set_shake_campaign(shake->campaign, shake->change);
    }
    if (auto send = shared_.campaigns->send_since(send_generation_, send_restarts_)) {
        service_->set_send_campaign(send->campaign, send->change);
    }
}

void Worker::on_sweep(uv_timer_t* timer) {
    Worker& w = *static_cast<Worker*>(timer->data);
    w.refresh_clock();
    w.slots_.for_each([&w](Connection* c) {
        if (!c->closing && !c->migrating && c->deadline_ms <= w.now_ms_) {
            w.close_connection(*c, c->session.logged_in ? Event::idle_timeouts
                                                        : Event::login_timeouts);
        }
    });
}

void Worker::publish() {
    std::uint64_t logged_in = 0;
    for (const redpacket::ShardId s : service_->owned_sets()) {
        const std::size_t size = shared_.registry->shard(s).size();
        logged_in += size;
        set_sizes_[s].store(size, std::memory_order_relaxed);
    }
    handle_->publish(published_);
    const auto u = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
    using G = Gauge;
    for (const auto& [g, v] : std::to_array<std::pair<Gauge, std::int64_t>>({
             {G::logged_in, u(logged_in)}, {G::shake_campaign_done, u(service_->shake_done())},
             {G::send_campaign_done, u(service_->send_done())},
             {G::output_bytes, u(output_queued_)}, {G::output_bytes_peak, u(output_queued_peak_)},
             {G::forwarded, u(peers_.in_flight())}, {G::forwarded_peak, u(peers_.in_flight_peak())},
             {G::reply_retry, u(peers_.refused())}, {G::reply_retry_peak, u(peers_.refused_peak())},
             {G::held_bytes, u(held_tally_.bytes)}, {G::held_bytes_peak, u(held_tally_.peak)},
         })) {
        published_.set(g, v);
    }
    published_.published();
}

// --- shutdown --------------------------------------------------------------------------------

// Called from on_async, which calls check_drain after handling its messages.
void Worker::begin_drain() {
    draining_ = true;
    drain_deadline_ms_ = now_ms_ + std::int64_t{limit(shared_.limits.shutdown_grace_ms)};
    if (listening_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
        listening_ = false;
    }
    slots_.for_each([](Connection* c) {
        if (c->attached && !c->closing) {
            (void)uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
        }
    });
}

void Worker::check_drain() {
    if (!draining_ || stopping_) {
        return;
    }
    const bool done = peers_.idle() && !outboxes_waiting() && output_queued_ == 0 &&
                      service_->pending() == 0;
    const bool late = now_ms_ >= drain_deadline_ms_;
    if (!drain_reported_ && (done || late)) {
        if (!done) {
            log(LogLevel::warn,
                "worker {}: shutdown grace over with {} held reply bytes, {} held "
                "peer replies, {} forwarded requests, {} store operations and {} queued reply "
                "bytes "
                "unfinished",
                index_, held_tally_.bytes, peers_.held(), peers_.in_flight(), service_->pending(),
                output_queued_);
        }
        drain_reported_ = true;
        count_down(shared_.draining_workers);  // late: the others need not wait for this one
    }
    if (shared_.draining_workers.load() == 0 || late) {
        stop_on_loop();
    }
}

void Worker::stop_on_loop() {
    stopping_ = true;
    slots_.for_each([this](Connection* c) {
        if (!c->closing) {
            close_connection(*c, Event::closed);
        }
    });
    uv_timer_stop(&tick_);
    uv_timer_stop(&sweep_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_check_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&wait_prepare_), nullptr);
    // The store's own handles (a remote store's connections and timers) go too, and the
    // journal is written and synced (its batch callbacks still find the async handle open).
    if (handle_) {
        handle_->close([] {});
    }
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_));  // lets uv_run return; closed later
}

}  // namespace redpacketd
