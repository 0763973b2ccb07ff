// StatsScraper: a tiny non-blocking HTTP/1.0 GET of redpacketd's /stats on the caller's libuv
// loop, for the daemon-side columns of the CSV. One request at a time; loop thread only.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

namespace redpacket::load {

/// The fields of /stats the load generator uses.
struct StatsSample {
    std::uint64_t shake_requests{0};  ///< totals.shake_requests
    std::uint64_t connections{0};     ///< connections
};

/// Parses a whole HTTP response (status line, headers, JSON body); nullopt unless 200 + fields.
[[nodiscard]] std::optional<StatsSample> parse_stats_response(std::string_view response);

/// Fetches http://127.0.0.1:port/stats on `loop`.
class StatsScraper {
public:
    using Callback = std::function<void(std::optional<StatsSample>)>;
    StatsScraper(uv_loop_t& loop, std::uint16_t port) noexcept : loop_{loop}, port_{port} {}
    /// Starts a fetch; `done` runs on the loop with the sample (nullopt on any failure). Returns
    /// false (and never calls `done`) if a fetch is still running or it could not start.
    bool fetch(Callback done);
    /// True while a fetch is running (its handle is open).
    [[nodiscard]] bool busy() const noexcept { return busy_; }

private:
    struct Request;
    static void finish(Request* r, bool ok) noexcept;

    uv_loop_t& loop_;
    std::uint16_t port_;
    bool busy_{false};
};

}  // namespace redpacket::load
