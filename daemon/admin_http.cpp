// Admin HTTP API, part 2: the server that serves route(), on GNU libmicrohttpd.
//
// libmicrohttpd (MHD) parses HTTP/1.1 and writes the responses, without a thread of its own:
// MHD_USE_EPOLL gives one epoll descriptor that becomes readable whenever MHD has work, which a
// uv_poll_t watches on the caller's loop, and MHD_get_timeout says when MHD wants to run next (a
// uv_timer_t). Every MHD call and callback runs on the loop's thread, like the admin API.
//
// The listening socket is this file's: it accepts, waits for a connection's first bytes and
// hands the connection to MHD (MHD_add_connection), unless they hold a whole first line with no
// space, which MHD would close without a word (strace: recvfrom, shutdown, close): that gets a
// 400 here. Also added here: a deadline for the whole exchange (MHD's is an idle timeout in
// whole seconds, and "1" then FIN waited its 10 s in 3 of 3 tries), a 503 past the connection
// limit, a 413 for a body past the size limit, and the token check (in route()).
#include "admin_http.hpp"

#include <fmt/format.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <list>
#include <memory>
#include <string_view>
#include <utility>

#include "log.hpp"

namespace redpacketd {

using detail::announced_too_large;
using detail::error_response;
using detail::printable;

namespace {

template <typename Handle>
uv_handle_t* as_handle(Handle* handle) noexcept {
    return reinterpret_cast<uv_handle_t*>(handle);
}

/// One TCP connection MHD accepted (its socket context).
struct Connection {
    int fd{-1};
    std::uint64_t deadline_ms{0};  // on the loop's clock
    bool over_limit{false};
    bool cut{false};  // shut down at its deadline; MHD closes it
};

/// One request on a connection (its request context): created when MHD has the request line.
struct Request {
    HttpRequest request;
    bool body_too_large{false};
};

}  // namespace

struct AdminServer::Impl {
    Impl(uv_loop_t* l, AdminBackend& b, std::string t, AdminLimits lim)
        : loop(l), backend(b), token(std::move(t)), limits(lim) {}

    uv_loop_t* loop;
    AdminBackend& backend;
    std::string token;
    AdminLimits limits;
    MHD_Daemon* mhd{nullptr};
    uv_poll_t* poll{nullptr};      // heap: freed in its close callback
    uv_timer_t* wakeup{nullptr};   // MHD's next timeout
    uv_timer_t* sweeper{nullptr};  // the whole-exchange deadlines
    std::list<Connection> connections;  // every connection MHD holds, cut or not
    // Accepted, waiting for their first bytes before MHD gets them.
    struct Pending {
        int fd{-1};
        sockaddr_storage addr{};
        socklen_t addr_len{0};
        std::uint64_t deadline_ms{0};
        uv_poll_t* poll{nullptr};  // heap: freed in its close callback
        Impl* self{nullptr};
    };
    std::list<Pending> pending;
    int listen_fd{-1};
    uv_poll_t* acceptor{nullptr};  // the listening socket (stopped at the hard limit)
    bool accepting{false};
    unsigned hard_limit{0};
    // The deadline of the connection being handed to MHD: its exchange keeps the one it was
    // accepted with (on_connection takes it).
    std::uint64_t handoff_deadline_ms{0};
    bool closed{false};
    AdminCounts counts;
    std::uint64_t auth_logged_ms{0};        // when a refused token was last logged
    std::uint64_t auth_unlogged{0};         // refused since, not logged

