// HeldReplies: answers to requests other workers forwarded here that report money the store has
// not made durable yet, kept in arrival order until the store's durable sequence reaches
// theirs, then posted back. (A connection's own replies wait in its Outbox.) Releasing stops
// at the first one still waiting, so the answers to one asker never overtake each other.
//
// Single owner: a worker's loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <utility>

#include "worker_messages.hpp"

namespace redpacketd {

class HeldReplies {
public:
    struct Entry {
        std::uint64_t sequence{0};  ///< leaves once the durable sequence reaches this
        PeerReply message;
    };

    void push(Entry&& e) { entries_.push_back(std::move(e)); }
    /// Passes every entry whose sequence is ≤ `durable` to `fn(Entry&&)`, in order, stopping
    /// at the first that must still wait.
    template <class Fn>
    void release(std::uint64_t durable, Fn&& fn) {
        while (!entries_.empty() && entries_.front().sequence <= durable) {
            Entry e = std::move(entries_.front());
            entries_.pop_front();
            fn(std::move(e));
        }
    }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }

private:
    std::deque<Entry> entries_;
};

}  // namespace redpacketd
