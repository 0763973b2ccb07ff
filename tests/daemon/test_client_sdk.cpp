// redpacket::Client against a real redpacketd: replies matched out of order, deadlines, error
// frames, notices, heartbeats, and a claim that stays exactly-once across a kill -9.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "redpacket/client.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using redpacket::Client;
using redpacket::ClientErrc;
using redpacket::ClientError;
using redpacket::ClientOptions;
using redpacket::ClientState;
using redpacket::Credentials;
using redpacketd::testing::as;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;
using redpacketd::testing::must;
namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;

/// A libuv loop for the test's clients, run until a condition holds.
struct Loop {
    uv_loop_t loop{};
    Loop() { uv_loop_init(&loop); }
    ~Loop() {
        uv_run(&loop, UV_RUN_NOWAIT);
        (void)uv_loop_close(&loop);
    }
    template <class Pred>
    bool run_until(Pred&& done, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            if (uv_run(&loop, UV_RUN_ONCE) == 0) {
                break;
            }
        }
        return done();
    }
    void close(Client& c) {
        bool closed = false;
        c.close([&] { closed = true; });
        REQUIRE(run_until([&] { return closed; }, 5s));
    }
};

ClientOptions options(std::uint16_t port, redpacket::UserId user) {
    ClientOptions o;
    o.port = port;
    o.login = Credentials::compat(user);
    o.request_timeout = 5s;
    return o;
}

/// A packet created by `creator` (a user of `creator`'s SET) with `shares` equal shares.
std::uint64_t create_packet(std::uint16_t port, std::uint32_t creator, std::uint64_t total,
                            std::uint32_t shares, std::uint32_t policy = 2) {
    BlockingClient c(port);
    REQUIRE(must(c.login(creator)).result == protocol::kResultOk);
    return must(c.create(protocol::CreatePacket{0, total, shares, policy, 600})).packet;
}

}  // namespace

TEST_CASE("the client matches replies that come back out of order to their requests",
          "[client][integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16"});
    // User 2 lives on worker 0 (SET 2); packets of SET 3 are worker 1's: claims of them are
    // forwarded and come back after the queries of SET 2's packet answered in the same read.
    std::vector<std::uint64_t> remote;
    for (int i = 0; i < 20; ++i) {
        remote.push_back(create_packet(d.port(), 3, 100, 4));
    }
    const std::uint64_t local = create_packet(d.port(), 18, 100, 4);
    Loop loop;
    Client client(&loop.loop, options(d.port(), 2));
    client.start();
    REQUIRE(loop.run_until([&] { return client.state() == ClientState::ready; }, 5s));
    std::vector<std::string> completions;
    std::map<std::uint64_t, protocol::ClaimResponse> claims;  // by packet
    std::size_t queries = 0;
    client.cork();  // every request in one write: one read on the daemon
    for (const std::uint64_t p : remote) {
        client.claim(p, [&, p](std::expected<protocol::ClaimResponse, ClientError> r) {
            REQUIRE(r.has_value());
            claims[p] = *r;
            completions.push_back("claim");
        });
        client.query(local, [&](std::expected<protocol::QueryResponse, ClientError> r) {
            REQUIRE(r.has_value());
            CHECK(r->packet == local);
            ++queries;
            completions.push_back("query");
        });
    }
    client.uncork();
    REQUIRE(loop.run_until([&] { return completions.size() == 40; }, 10s));
    CHECK(queries == 20);
    for (const std::uint64_t p : remote) {
        CHECK(claims[p].packet == p);
        CHECK(claims[p].status == protocol::to_wire(ClaimStatus::claimed));
        CHECK(claims[p].amount == 25);
    }
    // The forwarded claims were answered after the local queries sent after them.
    CHECK(completions.front() == "query");
    CHECK(completions.back() == "claim");
    CHECK(client.in_flight() == 0);
    loop.close(client);
}

