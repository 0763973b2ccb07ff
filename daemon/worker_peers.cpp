// Worker, between workers: connections migrating to the owner of their user's SET, requests
// forwarded to the owner of a packet's SET, and the owners' replies. Every message is addressed
// by worker (post_to); a full mailbox refuses a request ("overloaded") and delays a reply
// (kept in order and retried each tick), never drops either.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "log.hpp"
#include "redpacket/detail/overloaded.hpp"
#include "worker.hpp"

namespace redpacketd {
void Worker::on_message(WorkerMessage&& m) {
    std::visit(redpacket::detail::Overloaded{
                   [this](Migrate& migrate) {
                       if (stopping_) {
                           ::close(migrate.migration->fd);
                           shared_.connections.fetch_sub(1);
                           return;
                       }
                       adopt(std::move(migrate.migration));
                   },
                   [this](redpacket::PeerRequest& request) { step(request, nullptr); },
                   [this](AdminRead& read) {
                       const std::uint64_t token = ++last_admin_read_;
                       admin_reads_.emplace(token, std::move(read.answer));
                       step(redpacket::ReadPacket{read.packet, token}, nullptr);
                   },
                   [this](PeerReply& reply) {
                       peers_.answered();
                       if (Connection* conn = find(reply.to); conn != nullptr) {
                           send_now(*conn, reply.reply);
                       }
                   },
               },
               m);
}

// --- migration -------------------------------------------------------------------------------

void Worker::finish_migration(Connection& conn) {
    const auto refuse = [&](protocol::ErrorCode code) {  // the connection ends here instead
        conn.migrating = false;
        if (code == protocol::ErrorCode::overloaded) {
            count(Event::mailbox_full);
        }
        step(redpacket::ConnectionFailed{conn.session, address_of(conn), code, false}, &conn);
    };
    // Closing this handle would cancel writes still queued on it: refuse the hand-over.
    uv_os_fd_t fd = -1;
    int dup_fd = -1;
    if (uv_stream_get_write_queue_size(reinterpret_cast<uv_stream_t*>(&conn.tcp)) > 0) {
        return refuse(protocol::ErrorCode::overloaded);
    }
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&conn.tcp), &fd) != 0 || (dup_fd = ::dup(fd)) < 0) {
        log(LogLevel::warn, "worker {}: cannot dup a socket for migration: {}", index_,
            std::strerror(errno));
        return refuse(protocol::ErrorCode::internal);
    }
    const redpacket::WorkerId owner =
        shared_.registry->worker_of(shared_.registry->shard_of(conn.session.user));
    conn.migration->fd = dup_fd;
    conn.migration->session = conn.session;
    conn.migration->assembler = conn.assembler;
    conn.migration->output = conn.outbox.take_open();
    WorkerMessage m{Migrate{std::move(conn.migration)}};
    if (!shared_.mailboxes->post_to(owner, std::move(m))) {
        ::close(dup_fd);
        conn.outbox.add_bytes(std::get<Migrate>(m).migration->output);
        return refuse(protocol::ErrorCode::overloaded);
    }
    count(Event::migrations);
    // The socket lives on in the new owner; close only this handle (and its fd).
    conn.closing = true;
    uv_close(reinterpret_cast<uv_handle_t*>(&conn.tcp), &Worker::on_close);
}

void Worker::adopt(std::unique_ptr<Migration> m) {
    Connection* conn = open_connection();
    if (conn == nullptr) {
        ::close(m->fd);
        shared_.connections.fetch_sub(1);
        return;
    }
    conn->counted = true;  // counted once, by the worker that accepted it
    if (const int rc = uv_tcp_open(&conn->tcp, m->fd); rc != 0) {
        log(LogLevel::warn, "worker {}: uv_tcp_open: {}", index_, uv_err_name(rc));
        ::close(m->fd);
        close_connection(*conn, Event::closed);
        return;
    }
    conn->assembler = m->assembler;
    conn->deadline_ms = now_ms_ + limit(shared_.limits.idle_timeout_ms);
    conn->outbox.add_bytes(m->output);  // replies up to the login's, in order
    conn->session = m->session;
    enter(*conn, conn->session.user);
    for (const protocol::Frame& f : m->pending) {
        if (!conn->closing) {
            handle_frame(*conn, f);
        }
    }
    if (const auto error = conn->assembler.error(); error && !conn->closing) {
        // The read that carried the login also carried a malformed frame: refuse it here,
        // after answering everything before it, as the old owner would have.
        step(redpacket::ConnectionFailed{conn->session, address_of(*conn),
                                         protocol::to_error_code(*error), true},
             conn);
        return;
    }
    finish_output(*conn);
    if (!conn->closing) {
        start_reading(*conn);
    }
}

// --- requests for another worker's SETs ------------------------------------------------------

void Worker::forward(redpacket::Forward& f, Connection* asker) {
    if (peers_.forward(f.worker, f.request, limit(shared_.limits.max_forwarded))) {
        return;
    }
    if (asker != nullptr && f.request.reply_to == address_of(*asker)) {
        reply(*asker, f.refused);
    } else {
        deliver(f.request.reply_to, f.refused);
    }
}

}  // namespace redpacketd
