// ClientSession without sockets: replies matched to their requests by id, nonce, packet or
// order, whatever order they arrive in.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "redpacket/client_session.hpp"

using namespace redpacket;

namespace {

std::vector<std::byte> frames(std::initializer_list<protocol::Message> ms) {
    std::vector<std::byte> out;
    for (const auto& m : ms) {
        protocol::append(out, m, 0);
    }
    return out;
}

struct Seen {
    std::vector<std::pair<std::string, protocol::Message>> replies;  // tag, reply
    std::vector<protocol::Message> other;
};

void feed(ClientSession<std::string>& s, Seen& seen, const std::vector<std::byte>& bytes) {
    const auto fed = s.feed(
        bytes,
        [&](std::string&& tag, const protocol::Message& reply, const auto&) {
            seen.replies.emplace_back(std::move(tag), reply);
        },
        [&](const protocol::Message& m) { seen.other.push_back(m); });
    REQUIRE(fed.has_value());
}

}  // namespace

TEST_CASE("extended replies are matched by request id in any order", "[client]") {
    ClientSession<std::string> s;
    s.send(protocol::Claim{1, 100}, "first", 0);
    s.send(protocol::Query{2, 100}, "second", 0);
    s.send(protocol::Claim{3, 200}, "third", 0);
    CHECK(s.output().size() == 3 * 28);
    Seen seen;
    feed(s, seen, frames({protocol::ClaimResponse{3, 200, 0, 0, 7},
                          protocol::ErrorReply{1, protocol::ErrorCode::overloaded},
                          protocol::QueryResponse{2, 100}}));
    REQUIRE(seen.replies.size() == 3);
    CHECK(seen.replies[0].first == "third");
    CHECK(seen.replies[1].first == "first");
    CHECK(std::holds_alternative<protocol::ErrorReply>(seen.replies[1].second));
    CHECK(seen.replies[2].first == "second");
    CHECK(s.pending() == 0);
}

TEST_CASE("shakes are matched in order, grabs by packet, heartbeats by nonce", "[client]") {
    ClientSession<std::string> s;
    s.send(protocol::LoginRequest{1}, "login", 0);
    s.send(protocol::ShakeRequest{1}, "shake-a", 0);
    s.send(protocol::GrabRequest{0, 77}, "grab-77", 0);
    s.send(protocol::ShakeRequest{1}, "shake-b", 0);
    s.send(protocol::GrabRequest{0, 88}, "grab-88", 0);
    s.send(protocol::Heartbeat{5}, "beat-5", 0);
    Seen seen;
    feed(s, seen, frames({protocol::LoginResponse{1, 0}, protocol::GrabResponse{88, 3},
                          protocol::ShakeResponse{1, protocol::kShakeNoPacket},
                          protocol::PacketNotice{99, 10, 1, {1, 0, 0}},
                          protocol::HeartbeatResponse{5},
                          protocol::ShakeResponse{1, protocol::kShakeGotPacket, 4, 2},
                          protocol::GrabResponse{77, 0}}));
    std::vector<std::string> order;
    for (const auto& [tag, reply] : seen.replies) {
        order.push_back(tag);
    }
    CHECK(order == std::vector<std::string>{"login", "grab-88", "shake-a", "beat-5", "shake-b",
                                            "grab-77"});
    REQUIRE(seen.other.size() == 1);
    CHECK(std::holds_alternative<protocol::PacketNotice>(seen.other[0]));
}

TEST_CASE("an error frame of request 0 answers a heartbeat or a login, else nobody", "[client]") {
    ClientSession<std::string> s;
    s.send(protocol::ShakeRequest{1}, "shake", 0);
    Seen seen;
    feed(s, seen, frames({protocol::ErrorReply{0, protocol::ErrorCode::not_logged_in}}));
    CHECK(seen.replies.empty());
    CHECK(seen.other.size() == 1);
    s.send(protocol::Heartbeat{3}, "beat", 0);
    feed(s, seen, frames({protocol::ErrorReply{0, protocol::ErrorCode::overloaded}}));
    REQUIRE(seen.replies.size() == 1);
    CHECK(seen.replies[0].first == "beat");
    CHECK(s.take_first(RequestKind::shake) == std::optional<std::string>{"shake"});
    CHECK(s.pending() == 0);
}

TEST_CASE("a reset hands back every pending request for a retry or a failure", "[client]") {
    ClientSession<std::string> s;
    s.send(protocol::Claim{1, 100}, "claim", 0);
    s.send(protocol::ShakeRequest{1}, "shake", 0);
    std::vector<std::pair<std::string, bool>> taken;
    s.reset([&](ClientSession<std::string>::Pending&& p) {
        taken.emplace_back(p.tag, is_retryable(p.key.kind));
    });
    CHECK(taken == std::vector<std::pair<std::string, bool>>{{"claim", true}, {"shake", false}});
    CHECK(s.output().empty());
    CHECK(s.pending() == 0);
    // A garbled stream is an error value.
    const std::vector<std::byte> junk(16, std::byte{0xFF});
    const auto fed = s.feed(junk, [](std::string&&, const protocol::Message&, const auto&) {},
                            [](const protocol::Message&) {});
    CHECK_FALSE(fed.has_value());
}
