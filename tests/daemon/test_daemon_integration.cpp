// Integration tests: the real redpacketd on loopback, driven through the library codec —
// logins and shakes, the extended packet flows, expiry refunds and the per-connection rate
// limit. Campaigns, defences and the admin API have their own test_daemon_*.cpp files. Every
// test starts its own daemon.
//
// SET and worker arithmetic used throughout: user u is in SET u % sets, owned by worker
// SET % workers. With --sets 16 --workers 2, odd users live on worker 1 and even users on
// worker 0, so a claim by an even user of an odd user's packet is forwarded between workers.
#include <algorithm>
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redpacket/auth.hpp"
#include "daemon_process.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using redpacketd::testing::as;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::expect;
using redpacketd::testing::must;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::unix_now;
namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;

constexpr const char* kSecret = "integration-secret";

std::uint32_t claim_status(ClaimStatus s) { return protocol::to_wire(s); }

/// Logs `c` in as `user` with a valid token; REQUIREs success.
void auth_login(BlockingClient& c, std::uint32_t user) {
    redpacketd::testing::auth_login(c, kSecret, user);
}

}  // namespace

// --- original protocol: login and shake ----------------------------------------------------

TEST_CASE("a compat login is acknowledged and a shake without a campaign finds no packet",
          "[integration]") {
    const std::uint32_t workers = GENERATE(1U, 2U);
    DaemonProcess d({"--workers", std::to_string(workers), "--sets", "16"});
    REQUIRE(d.workers() == workers);
    REQUIRE(d.sets() == 16);
    INFO("workers=" << workers);

    for (const std::uint32_t user : {1U, 2U}) {  // one user per worker when there are two
        BlockingClient c(d.port());
        CHECK(must(c.login(user)) == protocol::LoginResponse{user, protocol::kResultOk});
        for (int i = 0; i < 3; ++i) {
            CHECK(must(c.shake(user)) == protocol::ShakeResponse{user, protocol::kShakeNoPacket, 0, 0});
        }
        CHECK(must(c.heartbeat(42 + user)).nonce == 42 + user);
        // Grabs of packets that do not exist get nothing: an unknown serial in a served SET,
        // and a SET beyond --sets.
        const std::uint32_t unknown = (0x7FFFFU << 13) | user;
        CHECK(must(c.grab(unknown)) == protocol::GrabResponse{unknown, 0});
        CHECK(must(c.grab(0x0FFFU)) == protocol::GrabResponse{0x0FFFU, 0});
    }
    // Login and requests in one write: a connection handed to another worker keeps its
    // pending frames and answers them in order.
    for (const std::uint32_t user : {3U, 4U, 5U, 6U}) {
        BlockingClient c(d.port());
        const std::array<protocol::Message, 4> batch{
            protocol::LoginRequest{user}, protocol::ShakeRequest{user}, protocol::Heartbeat{user},
            protocol::ShakeRequest{user}};
        c.send_all(batch);
        CHECK(expect<protocol::LoginResponse>(c) ==
              protocol::LoginResponse{user, protocol::kResultOk});
        CHECK(expect<protocol::ShakeResponse>(c).result == protocol::kShakeNoPacket);
        CHECK(expect<protocol::HeartbeatResponse>(c).nonce == user);
        CHECK(expect<protocol::ShakeResponse>(c).result == protocol::kShakeNoPacket);
    }
}

TEST_CASE("a second connection of the same user replaces the first", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16"});
    for (const std::uint32_t user : {7U, 8U}) {
        BlockingClient first(d.port());
        REQUIRE(must(first.login(user)).result == protocol::kResultOk);
        BlockingClient second(d.port());
        REQUIRE(must(second.login(user)).result == protocol::kResultOk);
        CHECK(first.frames_until_close(1s).has_value());
        CHECK(must(second.shake(user)).result == protocol::kShakeNoPacket);
    }
}

// --- the extended protocol ---------------------------------------------------------------

