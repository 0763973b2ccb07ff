// Worker: loop set-up, sockets, reads and writes, deadlines, migration and shutdown.
#include "worker.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <stdexcept>

#include "log.hpp"

namespace redpacketd {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr std::size_t kDrainBatch = 1024;
constexpr std::uint64_t kTickMs = 10;

// A uv_write_t with the bytes it writes.
struct WriteRequest {
    uv_write_t req{};
    std::uint64_t* queued{nullptr};  // the worker's output_queued_, less data.size() when done
    std::vector<std::byte> data;
};

void check_uv(int rc, const char* what) {
    if (rc != 0) {
        throw std::runtime_error(fmt::format("{}: {}", what, uv_strerror(rc)));
    }
}

}  // namespace

Worker::Worker(Shared& shared, std::uint32_t index)
    : shared_{shared},
      config_{shared.config},
      index_{index},
      read_buffer_{std::make_unique<std::uint8_t[]>(kReadBufferSize)},
      pools_(shared.config.sets),
      rng_{shared.config.seed * 7919 + index},
      set_sizes_{std::make_unique<std::atomic<std::uint64_t>[]>(shared.config.sets)} {
    check_uv(uv_loop_init(&loop_), "uv_loop_init");
    loop_.data = this;
    check_uv(uv_async_init(&loop_, &async_, &Worker::on_async), "uv_async_init");
    async_.data = this;
    check_uv(uv_timer_init(&loop_, &tick_), "uv_timer_init");
    tick_.data = this;
    check_uv(uv_timer_init(&loop_, &sweep_), "uv_timer_init");
    sweep_.data = this;
    for (redpacket::ShardId s = 0; s < config_.sets; ++s) {
        set_sizes_[s].store(0, std::memory_order_relaxed);
        if (shared.sets->worker_of(s) != index) {
            continue;
        }
        redpacket::PoolConfig pc;
        pc.shard = s;
        pc.max_packets = config_.max_packets_per_set;
        pc.max_shares = config_.max_shares;
        pc.max_live_shares = std::max<std::uint32_t>(config_.max_shares, 1U << 20);
        pc.max_total = redpacket::Cents{config_.max_packet_total};
        pc.shake_capacity = config_.shake_capacity_per_set;
        pc.retention = std::chrono::seconds{config_.retention_seconds};
        pc.seed = config_.seed + s;
        pools_[s] = std::make_unique<redpacket::RedPacketPool>(pc);
        owned_sets_.push_back(s);
    }
    shared.sets->set_wake(index, this, &Worker::wake);
    refresh_clock();
    last_tick_ms_ = now_ms_;
}

