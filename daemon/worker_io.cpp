// Worker, connections: accept, read → decode → the service's step → its effects carried out.
// Replies go to the connection's Outbox, which says when they may leave: all replies of one read
// in one write (uv_try_write, queued with a copy only if the socket is full, up to output_cap),
// or, when they report money the journal has not made durable yet, once it has.
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
    conn->outbox.set_tally(&held_tally_);
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
    w.lag_.woke(uv_hrtime());
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
            step(redpacket::Presence{conn.session.user, false}, nullptr);
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
    w.lag_.woke(started);
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
        w.count(decode_event(result.error()));
        w.step(redpacket::ConnectionFailed{conn.session, w.address_of(conn),
                                           protocol::to_error_code(result.error()), true},
               &conn);
        return;
    }
    w.finish_output(conn);
    const std::uint64_t elapsed = uv_hrtime() - started;
    for (std::size_t i = 0; i < frames; ++i) {
        w.latency_.record(elapsed);
    }
}

void Worker::handle_frame(Connection& conn, const protocol::Frame& frame) {
    step(redpacket::input_of(conn.session, address_of(conn), frame.message), &conn);
}

void Worker::step(const redpacket::Input& input, Connection* current) {
    redpacket::Effects effects;
    if (!spare_effects_.empty()) {
        effects = std::move(spare_effects_.back());
        spare_effects_.pop_back();
    }
    service_->step(input, now(), effects);
    for (redpacket::Effect& e : effects) {
        carry_out(e, current);
    }
    effects.clear();
    spare_effects_.push_back(std::move(effects));
}

void Worker::carry_out(redpacket::Effect& effect, Connection* current) {
    std::visit(redpacket::detail::Overloaded{
                   [&](redpacket::Send& s) {
                       if (current != nullptr && s.to == address_of(*current)) {
                           reply(*current, s.reply);  // joins the read's one write
                       } else {
                           deliver(s.to, s.reply);
                       }
                   },
                   [&](redpacket::Forward& f) { forward(f, current); },
                   [&](redpacket::Register& r) {
                       if (Connection* conn = find(r.conn); conn != nullptr) {
                           enter(*conn, r.user);
                       }
                   },
                   [&](redpacket::Notify& n) { notify(n); },
                   [&](redpacket::PacketRead& r) {
                       const auto read = admin_reads_.find(r.token);
                       if (read != admin_reads_.end()) {
                           read->second->set_value(std::move(r.result));
                           admin_reads_.erase(read);
                       }
                   },
               },
               effect);
}

void Worker::enter(Connection& conn, redpacket::UserId user) {
    const redpacket::ShardId shard = shared_.registry->shard_of(user);
    if (shared_.registry->worker_of(shard) != index_) {
        conn.migrating = true;  // on_read hands the socket to the owner after this read
        conn.migration = std::make_unique<Migration>();
        return;
    }
    const redpacket::ConnectionRef me = slots_.ref(conn.slot);
    const auto previous = shared_.registry->shard(shard).upsert(user, me);
    if (previous && *previous != me) {
        // The same user logged in again: the newest connection wins.
        Connection* old = slots_.find(*previous);
        if (old != nullptr && !old->closing) {
            old->session.logged_in = false;  // its table entry now belongs to `conn`
            close_connection(*old, Event::closed);
        }
    }
    conn.deadline_ms = now_ms_ + limit(shared_.limits.idle_timeout_ms);
    step(redpacket::Presence{user, true}, nullptr);
}

// --- replies out -----------------------------------------------------------------------------

void Worker::reply(Connection& conn, const redpacket::Reply& r) {
    conn.outbox.add(r, static_cast<std::uint64_t>(now_ms_ / 1000));
    if (r.close) {
        finish_output(conn);  // nothing after it is served
    }
}