    std::expected<std::uint16_t, std::string> listen(const std::string& host, std::uint16_t port) {
        if (mhd != nullptr || closed) {
            return std::unexpected(std::string("admin listen: already listening or closed"));
        }
        sockaddr_storage addr{};
        const bool v4 = uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) == 0;
        if (!v4 && uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
            return std::unexpected(
                fmt::format("admin host '{}' is not a numeric IPv4 or IPv6 address", host));
        }
        const auto fail = [&](std::string_view step, int err) {
            return std::unexpected(fmt::format("admin {} on [{}]:{} failed: {}", step, host, port,
                                               std::strerror(err)));
        };
        // Bound here rather than by MHD, so that a taken port is named as such.
        const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return fail("socket", errno);
        }
        const int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        const socklen_t len = v4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
        if (::bind(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 ||
            ::listen(fd, SOMAXCONN) != 0) {
            const int err = errno;
            ::close(fd);
            return fail("bind", err);
        }
        sockaddr_storage bound{};
        socklen_t bound_len = sizeof bound;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
            const int err = errno;
            ::close(fd);
            return fail("getsockname", err);
        }
        if (auto started = start_mhd(v4); !started) {
            ::close(fd);
            return std::unexpected(started.error());
        }
        listen_fd = fd;  // close() closes it from here on
        const MHD_DaemonInfo* epoll = MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (epoll == nullptr) {
            close();
            closed = false;  // nothing was served: a later listen() may retry
            return std::unexpected(std::string("admin listen: libmicrohttpd gave no epoll"));
        }
        if (auto started = start_handles(epoll->epoll_fd); !started) {
            close();
            closed = false;
            return std::unexpected(started.error());
        }
        return ntohs(v4 ? reinterpret_cast<const sockaddr_in*>(&bound)->sin_port
                        : reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port);
    }

    std::expected<void, std::string> start_mhd(bool v4) {
        // Beyond the limit a connection is still served — a 503 — up to as many again (and 8);
        // past those, accepting stops and new connections wait in the kernel's backlog.
        hard_limit = limits.max_connections * 2 + 8;
        // MHD counts whole seconds of silence; the sweeper enforces the real deadline.
        const unsigned idle_s = static_cast<unsigned>(limits.timeout_ms / 1000 * 2 + 2);
        const unsigned flags = static_cast<unsigned>(MHD_USE_EPOLL) |
                               static_cast<unsigned>(MHD_USE_NO_LISTEN_SOCKET) |
                               (v4 ? 0U : static_cast<unsigned>(MHD_USE_IPv6));
        mhd = MHD_start_daemon(
            flags, 0, nullptr, nullptr, &Impl::on_request, this,
            MHD_OPTION_CONNECTION_LIMIT, hard_limit,                                       //
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, limits.max_request_bytes,                  //
            MHD_OPTION_CONNECTION_TIMEOUT, idle_s,                                         //
            MHD_OPTION_URI_LOG_CALLBACK, &Impl::on_request_line, this,                     //
            MHD_OPTION_UNESCAPE_CALLBACK, &Impl::keep_escaped, this,                       //
            MHD_OPTION_NOTIFY_COMPLETED, &Impl::on_completed, this,                        //
            MHD_OPTION_NOTIFY_CONNECTION, &Impl::on_connection, this,                      //
            MHD_OPTION_END);
        if (mhd == nullptr) {
            return std::unexpected(std::string("admin listen: libmicrohttpd did not start"));
        }
        return {};
    }

    std::expected<void, std::string> start_handles(int epoll_fd) {
        const auto failed = [this](std::string_view step, int rc) {
            return std::unexpected(fmt::format("admin {}: {}", step, uv_strerror(rc)));
        };
        poll = new uv_poll_t{};
        if (const int rc = uv_poll_init(loop, poll, epoll_fd); rc != 0) {
            delete std::exchange(poll, nullptr);  // never initialised: no close callback
            return failed("uv_poll_init", rc);
        }
        poll->data = this;
        if (const int rc = uv_poll_start(poll, UV_READABLE,
                                         [](uv_poll_t* p, int, int) {
                                             static_cast<Impl*>(p->data)->run();
                                         });
            rc != 0) {
            return failed("uv_poll_start", rc);
        }
        for (uv_timer_t** timer : {&wakeup, &sweeper}) {
            *timer = new uv_timer_t{};
            if (const int rc = uv_timer_init(loop, *timer); rc != 0) {
                delete std::exchange(*timer, nullptr);
                return failed("uv_timer_init", rc);
            }
            (*timer)->data = this;
            uv_unref(as_handle(*timer));  // the poll handle alone decides whether the loop lives
        }
        acceptor = new uv_poll_t{};
        if (const int rc = uv_poll_init(loop, acceptor, listen_fd); rc != 0) {
            delete std::exchange(acceptor, nullptr);
            return failed("uv_poll_init", rc);
        }
        acceptor->data = this;
        resume_accepting();
        const std::uint64_t every = std::clamp<std::uint64_t>(limits.timeout_ms / 10, 10, 1000);
        uv_timer_start(
            sweeper, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->sweep(); }, every, every);
        run();
        return {};
    }

    /// Connections not cut at their deadline, and those waiting for their first bytes: what
    /// the connection limit counts.
    [[nodiscard]] std::size_t serving() const noexcept {
        return pending.size() + static_cast<std::size_t>(std::ranges::count_if(
                                    connections, [](const Connection& c) { return !c.cut; }));
    }

    /// Lets MHD do what it can without blocking, then arms the timer for its next timeout.
    void run() {
        if (mhd == nullptr) {
            return;
        }
        MHD_run(mhd);
        MHD_UNSIGNED_LONG_LONG timeout = 0;
        if (MHD_get_timeout(mhd, &timeout) == MHD_YES) {
            uv_timer_start(
                wakeup, [](uv_timer_t* t) { static_cast<Impl*>(t->data)->run(); }, timeout, 0);
        } else {
            uv_timer_stop(wakeup);
        }
    }

    /// Cuts every connection past its deadline: a shut-down socket reads as closed, and MHD
    /// closes it and releases its memory on its next run.
    void sweep() {
        const std::uint64_t now = uv_now(loop);
        bool cut_any = false;
        for (Connection& c : connections) {
            if (!c.cut && c.deadline_ms <= now) {
                c.cut = true;
                ::shutdown(c.fd, SHUT_RDWR);
                cut_any = true;
            }
        }
        for (auto it = pending.begin(); it != pending.end();) {
            it = it->deadline_ms <= now ? drop(it) : std::next(it);
        }
        resume_accepting();  // after an accept that failed for want of descriptors
        if (cut_any) {
            run();
        }
    }

    // --- accepting, and the first bytes --------------------------------------------------------

    void resume_accepting() {
        if (!accepting && !closed && acceptor != nullptr &&
            connections.size() + pending.size() < hard_limit) {
            accepting = uv_poll_start(acceptor, UV_READABLE, [](uv_poll_t* p, int, int) {
                            static_cast<Impl*>(p->data)->accept_all();
                        }) == 0;
        }
    }

    void accept_all() {
        while (connections.size() + pending.size() < hard_limit) {
            Pending p;
            p.addr_len = sizeof p.addr;
            p.fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&p.addr), &p.addr_len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (p.fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                    errno != ECONNABORTED) {
                    // EMFILE, ENFILE, ENOBUFS: the socket stays readable, so watching it would
                    // spin; the sweeper resumes accepting on its next round.
                    uv_poll_stop(acceptor);
                    accepting = false;
                }
                return;
            }
            p.deadline_ms = uv_now(loop) + limits.timeout_ms;
            p.self = this;
            p.poll = new uv_poll_t{};
            if (uv_poll_init(loop, p.poll, p.fd) != 0) {
                delete p.poll;
                ::close(p.fd);
                continue;
            }
            auto it = pending.insert(pending.end(), p);
            it->poll->data = &*it;
            uv_poll_start(it->poll, UV_READABLE, [](uv_poll_t* handle, int, int) {
                auto* waiting = static_cast<Pending*>(handle->data);
                waiting->self->first_bytes(*waiting);
            });
        }
        uv_poll_stop(acceptor);  // at the hard limit: the rest wait in the backlog
        accepting = false;
    }

    /// Closes a pending connection's poll handle (the descriptor stays unless `close_fd`).
    std::list<Pending>::iterator forget(std::list<Pending>::iterator it, bool close_fd) {
        uv_poll_stop(it->poll);
        uv_close(as_handle(it->poll), [](uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); });
        if (close_fd) {
            ::close(it->fd);
        }
        auto next = pending.erase(it);
        resume_accepting();
        return next;
    }
    std::list<Pending>::iterator drop(std::list<Pending>::iterator it) { return forget(it, true); }

    /// A pending connection became readable: a first line without a space gets a 400 here,
    /// everything else goes to MHD (a line still arriving too: MHD reads the rest).
    void first_bytes(Pending& p) {
        const auto it = std::ranges::find_if(pending, [&p](const Pending& x) { return &x == &p; });
        if (it == pending.end()) {
            return;
        }
        char peek[512];
        const ssize_t n = ::recv(p.fd, peek, sizeof peek, MSG_PEEK);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            drop(it);  // closed or failed before a byte
            return;
        }
        // Empty lines before the request line are skipped (RFC 9112 §2.2), as MHD does.
        std::string_view seen{peek, static_cast<std::size_t>(n)};
        seen.remove_prefix(std::min(seen.find_first_not_of("\r\n"), seen.size()));
        const auto line_end = seen.find('\n');
        if (line_end != std::string_view::npos &&
            seen.substr(0, line_end).find(' ') == std::string_view::npos) {
            refuse_malformed(p.fd);
            drop(it);
            return;
        }
        const int fd = p.fd;
        const sockaddr_storage addr = p.addr;
        const socklen_t addr_len = p.addr_len;
        handoff_deadline_ms = p.deadline_ms;
        forget(it, false);
        // MHD owns the socket from here, and closes it even when it refuses it.
        if (MHD_add_connection(mhd, fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) !=
            MHD_YES) {
            ++counts.refused_handoffs;
            log(LogLevel::warn, "admin: libmicrohttpd refused a connection ({}); closed",
                std::strerror(errno));
        }
        handoff_deadline_ms = 0;
        run();
    }

    /// The 400 for a first line MHD cannot parse (no space: no method and target). What the
    /// client sent is read first (up to 64 KiB), so that the close is a FIN, not a reset that
    /// could lose the answer.
    void refuse_malformed(int fd) {
        char discard[4096];
        for (int i = 0; i < 16 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
        }
        const HttpResponse r = error_response(400, "malformed request line: no method and target");
        const std::string answer = fmt::format(
            "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: {}\r\n"
            "Content-Length: {}\r\n\r\n{}",
            r.content_type, r.body.size(), r.body);
        (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        ++counts.by_status[400];
    }

    static void on_connection(void* cls, MHD_Connection* connection, void** socket_context,
                              MHD_ConnectionNotificationCode code) {
        auto* self = static_cast<Impl*>(cls);
        if (code == MHD_CONNECTION_NOTIFY_STARTED) {
            const MHD_ConnectionInfo* info =
                MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
            const bool over_limit = self->serving() >= self->limits.max_connections;
            Connection& c = self->connections.emplace_back();
            c.fd = info != nullptr ? info->connect_fd : -1;
            c.deadline_ms = self->handoff_deadline_ms != 0
                                ? self->handoff_deadline_ms
                                : uv_now(self->loop) + self->limits.timeout_ms;
            c.over_limit = over_limit;
            *socket_context = &c;
            return;
        }
        auto* c = static_cast<Connection*>(*socket_context);
        if (c != nullptr) {
            self->connections.remove_if([c](const Connection& x) { return &x == c; });
        }
        self->resume_accepting();
    }

    static void* on_request_line(void*, const char* uri, MHD_Connection*) noexcept {
        try {
            auto r = std::make_unique<Request>();
            r->request.url = uri;  // the raw target: path and "?query", as route() expects
            return r.release();
        } catch (...) {
            return nullptr;  // out of memory: on_request refuses the request
        }
    }

    static size_t keep_escaped(void*, MHD_Connection*, char* s) { return std::strlen(s); }

    static void on_completed(void*, MHD_Connection*, void** request_context,
                             MHD_RequestTerminationCode) {
        delete static_cast<Request*>(std::exchange(*request_context, nullptr));
    }

    /// MHD's access handler. Nothing may unwind through MHD's C frames: an exception (out of
    /// memory) ends the connection instead.
    static MHD_Result on_request(void* cls, MHD_Connection* connection, const char* /*url*/,
                                 const char* method, const char* version,
                                 const char* upload_data,
                                 size_t* upload_data_size, void** request_context) noexcept {
        try {
            return static_cast<Impl*>(cls)->handle(connection, method, version, upload_data,
                                                   upload_data_size, request_context);
        } catch (...) {
            return MHD_NO;
        }
    }

    MHD_Result handle(MHD_Connection* connection, const char* method, const char* version,
                      const char* upload_data, size_t* upload_data_size, void** request_context) {
        auto* r = static_cast<Request*>(*request_context);
        if (r == nullptr) {
            return MHD_NO;  // no request line seen: cannot happen, refuse rather than guess
        }
        const auto* info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        auto* c = info != nullptr ? static_cast<Connection*>(info->socket_context) : nullptr;
        if (r->request.method.empty()) {  // the first call: the headers are in
            r->request.method = method;
            const char* auth =
                MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
            r->request.authorization = auth != nullptr ? auth : "";
            if (c != nullptr && c->over_limit) {
                return respond(connection, c, error_response(503, "too many admin connections"));
            }
            // RFC 9112 §3.2: an HTTP/1.1 request without a Host header is answered 400.
            if (std::string_view{version} == MHD_HTTP_VERSION_1_1 &&
                MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST) ==
                    nullptr) {
                return respond(connection, c, error_response(400, "HTTP/1.1 request without Host"));
            }
            if (announced_too_large(MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
                                                                MHD_HTTP_HEADER_CONTENT_LENGTH),
                                    limits.max_request_bytes)) {
                return respond(connection, c, too_large());
            }
            return MHD_YES;  // ask for the body
        }
        if (*upload_data_size > 0) {
            if (!r->body_too_large) {
                r->request.body.append(upload_data, *upload_data_size);
                r->body_too_large = r->request.body.size() > limits.max_request_bytes;
                if (r->body_too_large) {
                    r->request.body.clear();
                }
            }
            *upload_data_size = 0;  // consumed (or dropped, past the limit)
            return MHD_YES;
        }
        if (r->body_too_large) {
            return respond(connection, c, too_large());
        }
        const HttpResponse answer = route(r->request, backend, token);
        if (answer.status == 401) {
            log_refused_token(connection, r->request);
        }
        log(LogLevel::debug, "admin: {} {} answered {}", r->request.method,
            printable(r->request.url), answer.status);
        return respond(connection, c, answer);
    }

    /// A log line for a refused token: at most one a second, naming the client and the request.
    void log_refused_token(MHD_Connection* connection, const HttpRequest& request) {
        ++counts.auth_failures;
        const std::uint64_t now = uv_now(loop);
        if (auth_logged_ms != 0 && now < auth_logged_ms + 1000) {
            ++auth_unlogged;
            return;
        }
        log(LogLevel::warn, "admin: {} {} from {} refused: missing or wrong bearer token{}",
            request.method, printable(request.url), peer_of(connection),
            auth_unlogged == 0 ? std::string{}
                               : fmt::format(" ({} more refused since the last such line)",
                                             auth_unlogged));
        auth_logged_ms = now;
        auth_unlogged = 0;
    }

    /// The client's address, "?" if MHD does not say.
    static std::string peer_of(MHD_Connection* connection) {
        const MHD_ConnectionInfo* info =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info == nullptr || info->client_addr == nullptr) {
            return "?";
        }
        char text[INET6_ADDRSTRLEN] = "?";
        const sockaddr* a = info->client_addr;
        if (a->sa_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(a)->sin_addr, text,
                        sizeof text);
        } else if (a->sa_family == AF_INET6) {
            ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(a)->sin6_addr, text,
                        sizeof text);
        }
        return text;
    }

    [[nodiscard]] HttpResponse too_large() const {
        return error_response(413,
                              fmt::format("request larger than {} bytes", limits.max_request_bytes));
    }

    MHD_Result respond(MHD_Connection* connection, Connection* c, const HttpResponse& answer) {
        MHD_Response* response = MHD_create_response_from_buffer(
            answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
        if (response == nullptr) {
            return MHD_NO;
        }
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, answer.content_type.c_str());
        MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
        if (!answer.allow.empty()) {
            MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, answer.allow.c_str());
        }
        if (answer.status == 401) {
            MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
        }
        ++counts.by_status[answer.status];
        const MHD_Result queued =
            MHD_queue_response(connection, static_cast<unsigned>(answer.status), response);
        MHD_destroy_response(response);
        if (c != nullptr) {  // the same time again to take the answer
            c->deadline_ms = uv_now(loop) + limits.timeout_ms;
        }
        return queued;
    }

    void close() noexcept {
        if (closed) {
            return;
        }
        closed = true;
        const auto close_and_free = [](auto*& handle) {
            using Handle = std::remove_reference_t<decltype(*handle)>;
            if (handle != nullptr) {
                uv_close(as_handle(std::exchange(handle, nullptr)),
                         [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
            }
        };
        close_and_free(poll);  // stop watching the epoll descriptor before MHD closes it
        close_and_free(wakeup);
        close_and_free(sweeper);
        if (acceptor != nullptr) {
            uv_poll_stop(acceptor);
        }
        close_and_free(acceptor);
        while (!pending.empty()) {
            drop(pending.begin());
        }
        if (listen_fd >= 0) {
            ::close(std::exchange(listen_fd, -1));
        }
        if (mhd != nullptr) {
            MHD_stop_daemon(std::exchange(mhd, nullptr));  // closes every connection
        }
        connections.clear();
    }
};

AdminServer::AdminServer(uv_loop_t* loop, AdminBackend& backend, std::string bearer_token,
                         AdminLimits limits)
    : impl_(std::make_unique<Impl>(loop, backend, std::move(bearer_token), limits)) {}

AdminServer::~AdminServer() noexcept { close(); }

std::expected<std::uint16_t, std::string> AdminServer::listen(const std::string& host,
                                                             std::uint16_t port) {
    return impl_->listen(host, port);
}

void AdminServer::close() noexcept { impl_->close(); }

std::size_t AdminServer::connection_count() const noexcept { return impl_->connections.size(); }

const AdminCounts& AdminServer::counts() const noexcept { return impl_->counts; }

}  // namespace redpacketd
