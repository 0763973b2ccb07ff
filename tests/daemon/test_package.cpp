// The installed package, run the way its unit runs it. tests/packaging/check_deb.sh installs the
// .debs into a scratch root (their maintainer scripts generate the secrets there), then runs
// this hidden test with REDPACKETD_BINARY pointing at the unit's ExecStart rebased into that
// root (the packaged config, the unit's user and umask) and REDPACKET_PACKAGE_SECRET_FILE
// naming the generated auth secret. Hidden ([.package]): nothing else has a package to run.
#include <csignal>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <utility>

#include "daemon_process.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "test_support.hpp"

namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;
using redpacketd::testing::as;
using redpacketd::testing::auth_login;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::must;
using namespace std::chrono_literals;

namespace {

std::string generated_secret() {
    const char* path = std::getenv("REDPACKET_PACKAGE_SECRET_FILE");
    REQUIRE(path != nullptr);
    std::ifstream in(path);
    std::string secret{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    REQUIRE(secret.size() == 65);  // 64 hex digits and a newline
    secret.pop_back();
    return secret;
}

/// The login of the 2017 protocol, without a token: the packaged daemon must refuse it.
void check_compat_login_refused(const DaemonProcess& d) {
    BlockingClient compat(d.port());
    const auto answer = must(compat.request(protocol::LoginRequest{7}));
    REQUIRE(std::holds_alternative<protocol::ErrorReply>(answer));
    CHECK(std::get<protocol::ErrorReply>(answer).code == protocol::ErrorCode::auth_failed);
}

}  // namespace

TEST_CASE("the packaged daemon refuses logins without a token and keeps acknowledged claims "
          "through a kill -9",
          "[.package]") {
    const std::string secret = generated_secret();
    constexpr std::uint32_t kCreator = 1;
    constexpr std::uint32_t kPackets = 3;
    constexpr std::uint32_t kShares = 5;
    std::map<std::pair<std::uint64_t, std::uint32_t>, protocol::ClaimResponse> acked;
    {
        DaemonProcess d({}, 15s);
        check_compat_login_refused(d);
        BlockingClient creator(d.port());
        auth_login(creator, secret, kCreator);
        for (std::uint32_t p = 0; p < kPackets; ++p) {
            const protocol::CreatePacket create{
                p + 1, 1'000 + p, kShares, protocol::to_wire(redpacket::SplitPolicy::double_mean),
                3600};
            const auto packet = as<protocol::CreateResponse>(must(creator.request(create))).packet;
            for (std::uint32_t user = 100; user < 100 + kShares; ++user) {
                BlockingClient claimer(d.port());
                auth_login(claimer, secret, user);
                const auto r = as<protocol::ClaimResponse>(
                    must(claimer.request(protocol::Claim{packet * 1000 + user, packet})));
                REQUIRE(r.status == protocol::to_wire(ClaimStatus::claimed));
                acked[{packet, user}] = r;
            }
        }
        CHECK(d.kill_hard() == 128 + SIGKILL);  // nothing flushed, nothing closed
    }
    DaemonProcess again({}, 15s);
    check_compat_login_refused(again);
    std::uint64_t lost = 0;
    for (const auto& [key, first] : acked) {
        BlockingClient claimer(again.port());
        auth_login(claimer, secret, key.second);
        const auto r = as<protocol::ClaimResponse>(
            must(claimer.request(protocol::Claim{key.first * 1000 + key.second, key.first})));
        const bool same = r.status == protocol::to_wire(ClaimStatus::already_claimed) &&
                          r.amount == first.amount && r.share_index == first.share_index;
        lost += same ? 0 : 1;
    }
    CHECK(acked.size() == kPackets * kShares);
    CHECK(lost == 0);
    CHECK(again.stop() == 0);
}
