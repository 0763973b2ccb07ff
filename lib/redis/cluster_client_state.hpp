// ClusterClient's per-node and per-request state, shared by its implementation files
// (cluster_client.cpp, cluster_slot_map.cpp). Internal to lib/redis.
#pragma once

#include <hiredis/async.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "redpacket/redis/cluster_client.hpp"

namespace redpacket::redis {

struct ClusterClient::Node {
    ClusterClient* client{nullptr};
    NodeAddress at;
    redisAsyncContext* ctx{nullptr};
    std::deque<std::int64_t> sent_at;  // send time of each command awaiting its reply, in order
    // Commands (id, attempt) sent since the last WAIT, and what that WAIT must ask for.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> unwaited;
    std::uint32_t wait_replicas{0};
    std::int64_t wait_timeout_ms{0};
};

struct ClusterClient::Request {
    std::uint64_t id{0};
    std::uint16_t slot{0};
    std::string resp;  // the command, encoded once
    Callback done;
    CommandOptions how;
    std::int64_t deadline_ms{0};
    std::int64_t not_before_ms{0};
    std::uint64_t started_ns{0};
    std::uint64_t attempt{0};   // replies to earlier attempts are ignored
    std::uint32_t redirects{0};
    std::uint32_t failures{0};
    std::string last_error;
    std::optional<NodeAddress> ask;     // one-shot ASK target
    std::optional<NodeAddress> target;  // a request for one node (no slot routing)
    std::optional<Value> reply;         // the command's reply while its WAIT is pending
};

}  // namespace redpacket::redis
