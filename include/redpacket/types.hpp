// Small vocabulary types shared by every component: users, shards, workers and time.
//
// Time in libredpacket is whatever clock the caller runs, as std::chrono::milliseconds since
// that clock's epoch: the library never reads a clock itself, so tests and replays are exact.
#pragma once

#include <chrono>
#include <cstdint>

namespace redpacket {

/// A user (the wire protocol carries 32 bits; the library keeps 64).
using UserId = std::uint64_t;
/// A shard, the seed's "SET": a slice of users and the packets they create.
using ShardId = std::uint32_t;
/// A worker thread that owns some shards.
using WorkerId = std::uint32_t;
/// A point in time, in milliseconds since the caller's clock epoch.
using Time = std::chrono::milliseconds;

}  // namespace redpacket