Worker::~Worker() {
    for (Connection* c : slots_) {
        delete c;
    }
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

void Worker::start() {
    check_uv(uv_timer_start(&tick_, &Worker::on_tick, kTickMs, kTickMs), "uv_timer_start");
    const std::uint64_t sweep_ms =
        std::clamp<std::uint64_t>(std::min(config_.login_timeout_ms, config_.idle_timeout_ms) / 4,
                                  20, 1000);
    check_uv(uv_timer_start(&sweep_, &Worker::on_sweep, sweep_ms, sweep_ms), "uv_timer_start");
    thread_ = std::thread([this] {
        // Returns once stop_on_loop has closed everything but the (unreferenced) async handle,
        // which stays valid until close_loop: a peer may still wake us while it shuts down.
        uv_run(&loop_, UV_RUN_DEFAULT);
    });
}

void Worker::close_loop() {
    // Every worker thread has been joined: nobody can post or wake any more. Close what the
    // mailbox still holds (sockets handed over too late) and then the loop itself.
    shared_.sets->drain(index_, SIZE_MAX, [this](redpacket::ShardId, WorkerMessage&& m) {
        if (m.kind == WorkerMessage::Kind::migrate && m.fd >= 0) {
            ::close(m.fd);
            shared_.connections.fetch_sub(1);
        }
    });
    if (journal_) {
        // Everything appended is written and synced (its batch callbacks still find the async
        // handle open) before the loop goes away.
        if (auto closed = journal_->close(); !closed) {
            log(LogLevel::error, "worker {}: journal close: {}", index_,
                redpacket::describe(closed.error()));
        }
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&async_), nullptr);
    uv_run(&loop_, UV_RUN_DEFAULT);
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

void Worker::count(Event e, std::uint64_t n) noexcept {
    const auto i = static_cast<std::size_t>(e);
    totals_[i].store(totals_[i].load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    shared_.rates->writer(index_).add(static_cast<redpacket::EventId>(i), now_ms_ / 1000, n);
}

// --- connections --------------------------------------------------------------------------

Connection* Worker::new_connection() {
    auto* conn = new Connection{};
    conn->worker = this;
    conn->assembler = protocol::FrameAssembler{config_.max_frame};
    if (free_slots_.empty()) {
        conn->slot = static_cast<std::uint32_t>(slots_.size());
        slots_.push_back(conn);
        generations_.push_back(1);
    } else {
        conn->slot = free_slots_.back();
        free_slots_.pop_back();
        slots_[conn->slot] = conn;
    }
    conn->tcp.data = conn;
    ++open_connections_;
    return conn;
}

Connection* Worker::find(ConnAddress a) noexcept {
    if (a.worker != index_ || a.slot >= slots_.size() || generations_[a.slot] != a.generation) {
        return nullptr;
    }
    Connection* c = slots_[a.slot];
    return (c != nullptr && !c->closing) ? c : nullptr;
}

ConnAddress Worker::address_of(const Connection& conn) const noexcept {
    return ConnAddress{index_, conn.slot, generations_[conn.slot]};
}

Connection& Worker::detached_connection() {
    if (!detached_) {
        detached_ = std::make_unique<Connection>();
        detached_->worker = this;
        detached_->slot = UINT32_MAX;
    }
    return *detached_;
}

void Worker::on_connection(uv_stream_t* server, int status) {
    Worker& w = *static_cast<Worker*>(server->data);
    w.refresh_clock();
    if (status != 0) {
        log(LogLevel::warn, "worker {}: accept: {}", w.index_, uv_err_name(status));
        return;
    }
    Connection* conn = w.new_connection();
    if (const int rc = uv_tcp_init(&w.loop_, &conn->tcp); rc != 0) {
        log(LogLevel::error, "worker {}: uv_tcp_init: {}", w.index_, uv_err_name(rc));
        w.release_connection(conn);
        return;
    }
    conn->attached = true;
    if (const int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)); rc != 0) {
        log(LogLevel::warn, "worker {}: uv_accept: {}", w.index_, uv_err_name(rc));
        w.close_connection(*conn, Event::closed);
        return;
    }
    const std::uint64_t open = w.shared_.connections.fetch_add(1) + 1;
    conn->counted = true;
    w.count(Event::accepted);
    if (open > w.config_.max_connections) {
        w.close_connection(*conn, Event::rejected_max_connections);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    if (int size = static_cast<int>(w.config_.socket_send_buffer); size > 0) {
        // A fixed kernel send buffer (the kernel doubles it) instead of autotuning up to
        // tcp_wmem's max: what a client that never reads can pin in the kernel.
        (void)uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&conn->tcp), &size);
    }
    conn->deadline_ms = w.now_ms_ + w.config_.login_timeout_ms;
    w.start_reading(*conn);
}

void Worker::start_reading(Connection& conn) {
    if (const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&conn.tcp), &Worker::on_alloc,
                                     &Worker::on_read);
        rc != 0) {
        log(LogLevel::warn, "worker {}: uv_read_start: {}", index_, uv_err_name(rc));
        close_connection(conn, Event::closed);
    }
}

void Worker::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    // One buffer per loop: libuv calls read right after alloc, and on_read consumes it all.
    Worker& w = *static_cast<Connection*>(handle->data)->worker;
    buf->base = reinterpret_cast<char*>(w.read_buffer_.get());
    buf->len = kReadBufferSize;
}

void Worker::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Connection& conn = *static_cast<Connection*>(stream->data);
    Worker& w = *conn.worker;
    if (nread < 0) {
        w.close_connection(conn, Event::closed);
        return;
    }
    if (nread == 0 || conn.closing) {
        return;
    }
    w.refresh_clock();
    const std::uint64_t started = uv_hrtime();
    const std::uint64_t mark = w.journal_mark();
    w.count(Event::bytes_in, static_cast<std::uint64_t>(nread));
    if (conn.logged_in) {
        conn.deadline_ms = w.now_ms_ + w.config_.idle_timeout_ms;
    }
    std::size_t frames = 0;
    const auto result = conn.assembler.feed(
        std::span<const std::byte>{reinterpret_cast<const std::byte*>(buf->base),
                                   static_cast<std::size_t>(nread)},
        [&](const protocol::Frame& frame) {
            ++frames;
            if (conn.migrating) {
                conn.migrate_pending->push_back(frame);
            } else if (!conn.closing) {
                w.handle_frame(conn, frame);
            }
        });
    if (conn.migrating) {
        w.finish_migration(conn);  // the new owner answers everything, in order
        return;
    }
    if (!result) {
        w.count(Event::protocol_errors);
        w.count(decode_event(result.error()));
        w.reply_error(conn, 0, protocol::to_error_code(result.error()), true);
        return;
    }
    w.flush_after(conn, mark);
    const std::uint64_t elapsed = uv_hrtime() - started;
    for (std::size_t i = 0; i < frames; ++i) {
        w.latency_.record(elapsed);
    }
}

