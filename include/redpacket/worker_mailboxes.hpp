// WorkerMailboxes: one bounded Mailbox per worker, addressed by worker.
//
// Cross-thread work is addressed by its owner (seastar's `submit_to(shard, fn)`): a producer
// on any thread `post_to(worker, message)`; the worker `drain`s its own mailbox from its event
// loop, waking on the mailbox's coalescing signal (plug in `uv_async_send`). A full mailbox is
// an error value that hands the message back, so the caller can answer "overloaded" or keep
// it for a retry; nothing blocks and nothing is dropped.
//
// Which worker owns what (a SET, a connection) is not this class's business: see
// ShardedConnectionSet for the SET → worker rule.
//
// Thread-safety: `post_to` from any thread; `drain` only on the addressed worker's thread;
// `set_wake` before any producer starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include "redpacket/error.hpp"
#include "redpacket/mailbox.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// One Mailbox of `Message` per worker.
template <class Message>
class WorkerMailboxes {
public:
    using WakeFn = typename Mailbox<Message>::WakeFn;

    /// Throws std::invalid_argument for 0 workers or a bad capacity (see Mailbox).
    WorkerMailboxes(std::uint32_t workers, std::size_t capacity) {
        if (workers == 0) {
            throw std::invalid_argument("need at least one worker");
        }
        boxes_.reserve(workers);
        for (std::uint32_t w = 0; w < workers; ++w) {
            boxes_.push_back(std::make_unique<Mailbox<Message>>(capacity));
        }
    }

    [[nodiscard]] std::uint32_t worker_count() const noexcept {
        return static_cast<std::uint32_t>(boxes_.size());
    }

    /// Sets the wake-up of `worker`'s mailbox. Call before producers start.
    void set_wake(WorkerId worker, void* context, WakeFn fn) noexcept {
        boxes_[worker]->set_wake(context, fn);
    }

    /// Sends `message` to `worker`. Errors: mailbox_full, invalid_argument (no such worker);
    /// on an error `message` is left as it was, so the caller can keep it and retry.
    /// Thread-safety: any thread. Lock-free.
    [[nodiscard]] std::expected<void, Error> post_to(WorkerId worker, Message&& message) noexcept {
        if (worker >= boxes_.size()) {
            return std::unexpected(Error::invalid_argument);
        }
        if (!boxes_[worker]->try_push(std::move(message))) {
            return std::unexpected(Error::mailbox_full);
        }
        return {};
    }

    /// Pops up to `max` messages of `worker` into `fn(Message&&)`; returns how many.
    /// Thread-safety: `worker`'s thread only.
    template <class Fn>
    std::size_t drain(WorkerId worker, std::size_t max, Fn&& fn) {
        return boxes_[worker]->drain(max, std::forward<Fn>(fn));
    }

    /// Posts refused because `worker`'s mailbox was full.
    [[nodiscard]] std::uint64_t rejected(WorkerId worker) const noexcept {
        return boxes_[worker]->rejected();
    }

private:
    std::vector<std::unique_ptr<Mailbox<Message>>> boxes_;
};

}  // namespace redpacket
