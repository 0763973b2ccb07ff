#include "peer_link.hpp"

#include <algorithm>

#include "redpacket/assert.hpp"

namespace redpacketd {

bool PeerLink::forward(redpacket::WorkerId to, redpacket::PeerRequest& request,
                       std::uint64_t max_in_flight) {
    if (in_flight_ >= max_in_flight) {
        count_(Event::forward_limited);
        return false;
    }
    WorkerMessage m{std::move(request)};
    if (!mailboxes_.post_to(to, std::move(m))) {
        request = std::move(std::get<redpacket::PeerRequest>(m));  // post_to handed it back
        count_(Event::mailbox_full);
        return false;
    }
    ++in_flight_;
    in_flight_peak_ = std::max(in_flight_peak_, in_flight_);
    count_(Event::forwarded);
    return true;
}

void PeerLink::answered() noexcept {
    REDPACKET_ASSERT(in_flight_ > 0);  // every forwarded request gets exactly one answer
    --in_flight_;
}

void PeerLink::answer(const redpacket::ReplyAddress& to, const redpacket::Reply& reply,
                      std::uint64_t durable) {
    // A forwarded request's answer is one frame (grab, claim, query or proof).
    REDPACKET_ASSERT(reply.count == 1 && !reply.close);
    PeerReply message{reply.frame, to};
    if (reply.hold_until <= durable) {
        post_or_keep(to.worker, WorkerMessage{std::move(message)});
        return;
    }
    count_(Event::held_replies);
    held_.push_back(Held{reply.hold_until, std::move(message)});
    release(durable);  // earlier ones the journal has caught up with since the last release
}

void PeerLink::release(std::uint64_t durable) {
    while (!held_.empty() && held_.front().sequence <= durable) {
        PeerReply message = std::move(held_.front().message);
        held_.pop_front();
        const redpacket::WorkerId to = message.to.worker;
        post_or_keep(to, WorkerMessage{std::move(message)});
    }
}

void PeerLink::post_or_keep(redpacket::WorkerId to, WorkerMessage&& m) {
    if (retry_.empty() && mailboxes_.post_to(to, std::move(m))) {
        return;
    }
    if (retry_.empty()) {
        count_(Event::mailbox_full);
    }
    retry_.emplace_back(to, std::move(m));  // post_to() handed it back; behind earlier refusals
    retry_peak_ = std::max(retry_peak_, retry_.size());
}

void PeerLink::retry() {
    std::size_t sent = 0;
    for (; sent < retry_.size(); ++sent) {
        auto& [to, m] = retry_[sent];
        if (!mailboxes_.post_to(to, std::move(m))) {
            break;
        }
    }
    retry_.erase(retry_.begin(), retry_.begin() + static_cast<std::ptrdiff_t>(sent));
}

}  // namespace redpacketd
