// SnapshotTask: takes a MemoryStore's snapshots every `interval` — encoded on the loop thread
// (the pools' owner; every allocation of a snapshot made and freed there), waited for and
// written on libuv's threadpool, one at a time.
//
// Thread-safety: the loop's thread, except the job itself.
#pragma once

#include <uv.h>

#include <chrono>
#include <cstdint>

#include "redpacket/memory_store.hpp"

namespace redpacketd {

class SnapshotTask {
public:
    /// `interval` 0: never. `worker` only names the log lines.
    SnapshotTask(uv_loop_t* loop, std::uint32_t worker, std::chrono::seconds interval) noexcept
        : loop_{loop}, worker_{worker}, interval_ms_{interval.count() * 1000} {}

    /// Starts the interval at `now_ms`.
    void reset(std::int64_t now_ms) noexcept { last_ms_ = now_ms; }
    /// Starts a snapshot of `store` if the interval has passed and none is running.
    void maybe_start(const redpacket::MemoryStore& store, std::int64_t now_ms);
    [[nodiscard]] bool running() const noexcept { return running_; }

private:
    uv_loop_t* loop_;
    std::uint32_t worker_;
    std::int64_t interval_ms_;
    std::int64_t last_ms_{0};
    bool running_{false};
};

}  // namespace redpacketd