void Worker::finish_output(Connection& conn) {
    if (conn.closing || !conn.attached) {
        return;  // what was asked is stored; a retry finds it
    }
    switch (conn.outbox.seal(store_->durable_sequence(), limit(shared_.limits.output_cap))) {
        case redpacket::Outbox::Sealed::empty:
        case redpacket::Outbox::Sealed::ready:
            break;
        case redpacket::Outbox::Sealed::refused:
            close_connection(conn, Event::output_cap_closes);
            return;
        case redpacket::Outbox::Sealed::waiting:
            count(Event::held_replies);
            if (!conn.waiting) {
                conn.waiting = true;
                waiting_.push_back(slots_.ref(conn.slot));
            }
            if (conn.outbox.closing()) {
                // It ends once what it is owed has gone out: read nothing more meanwhile.
                (void)uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn.tcp));
            }
            break;
    }
    write_ready(conn);
}

void Worker::write_ready(Connection& conn) {
    if (conn.closing || !conn.attached) {
        return;
    }
    write_buffer_.clear();
    const bool close = conn.outbox.take_ready(store_->durable_sequence(), write_buffer_);
    if (!write_buffer_.empty()) {
        count(Event::bytes_out, write_buffer_.size());
        const int rc = redpacket::detail::write_or_queue(
            reinterpret_cast<uv_stream_t*>(&conn.tcp), write_buffer_,
            limit(shared_.limits.output_cap), &output_queued_);
        output_queued_peak_ = std::max(output_queued_peak_, output_queued_);
        if (rc != 0) {
            close_connection(conn, rc == UV_ENOBUFS ? Event::output_cap_closes : Event::closed);
            return;
        }
    }
    if (close) {
        close_connection(conn, Event::closed);
    }
}

void Worker::send_now(Connection& conn, const protocol::Response& frame) {
    conn.outbox.add(redpacket::Reply{frame}, static_cast<std::uint64_t>(now_ms_ / 1000));
    finish_output(conn);
}

void Worker::deliver(const redpacket::ReplyAddress& to, const redpacket::Reply& r) {
    if (to.worker != index_) {
        peers_.answer(to, r, store_->durable_sequence());  // a request forwarded here
        return;
    }
    Connection* conn = find(to);
    if (conn == nullptr) {
        return;  // the client left; what it asked is stored and a retry finds it
    }
    if (r.close) {
        reply(*conn, r);
        return;
    }
    // Written with the iteration's other completions (flush_unsealed).
    conn->outbox.add(r, static_cast<std::uint64_t>(now_ms_ / 1000));
    if (!conn->unsealed) {
        conn->unsealed = true;
        unsealed_.push_back(slots_.ref(conn->slot));
    }
}

void Worker::flush_unsealed() {
    for (const redpacket::ConnectionRef ref : std::exchange(unsealed_, {})) {
        if (Connection* conn = slots_.find(ref); conn != nullptr) {
            conn->unsealed = false;
            finish_output(*conn);
        }
    }
}

void Worker::notify(const redpacket::Notify& n) {
    Connection* c = slots_.find(n.conn);
    if (c == nullptr || c->closing) {
        return;  // left since the packet was made
    }
    // Held like a reply until the packet's create record is durable.
    c->outbox.add(redpacket::Reply{n.notice, n.hold_until},
                  static_cast<std::uint64_t>(now_ms_ / 1000));
    finish_output(*c);
}

// --- replies held for the journal ------------------------------------------------------------

void Worker::release_held() {
    const std::uint64_t durable = store_->durable_sequence();
    peers_.release(durable);
    std::erase_if(waiting_, [this](redpacket::ConnectionRef ref) {
        Connection* conn = slots_.find(ref);
        if (conn == nullptr) {
            return true;  // the client left; its money is journaled and a retry finds it
        }
        write_ready(*conn);
        conn->waiting = conn->outbox.waiting() && !conn->closing;
        return !conn->waiting;
    });
}

bool Worker::outboxes_waiting() {
    std::erase_if(waiting_, [this](redpacket::ConnectionRef ref) {
        Connection* conn = slots_.find(ref);
        return conn == nullptr || conn->closing;
    });
    return !waiting_.empty();
}

}  // namespace redpacketd
