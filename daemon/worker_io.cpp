// Worker, connections: accept, read → decode → the service decides → replies out. All replies
// produced by one read leave in one write (uv_try_write, queued with a copy only if the socket
// is full, up to output_cap) — or, when they report money the journal has not made durable yet,
// are held (in order per connection) until it has.
#include <sys/socket.h>

#include <algorithm>

#include "log.hpp"
#include "redpacket/detail/overloaded.hpp"
#include "redpacket/detail/uv_write.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;

}  // namespace

// --- accepting and closing -------------------------------------------------------------------

Connection* Worker::open_connection() {
    auto* conn = new Connection{};
    conn->worker = this;
    conn->assembler = protocol::FrameAssembler{config_.max_frame};
    conn->slot = slots_.insert(conn);
    conn->tcp.data = conn;
    if (const int rc = uv_tcp_init(&loop_, &conn->tcp); rc != 0) {
        log(LogLevel::error, "worker {}: uv_tcp_init: {}", index_, uv_err_name(rc));
        release_connection(conn);
        return nullptr;
    }
    conn->attached = true;
    return conn;
}

void Worker::release_connection(Connection* conn) noexcept {
    slots_.erase(conn->slot);  // stale addresses of this slot no longer match
    delete conn;
}

Connection* Worker::find(const redpacket::ReplyAddress& a) noexcept {
    Connection* c = a.worker == index_ ? slots_.find(a.slot, a.generation) : nullptr;
    return (c != nullptr && !c->closing) ? c : nullptr;
}

redpacket::ReplyAddress Worker::address_of(const Connection& conn) const noexcept {
    return redpacket::ReplyAddress{index_, conn.slot, slots_.generation(conn.slot)};
}