TEST_CASE("an auth login is accepted with a valid token and refused with a wrong or expired one",
          "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--auth-secret", kSecret});
    const std::uint64_t expiry = unix_now() + 600;

    SECTION("a valid token logs in and the connection serves requests") {
        for (const std::uint32_t user : {1U, 2U}) {
            BlockingClient c(d.port());
            CHECK(must(c.auth_login(user, expiry, redpacket::make_login_token(kSecret, user, expiry))) ==
                  protocol::AuthLoginResponse{user, protocol::kResultOk});
            CHECK(must(c.shake(user)).result == protocol::kShakeNoPacket);
            CHECK(must(c.heartbeat(9)).nonce == 9);
        }
    }
    SECTION("a token signed with another secret is refused and the connection closed") {
        BlockingClient c(d.port());
        c.send(protocol::AuthLogin{3, expiry, redpacket::make_login_token("not-the-secret", 3, expiry)});
        CHECK(expect<protocol::AuthLoginResponse>(c) ==
              protocol::AuthLoginResponse{
                  3, static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed)});
        const auto rest = c.frames_until_close(1s);
        REQUIRE(rest.has_value());
        for (const auto& m : *rest) {
            CHECK(m ==
                  protocol::Message{protocol::ErrorReply{0, protocol::ErrorCode::auth_failed}});
        }
    }
    SECTION("a token for another user is refused") {
        BlockingClient c(d.port());
        c.send(protocol::AuthLogin{4, expiry, redpacket::make_login_token(kSecret, 5, expiry)});
        CHECK(expect<protocol::AuthLoginResponse>(c).result ==
              static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed));
        CHECK(c.frames_until_close(1s).has_value());
    }
    SECTION("an expired token is refused and the connection closed") {
        BlockingClient c(d.port());
        const std::uint64_t past = unix_now() - 10;
        c.send(protocol::AuthLogin{6, past, redpacket::make_login_token(kSecret, 6, past)});
        CHECK(expect<protocol::AuthLoginResponse>(c) ==
              protocol::AuthLoginResponse{
                  6, static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed)});
        CHECK(c.frames_until_close(1s).has_value());
    }
}

TEST_CASE("without --auth-secret every auth login is refused", "[integration]") {
    DaemonProcess d({"--workers", "1"});
    BlockingClient c(d.port());
    const std::uint64_t expiry = unix_now() + 600;
    CHECK(must(c.auth_login(1, expiry, redpacket::make_login_token("", 1, expiry))).result ==
          static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed));
    CHECK(c.frames_until_close(1s).has_value());
}

TEST_CASE("with compat mode off a compat login gets an error frame and the connection closes",
          "[integration]") {
    DaemonProcess d(
        {"--workers", "2", "--sets", "16", "--compat-mode", "false", "--auth-secret", kSecret});
    for (const std::uint32_t user : {1U, 2U}) {
        BlockingClient c(d.port());
        c.send(protocol::LoginRequest{user});
        const auto frames = c.frames_until_close(1s);
        REQUIRE(frames.has_value());
        CHECK(*frames == std::vector<protocol::Message>{
                             protocol::ErrorReply{0, protocol::ErrorCode::auth_failed}});
    }
    BlockingClient ok(d.port());
    auth_login(ok, 3);
    CHECK(must(ok.shake(3)).result == protocol::kShakeNoPacket);
}

