// HeldReplies: replies that report money the store has not made durable yet, kept in arrival
// order until the store's durable sequence reaches theirs — reply bytes for a connection of
// this worker, or the answer to a request another worker forwarded here. Releasing stops at the
// first one still waiting, so a connection's replies never overtake each other.
//
// Single owner: a worker's loop thread.
#pragma once

#include <algorithm>
#include <cstdint>
#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "redpacket/request_service.hpp"
#include "worker_messages.hpp"

namespace redpacketd {

class HeldReplies {
public:
    struct Entry {
        std::uint64_t sequence{0};       ///< leaves once the durable sequence reaches this
        redpacket::ReplyAddress conn;    ///< bytes for this connection…
        std::vector<std::byte> bytes;
        bool close_after{false};         ///< …closing it once they are written
        std::optional<PeerReply> message;  ///< or a reply for another worker
    };

    void push(Entry&& e) {
        bytes_ += e.bytes.size();
        peak_ = std::max(peak_, bytes_);
        entries_.push_back(std::move(e));
    }
    /// Passes every entry whose sequence is ≤ `durable` to `fn(Entry&&)`, in order, stopping
    /// at the first that must still wait.
    template <class Fn>
    void release(std::uint64_t durable, Fn&& fn) {
        while (!entries_.empty() && entries_.front().sequence <= durable) {
            Entry e = std::move(entries_.front());
            entries_.pop_front();
            bytes_ -= e.bytes.size();
            fn(std::move(e));
        }
    }
    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    /// Reply bytes held now, and the most held at once since start.
    [[nodiscard]] std::uint64_t bytes() const noexcept { return bytes_; }
    [[nodiscard]] std::uint64_t peak() const noexcept { return peak_; }

private:
    std::deque<Entry> entries_;
    std::uint64_t bytes_{0};
    std::uint64_t peak_{0};
};

}  // namespace redpacketd
