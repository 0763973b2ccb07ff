// PeerLink: a worker's output to the other workers and every rule about it. The Outbox does the
// same for a worker's own connections.
//   - Forwarded requests: at most `max_in_flight` unanswered, so the answers the other workers
//     may have to keep for this one (below) stay bounded: (workers - 1) × max_forwarded.
//   - Answers to requests forwarded here: one that reports money the journal has not made
//     durable yet is held until it has; held answers leave in arrival order (release stops at
//     the first that must still wait). An answer with nothing to wait for is posted at once,
//     and may overtake held ones (a query's answer overtaking a claim's).
//   - A full mailbox refuses a post: an answer is kept and posted again on `retry` (each tick),
//     in order, and every later answer queues behind it; nothing is dropped. A forwarded
//     request is not kept: the caller answers its asker "overloaded".
//
// Single owner: a worker's loop thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "events.hpp"
#include "redpacket/worker_mailboxes.hpp"
#include "worker_messages.hpp"

namespace redpacketd {

class PeerLink {
public:
    using Mailboxes = redpacket::WorkerMailboxes<WorkerMessage>;
    /// `count` is told each mailbox_full, forwarded, forward_limited and held_replies event.
    PeerLink(Mailboxes& mailboxes, std::function<void(Event)> count)
        : mailboxes_{mailboxes}, count_{std::move(count)} {}

    /// Posts `request` to `to` unless `max_in_flight` forwarded requests are unanswered or its
    /// mailbox is full; false then (counted), and `request` is left as it was.
    [[nodiscard]] bool forward(redpacket::WorkerId to, redpacket::PeerRequest& request,
                               std::uint64_t max_in_flight);
    /// An answer to a request this worker forwarded has arrived.
    void answered() noexcept;
    /// Posts the answer `reply` to a request another worker forwarded here, to its asker `to`,
    /// once the journal's durable sequence (`durable` now) reaches `reply.hold_until`.
    void answer(const redpacket::ReplyAddress& to, const redpacket::Reply& reply,
                std::uint64_t durable);
    /// Posts the held answers that `durable` lets leave.
    void release(std::uint64_t durable);
    /// Posts again what full mailboxes refused, in order, until one refuses again.
    void retry();

    /// Nothing held, refused or unanswered: a draining worker may stop.
    [[nodiscard]] bool idle() const noexcept {
        return held_.empty() && retry_.empty() && in_flight_ == 0;
    }
    [[nodiscard]] std::size_t held() const noexcept { return held_.size(); }
    [[nodiscard]] std::uint64_t in_flight() const noexcept { return in_flight_; }
    [[nodiscard]] std::uint64_t in_flight_peak() const noexcept { return in_flight_peak_; }
    [[nodiscard]] std::size_t refused() const noexcept { return retry_.size(); }
    [[nodiscard]] std::size_t refused_peak() const noexcept { return retry_peak_; }

private:
    struct Held {
        std::uint64_t sequence{0};  // leaves once the durable sequence reaches this
        PeerReply message;
    };
    void post_or_keep(redpacket::WorkerId to, WorkerMessage&& m);

    Mailboxes& mailboxes_;
    std::function<void(Event)> count_;
    std::deque<Held> held_;
    std::vector<std::pair<redpacket::WorkerId, WorkerMessage>> retry_;
    std::size_t retry_peak_{0};
    std::uint64_t in_flight_{0};
    std::uint64_t in_flight_peak_{0};
};

}  // namespace redpacketd
