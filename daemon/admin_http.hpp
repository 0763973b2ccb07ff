// The admin HTTP API of redpacketd: health, stats, Prometheus metrics and campaign control.
//
// Two layers. `route()` is a pure function from a parsed request to a response — no sockets,
// no clock — so it can be unit-tested and fuzzed; it never throws. `AdminServer` serves
// `route()` over HTTP/1.1 on a libuv loop, one request per connection (`Connection: close`),
// on GNU libmicrohttpd (it parses and frames; the loop drives it: admin_http.cpp). The caller owns the loop and the backend; both must
// outlive the server. Thread-safety: none — every AdminServer call and every callback runs on
// the admin loop's thread (stop it from elsewhere with uv_async_send).
#pragma once

#include <uv.h>

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <map>
#include <string>
#include <string_view>

#include "admin_backend.hpp"

namespace redpacketd {

/// One parsed HTTP request, as much of it as the admin API looks at.
struct HttpRequest {
    std::string method;  ///< "GET", "POST", ...
    std::string url;     ///< origin-form target: path and optional "?query"
    std::string body;
    std::string authorization;  ///< value of the Authorization header; empty if absent
};

/// What `route()` answers; the server adds the status line and framing headers.
struct HttpResponse {
    int status;
    std::string content_type;
    std::string body;
    std::string allow{};  ///< a 405's Allow header: the methods the path takes
};

/// Answers one admin request. GET (or HEAD) /healthz, /stats, /metrics, /campaigns,
/// /packets/<id>/proof; POST
/// /campaigns/shake and /campaigns/send (JSON); GET /yaohongbao and /fahongbao (the 2017
/// query-string forms). A non-empty `bearer_token` guards every path but /healthz (401).
/// Errors are JSON {"error": "..."}. Never throws.
[[nodiscard]] HttpResponse route(const HttpRequest& request, AdminBackend& backend,
                                 const std::string& bearer_token);

namespace detail {
/// A JSON {"error": message} response (shared by the router and the server).
[[nodiscard]] HttpResponse error_response(int status, std::string_view message);
/// ASCII case-insensitive equality, for header names.
[[nodiscard]] bool iequals(std::string_view a, std::string_view b) noexcept;
/// A Content-Length announcing more than `limit` bytes, or unparseable; false for none (null).
[[nodiscard]] bool announced_too_large(const char* content_length, std::size_t limit) noexcept;
/// At most 200 bytes of a client's URL, control bytes shown as '?', for a log line.
[[nodiscard]] std::string printable(std::string_view url);
}  // namespace detail

/// Resource limits of the admin server.
struct AdminLimits {
    std::uint32_t max_connections{64};  ///< more are answered 503 and closed (past twice as
                                        ///< many, left in the listen backlog)
    std::size_t max_request_bytes{64 * 1024};  ///< request line + headers (more → 431), and
                                               ///< the body (more → 413)
    std::uint64_t timeout_ms{10'000};          ///< whole request must arrive within this; the
                                               ///< same again to finish after the response
};

/// What an admin server answered since it started: requests by status code (its loop's thread
/// writes and reads them). A 401 is a failed authentication; those are also logged, at most one
/// line a second (the line says how many it stands for).
struct AdminCounts {
    std::map<int, std::uint64_t> by_status;  ///< answers this server wrote (not libmicrohttpd's
                                             ///< own refusals, such as its 431)
    std::uint64_t auth_failures{0};
    std::uint64_t refused_handoffs{0};  ///< connections libmicrohttpd would not take (logged)
};

/// Serves `route()` on a libuv loop. Handles are freed in their close callbacks, so after
/// `close()` (or destruction, which calls it) the loop must run once more to release them.
class AdminServer {
public:
    /// Binds nothing yet; `backend` and `loop` must outlive the server.
    AdminServer(uv_loop_t* loop, AdminBackend& backend, std::string bearer_token,
                AdminLimits limits = {});
    /// Calls `close()`.
    ~AdminServer() noexcept;
    AdminServer(const AdminServer&) = delete;
    AdminServer& operator=(const AdminServer&) = delete;
    AdminServer(AdminServer&&) = delete;
    AdminServer& operator=(AdminServer&&) = delete;

    /// Listens on `host` (a numeric IPv4 or IPv6 address) and `port` (0 = ephemeral).
    /// Returns the bound port, or a message naming the failing step. Call at most once.
    [[nodiscard]] std::expected<std::uint16_t, std::string> listen(const std::string& host,
                                                                   std::uint16_t port);
    /// Stops listening and closes every admin connection. Idempotent.
    void close() noexcept;
    /// Admin connections currently open (not yet closing).
    [[nodiscard]] std::size_t connection_count() const noexcept;
    /// The requests answered so far. Call on the loop's thread.
    [[nodiscard]] const AdminCounts& counts() const noexcept;

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace redpacketd