void Worker::flush(Connection& conn) {
    if (out_.empty()) {
        return;
    }
    if (conn.closing || !conn.attached) {
        out_.clear();
        return;
    }
    auto* stream = reinterpret_cast<uv_stream_t*>(&conn.tcp);
    count(Event::bytes_out, out_.size());
    std::size_t written = 0;
    if (uv_stream_get_write_queue_size(stream) == 0) {
        uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(out_.data()),
                                 static_cast<unsigned>(out_.size()));
        const int rc = uv_try_write(stream, &b, 1);
        if (rc > 0) {
            written = static_cast<std::size_t>(rc);
        } else if (rc != UV_EAGAIN) {
            out_.clear();
            close_connection(conn, Event::closed);
            return;
        }
    }
    if (written == out_.size()) {
        out_.clear();
        return;
    }
    const std::size_t rest = out_.size() - written;
    if (uv_stream_get_write_queue_size(stream) + rest > config_.output_cap) {
        out_.clear();
        close_connection(conn, Event::output_cap_closes);
        return;
    }
    auto* req = new WriteRequest{};
    req->data.assign(out_.begin() + static_cast<std::ptrdiff_t>(written), out_.end());
    out_.clear();
    uv_buf_t b = uv_buf_init(reinterpret_cast<char*>(req->data.data()),
                             static_cast<unsigned>(req->data.size()));
    req->req.data = req;
    req->queued = &output_queued_;
    output_queued_ += rest;  // before uv_write: its callback subtracts it again
    output_queued_peak_ = std::max(output_queued_peak_, output_queued_);
    const int rc = uv_write(&req->req, stream, &b, 1, [](uv_write_t* r, int /*status*/) {
        auto* done = static_cast<WriteRequest*>(r->data);
        *done->queued -= done->data.size();  // also on UV_ECANCELED when the handle closes
        delete done;
    });
    if (rc != 0) {
        output_queued_ -= rest;
        delete req;  // the callback is never called when uv_write fails
        close_connection(conn, Event::closed);
    }
}

void Worker::send_now(Connection& conn, const protocol::Message& m) {
    std::vector<std::byte> saved;
    saved.swap(out_);
    protocol::append(out_, m, static_cast<std::uint64_t>(now_ms_ / 1000));
    flush(conn);
    out_.swap(saved);
}

void Worker::close_connection(Connection& conn, Event reason) {
    if (conn.closing) {
        return;
    }
    conn.closing = true;
    if (!conn.attached) {
        return;  // a detached (test or benchmark) connection has no socket
    }
    if (conn.logged_in) {
        auto& table = shared_.sets->shard(shared_.sets->shard_of(conn.user));
        const std::uint64_t me = (std::uint64_t{conn.slot} << 32) | generations_[conn.slot];
        if (table.find(conn.user) == me) {
            (void)table.remove(conn.user);
        }
    }
    count(reason);
    if (reason != Event::closed) {
        count(Event::closed);
    }
    uv_close(reinterpret_cast<uv_handle_t*>(&conn.tcp), &Worker::on_close);
}

void Worker::on_close(uv_handle_t* handle) {
    auto* conn = static_cast<Connection*>(handle->data);
    Worker& w = *conn->worker;
    if (conn->counted && !conn->migrating) {
        w.shared_.connections.fetch_sub(1);
    }
    w.release_connection(conn);
}

void Worker::release_connection(Connection* conn) noexcept {
    slots_[conn->slot] = nullptr;
    ++generations_[conn->slot];  // stale addresses of this slot no longer match
    free_slots_.push_back(conn->slot);
    --open_connections_;
    delete conn->migrate_pending;
    delete conn;
}

void Worker::on_sweep(uv_timer_t* timer) {
    Worker& w = *static_cast<Worker*>(timer->data);
    w.refresh_clock();
    for (Connection* c : w.slots_) {
        if (c != nullptr && !c->closing && !c->migrating && c->deadline_ms <= w.now_ms_) {
            w.close_connection(*c, c->logged_in ? Event::idle_timeouts : Event::login_timeouts);
        }
    }
}

// --- migration ----------------------------------------------------------------------------

