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
//   - optionally, WAIT behind a command on the same connection (the replicas that have it),
//     one WAIT per connection per loop iteration covering every command sent in it: a WAIT
//     blocks the commands pipelined behind it, so one per command would allow one command per
//     replica round trip (measured: ~3,400/s per master), while a shared one lets a batch
//     through per round trip, like a journal's group commit.
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
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "redpacket/latency_histogram.hpp"
#include "redpacket/redis/resp.hpp"
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
    std::int64_t wanted{0};     ///< the replicas that WAIT asked for; 0 without a WAIT
    /// Fewer replicas acknowledged than the WAIT asked for.
    [[nodiscard]] bool short_wait() const noexcept { return wanted > 0 && replicas < wanted; }
};

/// How one command is run.
struct CommandOptions {
    /// > 0 (or `wait_all`): a WAIT covers the command, for this many replicas or, with `wait_all`, for every
    /// replica the slot map lists for its master if that is more; `replicas` reports its
    /// answer, `wanted` what it asked.
    std::uint32_t wait_replicas{0};
    std::chrono::milliseconds wait_timeout{0};
    /// False for a command that must not run twice (a shake take): after a connection is lost
    /// with it sent, it fails `unavailable` instead of being sent again.
    bool retry_after_send{true};
    /// Wait for every listed replica, so that whichever of them a failover promotes has the
    /// write (Redis may promote any replica whose data is recent enough, not always the one
    /// with the most). A failed replica leaves CLUSTER SLOTS once the cluster marks it FAIL.
    bool wait_all{false};
};

struct ClusterOptions {
    std::vector<NodeAddress> seeds;                ///< nodes to learn the slot map from
    std::chrono::milliseconds timeout{2000};       ///< deadline of each command, retries included
    std::uint32_t max_redirects{16};               ///< MOVED/ASK hops before giving up
    std::chrono::milliseconds retry_min{10};       ///< backoff after a transient failure…
    std::chrono::milliseconds retry_max{400};      ///< …doubling up to this
    /// The slot map (and each master's replicas) is asked for again at least this often, so
    /// that a lost replica shows without a failed command (0: only on errors and redirects).
    std::chrono::milliseconds map_refresh{5000};
    /// The local IPv4 address connections to the nodes leave from; empty: the kernel's choice.
    /// On a host with several addresses, it picks the path (and lets a firewall rule tell this
    /// client's traffic apart: the partition tests cut one daemon off by it).
    std::string source_address;
};

/// Counters of a client (read on its loop thread).
struct ClusterStats {
    std::uint64_t commands{0};      ///< commands completed (ok or not)
    std::uint64_t round_trips{0};   ///< commands sent to a node (retries and redirects included)
    std::uint64_t waits{0};         ///< WAITs sent (each covers a batch of commands)
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

    /// Runs `argv` on the master of `slot`.
    void command(std::uint16_t slot, const std::vector<std::string>& argv, Callback done,
                 CommandOptions how = {});
    /// The same with the command already encoded (Resp, resp.hpp).
    void command_resp(std::uint16_t slot, std::string resp, Callback done, CommandOptions how = {});
    /// Runs `argv` on every master; `done` gets each master's answer.
    void on_every_master(
        std::vector<std::string> argv,
        std::function<void(std::vector<std::pair<NodeAddress,
                                                  std::expected<CommandResult, ClusterError>>>)>
            done);

    /// The masters the slot map names.
    [[nodiscard]] std::vector<NodeAddress> masters() const;
    /// How many replicas CLUSTER SLOTS listed for each master of `masters()`, in its order (a
    /// replica the cluster marks failed is not listed).
    [[nodiscard]] const std::vector<std::uint32_t>& master_replicas() const noexcept {
        return owner_replicas_;
    }
    /// The master the slot map names for `slot`, if any.
    [[nodiscard]] std::optional<NodeAddress> master_of(std::uint16_t slot) const;
    /// Asks for a fresh slot map (at most one in flight).
    void refresh() { refresh_map(); }
    [[nodiscard]] const ClusterStats& stats() const noexcept { return stats_; }
    [[nodiscard]] const ClusterOptions& options() const noexcept { return options_; }
    /// Sends now the WAITs the client would send when the loop runs its check handles (for
    /// every node with commands sent since its last WAIT): a store that sends commands from a
    /// check handle of its own calls it after them.
    void send_due_waits();
    /// Commands not answered yet.
    [[nodiscard]] std::size_t in_flight() const noexcept { return requests_.size(); }

private:
    struct Node;
    struct Request;
    friend struct Node;

    /// Registers a request (its deadline included) and dispatches it.
    void submit(std::unique_ptr<Request> r);
    void dispatch(std::uint64_t id);
    void send(Request& r, Node& node);
    void on_reply(std::uint64_t id, std::uint64_t attempt, const void* reply);
    /// Sends one WAIT for the commands sent to `node` since its last one (the check handle
    /// calls it once per loop iteration).
    void send_wait(Node& node);
    void on_wait(std::vector<std::pair<std::uint64_t, std::uint64_t>> covered, std::uint32_t wanted,
                 const void* reply);
    /// A command lost with its connection: retried, or failed if it must not run twice.
    void lost(Request& r);
    void retry_later(Request& r, bool refresh_map);
    void finish(std::uint64_t id, std::expected<CommandResult, ClusterError> result);
    Node& node(const NodeAddress& at);
    void drop_node(const NodeAddress& at);
    void refresh_map();
    void ask_slots(std::shared_ptr<const std::vector<NodeAddress>> candidates, std::size_t i);
    // Adopts the valid ranges of a CLUSTER SLOTS answer; false (nothing changed) if none is.
    bool adopt_slot_map(const Value& slots);
    void tick();
    [[nodiscard]] std::int64_t now_ms() const noexcept;

    uv_loop_t* loop_;
    ClusterOptions options_;
    uv_timer_t timer_{};
    bool timer_open_{false};
    uv_check_t check_{};                 // sends the loop iteration's WAITs
    std::vector<NodeAddress> wait_due_;  // nodes with commands sent since their last WAIT
    bool closing_{false};
    std::vector<std::int32_t> slot_owner_;  // index into owners_, -1: unknown
    std::vector<NodeAddress> owners_;
    std::vector<std::uint32_t> owner_replicas_;  // replicas listed for each of owners_
    [[nodiscard]] std::uint32_t replicas_of(const NodeAddress& master) const noexcept;
    std::map<NodeAddress, std::unique_ptr<Node>> nodes_;
    std::unordered_map<std::uint64_t, std::unique_ptr<Request>> requests_;
    // Deadlines, soonest first (entries of finished requests are skipped when they surface).
    std::priority_queue<std::pair<std::int64_t, std::uint64_t>,
                        std::vector<std::pair<std::int64_t, std::uint64_t>>, std::greater<>>
        deadlines_;
    std::deque<std::uint64_t> waiting_;  // requests to dispatch once due (backoff or a map)
    std::uint64_t next_id_{1};
    bool refreshing_{false};
    std::int64_t last_refresh_ms_{0};
    std::string slots_problem_;  // why the last CLUSTER SLOTS answer was not used (start-up error)
    std::function<void(std::expected<void, std::string>)> on_started_;
    std::function<void()> on_closed_;
    std::size_t closing_handles_{0};
    ClusterStats stats_;
};

}  // namespace redpacket::redis
