// StatsScraper: GET /stats of redpacketd's admin API once a second, for the daemon-side columns
// of the CSV, without blocking the caller's libuv loop: the request (cpp-httplib's client, which
// blocks) runs on libuv's thread pool and the answer comes back on the loop. One request at a
// time; call it from the loop's thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace redpacket::load {

/// The fields of /stats the load generator uses.
struct StatsSample {
    std::uint64_t shake_requests{0};  ///< totals.shake_requests
    std::uint64_t connections{0};     ///< connections
};

/// Reads an answer to GET /stats: nullopt unless status 200 and a JSON body with the fields.
[[nodiscard]] std::optional<StatsSample> parse_stats_response(int status, std::string_view body);

/// Fetches http://127.0.0.1:port/stats on `loop`'s thread pool.
class StatsScraper {
public:
    using Callback = std::function<void(std::optional<StatsSample>)>;
    /// `admin_token`, when not empty, is sent as "Authorization: Bearer <token>".
    StatsScraper(uv_loop_t& loop, std::uint16_t port, std::string admin_token = {}) noexcept
        : loop_{loop}, port_{port}, token_{std::move(admin_token)} {}
    /// Starts a fetch; `done` runs on the loop with the sample (nullopt on any failure: refused,
    /// a timeout of 1 s, a status other than 200, a body without the fields). Returns false
    /// (and never calls `done`) if a fetch is still running or it could not start. The loop
    /// stays alive while a fetch runs.
    bool fetch(Callback done);
    /// True while a fetch is running.
    [[nodiscard]] bool busy() const noexcept { return busy_; }

private:
    struct Request;

    uv_loop_t& loop_;
    std::uint16_t port_;
    std::string token_;
    bool busy_{false};
};

}  // namespace redpacket::load
