// Admin HTTP API, part 2: the libuv + http_parser server that serves route().
#include "admin_http.hpp"

#include <fmt/format.h>
#include <http_parser.h>
#include <openssl/crypto.h>
#include <strings.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <concepts>
#include <limits>
#include <ranges>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "redpacket/split.hpp"

namespace redpacketd {

using detail::error_response;
using detail::iequals;
// ---- Server ------------------------------------------------------------------------------

namespace {

void log_uv(std::string_view what, int rc) {
    fmt::print(stderr, "redpacketd admin: {}: {} ({})\n", what, uv_err_name(rc), uv_strerror(rc));
}

template <typename Handle>
uv_handle_t* as_handle(Handle* handle) noexcept {
    return reinterpret_cast<uv_handle_t*>(handle);
}

template <typename Handle>
uv_stream_t* as_stream(Handle* handle) noexcept {
    return reinterpret_cast<uv_stream_t*>(handle);
}

/// reading: parsing the request; responding: writing the answer; lingering: answer sent and
/// our side shut down, draining the peer until it closes (so it is not reset mid-read).
enum class Phase : std::uint8_t { reading, responding, lingering };

std::string serialize(const HttpResponse& response) {
    const char* reason = http_status_str(static_cast<http_status>(response.status));
    return fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{}",
        response.status, reason, response.content_type, response.body.size(),
        response.status == 401 ? "WWW-Authenticate: Bearer\r\n" : "", response.body);
}

}  // namespace

struct AdminServer::Impl {
    struct Connection {
        uv_tcp_t tcp{};
        uv_write_t write_req{};
        uv_shutdown_t shutdown_req{};
        http_parser parser{};
        Impl* server{nullptr};  // valid while the handle is not closing
        Phase phase{Phase::reading};
        bool message_complete{false};
        bool too_large{false};
        bool peer_eof{false};
        bool in_header_value{false};
        bool header_is_authorization{false};
        std::uint64_t deadline_ms{0};
        std::size_t bytes_received{0};
        std::string header_field;
        HttpRequest request;
        std::string response;
    };

    Impl(uv_loop_t* l, AdminBackend& b, std::string t, AdminLimits lim)
        : loop(l), backend(b), token(std::move(t)), limits(lim) {}

    uv_loop_t* loop;
    AdminBackend& backend;
    std::string token;
    AdminLimits limits;
    uv_tcp_t* listener{nullptr};  // heap: freed in its close callback
    uv_timer_t* sweeper{nullptr};
    std::unordered_set<Connection*> connections;
    std::array<char, 16 * 1024> read_buffer{};  // shared: each read is consumed before the next
    bool closed{false};

    static Connection& connection_of(http_parser* parser) noexcept {
        return *static_cast<Connection*>(parser->data);
    }

    static const http_parser_settings& parser_settings() noexcept {
        static const http_parser_settings settings = [] {
            http_parser_settings s{};
            s.on_url = [](http_parser* p, const char* at, std::size_t n) {
                connection_of(p).request.url.append(at, n);
                return 0;
            };
            s.on_header_field = [](http_parser* p, const char* at, std::size_t n) {
                Connection& c = connection_of(p);
                if (c.in_header_value) {
                    c.header_field.clear();
                    c.in_header_value = false;
                }
                c.header_field.append(at, n);
                return 0;
            };
            s.on_header_value = [](http_parser* p, const char* at, std::size_t n) {
                Connection& c = connection_of(p);
                if (!c.in_header_value) {
                    c.in_header_value = true;
                    c.header_is_authorization = iequals(c.header_field, "authorization");
                    if (c.header_is_authorization) {
                        c.request.authorization.clear();  // a repeated header: the last counts
                    }
                }
                if (c.header_is_authorization) {
                    c.request.authorization.append(at, n);
                }
                return 0;
            };
            s.on_headers_complete = [](http_parser* p) {
                Connection& c = connection_of(p);
                // content_length stays ULLONG_MAX when the header is absent.
                if (p->content_length != std::numeric_limits<std::uint64_t>::max() &&
                    p->content_length > c.server->limits.max_request_bytes) {
                    c.too_large = true;
                    http_parser_pause(p, 1);
                }
                return 0;
            };
            s.on_body = [](http_parser* p, const char* at, std::size_t n) {
                connection_of(p).request.body.append(at, n);
                return 0;
            };
            s.on_message_complete = [](http_parser* p) {
                Connection& c = connection_of(p);
                c.message_complete = true;
                c.request.method = http_method_str(static_cast<http_method>(p->method));
                http_parser_pause(p, 1);  // one request per connection: ignore what follows
                return 0;
            };
            return s;
        }();
        return settings;
    }

