// ShardedSubscriber: SSUBSCRIBE to Redis Cluster shard channels (Redis 7 sharded pub/sub) on
// the caller's libuv loop, one connection per master that owns a subscribed channel.
//
// hiredis 0.14's async API knows only SUBSCRIBE/PSUBSCRIBE: it takes an SSUBSCRIBE for an
// ordinary command and aborts on the first "smessage". So this connection is our own libuv
// socket, with hiredis's command formatter and reply parser (redisReader). A channel whose
// slot moves (the server pushes "sunsubscribe") or whose connection is lost is subscribed again
// on its current master, every `retry` until it succeeds; messages published meanwhile are lost
// (pub/sub keeps nothing), so users of it must tolerate a gap.
//
// Thread-safety: the loop's thread. `close()` and run the loop before destroying it.
#pragma once

#include <uv.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/redis/cluster_client.hpp"

namespace redpacket::redis {

class ShardedSubscriber {
public:
    using OnMessage = std::function<void(std::string_view channel, std::string_view message)>;

    /// `cluster` (which must outlive this) tells which master owns a channel's slot.
    ShardedSubscriber(uv_loop_t* loop, ClusterClient& cluster, OnMessage on_message,
                      std::chrono::milliseconds retry = std::chrono::milliseconds{500});
    ~ShardedSubscriber();
    ShardedSubscriber(const ShardedSubscriber&) = delete;
    ShardedSubscriber& operator=(const ShardedSubscriber&) = delete;

    /// Subscribes to `channel` (and keeps it subscribed).
    void subscribe(const std::string& channel);
    /// Closes every connection; `done` once libuv has released them.
    void close(std::function<void()> done = {});
    /// Channels currently confirmed by a server.
    [[nodiscard]] std::size_t subscribed() const noexcept;
    /// Messages received so far.
    [[nodiscard]] std::uint64_t messages() const noexcept { return messages_; }

private:
    struct Connection;
    void attach(const std::string& channel);
    static void connected(uv_connect_t* req, int status);
    void lost(Connection& c);
    void on_reply(Connection& c, const Value& v);
    void tick();

    uv_loop_t* loop_;
    ClusterClient& cluster_;
    OnMessage on_message_;
    std::chrono::milliseconds retry_;
    uv_timer_t timer_{};
    bool closing_{false};
    std::size_t closing_handles_{0};
    std::function<void()> on_closed_;
    std::set<std::string> wanted_;                // every channel asked for
    std::map<std::string, Connection*> on_;       // channel → connection it was sent on
    std::map<NodeAddress, std::unique_ptr<Connection>> connections_;
    std::uint64_t messages_{0};
};

}  // namespace redpacket::redis