void Worker::on_connection(uv_stream_t* server, int status) {
    Worker& w = *static_cast<Worker*>(server->data);
    w.refresh_clock();
    if (status != 0) {
        log(LogLevel::warn, "worker {}: accept: {}", w.index_, uv_err_name(status));
        return;
    }
    Connection* conn = w.open_connection();
    if (conn == nullptr) {
        return;
    }
    if (const int rc = uv_accept(server, reinterpret_cast<uv_stream_t*>(&conn->tcp)); rc != 0) {
        log(LogLevel::warn, "worker {}: uv_accept: {}", w.index_, uv_err_name(rc));
        w.close_connection(*conn, Event::closed);
        return;
    }
    const std::uint64_t open = w.shared_.connections.fetch_add(1) + 1;
    conn->counted = true;
    w.count(Event::accepted);
    if (open > limit(w.shared_.limits.max_connections)) {
        w.close_connection(*conn, Event::rejected_max_connections);
        return;
    }
    uv_tcp_nodelay(&conn->tcp, 1);
    if (int size = static_cast<int>(w.config_.socket_send_buffer); size > 0) {
        // A fixed kernel send buffer (the kernel doubles it) instead of autotuning up to
        // tcp_wmem's max: what a client that never reads can pin in the kernel.
        (void)uv_send_buffer_size(reinterpret_cast<uv_handle_t*>(&conn->tcp), &size);
    }
    conn->deadline_ms = w.now_ms_ + limit(w.shared_.limits.login_timeout_ms);
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

void Worker::close_connection(Connection& conn, Event reason) {
    if (conn.closing) {
        return;
    }
    conn.closing = true;
    if (conn.session.logged_in) {
        auto& table = shared_.registry->shard(shared_.registry->shard_of(conn.session.user));
        if (table.find(conn.session.user) == slots_.ref(conn.slot)) {
            (void)table.remove(conn.session.user);
            service_->presence(conn.session.user, false);
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

// --- frames in -------------------------------------------------------------------------------

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
    w.out_hold_ = 0;
    w.count(Event::bytes_in, static_cast<std::uint64_t>(nread));
    if (conn.session.logged_in) {
        conn.deadline_ms = w.now_ms_ + limit(w.shared_.limits.idle_timeout_ms);
    }
    std::size_t frames = 0;
    const auto result = conn.assembler.feed(
        std::span<const std::byte>{reinterpret_cast<const std::byte*>(buf->base),
                                   static_cast<std::size_t>(nread)},
        [&](const protocol::Frame& frame) {
            ++frames;
            if (conn.migrating) {
                conn.migration->pending.push_back(frame);
            } else if (!conn.closing) {
                w.handle_frame(conn, frame);
            }
        });
    if (conn.migrating) {
        w.finish_migration(conn);  // the new owner answers everything, in order
        return;
    }
    if (!result) {
        w.service_events_.add(static_cast<std::size_t>(redpacket::ServiceEvent::protocol_errors),
                              w.now_ms_ / 1000);
        w.count(decode_event(result.error()));
        w.apply(conn, w.service_->error(conn.session, 0, protocol::to_error_code(result.error()),
                                        true));
        return;
    }
    w.finish_output(conn);
    const std::uint64_t elapsed = uv_hrtime() - started;
    for (std::size_t i = 0; i < frames; ++i) {
        w.latency_.record(elapsed);
    }
}

void Worker::handle_frame(Connection& conn, const protocol::Frame& frame) {
    const redpacket::Decision d =
        service_->handle(conn.session, frame.message, address_of(conn), now());
    std::visit(redpacket::detail::Overloaded{
                   [&](const redpacket::Reply& r) { apply(conn, r); },
                   [&](const redpacket::Forward& f) { forward(conn, frame.message, f.worker); },
                   [&](const redpacket::Later&) {},  // the reply comes through deliver()
                   [&](const redpacket::LoginGranted& g) { login(conn, g); },
               },
               d);
}

void Worker::login(Connection& conn, const redpacket::LoginGranted& granted) {
    const redpacket::ShardId shard = shared_.registry->shard_of(granted.user);
    if (shared_.registry->worker_of(shard) != index_) {
        conn.migrating = true;  // on_read hands the socket to the owner after this read
        conn.migration = std::make_unique<Migration>();
        conn.migration->login = granted;
        return;
    }
    const redpacket::ConnectionRef me = slots_.ref(conn.slot);
    const auto previous = shared_.registry->shard(shard).upsert(granted.user, me);
    if (previous && *previous != me) {
        // The same user logged in again: the newest connection wins.
        Connection* old = slots_.find(*previous);
        if (old != nullptr && !old->closing) {
            old->session.logged_in = false;  // its table entry now belongs to `conn`
            close_connection(*old, Event::closed);
        }
    }
    conn.deadline_ms = now_ms_ + limit(shared_.limits.idle_timeout_ms);
    service_->presence(granted.user, true);
    apply(conn, service_->welcome(conn.session, granted, now()));
}

// --- replies out -----------------------------------------------------------------------------

void Worker::apply(Connection& conn, const redpacket::Reply& reply) {
    reply.for_each([this](const protocol::Message& m) {
        protocol::append(out_, m, static_cast<std::uint64_t>(now_ms_ / 1000));
    });
    out_hold_ = std::max(out_hold_, reply.hold_until);
    if (!reply.close) {
        return;
    }
    if (!out_.empty() && conn.attached && !conn.closing &&
        (conn.held > 0 || out_hold_ > store_->durable_sequence())) {
        // Earlier replies of this read report money not yet durable: hold everything and
        // close once it has gone out; read nothing more meanwhile.
        (void)uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn.tcp));
        hold(conn, true);
        return;
    }
    flush(conn, out_);
    close_connection(conn, Event::closed);
}

void Worker::finish_output(Connection& conn) {
    if (out_.empty() || conn.closing || !conn.attached ||
        (conn.held == 0 && out_hold_ <= store_->durable_sequence())) {
        flush(conn, out_);
        return;
    }
    hold(conn, false);
}

void Worker::flush(Connection& conn, std::vector<std::byte>& bytes) {
    if (conn.closing || !conn.attached) {
        bytes.clear();
        conn.deferred.clear();
        return;
    }
    if (!conn.deferred.empty()) {  // earlier replies first
        conn.deferred.insert(conn.deferred.end(), bytes.begin(), bytes.end());
        bytes.swap(conn.deferred);
        conn.deferred.clear();
    }
    if (bytes.empty()) {
        return;
    }
    count(Event::bytes_out, bytes.size());
    const int rc = redpacket::detail::write_or_queue(reinterpret_cast<uv_stream_t*>(&conn.tcp),
                                                     bytes, limit(shared_.limits.output_cap), &output_queued_);
    output_queued_peak_ = std::max(output_queued_peak_, output_queued_);
    if (rc != 0) {
        close_connection(conn, rc == UV_ENOBUFS ? Event::output_cap_closes : Event::closed);
    }
}

void Worker::send_now(Connection& conn, std::span<const protocol::Message> frames) {
    std::vector<std::byte> bytes;
    for (const protocol::Message& m : frames) {
        protocol::append(bytes, m, static_cast<std::uint64_t>(now_ms_ / 1000));
    }
    flush(conn, bytes);
}

void Worker::deliver(const redpacket::ReplyAddress& to, const redpacket::Reply& reply) {
    if (to.worker != index_) {
        post_reply(to, reply);  // a request another worker forwarded here
        return;
    }
    Connection* conn = find(to);
    if (conn == nullptr) {
        return;  // the client left; what it asked is stored and a retry finds it
    }
    std::vector<std::byte> saved;
    saved.swap(out_);
    const std::uint64_t saved_hold = std::exchange(out_hold_, 0);
    apply(*conn, reply);
    if (!reply.close && !out_.empty() && !conn->closing && conn->attached && conn->held == 0 &&
        out_hold_ <= store_->durable_sequence()) {
        // Nothing to wait for: written with the iteration's other completions (flush_deferred).
        if (conn->deferred.empty()) {
            deferred_.push_back(slots_.ref(conn->slot));
        }
        conn->deferred.insert(conn->deferred.end(), out_.begin(), out_.end());
        out_.clear();
    } else if (!reply.close) {
        finish_output(*conn);
    }
    out_.swap(saved);
    out_hold_ = saved_hold;
}

void Worker::flush_deferred() {
    std::vector<std::byte> none;
    for (const redpacket::ConnectionRef ref : std::exchange(deferred_, {})) {
        if (Connection* conn = slots_.find(ref); conn != nullptr && !conn->deferred.empty()) {
            flush(*conn, none);  // writes what was deferred
        }
    }
}

bool Worker::notify(redpacket::ConnectionRef conn, const protocol::PacketNotice& notice) {
    Connection* c = slots_.find(conn);
    if (c == nullptr || c->closing) {
        return false;
    }
    const protocol::Message m{notice};
    send_now(*c, std::span{&m, 1});
    return true;
}

// --- replies held for the journal ------------------------------------------------------------

void Worker::hold(Connection& conn, bool close_after) {
    // Replies held for the journal count against the output cap like replies queued to a slow
    // reader: a client that keeps asking while its earlier answers wait is closed, not buffered
    // without bound (what is held stays journaled; a retry finds it).
    if (std::uint64_t{conn.held_bytes} + out_.size() > limit(shared_.limits.output_cap)) {
        out_.clear();
        close_connection(conn, Event::output_cap_closes);
        return;
    }
    conn.held_bytes += static_cast<std::uint32_t>(out_.size());
    ++conn.held;
    count(Event::held_replies);
    held_.push(HeldReplies::Entry{out_hold_, address_of(conn), std::move(out_), close_after, {}});
    out_.clear();
    release_held();  // the records may be durable already
}

void Worker::release_held() {
    held_.release(store_->durable_sequence(), [this](HeldReplies::Entry&& h) {
        if (h.message) {
            post_or_retry(h.message->to.worker, std::move(*h.message));
            return;
        }
        Connection* conn = find(h.conn);
        if (conn == nullptr) {
            return;  // the client left; its money is journaled and a retry finds it
        }
        --conn->held;
        conn->held_bytes -= static_cast<std::uint32_t>(h.bytes.size());
        flush(*conn, h.bytes);
        if (h.close_after) {
            close_connection(*conn, Event::closed);
        }
    });
}

}  // namespace redpacketd