TEST_CASE("a created packet is claimed across workers until sold out, idempotently",
          "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--auth-secret", kSecret});
    // Creator 1 and claimer 3 on worker 1; claimers 2 and 4 and latecomer 6 on worker 0.
    std::map<std::uint32_t, BlockingClient> c;
    for (const std::uint32_t user : {1U, 2U, 3U, 4U, 6U}) {
        auto [it, _] = c.emplace(user, BlockingClient(d.port()));
        auth_login(it->second, user);
    }
    const protocol::CreatePacket req{100, 1000, 3,
                                     protocol::to_wire(redpacket::SplitPolicy::double_mean), 60};
    const auto created = as<protocol::CreateResponse>(must(c.at(1).request(req)));
    CHECK(created.request_id == 100);
    REQUIRE(created.packet != 0);
    CHECK(redpacket::packet_shard(redpacket::PacketId{created.packet}) == 1);  // creator's SET
    const std::uint64_t packet = created.packet;

    // A retried create is the same packet; another request id is another packet.
    CHECK(as<protocol::CreateResponse>(must(c.at(1).request(req))) == created);
    protocol::CreatePacket other = req;
    other.request_id = 101;
    CHECK(as<protocol::CreateResponse>(must(c.at(1).request(other))).packet != packet);

    const auto before = as<protocol::QueryResponse>(must(c.at(2).request(protocol::Query{7, packet})));
    CHECK(before.request_id == 7);
    CHECK(before.packet == packet);
    CHECK(before.total == 1000);
    CHECK(before.count == 3);
    CHECK(before.claimed_count == 0);
    CHECK(before.remaining == 1000);
    CHECK(before.best_user == 0);
    CHECK(before.state == protocol::to_wire(redpacket::PacketState::open));

    std::map<std::uint32_t, protocol::ClaimResponse> claims;
    std::uint32_t remaining = 1000;
    for (const std::uint32_t user : {3U, 2U, 4U}) {
        INFO("claimer " << user);
        const auto r = as<protocol::ClaimResponse>(must(c.at(user).request(protocol::Claim{1000 + user, packet})));
        CHECK(r.request_id == 1000 + user);
        CHECK(r.packet == packet);
        CHECK(r.status == claim_status(ClaimStatus::claimed));
        CHECK(r.amount > 0);
        CHECK(r.share_index < 3);
        claims[user] = r;
        remaining -= static_cast<std::uint32_t>(r.amount);
        const auto q = as<protocol::QueryResponse>(must(c.at(1).request(protocol::Query{8, packet})));
        CHECK(q.claimed_count == claims.size());
        CHECK(q.remaining == remaining);
    }
    std::set<std::uint32_t> shares;
    std::uint64_t sum = 0;
    for (const auto& [user, r] : claims) {
        shares.insert(r.share_index);
        sum += r.amount;
    }
    CHECK(shares == std::set<std::uint32_t>{0, 1, 2});
    CHECK(sum == 1000);

    // A retried claim returns the same share, on either worker.
    for (const std::uint32_t user : {2U, 3U}) {
        const auto again = as<protocol::ClaimResponse>(must(c.at(user).request(protocol::Claim{1000 + user, packet})));
        CHECK(again.status == claim_status(ClaimStatus::already_claimed));
        CHECK(again.share_index == claims[user].share_index);
        CHECK(again.amount == claims[user].amount);
    }
    CHECK(as<protocol::ClaimResponse>(must(c.at(6).request(protocol::Claim{5, packet}))).status ==
          claim_status(ClaimStatus::sold_out));

    const auto after = as<protocol::QueryResponse>(must(c.at(4).request(protocol::Query{9, packet})));
    CHECK(after.claimed_count == 3);
    CHECK(after.remaining == 0);
    CHECK(after.state == protocol::to_wire(redpacket::PacketState::sold_out));
    const auto best = std::max_element(
        claims.begin(), claims.end(),
        [](const auto& a, const auto& b) { return a.second.amount < b.second.amount; });
    CHECK(after.best_amount == best->second.amount);
    CHECK(claims.at(static_cast<std::uint32_t>(after.best_user)).amount == after.best_amount);

    // Unknown packets, on both workers' SETs.
    for (const std::uint32_t user : {2U, 3U}) {
        const std::uint64_t missing = packet + (std::uint64_t{1} << 40);
        const auto r = as<protocol::ClaimResponse>(must(c.at(user).request(protocol::Claim{11, missing})));
        CHECK(r.status == claim_status(ClaimStatus::not_found));
        CHECK(must(c.at(user).request(protocol::Query{12, missing})) ==
              protocol::Message{protocol::ErrorReply{12, protocol::ErrorCode::not_found}});
    }
    // Every outcome is counted by the packet's owner, whichever worker asked.
    const auto totals = redpacketd::testing::fresh_stats(d.admin_port())["totals"];
    CHECK(totals["claims"] == 8);
    CHECK(totals["claim_claimed"] == 3);
    CHECK(totals["claim_already_claimed"] == 2);
    CHECK(totals["claim_sold_out"] == 1);
    CHECK(totals["claim_not_found"] == 2);
    CHECK(totals["claim_expired"] == 0);
    CHECK(totals["claim_not_allowed"] == 0);
}

