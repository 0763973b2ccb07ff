// A service that keeps its red packets on Redis Cluster itself, without redpacketd: the
// library's RedisStore (redpacket::redis) on the service's own libuv loop. Any number of such
// processes — and daemons started with --store redis-cluster and the same prefix — share the
// packets: a share claimed through one is claimed for all.
//
//   example_redis_store <seed host:port[,host:port…]> [prefix=example]
//
// It learns the slot map, loads (or version-checks) the Functions library on every master,
// creates one packet of 1000 cents in 10 shares, lets 12 users claim it (the last two find it
// sold out) and one retry its claim, and reads it back. Every store call completes later,
// through the store's sink (a StoreCompletion), once WAIT has confirmed a replica has the money.
#include <uv.h>

#include <cstdio>
#include <map>
#include <string>

#include "redpacket/address.hpp"
#include "redpacket/redis/cluster_client.hpp"
#include "redpacket/redis/redis_store.hpp"

namespace {

using redpacket::Cents;
using redpacket::ClaimStatus;
using redpacket::Completion;
using redpacket::PacketId;
using redpacket::StoreTicket;

redpacket::Time wall_now() {
    return std::chrono::duration_cast<redpacket::Time>(
        std::chrono::system_clock::now().time_since_epoch());
}

/// The example's flow: create, claims, a retry, a query; each step starts from a completion.
class Flow final {
public:
    explicit Flow(redpacket::redis::RedisStore& store) : store_{store} {}

    void start() {
        // A new request id each run (the same one again would return the first packet).
        const auto request = static_cast<std::uint64_t>(wall_now().count());
        const redpacket::CreateOp op{.set = 3, .sender = 3, .request_id = request,
                                     .total = Cents{1000}, .count = 10,
                                     .expires_at = wall_now() + std::chrono::minutes{10}};
        complete_now(store_.create(0, op), [this](StoreTicket t, auto done) { on_created(t, done); });
    }
    [[nodiscard]] bool done() const noexcept { return finished_; }
    /// The store's sink: each later completion, by the kind of its outcome.
    void on_completion(redpacket::StoreCompletion&& c) {
        if (auto* created = std::get_if<Completion<redpacket::Created>>(&c.outcome)) {
            on_created(c.ticket, std::move(*created));
        } else if (auto* claimed = std::get_if<Completion<redpacket::Claimed>>(&c.outcome)) {
            on_claimed(c.ticket, std::move(*claimed));
        } else if (auto* read = std::get_if<Completion<redpacket::PacketInfo>>(&c.outcome)) {
            on_queried(c.ticket, std::move(*read));
        }  // nothing else is asked by this flow
    }
    [[nodiscard]] bool ok() const noexcept { return ok_; }