    std::expected<std::uint16_t, std::string> listen(const std::string& host, std::uint16_t port) {
        if (listener != nullptr || closed) {
            return std::unexpected(std::string("admin listen: already listening or closed"));
        }
        sockaddr_storage addr{};
        if (uv_ip4_addr(host.c_str(), port, reinterpret_cast<sockaddr_in*>(&addr)) != 0 &&
            uv_ip6_addr(host.c_str(), port, reinterpret_cast<sockaddr_in6*>(&addr)) != 0) {
            return std::unexpected(
                fmt::format("admin host '{}' is not a numeric IPv4 or IPv6 address", host));
        }
        const auto fail = [&](std::string_view step, int rc) {
            close();
            closed = false;  // nothing was served: a later listen() may retry
            return std::unexpected(fmt::format("admin {} on [{}]:{} failed: {} ({})", step, host,
                                               port, uv_err_name(rc), uv_strerror(rc)));
        };
        auto* tcp = new uv_tcp_t{};
        if (const int rc = uv_tcp_init(loop, tcp); rc != 0) {
            delete tcp;  // never initialised: no close callback will come
            return fail("uv_tcp_init", rc);
        }
        tcp->data = this;
        listener = tcp;
        if (const int rc = uv_tcp_bind(tcp, reinterpret_cast<const sockaddr*>(&addr), 0); rc != 0) {
            return fail("uv_tcp_bind", rc);
        }
        if (const int rc = uv_listen(as_stream(tcp), 128, on_connection); rc != 0) {
            return fail("uv_listen", rc);
        }
        sockaddr_storage bound{};
        int bound_len = static_cast<int>(sizeof bound);
        if (const int rc = uv_tcp_getsockname(tcp, reinterpret_cast<sockaddr*>(&bound), &bound_len);
            rc != 0) {
            return fail("uv_tcp_getsockname", rc);
        }
        const std::uint16_t bound_port =
            bound.ss_family == AF_INET6
                ? ntohs(reinterpret_cast<const sockaddr_in6*>(&bound)->sin6_port)
                : ntohs(reinterpret_cast<const sockaddr_in*>(&bound)->sin_port);
        auto* timer = new uv_timer_t{};
        if (const int rc = uv_timer_init(loop, timer); rc != 0) {
            delete timer;
            return fail("uv_timer_init", rc);
        }
        timer->data = this;
        sweeper = timer;
        const std::uint64_t every = std::clamp<std::uint64_t>(limits.timeout_ms / 10, 10, 1000);
        if (const int rc = uv_timer_start(timer, on_sweep, every, every); rc != 0) {
            return fail("uv_timer_start", rc);
        }
        uv_unref(as_handle(timer));  // the listener alone decides whether the loop lives
        return bound_port;
    }

