// ClusterClient: a small Redis Cluster client on hiredis's async API and its libuv adapter,
// on the caller's loop. Debian packages no cluster client for C or C++; this is the part of
// one that a red-packet store needs:
//   - the slot → master map from CLUSTER SLOTS, refreshed on MOVED, connection loss and
//     CLUSTERDOWN;
//   - one hiredis connection per master, on which concurrent commands are pipelined;
//   - MOVED (update the slot, retry there), ASK (ASKING then the command, on the target's
//     connection, once), and TRYAGAIN / CLUSTERDOWN / LOADING / a lost connection (retry with
//     exponential backoff) — all inside the command's deadline, after which the command fails
//     with `timed_out`: never a hang;
//   - optionally, WAIT right behind a command on the same connection (replicas that have it).
// hiredis 0.14 cannot time a command out; a connection whose oldest command outlives the
// deadline is closed (every command on it then fails over to the retry path).
//
// Ownership and thread-safety: one client per loop thread; every member and callback on it.
// `close()` and let the loop run until its callback before destroying the client.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <expected>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "redpacket/latency_histogram.hpp"
#include "redpacket/redis/slots.hpp"

namespace redpacket::redis {

/// A Redis reply, owned (converted from hiredis's).
struct Value {
    enum class Type : std::uint8_t { nil, integer, string, status, error, array };
    Type type{Type::nil};
    std::int64_t integer{0};
    std::string str;  ///< string, status and error replies
    std::vector<Value> elements;

    [[nodiscard]] bool is_error() const noexcept { return type == Type::error; }
    [[nodiscard]] bool is_nil() const noexcept { return type == Type::nil; }
    /// An integer reply, or a string reply holding a decimal integer.
    [[nodiscard]] std::optional<std::int64_t> as_int() const noexcept;
};

/// Why a command failed.
struct ClusterError {
    enum class Kind : std::uint8_t {
        timed_out,    ///< no answer within the command's deadline (retries included)
        unavailable,  ///< no node could take it (connections failing, cluster down) in time
        redis,        ///< Redis answered an error that is not a redirect or transient: `message`
        closed,       ///< the client was closed
    };
    Kind kind{Kind::unavailable};
    std::string message;
};
[[nodiscard]] std::string describe(const ClusterError& e);

/// A command's answer: its reply, and with a WAIT the replicas that acknowledged it.
struct CommandResult {
    Value reply;
    std::int64_t replicas{-1};  ///< WAIT's answer; -1 without a WAIT
};

struct ClusterOptions {
    std::vector<NodeAddress> seeds;                ///< nodes to learn the slot map from
    std::chrono::milliseconds timeout{2000};       ///< deadline of each command, retries included
    std::uint32_t max_redirects{16};               ///< MOVED/ASK hops before giving up
    std::chrono::milliseconds retry_min{10};       ///< backoff after a transient failure…
    std::chrono::milliseconds retry_max{400};      ///< …doubling up to this
};

/// Counters of a client (read on its loop thread).
struct ClusterStats {
    std::uint64_t commands{0};      ///< commands completed (ok or not)
    std::uint64_t round_trips{0};   ///< commands sent to a node (retries and redirects included)
    std::uint64_t moved{0};
    std::uint64_t ask{0};
    std::uint64_t retries{0};       ///< transient errors and lost connections retried
    std::uint64_t failures{0};      ///< commands that ended in an error
    std::uint64_t timeouts{0};
    std::uint64_t map_refreshes{0};
    std::uint64_t connects{0};
    LatencyHistogram latency;       ///< command latency, ns, retries included
};

class ClusterClient {
public:
    using Callback = std::function<void(std::expected<CommandResult, ClusterError>)>;

    ClusterClient(uv_loop_t* loop, ClusterOptions options);
    ~ClusterClient();
    ClusterClient(const ClusterClient&) = delete;
    ClusterClient& operator=(const ClusterClient&) = delete;

    /// Learns the slot map (from the first seed that answers within the timeout).
    void start(std::function<void(std::expected<void, std::string>)> done);
    /// Fails every command with `closed` and releases the connections; `done` once libuv has.
    void close(std::function<void()> done = {});

    /// Runs `argv` on the master of `slot`. With `wait_replicas` > 0, a WAIT follows it on the
    /// same connection and `replicas` reports its answer.
    void command(std::uint16_t slot, std::vector<std::string> argv, Callback done,
                 std::uint32_t wait_replicas = 0,
                 std::chrono::milliseconds wait_timeout = std::chrono::milliseconds{0});
    /// Runs `argv` on every master; `done` gets each master's answer.
    void on_every_master(
        std::vector<std::string> argv,
        std::function<void(std::vector<std::pair<NodeAddress,
                                                  std::expected<CommandResult, ClusterError>>>)>
            done);

    /// The masters the slot map names.
    [[nodiscard]] std::vector<NodeAddress> masters() const;
    /// The master the slot map names for `slot`, if any.
    [[nodiscard]] std::optional<NodeAddress> master_of(std::uint16_t slot) const;
    /// Asks for a fresh slot map (at most one in flight).
    void refresh() { refresh_map(); }
    [[nodiscard]] const ClusterStats& stats() const noexcept { return stats_; }
    /// Commands not answered yet.
    [[nodiscard]] std::size_t in_flight() const noexcept { return requests_.size(); }

private:
    struct Node;
    struct Request;
    friend struct Node;

    void dispatch(std::uint64_t id);
    void send(Request& r, Node& node);
    void on_reply(std::uint64_t id, std::uint64_t attempt, const void* reply, bool is_wait);
    void retry_later(Request& r, bool refresh_map);
    void finish(std::uint64_t id, std::expected<CommandResult, ClusterError> result);
    Node& node(const NodeAddress& at);
    void drop_node(const NodeAddress& at);
    void refresh_map();
    void tick();
    [[nodiscard]] std::int64_t now_ms() const noexcept;

    uv_loop_t* loop_;
    ClusterOptions options_;
    uv_timer_t timer_{};
    bool timer_open_{false};
    bool closing_{false};
    std::vector<std::int32_t> slot_owner_;  // index into owners_, -1: unknown
    std::vector<NodeAddress> owners_;
    std::map<NodeAddress, std::unique_ptr<Node>> nodes_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Request>> requests_;
    std::deque<std::uint64_t> waiting_;  // requests to dispatch once due (backoff or a map)
    std::uint64_t next_id_{1};
    bool refreshing_{false};
    std::int64_t last_refresh_ms_{0};
    std::function<void(std::expected<void, std::string>)> on_started_;
    std::function<void()> on_closed_;
    std::size_t closing_handles_{0};
    ClusterStats stats_;
};

}  // namespace redpacket::redis
