// PeerLink: the forwarded requests' budget, answers held for the journal, and the order of
// posts a full mailbox refused — through real WorkerMailboxes, one worker's link at a time.
#include <catch2/catch.hpp>

#include <map>
#include <vector>

#include "peer_link.hpp"

namespace {

using redpacketd::Event;
using redpacketd::PeerLink;
using redpacketd::PeerReply;
using redpacketd::WorkerMessage;
namespace protocol = redpacket::protocol;

struct Link {
    explicit Link(std::size_t capacity) : mailboxes{2, capacity} {}
    PeerLink::Mailboxes mailboxes;
    std::map<Event, int> counted;
    PeerLink link{mailboxes, [this](Event e) { ++counted[e]; }};

    /// The request ids of the answers worker 1's mailbox holds, in order (drained).
    std::vector<std::uint64_t> answers_at_1() {
        std::vector<std::uint64_t> ids;
        mailboxes.drain(1, 1000, [&](WorkerMessage&& m) {
            ids.push_back(protocol::request_id_of(std::get<PeerReply>(m).reply));
        });
        return ids;
    }
};

redpacket::Reply answer(std::uint64_t id, std::uint64_t hold_until) {
    return redpacket::Reply{protocol::ClaimResponse{.request_id = id}, hold_until};
}

const redpacket::ReplyAddress kAsker{1, 7, 3};

}  // namespace

TEST_CASE("a peer link forwards at most max_in_flight unanswered requests", "[peer_link]") {
    Link l{64};
    redpacket::PeerRequest request{protocol::Claim{1, 42}, 9, {0, 1, 1}};
    CHECK(l.link.forward(1, request, 2));
    CHECK(l.link.forward(1, request, 2));
    CHECK_FALSE(l.link.forward(1, request, 2));  // two are out
    CHECK(l.counted[Event::forward_limited] == 1);
    CHECK(l.counted[Event::forwarded] == 2);
    CHECK(l.link.in_flight() == 2);
    CHECK_FALSE(l.link.idle());
    l.link.answered();
    CHECK(l.link.forward(1, request, 2));
    CHECK(l.link.in_flight_peak() == 2);
    l.link.answered();
    l.link.answered();
    CHECK(l.link.idle());
}

TEST_CASE("a forward a full mailbox refuses is counted and not out", "[peer_link]") {
    Link l{2};
    redpacket::PeerRequest request{protocol::Claim{5, 42}, 9, {0, 1, 1}};
    CHECK(l.link.forward(1, request, 100));
    CHECK(l.link.forward(1, request, 100));
    CHECK_FALSE(l.link.forward(1, request, 100));
    CHECK(l.counted[Event::mailbox_full] == 1);
    CHECK(l.link.in_flight() == 2);  // the refused one is not out
    std::size_t posted = 0;
    l.mailboxes.drain(1, 100, [&](WorkerMessage&&) { ++posted; });
    CHECK(posted == 2);
    l.link.answered();
    l.link.answered();
    CHECK(l.link.forward(1, request, 100));  // room again
}

TEST_CASE("an answer waits for its journal record, in arrival order", "[peer_link]") {
    Link l{64};
    l.link.answer(kAsker, answer(1, 0), 10);  // nothing to wait for
    l.link.answer(kAsker, answer(2, 12), 10);
    l.link.answer(kAsker, answer(3, 14), 10);
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{1});
    CHECK(l.counted[Event::held_replies] == 2);
    CHECK(l.link.held() == 2);
    CHECK_FALSE(l.link.idle());
    l.link.release(11);
    CHECK(l.answers_at_1().empty());
    l.link.release(13);
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{2});
    l.link.release(14);
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{3});
    CHECK(l.link.idle());
}

TEST_CASE("answers a full mailbox refused keep their order and are not dropped", "[peer_link]") {
    Link l{2};
    for (std::uint64_t id = 1; id <= 5; ++id) {
        l.link.answer(kAsker, answer(id, 0), 0);
    }
    CHECK(l.counted[Event::mailbox_full] == 1);  // counted once per refusal, not per answer
    CHECK(l.link.refused() == 3);
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{1, 2});
    // Room now, but a new answer still queues behind the refused ones.
    l.link.answer(kAsker, answer(6, 0), 0);
    CHECK(l.answers_at_1().empty());
    l.link.retry();  // two fit
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{3, 4});
    l.link.retry();
    CHECK(l.answers_at_1() == std::vector<std::uint64_t>{5, 6});
    CHECK(l.link.refused() == 0);
    CHECK(l.link.refused_peak() == 4);
    CHECK(l.link.idle());
}
