// Smoke program for an installed libredpacket: create a packet, claim every share, and check
// that the money adds up; checksum a journal record (links ISA-L), make a login token (links
// libcrypto), and run a client SDK session against a port nobody serves (links libuv): it must
// report the failed connect as a value. Exits non-zero on any surprise.
#include <uv.h>

#include <cstdio>
#include <string_view>

#include "redpacket/auth.hpp"
#include "redpacket/client.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace {

bool client_reports_refused_connect() {
    using namespace redpacket;
    uv_loop_t loop;
    uv_loop_init(&loop);
    ClientOptions o;
    o.port = 1;  // nothing listens on port 1 here
    o.reconnect = false;
    bool failed = false;
    {
        Client client{&loop, o};
        client.query(7, [&](std::expected<protocol::QueryResponse, ClientError> r) {
            failed = !r && r.error().kind == ClientErrc::connect_failed;
        });
        client.start();
        uv_run(&loop, UV_RUN_DEFAULT);  // returns once the client has closed itself
    }
    uv_loop_close(&loop);
    return failed;
}

}  // namespace

int main() {
    using namespace redpacket;
    using namespace std::chrono_literals;
    RedPacketPool pool{PoolConfig{}};
    auto id = pool.create(/*sender=*/1, Cents{1000}, 4, SplitPolicy::double_mean, 60s);
    if (!id) {
        std::printf("create failed: %.*s\n", static_cast<int>(to_string(id.error()).size()),
                    to_string(id.error()).data());
        return 1;
    }
    Cents sum{0};
    for (UserId user = 10; user < 14; ++user) {
        const ClaimResult r = pool.claim(*id, user, 1s);
        if (r.status != ClaimStatus::claimed) {
            return 1;
        }
        sum += r.amount;
    }
    std::printf("consumer: 4 shares claimed, %lld cents of 1000\n",
                static_cast<long long>(sum.value));
    constexpr std::string_view check = "123456789";
    if (crc32c(std::as_bytes(std::span{check})) != 0xE3069283U) {
        std::printf("consumer: wrong CRC-32C\n");
        return 1;
    }
    const LoginToken token = make_login_token("secret", 1, 2);
    if (!verify_login_token("secret", 1, 2, token, 1)) {
        std::printf("consumer: login token does not verify\n");
        return 1;
    }
    if (!client_reports_refused_connect()) {
        std::printf("consumer: the client did not report the refused connect\n");
        return 1;
    }
    return sum == Cents{1000} ? 0 : 1;
}