void Worker::adopt_migrated(WorkerMessage&& m) {
    Connection* conn = new_connection();
    if (const int rc = uv_tcp_init(&loop_, &conn->tcp); rc != 0) {
        log(LogLevel::error, "worker {}: uv_tcp_init: {}", index_, uv_err_name(rc));
        ::close(m.fd);
        shared_.connections.fetch_sub(1);
        release_connection(conn);
        return;
    }
    conn->attached = true;
    conn->counted = true;  // counted once, by the worker that accepted it
    if (const int rc = uv_tcp_open(&conn->tcp, m.fd); rc != 0) {
        log(LogLevel::warn, "worker {}: uv_tcp_open: {}", index_, uv_err_name(rc));
        ::close(m.fd);
        close_connection(*conn, Event::closed);
        return;
    }
    conn->assembler = *m.assembler;
    conn->deadline_ms = now_ms_ + config_.idle_timeout_ms;
    if (m.output) {
        out_ = std::move(*m.output);  // replies to frames before the login, in order
    }
    const std::uint64_t mark = journal_mark();
    handle_login(*conn, m.user, m.extended);
    for (const protocol::Frame& f : *m.pending) {
        if (!conn->closing) {
            handle_frame(*conn, f);
        }
    }
    if (const auto error = conn->assembler.error(); error && !conn->closing) {
        // The read that carried the login also carried a malformed frame: refuse it here,
        // after answering everything before it, as the old owner would have.
        count(Event::protocol_errors);
        reply_error(*conn, 0, protocol::to_error_code(*error), true);
        return;
    }
    flush_after(*conn, mark);
    if (!conn->closing) {
        start_reading(*conn);
    }
}

void Worker::finish_migration(Connection& conn) {
    const redpacket::ShardId shard = shared_.sets->shard_of(conn.user);
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&conn.tcp)) > 0) {
        // Closing this handle would cancel writes still queued on it: refuse the hand-over.
        conn.migrating = false;
        count(Event::mailbox_full);
        reply_error(conn, 0, protocol::ErrorCode::overloaded, true);
        return;
    }
    uv_os_fd_t fd = -1;
    int dup_fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn.tcp), &fd) == 0) {
        dup_fd = ::dup(fd);
    }
    if (dup_fd < 0) {
        log(LogLevel::warn, "worker {}: cannot dup a socket for migration: {}", index_,
            std::strerror(errno));
        conn.migrating = false;
        reply_error(conn, 0, protocol::ErrorCode::internal, true);
        return;
    }
    WorkerMessage m;
    m.kind = WorkerMessage::Kind::migrate;
    m.fd = dup_fd;
    m.user = conn.user;
    m.extended = conn.extended;
    m.assembler = std::make_unique<protocol::FrameAssembler>(conn.assembler);
    m.pending.reset(conn.migrate_pending);
    conn.migrate_pending = nullptr;
    if (!out_.empty()) {
        m.output = std::make_unique<std::vector<std::byte>>(std::move(out_));
        out_.clear();
    }
    if (!shared_.sets->post(shard, std::move(m)).has_value()) {
        ::close(dup_fd);
        count(Event::mailbox_full);
        conn.migrating = false;
        if (m.output) {
            out_ = std::move(*m.output);
        }
        reply_error(conn, 0, protocol::ErrorCode::overloaded, true);
        return;
    }
    count(Event::migrations);
    // The socket lives on in the new owner; close only this handle (and its fd).
    conn.closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn.tcp), &Worker::on_close);
}

void Worker::post_or_retry(redpacket::ShardId shard, WorkerMessage&& m) {
    if (!retry_.empty()) {
        retry_.emplace_back(shard, std::move(m));  // keep order behind earlier refusals
        retry_peak_ = std::max(retry_peak_, retry_.size());
        return;
    }
    if (!shared_.sets->post(shard, std::move(m)).has_value()) {
        count(Event::mailbox_full);
        retry_.emplace_back(shard, std::move(m));  // post() handed it back
        retry_peak_ = std::max(retry_peak_, retry_.size());
    }
}

void Worker::retry_posts() {
    std::size_t sent = 0;
    for (; sent < retry_.size(); ++sent) {
        auto& [shard, m] = retry_[sent];
        if (!shared_.sets->post(shard, std::move(m)).has_value()) {
            break;
        }
    }
    retry_.erase(retry_.begin(), retry_.begin() + static_cast<std::ptrdiff_t>(sent));
}

// --- messages (shutdown is in worker_shutdown.cpp) ----------------------------------------

void Worker::on_async(uv_async_t* handle) {
    Worker& w = *static_cast<Worker*>(handle->data);
    w.refresh_clock();
    if (w.stop_requested_.load() && !w.draining_ && !w.stopping_) {
        w.begin_drain();
    }
    w.shared_.sets->drain(w.index_, kDrainBatch, [&w](redpacket::ShardId, WorkerMessage&& m) {
        w.on_message(std::move(m));
    });
    w.release_held();  // the journal writer wakes us after every batch
    w.check_drain();
}

}  // namespace redpacketd
