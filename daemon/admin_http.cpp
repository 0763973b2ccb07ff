// Admin HTTP API: the pure router, then the libuv + http_parser server that serves it.
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
namespace {

using nlohmann::json;
using namespace std::string_view_literals;

// ---- Router ------------------------------------------------------------------------------

std::string dump(const json& value) {
    // `replace` because a key echoed in an error may hold invalid UTF-8.
    return value.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

HttpResponse json_response(int status, const json& value) {
    return {status, "application/json", dump(value)};
}

HttpResponse error_response(int status, std::string_view message) {
    return json_response(status, json{{"error", message}});
}

bool iequals(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view s) noexcept {
    const auto first = s.find_first_not_of(" \t");
    return first == s.npos ? std::string_view{}
                           : s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

/// `Authorization: Bearer <token>`; the token compared in constant time once lengths match.
bool authorized(std::string_view authorization, const std::string& token) noexcept {
    constexpr std::string_view scheme = "Bearer ";
    authorization = trim(authorization);
    if (authorization.size() < scheme.size() ||
        !iequals(authorization.substr(0, scheme.size()), scheme)) {
        return false;
    }
    const std::string_view given = trim(authorization.substr(scheme.size()));
    return given.size() == token.size() &&
           CRYPTO_memcmp(given.data(), token.data(), token.size()) == 0;
}

using Result = std::expected<void, std::string>;

Result assign(bool& field, const json& value, std::string_view key) {
    if (!value.is_boolean()) {
        return std::unexpected(fmt::format("key '{}' must be true or false", key));
    }
    field = value.get<bool>();
    return {};
}

template <std::integral T>
Result assign(T& field, const json& value, std::string_view key) {
    const bool is_unsigned = value.is_number_unsigned();
    if (is_unsigned ? !std::in_range<T>(value.get<std::uint64_t>())
                    : !value.is_number_integer() || !std::in_range<T>(value.get<std::int64_t>())) {
        return std::unexpected(fmt::format("key '{}' must be an integer in [{}, {}]", key,
                                           std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max()));
    }
    field = is_unsigned ? static_cast<T>(value.get<std::uint64_t>())
                        : static_cast<T>(value.get<std::int64_t>());
    return {};
}

Result assign(redpacket::SplitPolicy& field, const json& value, std::string_view key) {
    const auto policy = value.is_string()
                            ? redpacket::parse_split_policy(value.get_ref<const std::string&>())
                            : std::nullopt;
    if (!policy) {
        return std::unexpected(fmt::format(
            "key '{}' must be \"double_mean\", \"line_cut\", \"equal\" or \"fixed\"", key));
    }
    field = *policy;
    return {};
}

/// JSON key → member, one table per campaign type; keys are the struct's field names.
template <typename C, typename... M>
Result set_field(C& campaign, std::string_view key, const json& value,
                 std::pair<std::string_view, M C::*>... fields) {
    std::optional<Result> result;
    ((result = !result && key == fields.first
                   ? std::optional(assign(campaign.*fields.second, value, key))
                   : result),
     ...);
    return result ? *result : std::unexpected(fmt::format("unknown key '{}'", key));
}

Result set_field(ShakeCampaignConfig& c, std::string_view key, const json& v) {
    using S = ShakeCampaignConfig;
    return set_field(c, key, v, std::pair{"enabled"sv, &S::enabled}, std::pair{"rate"sv, &S::rate},
                     std::pair{"total"sv, &S::total}, std::pair{"min_amount"sv, &S::min_amount},
                     std::pair{"max_amount"sv, &S::max_amount},
                     std::pair{"ttl_seconds"sv, &S::ttl_seconds});
}

Result set_field(SendCampaignConfig& c, std::string_view key, const json& v) {
    using S = SendCampaignConfig;
    return set_field(c, key, v, std::pair{"enabled"sv, &S::enabled}, std::pair{"rate"sv, &S::rate},
                     std::pair{"total"sv, &S::total}, std::pair{"min_total"sv, &S::min_total},
                     std::pair{"max_total"sv, &S::max_total}, std::pair{"shares"sv, &S::shares},
                     std::pair{"policy"sv, &S::policy},
                     std::pair{"ttl_seconds"sv, &S::ttl_seconds});
}

/// A campaign from a JSON object body: posted means enabled unless it says otherwise.
template <typename Campaign>
std::expected<Campaign, std::string> campaign_from_json(const std::string& body) {
    const json parsed = json::parse(body, nullptr, false);
    if (!parsed.is_object()) {  // a parse failure is `discarded`, not an object
        return std::unexpected(std::string(parsed.is_discarded() ? "body is not valid JSON"
                                                                 : "body must be a JSON object"));
    }
    Campaign campaign{};
    campaign.enabled = true;
    for (const auto& [key, value] : parsed.items()) {
        if (auto set = set_field(campaign, key, value); !set) {
            return std::unexpected(std::move(set.error()));
        }
    }
    return campaign;
}

/// One numeric parameter of the 2017 query-string forms: required, digits only, in range.
template <std::integral T>
Result parse_number(std::optional<std::string_view> value, std::string_view name, T& field) {
    if (!value) {
        return std::unexpected(fmt::format("query parameter '{}' is missing", name));
    }
    T parsed{};
    const char* end = value->data() + value->size();
    const auto [stop, ec] = std::from_chars(value->data(), end, parsed);
    if (value->empty() || ec != std::errc{} || stop != end) {
        return std::unexpected(fmt::format("query parameter '{}' must be an integer in [{}, {}]",
                                           name, std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max()));
    }
    field = parsed;
    return {};
}

/// A campaign from `query`: every listed parameter required, unknown or repeated ones refused;
/// other fields keep their defaults and the campaign is enabled.
template <typename Campaign, typename... T>
std::expected<Campaign, std::string> campaign_from_query(
    std::string_view query, std::pair<std::string_view, T Campaign::*>... params) {
    const std::array<std::string_view, sizeof...(T)> names{params.first...};
    std::array<std::optional<std::string_view>, sizeof...(T)> values;
    for (const auto piece : std::views::split(query, '&')) {
        const std::string_view param(piece.begin(), piece.end());
        const auto name = param.substr(0, param.find('='));
        const auto it = std::ranges::find(names, name);
        if (param.empty()) {
            continue;
        }
        if (it == names.end()) {
            return std::unexpected(fmt::format("unknown query parameter '{}'", name));
        }
        auto& value = values[static_cast<std::size_t>(it - names.begin())];
        if (value) {
            return std::unexpected(fmt::format("repeated query parameter '{}'", name));
        }
        value = name.size() < param.size() ? param.substr(name.size() + 1) : std::string_view{};
    }
    Campaign campaign{};
    campaign.enabled = true;
    Result result;
    std::size_t i = 0;
    ((result = result ? parse_number(values[i], params.first, campaign.*params.second) : result,
      ++i),
     ...);
    if (!result) {
        return std::unexpected(std::move(result.error()));
    }
    return campaign;
}

template <typename Campaign, typename Start>
HttpResponse start_campaign(const std::expected<Campaign, std::string>& campaign, Start start) {
    if (!campaign) {
        return error_response(400, campaign.error());
    }
    auto started = start(*campaign);
    return started ? json_response(200, *started) : error_response(400, started.error());
}

HttpResponse route_unchecked(const HttpRequest& request, AdminBackend& backend,
                             const std::string& bearer_token) {
    const std::string_view url = request.url;
    const auto path_end = std::min(url.find('?'), url.find('#'));
    const auto path = url.substr(0, path_end);
    std::string_view query;
    if (path_end < url.size() && url[path_end] == '?') {
        query = url.substr(path_end + 1);
        query = query.substr(0, query.find('#'));
    }
    const bool get = request.method == "GET";
    const bool post = request.method == "POST";
    const auto wrong_method = [](std::string_view allowed) {
        return error_response(405, fmt::format("method not allowed; use {}", allowed));
    };

    if (path == "/healthz") {
        return get ? HttpResponse{200, "text/plain; charset=utf-8", "ok\n"} : wrong_method("GET");
    }
    if (!bearer_token.empty() && !authorized(request.authorization, bearer_token)) {
        return error_response(401, "missing or wrong bearer token");
    }
    if (path == "/stats") {
        return get ? json_response(200, backend.stats()) : wrong_method("GET");
    }
    if (path == "/metrics") {
        return get ? HttpResponse{200, "text/plain; version=0.0.4", backend.metrics()}
                   : wrong_method("GET");
    }
    if (path == "/campaigns") {
        return get ? json_response(200, backend.campaigns()) : wrong_method("GET");
    }
    const auto shake = [&](const ShakeCampaignConfig& c) { return backend.start_shake(c); };
    const auto send = [&](const SendCampaignConfig& c) { return backend.start_send(c); };
    if (path == "/campaigns/shake") {
        return post ? start_campaign(campaign_from_json<ShakeCampaignConfig>(request.body), shake)
                    : wrong_method("POST");
    }
    if (path == "/campaigns/send") {
        return post ? start_campaign(campaign_from_json<SendCampaignConfig>(request.body), send)
                    : wrong_method("POST");
    }
    if (path == "/yaohongbao") {
        using S = ShakeCampaignConfig;
        return get ? start_campaign(campaign_from_query(query, std::pair{"qps"sv, &S::rate},
                                                        std::pair{"sum"sv, &S::total}),
                                    shake)
                   : wrong_method("GET");
    }
    if (path == "/fahongbao") {
        using S = SendCampaignConfig;
        return get ? start_campaign(campaign_from_query(query, std::pair{"qps"sv, &S::rate},
                                                        std::pair{"sum"sv, &S::total},
                                                        std::pair{"min"sv, &S::min_total},
                                                        std::pair{"max"sv, &S::max_total}),
                                    send)
                   : wrong_method("GET");
    }
    return error_response(404, fmt::format("no such path: {}", path));
}

}  // namespace

HttpResponse route(const HttpRequest& request, AdminBackend& backend,
                   const std::string& bearer_token) {
    const auto internal_error = [](std::string_view what) noexcept -> HttpResponse {
        try {
            return error_response(500, fmt::format("internal error: {}", what));
        } catch (...) {
            return {500, {}, {}};  // out of memory: empty strings do not allocate
        }
    };
    try {
        return route_unchecked(request, backend, bearer_token);
    } catch (const std::exception& e) {
        return internal_error(e.what());
    } catch (...) {
        return internal_error("unknown exception");
    }
}

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