    void on_created(StoreTicket, Completion<redpacket::Created> done) {
        if (!done.result) {
            return fail("create", done.result.error());
        }
        packet_ = done.result->packet;
        std::printf("created packet %llu (1000 cents, 10 shares)\n",
                    static_cast<unsigned long long>(packet_.value));
        for (redpacket::UserId user = 100; user < 112; ++user) {
            claim(user, user);  // ticket = user
        }
    }
    void on_claimed(StoreTicket ticket, Completion<redpacket::Claimed> done) {
        if (!done.result) {
            return fail("claim", done.result.error());
        }
        const redpacket::ClaimResult& r = done.result->result;
        if (ticket >= 1000) {  // the retry
            retry_ok_ = r.status == ClaimStatus::already_claimed && r.amount == got_[100];
            std::printf("user 100 retried: %s, %lld cents again\n", redpacket::to_string(r.status).data(),
                        static_cast<long long>(r.amount.value));
            query();
            return;
        }
        if (r.status == ClaimStatus::claimed) {
            got_[static_cast<redpacket::UserId>(ticket)] = r.amount;
            std::printf("user %llu claimed share %u: %lld cents\n",
                        static_cast<unsigned long long>(ticket), r.share_index,
                        static_cast<long long>(r.amount.value));
        } else {
            ++refused_;
        }
        if (got_.size() + refused_ == 12) {
            claim(100, 1000);  // the same user and request id: the same share
        }
    }
    void on_queried(StoreTicket, Completion<redpacket::PacketInfo> done) {
        if (!done.result) {
            return fail("query", done.result.error());
        }
        Cents sum{0};
        for (const auto& [user, amount] : got_) {
            sum += amount;
        }
        const redpacket::PacketInfo& info = *done.result;
        std::printf("packet: %u of %u claimed, %lld cents left; claims add up to %lld\n",
                    info.claimed_count, info.count, static_cast<long long>(info.remaining.value),
                    static_cast<long long>(sum.value));
        ok_ = retry_ok_ && got_.size() == 10 && refused_ == 2 && sum == Cents{1000} &&
              info.claimed_count == 10 && info.remaining == Cents{0};
        finished_ = true;
    }

private:
    template <class T, class F>
    void complete_now(redpacket::StoreResult<T> r, F&& then) {
        if (r.ready()) {  // refused before any round trip (a SET this store does not serve)
            then(0, std::move(r.get()));
        }
    }
    void claim(redpacket::UserId user, StoreTicket ticket) {
        const redpacket::ClaimOp op{.packet = packet_, .user = user, .request_id = user,
                                    .now = wall_now()};
        complete_now(store_.claim(ticket, op),
                     [this, ticket](StoreTicket, auto done) { on_claimed(ticket, done); });
    }
    void query() {
        complete_now(store_.query(0, packet_), [this](StoreTicket t, auto done) { on_queried(t, done); });
    }
    void fail(const char* what, redpacket::Error e) {
        std::fprintf(stderr, "%s failed: %s\n", what, redpacket::to_string(e).data());
        finished_ = true;
    }

    redpacket::redis::RedisStore& store_;
    PacketId packet_{};
    std::map<redpacket::UserId, Cents> got_;
    std::size_t refused_{0};
    bool retry_ok_{false};
    bool finished_{false};
    bool ok_{false};
};

/// Runs `loop` until `until()` or `seconds` pass.
template <class F>
void run_until(uv_loop_t* loop, F until, int seconds) {
    const std::uint64_t deadline = uv_hrtime() + static_cast<std::uint64_t>(seconds) * 1'000'000'000;
    while (!until() && uv_hrtime() < deadline) {
        uv_run(loop, UV_RUN_ONCE);
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s <seed host:port[,host:port...]> [prefix=example]\n", argv[0]);
        return 2;
    }
    const auto seeds = redpacket::parse_host_port_list(argv[1]);
    if (!seeds) {
        std::fprintf(stderr, "bad seed list: %s\n", seeds.error().c_str());
        return 2;
    }
    uv_loop_t* loop = uv_default_loop();
    redpacket::redis::ClusterOptions cluster;
    cluster.seeds = *seeds;
    redpacket::redis::ClusterClient client{loop, cluster};
    std::optional<std::expected<void, std::string>> ready;
    client.start([&](std::expected<void, std::string> started) {
        if (!started) {
            ready = std::move(started);
            return;
        }
        redpacket::redis::prepare_functions(client, [&](auto r) { ready = std::move(r); });
    });
    run_until(loop, [&] { return ready.has_value(); }, 10);
    int status = 1;
    if (!ready || !*ready) {
        std::fprintf(stderr, "cluster %s: %s\n", argv[1],
                     ready ? ready->error().c_str() : "no answer");
    } else {
        redpacket::redis::RedisStoreOptions options;
        options.prefix = argc > 2 ? argv[2] : "example";
        options.sets = 16;        // every process sharing the prefix must agree on this
        options.wait_replicas = 1;  // a reply reporting money waits for one replica
        redpacket::redis::RedisStore store{loop, client, nullptr, options};
        Flow flow{store};
        store.set_sink(
            [&flow](redpacket::StoreCompletion&& c) { flow.on_completion(std::move(c)); });
        flow.start();
        run_until(loop, [&] { return flow.done(); }, 20);
        status = flow.ok() ? 0 : 1;
        bool closed = false;
        store.close([&] { closed = true; });
        run_until(loop, [&] { return closed; }, 5);
    }
    bool closed = false;
    client.close([&] { closed = true; });
    run_until(loop, [&] { return closed; }, 5);
    uv_run(loop, UV_RUN_NOWAIT);
    return status;
}