TEST_CASE("invalid creates are refused with an error frame and the connection stays usable",
          "[integration]") {
    DaemonProcess d(
        {"--workers", "2", "--sets", "16", "--auth-secret", kSecret, "--max-ttl-seconds", "600"});
    BlockingClient c(d.port());
    auth_login(c, 5);
    const auto policy = protocol::to_wire(redpacket::SplitPolicy::double_mean);
    CHECK(must(c.request(protocol::CreatePacket{1, 100, 3, policy, 0})) ==
          protocol::Message{protocol::ErrorReply{1, protocol::ErrorCode::invalid_argument}});
    CHECK(must(c.request(protocol::CreatePacket{2, 100, 3, policy, 601})) ==
          protocol::Message{protocol::ErrorReply{2, protocol::ErrorCode::invalid_argument}});
    CHECK(must(c.request(protocol::CreatePacket{3, 100, 3, 99, 60})) ==
          protocol::Message{protocol::ErrorReply{3, protocol::ErrorCode::malformed_frame}});
    CHECK(std::holds_alternative<protocol::ErrorReply>(must(c.request(protocol::CreatePacket{4, 2, 3, policy, 60}))));
    CHECK(must(c.heartbeat(77)).nonce == 77);
    CHECK(std::holds_alternative<protocol::CreateResponse>(must(c.request(protocol::CreatePacket{5, 300, 3, policy, 60}))));
}

TEST_CASE("a heartbeat is echoed with or without a login", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--auth-secret", kSecret});
    BlockingClient anonymous(d.port());
    CHECK(must(anonymous.heartbeat(0xDEADBEEFCAFEULL)).nonce == 0xDEADBEEFCAFEULL);
    BlockingClient logged(d.port());
    auth_login(logged, 2);
    for (std::uint64_t nonce = 1; nonce <= 3; ++nonce) {
        CHECK(must(logged.heartbeat(nonce)) == protocol::HeartbeatResponse{nonce});
    }
}

// --- expiry --------------------------------------------------------------------------------

TEST_CASE("an expired packet refuses claims and its remainder is refunded", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "16", "--auth-secret", kSecret});
    BlockingClient creator(d.port());
    auth_login(creator, 1);
    BlockingClient early(d.port());
    auth_login(early, 2);  // the other worker: a forwarded claim
    BlockingClient late(d.port());
    auth_login(late, 3);

    const auto created = as<protocol::CreateResponse>(
        must(creator.request(protocol::CreatePacket{1, 300, 3, protocol::to_wire(redpacket::SplitPolicy::equal), 1})));
    const auto first = as<protocol::ClaimResponse>(must(early.request(protocol::Claim{2, created.packet})));
    REQUIRE(first.status == claim_status(ClaimStatus::claimed));
    CHECK(first.amount == 100);

    std::this_thread::sleep_for(1500ms);
    const auto expired = as<protocol::ClaimResponse>(must(late.request(protocol::Claim{3, created.packet})));
    CHECK(expired.status == claim_status(ClaimStatus::expired));
    CHECK(expired.amount == 0);
    const auto q = as<protocol::QueryResponse>(must(late.request(protocol::Query{4, created.packet})));
    CHECK(q.state == protocol::to_wire(redpacket::PacketState::expired));
    CHECK(q.claimed_count == 1);
    CHECK(q.remaining == 0);

    nlohmann::json stats;
    CHECK(eventually(
        [&] {
            stats = get_json(d.admin_port(), "/stats");
            return stats["money"]["group_refunded"] == 200;
        },
        2s));
    INFO(stats.dump());
    const auto& m = stats["money"];
    CHECK(m["group_created"] == 300);
    CHECK(m["group_claimed"] == 100);
    CHECK(m["group_outstanding"] == 0);
    CHECK(m["group_created"].get<std::int64_t>() == m["group_claimed"].get<std::int64_t>() +
                                                        m["group_refunded"].get<std::int64_t>() +
                                                        m["group_outstanding"].get<std::int64_t>());
    CHECK(stats["totals"]["refunds"] == 1);
    CHECK(stats["invariant_violations"] == 0);
}

