// Worker: shutdown. SIGTERM/SIGINT first drains — no new connections or requests, but what
// was already read is finished: replies waiting for the journal, requests forwarded to other
// workers (and the others' requests forwarded here), replies queued to slow readers — then
// closes every connection once all workers are done, or at shutdown_grace_ms.
#include <uv.h>

#include <atomic>
#include <cstdint>

#include "log.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

void count_down(std::atomic<std::uint32_t>& n) noexcept {
    std::uint32_t v = n.load();
    while (v > 0 && !n.compare_exchange_weak(v, v - 1)) {
    }
}

}  // namespace

// Called from on_async, which calls check_drain after handling its messages.
void Worker::begin_drain() {
    draining_ = true;
    drain_deadline_ms_ = now_ms_ + std::int64_t{config_.shutdown_grace_ms};
    if (listening_) {
        uv_close(reinterpret_cast<uv_handle_t*>(&listener_), nullptr);
        listening_ = false;
    }
    for (Connection* c : slots_) {
        if (c != nullptr && c->attached && !c->closing) {
            (void)uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
        }
    }
}

void Worker::check_drain() {
    if (!draining_ || stopping_) {
        return;
    }
    const bool done = held_.empty() && forwarded_in_flight_ == 0 && retry_.empty() &&
                      output_queued_ == 0;
    const bool late = now_ms_ >= drain_deadline_ms_;
    if (!drain_reported_ && (done || late)) {
        if (!done) {
            log(LogLevel::warn, "worker {}: shutdown grace over with {} held replies, {} forwarded "
                "requests and {} queued reply bytes unfinished", index_, held_.size(),
                forwarded_in_flight_, output_queued_);
        }
        drain_reported_ = true;
        count_down(shared_.draining_workers);  // late: the others need not wait for this one
    }
    if (shared_.draining_workers.load() == 0 || late) {
        stop_on_loop();
    }
}

void Worker::stop_on_loop() {
    stopping_ = true;
    for (Connection* c : slots_) {
        if (c != nullptr && !c->closing) {
            close_connection(*c, Event::closed);
        }
    }
    uv_timer_stop(&tick_);
    uv_timer_stop(&sweep_);
    uv_close(reinterpret_cast<uv_handle_t*>(&tick_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&sweep_), nullptr);
    uv_unref(reinterpret_cast<uv_handle_t*>(&async_));  // lets uv_run return; closed later
}

}  // namespace redpacketd