TEST_CASE("the client reports refusals, not-found packets and notices as values",
          "[client][integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--send-enabled", "true", "--send-rate",
                     "200", "--send-total", "0", "--send-shares", "1", "--send-policy", "fixed",
                     "--send-min-total", "7", "--send-max-total", "7"});
    Loop loop;
    Client client(&loop.loop, options(d.port(), 5));
    std::vector<protocol::PacketNotice> notices;
    client.on_notice([&](const protocol::PacketNotice& n) { notices.push_back(n); });
    client.start();
    std::optional<std::expected<protocol::CreateResponse, ClientError>> created;
    client.create(protocol::CreatePacket{0, 100, 2, 2, /*ttl*/ 0},
                  [&](auto r) { created = std::move(r); });
    std::optional<std::expected<protocol::ClaimResponse, ClientError>> claimed;
    client.claim((0x7FFFFULL << 13) | 5, [&](auto r) { claimed = std::move(r); });
    REQUIRE(loop.run_until([&] { return created && claimed; }, 5s));
    REQUIRE_FALSE(created->has_value());
    CHECK(created->error().kind == ClientErrc::refused);
    CHECK(created->error().code == protocol::ErrorCode::invalid_argument);
    CHECK(redpacket::describe(created->error()) == "refused: invalid_argument (14)");
    REQUIRE(claimed->has_value());
    CHECK((*claimed)->status == protocol::to_wire(ClaimStatus::not_found));
    // The send campaign picks online users: this one gets a one-share packet of 7 cents.
    REQUIRE(loop.run_until([&] { return !notices.empty(); }, 10s));
    CHECK(notices[0].users[0] == 5);
    std::optional<std::expected<protocol::GrabResponse, ClientError>> grabbed;
    client.grab(notices[0].packet, [&](auto r) { grabbed = std::move(r); });
    REQUIRE(loop.run_until([&] { return grabbed.has_value(); }, 5s));
    REQUIRE(grabbed->has_value());
    CHECK((*grabbed)->amount == 7);
    loop.close(client);
    CHECK(client.closed());
}

TEST_CASE("a request nobody answers times out and a silent server fails the heartbeat",
          "[client]") {
    // A listening socket that never accepts: connects succeed (backlog), nothing is answered.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    const std::uint16_t port = ntohs(addr.sin_port);

    Loop loop;
    ClientOptions o;
    o.port = port;  // no login: the caller's requests go out at once
    o.request_timeout = 200ms;
    o.heartbeat_interval = 100ms;
    o.reconnect_min = 50ms;
    o.reconnect_attempts = 100;
    Client client(&loop.loop, o);
    std::vector<ClientState> states;
    client.on_state([&](ClientState s, const ClientError* why) {
        states.push_back(s);
        if (s == ClientState::waiting) {
            REQUIRE(why != nullptr);
            CHECK(why->kind == ClientErrc::timed_out);  // the unanswered heartbeat
        }
    });
    client.start();
    std::optional<std::expected<protocol::QueryResponse, ClientError>> answer;
    const auto sent = std::chrono::steady_clock::now();
    client.query(42, [&](auto r) { answer = std::move(r); });
    REQUIRE(loop.run_until([&] { return answer.has_value(); }, 5s));
    const auto waited = std::chrono::steady_clock::now() - sent;
    REQUIRE_FALSE(answer->has_value());
    CHECK(answer->error().kind == ClientErrc::timed_out);
    CHECK(waited >= 200ms);
    CHECK(waited < 2s);
    REQUIRE(loop.run_until(
        [&] { return std::find(states.begin(), states.end(), ClientState::waiting) != states.end(); },
        5s));
    loop.close(client);
    ::close(fd);
}