    void close() noexcept {
        if (closed) {
            return;
        }
        closed = true;
        if (listener != nullptr) {
            uv_close(as_handle(std::exchange(listener, nullptr)),
                     [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
        }
        if (sweeper != nullptr) {
            uv_close(as_handle(std::exchange(sweeper, nullptr)),
                     [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
        }
        for (Connection* c : std::exchange(connections, {})) {
            close_handle(*c);
        }
    }

    static void close_handle(Connection& c) noexcept {
        if (!uv_is_closing(as_handle(&c.tcp))) {
            uv_close(as_handle(&c.tcp),
                     [](uv_handle_t* h) { delete static_cast<Connection*>(h->data); });
        }
    }

    void close_connection(Connection& c) noexcept {
        connections.erase(&c);
        close_handle(c);
    }

    static void on_connection(uv_stream_t* stream, int status) {
        Impl& self = *static_cast<Impl*>(stream->data);
        if (status != 0) {
            log_uv("accept", status);
            return;
        }
        try {
            self.accept(stream);
        } catch (const std::exception& e) {
            fmt::print(stderr, "redpacketd admin: accept: {}\n", e.what());
        }
    }

    void accept(uv_stream_t* stream) {
        auto owned = std::make_unique<Connection>();
        connections.insert(owned.get());
        if (const int rc = uv_tcp_init(loop, &owned->tcp); rc != 0) {
            connections.erase(owned.get());
            log_uv("uv_tcp_init", rc);
            return;
        }
        Connection& c = *owned.release();  // from here on freed by the close callback
        c.tcp.data = &c;
        c.write_req.data = &c;
        c.shutdown_req.data = &c;
        c.server = this;
        c.deadline_ms = uv_now(loop) + limits.timeout_ms;
        http_parser_init(&c.parser, HTTP_REQUEST);
        c.parser.data = &c;
        if (const int rc = uv_accept(stream, as_stream(&c.tcp)); rc != 0) {
            log_uv("uv_accept", rc);
            close_connection(c);
            return;
        }
        if (const int rc = uv_read_start(as_stream(&c.tcp), on_alloc, on_read); rc != 0) {
            log_uv("uv_read_start", rc);
            close_connection(c);
            return;
        }
        if (connections.size() > limits.max_connections) {
            respond(c, error_response(503, "too many admin connections"));
        }
    }

    static void on_alloc(uv_handle_t* handle, std::size_t, uv_buf_t* buf) {
        Impl& self = *static_cast<Connection*>(handle->data)->server;
        *buf = uv_buf_init(self.read_buffer.data(), static_cast<unsigned>(self.read_buffer.size()));
    }

    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
        Connection& c = *static_cast<Connection*>(stream->data);
        Impl& self = *c.server;
        if (nread == 0) {
            return;
        }
        if (nread < 0) {
            if (nread == UV_EOF && c.phase == Phase::responding) {
                c.peer_eof = true;  // half-closed: still deliver the answer
                if (const int rc = uv_read_stop(stream); rc != 0) {
                    log_uv("uv_read_stop", rc);
                }
                return;
            }
            if (nread != UV_EOF && nread != UV_ECONNRESET) {
                log_uv("read", static_cast<int>(nread));
            }
            self.close_connection(c);
            return;
        }
        if (c.phase != Phase::reading) {
            return;  // the answer is decided; drain and discard
        }
        try {
            self.feed(c, buf->base, static_cast<std::size_t>(nread));
        } catch (const std::exception& e) {
            fmt::print(stderr, "redpacketd admin: request: {}\n", e.what());
            self.close_connection(c);
        }
    }

    void feed(Connection& c, const char* data, std::size_t size) {
        const std::size_t take = std::min(size, limits.max_request_bytes - c.bytes_received);
        c.bytes_received += take;
        if (take > 0) {  // a zero length would tell the parser the stream ended
            http_parser_execute(&c.parser, &parser_settings(), data, take);
        }
        if (c.message_complete) {
            respond(c, route(c.request, backend, token));
        } else if (c.too_large || take < size) {
            respond(c, error_response(413, fmt::format("request larger than {} bytes",
                                                       limits.max_request_bytes)));
        } else if (const auto err = HTTP_PARSER_ERRNO(&c.parser); err != HPE_OK) {
            respond(c, error_response(400, fmt::format("malformed HTTP request: {}",
                                                       http_errno_description(err))));
        }
    }

    void respond(Connection& c, const HttpResponse& response) {
        c.phase = Phase::responding;
        c.deadline_ms = uv_now(loop) + limits.timeout_ms;
        c.response = serialize(response);
        const uv_buf_t buf =
            uv_buf_init(c.response.data(), static_cast<unsigned>(c.response.size()));
        if (const int rc = uv_write(&c.write_req, as_stream(&c.tcp), &buf, 1, on_write); rc != 0) {
            log_uv("uv_write", rc);
            close_connection(c);
        }
    }

    static void on_write(uv_write_t* req, int status) {
        Connection& c = *static_cast<Connection*>(req->data);
        if (uv_is_closing(as_handle(&c.tcp))) {
            return;  // cancelled by close(); the server may be gone
        }
        if (status != 0 || c.peer_eof) {
            if (status != 0 && status != UV_EPIPE && status != UV_ECONNRESET) {
                log_uv("write", status);
            }
            c.server->close_connection(c);
            return;
        }
        c.phase = Phase::lingering;
        if (const int rc = uv_shutdown(&c.shutdown_req, as_stream(&c.tcp), on_shutdown); rc != 0) {
            log_uv("uv_shutdown", rc);
            c.server->close_connection(c);
        }
    }

    static void on_shutdown(uv_shutdown_t* req, int status) {
        Connection& c = *static_cast<Connection*>(req->data);
        if (uv_is_closing(as_handle(&c.tcp)) || status == 0) {
            return;  // lingering ends at the peer's EOF or the deadline
        }
        if (status != UV_ENOTCONN && status != UV_ECONNRESET) {
            log_uv("shutdown", status);
        }
        c.server->close_connection(c);
    }

    static void on_sweep(uv_timer_t* timer) {
        Impl& self = *static_cast<Impl*>(timer->data);
        const std::uint64_t now = uv_now(self.loop);
        std::erase_if(self.connections, [now](Connection* c) {
            if (c->deadline_ms > now) {
                return false;
            }
            close_handle(*c);
            return true;
        });
    }
};

AdminServer::AdminServer(uv_loop_t* loop, AdminBackend& backend, std::string bearer_token,
                         AdminLimits limits)
    : impl_(std::make_unique<Impl>(loop, backend, std::move(bearer_token), limits)) {}

AdminServer::~AdminServer() noexcept { impl_->close(); }

std::expected<std::uint16_t, std::string> AdminServer::listen(const std::string& host,
                                                              std::uint16_t port) {
    return impl_->listen(host, port);
}

void AdminServer::close() noexcept { impl_->close(); }

std::size_t AdminServer::connection_count() const noexcept { return impl_->connections.size(); }

}  // namespace redpacketd
