// A service talking to redpacketd with the client SDK (redpacket::Client on one libuv loop).
// Like the original 2017 client, each user logs in, shakes a few times a second and grabs
// every packet it is told about; then one user creates a packet that the others claim with the
// extended protocol, and everyone prints what they got.
//
//   example_daemon_client <port> [users=20] [seconds=5] [auth secret]
#include <uv.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "redpacket/client.hpp"

using namespace redpacket;

namespace {

struct Totals {
    std::uint64_t shakes{0}, hits{0}, notices{0}, grabs{0}, claims{0}, errors{0};
    std::uint64_t cents_shaken{0}, cents_grabbed{0}, cents_claimed{0};
};

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <port> [users=20] [seconds=5] [auth secret]\n", argv[0]);
        return 2;
    }
    const auto port = static_cast<std::uint16_t>(std::atoi(argv[1]));
    const int users = argc > 2 ? std::atoi(argv[2]) : 20;
    const int seconds = argc > 3 ? std::atoi(argv[3]) : 5;
    const std::string secret = argc > 4 ? argv[4] : "";

    uv_loop_t loop;
    uv_loop_init(&loop);
    Totals totals;
    std::vector<std::unique_ptr<Client>> all;
    for (int i = 0; i < users; ++i) {
        ClientOptions o;
        o.port = port;
        const UserId user = 1000 + static_cast<UserId>(i);
        // With the daemon's secret, log in with HMAC tokens; else the original compat login.
        o.login = secret.empty() ? Credentials::compat(user)
                                 : Credentials::with_secret(user, secret, std::chrono::hours{1});
        auto& c = *all.emplace_back(std::make_unique<Client>(&loop, o));
        c.on_notice([&t = totals, &c](const protocol::PacketNotice& n) {
            ++t.notices;
            c.grab(n.packet, [&t](std::expected<protocol::GrabResponse, ClientError> r) {
                t.grabs += r ? 1U : 0U;
                t.cents_grabbed += r ? r->amount : 0;
            });
        });
        c.start();
    }

    // Shake every 200 ms; after a second, user 1000 creates a packet the others claim; stop
    // shaking after `seconds` and close once the last answers are in.
    uv_timer_t shaker;
    uv_timer_init(&loop, &shaker);
    struct Context {
        std::vector<std::unique_ptr<Client>>* clients;
        Totals* t;
        int ticks{0};
        int stop_after;
    } ctx{&all, &totals, 0, seconds * 5};
    shaker.data = &ctx;
    uv_timer_start(&shaker, [](uv_timer_t* timer) {
        auto& x = *static_cast<Context*>(timer->data);
        Totals& t = *x.t;
        if (++x.ticks > x.stop_after) {
            if (x.ticks == x.stop_after + 3) {
                uv_timer_stop(timer);
                for (auto& c : *x.clients) {
                    c->close();
                }
                uv_close(reinterpret_cast<uv_handle_t*>(timer), nullptr);
            }
            return;
        }
        for (auto& c : *x.clients) {
            c->shake([&t](std::expected<protocol::ShakeResponse, ClientError> r) {
                ++t.shakes;
                if (!r) {
                    ++t.errors;
                } else if (r->result == protocol::kShakeGotPacket) {
                    ++t.hits;
                    t.cents_shaken += r->amount;
                }
            });
        }
        if (x.ticks == 5) {
            auto& clients = *x.clients;
            clients[0]->create(
                protocol::CreatePacket{0, 1000, static_cast<std::uint32_t>(clients.size()),
                                       protocol::to_wire(SplitPolicy::double_mean), 60},
                [&clients, &t](std::expected<protocol::CreateResponse, ClientError> made) {
                    if (!made) {
                        std::fprintf(stderr, "create: %s\n", describe(made.error()).c_str());
                        return;
                    }
                    for (auto& c : clients) {
                        // Replies to claims forwarded between workers may overtake others:
                        // each callback gets its own.
                        c->claim(made->packet, [&t](std::expected<protocol::ClaimResponse, ClientError> r) {
                            ++t.claims;
                            t.cents_claimed += r ? r->amount : 0;
                            t.errors += r ? 0U : 1U;
                        });
                    }
                });
        }
    }, 200, 200);

    uv_run(&loop, UV_RUN_DEFAULT);
    all.clear();
    const Totals& t = totals;
    uv_loop_close(&loop);
    std::printf("%d users, %d s: %llu shakes, %llu packets (%llu cents), %llu notices, %llu grabs "
                "(%llu cents), %llu claims (%llu cents of 1000), %llu errors\n",
                users, seconds, static_cast<unsigned long long>(t.shakes),
                static_cast<unsigned long long>(t.hits),
                static_cast<unsigned long long>(t.cents_shaken),
                static_cast<unsigned long long>(t.notices),
                static_cast<unsigned long long>(t.grabs),
                static_cast<unsigned long long>(t.cents_grabbed),
                static_cast<unsigned long long>(t.claims),
                static_cast<unsigned long long>(t.cents_claimed),
                static_cast<unsigned long long>(t.errors));
    return t.errors == 0 ? 0 : 1;
}