TEST_CASE("a claim retried by the client after a kill -9 of a journaling daemon takes effect "
          "exactly once",
          "[client][integration][crash]") {
    const std::filesystem::path dir = redpacketd::testing::fresh_temp_dir("client-retry");
    const std::vector<std::string> args = {
        "--workers", "1", "--sets", "16", "--journal-dir", dir.string(), "--rate-limit",
        "1000000", "--socket-send-buffer", "4096", "--output-cap", "4194304"};
    constexpr std::size_t kClaims = 600;
    std::vector<std::uint64_t> packets;
    std::map<std::uint64_t, protocol::ClaimResponse> answers;  // by packet
    std::set<std::uint64_t> failed;
    std::uint16_t port = 0;
    {
        DaemonProcess d(args);
        port = d.port();
        BlockingClient creator(port);
        REQUIRE(must(creator.login(1)).result == protocol::kResultOk);
        for (std::size_t i = 0; i < kClaims; ++i) {  // random shares: amounts differ
            packets.push_back(must(creator.create(protocol::CreatePacket{0, 1000, 3, 0, 600})).packet);
        }
        Loop loop;
        ClientOptions o = options(port, 7);
        o.receive_buffer = 4096;  // replies back up in the daemon, not in this socket
        o.request_timeout = 30s;
        o.reconnect_attempts = 200;
        Client client(&loop.loop, o);
        client.start();
        REQUIRE(loop.run_until([&] { return client.state() == ClientState::ready; }, 5s));
        client.pause_reading();
        for (const std::uint64_t p : packets) {
            client.claim(p, [&, p](std::expected<protocol::ClaimResponse, ClientError> r) {
                if (r) {
                    answers[p] = *r;
                } else {
                    failed.insert(p);
                }
            });
        }
        REQUIRE(loop.run_until([&] { return client.write_queue_size() == 0; }, 5s));
        // Every claim is applied and durable, and most replies wait in the daemon's queue for
        // this client to read: a kill -9 now loses the replies, not the claims.
        REQUIRE(eventually(
            [&] {
                const auto s = get_json(d.admin_port(), "/stats");
                return s["totals"]["claim_claimed"].get<std::uint64_t>() == kClaims &&
                       s["journal"]["pending"] == 0 && s["queues"]["output_bytes"] > 0;
            },
            10s));
        CHECK(d.kill_hard() == 128 + SIGKILL);
        // The daemon comes back on the same port; the client reads what reached its socket,
        // sees the connection gone, reconnects, logs in and sends the rest again under the
        // same request ids.
        DaemonProcess again([&] {
            auto a = args;
            a.insert(a.end(), {"--port", std::to_string(port)});
            return a;
        }(), 10s);
        REQUIRE(again.port() == port);
        client.resume_reading();
        REQUIRE(loop.run_until([&] { return answers.size() + failed.size() == kClaims; }, 30s));
        CHECK(failed.empty());
        std::size_t retried = 0;
        for (const auto& [p, r] : answers) {
            CHECK(r.status != protocol::to_wire(ClaimStatus::sold_out));
            retried += r.status == protocol::to_wire(ClaimStatus::already_claimed) ? 1U : 0U;
        }
        INFO(retried << " of " << kClaims << " claims were answered after the restart");
        CHECK(retried > 0);
        loop.close(client);
        // Exactly once: asked again under a new request id, every packet gives this user the
        // share the client was told about, and no second one.
        BlockingClient check(port);
        REQUIRE(must(check.login(7)).result == protocol::kResultOk);
        for (const auto& [p, r] : answers) {
            const auto now = must(check.claim(p, 0x5EED0000 + p));
            CHECK(now.status == protocol::to_wire(ClaimStatus::already_claimed));
            CHECK(now.amount == r.amount);
            CHECK(now.share_index == r.share_index);
        }
        CHECK(get_json(again.admin_port(), "/stats")["invariant_violations"] == 0);
    }
    std::filesystem::remove_all(dir);
}

#ifdef REDPACKET_EXAMPLE_CLIENT_BINARY
TEST_CASE("the SDK example serves 20 users: shakes, notices, grabs and a packet they all claim",
          "[client][integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--shake-enabled", "true",
                     "--send-enabled", "true"});
    const std::string command = std::string(REDPACKET_EXAMPLE_CLIENT_BINARY) + " " +
                                std::to_string(d.port()) + " 20 2";
    const auto [status, text] = redpacketd::testing::run_command(command);
    INFO(text);
    CHECK(status == 0);
    CHECK(text.find("20 claims (1000 cents of 1000), 0 errors") != std::string::npos);
}
#endif