// --- overload ------------------------------------------------------------------------------

TEST_CASE("shakes over the rate limit are answered overloaded, in order, none dropped",
          "[integration]") {
    DaemonProcess d({"--workers", "1", "--sets", "16", "--rate-limit", "5"});
    BlockingClient c(d.port());
    REQUIRE(must(c.login(1)).result == protocol::kResultOk);

    // The limit counts per wall-clock second: start early in a second so that the batch
    // cannot straddle two.
    const auto unix_ms = [] {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        return std::chrono::duration_cast<std::chrono::milliseconds>(now).count();
    };
    REQUIRE(eventually([&] { return unix_ms() % 1000 >= 20 && unix_ms() % 1000 < 400; }, 2s, 5ms));
    const auto batch_second = unix_ms() / 1000;
    const std::vector<protocol::Message> batch(20, protocol::ShakeRequest{1});
    c.send_all(batch);
    for (int i = 0; i < 20; ++i) {
        INFO("response " << i);
        const auto r = expect<protocol::ShakeResponse>(c);
        CHECK(r.user == 1);
        CHECK(r.result == (i < 5 ? protocol::kShakeNoPacket : protocol::kShakeOverloaded));
    }
    // The next second has a fresh budget.
    REQUIRE(eventually([&] { return unix_ms() / 1000 > batch_second; }, 2s, 5ms));
    std::this_thread::sleep_for(30ms);  // past the daemon's coarse clock too
    CHECK(must(c.shake(1)).result == protocol::kShakeNoPacket);
    CHECK(eventually(
        [&] { return get_json(d.admin_port(), "/stats")["totals"]["shake_overloaded"] == 15; },
        2s));
}

// Regression: a reply produced before a login that migrates (here a heartbeat answered before
// the login in the same read) stayed in the accepting worker's output buffer and was written
// to whichever client that worker served next.
TEST_CASE("replies before a migrating login stay on their own connection", "[integration]") {
    DaemonProcess d({"--workers", "2", "--sets", "2"});
    for (std::uint32_t trial = 0; trial < 12; ++trial) {
        BlockingClient mover(d.port());
        const std::uint64_t secret_nonce = 0xAAAA0000ULL + trial;
        const protocol::Message first[] = {protocol::Heartbeat{secret_nonce},
                                           protocol::LoginRequest{trial % 2}};
        mover.send_all(first);
        // Wait for both replies with the normal read timeout (sanitizer builds are slow to
        // migrate), then make sure nothing else follows.
        CHECK(expect<protocol::HeartbeatResponse>(mover).nonce == secret_nonce);
        const auto login = expect<protocol::LoginResponse>(mover);
        CHECK(login.user == trial % 2);
        CHECK(login.result == 0);
        CHECK(mover.drain(20ms).empty());
        for (std::uint64_t v = 1; v <= 4; ++v) {
            BlockingClient victim(d.port());
            const auto echo = must(victim.heartbeat(v));
            CHECK(echo.nonce == v);
            CHECK(victim.drain(20ms).empty());
        }
    }
}
