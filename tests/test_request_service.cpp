// RequestService without sockets: inputs in, effects out, against a MemoryStore or a fake
// store that completes later.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <deque>
#include <filesystem>
#include <map>

#include "redpacket/auth.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/request_service.hpp"

using namespace redpacket;
using namespace std::chrono_literals;

namespace {

constexpr Time kNow{1'700'000'000'000};

/// Keeps the effects of every step, and sorts them as a worker would carry them out.
struct RecordingOutput {
    Effects effects;
    std::vector<std::pair<ReplyAddress, Reply>> delivered;
    std::vector<std::pair<ConnectionRef, protocol::PacketNotice>> notices;
    std::vector<PacketRead> reads;
    /// Moves what the last steps produced into the lists.
    void sort() {
        for (Effect& e : effects) {
            if (auto* s = std::get_if<Send>(&e)) {
                delivered.emplace_back(s->to, s->reply);
            } else if (auto* n = std::get_if<Notify>(&e)) {
                notices.emplace_back(n->conn, n->notice);
            } else if (auto* r = std::get_if<PacketRead>(&e)) {
                reads.push_back(std::move(*r));
            }
        }
        effects.clear();
    }
};

/// The effects of one client request: exactly one Send (for `reply`) or one other effect.
template <class E>
E only_effect(Effects& effects) {
    REQUIRE(effects.size() == 1);
    REQUIRE(std::holds_alternative<E>(effects[0]));
    E e = std::get<E>(effects[0]);
    effects.clear();
    return e;
}

/// One worker of `workers` over 16 SETs, with a MemoryStore of its SETs (journaled in `dir`
/// when given).
struct Fixture {
    ConnectionRegistry registry;
    EventCounter counter{kServiceEventCount};
    RecordingOutput output;
    std::unique_ptr<MemoryStore> store;
    std::unique_ptr<RequestService> service;

    explicit Fixture(WorkerId self = 0, std::uint32_t workers = 1, ServiceConfig config = {},
                     std::string dir = {}, PoolConfig pool = {})
        : registry{ShardingConfig{16, workers, 64}} {
        MemoryStoreOptions o;
        o.pool = pool;
        o.sets = registry.shards_of(self);
        o.journal_dir = std::move(dir);
        store = std::move(*MemoryStore::open(std::move(o), kNow));
        service = std::make_unique<RequestService>(config, *store, registry, self, counter);
    }
    std::uint64_t count(ServiceEvent e) const { return counter.total(static_cast<std::size_t>(e)); }
    /// Logs `user` in on `s` (compat): the login is granted with a Register and a response.
    Session login(UserId user) {
        Session s;
        service->step(
            ClientRequest{s, {}, protocol::LoginRequest{static_cast<std::uint32_t>(user)}}, kNow,
            output.effects);
        REQUIRE(output.effects.size() == 2);
        REQUIRE(std::holds_alternative<Register>(output.effects[0]));
        output.effects.clear();
        return s;
    }
    Reply reply(Session& s, const protocol::Message& m, Time now = kNow) {
        service->step(input_of(s, ReplyAddress{0, 1, 1}, m), now, output.effects);
        const Send sent = only_effect<Send>(output.effects);
        CHECK(sent.to == ReplyAddress{0, 1, 1});
        return sent.reply;
    }
    /// An operator's read of `packet`, answered at once.
    std::expected<PacketInfo, Error> read(PacketId packet) {
        service->step(ReadPacket{packet, 1}, kNow, output.effects);
        return only_effect<PacketRead>(output.effects).result;
    }
    void tick(Time now, std::int64_t elapsed_ms, bool campaigns) {
        service->step(Tick{elapsed_ms, campaigns}, now, output.effects);
        output.sort();
    }
};

template <class T>
T only(const Reply& r) {
    REQUIRE(r.count == 1);
    REQUIRE(std::holds_alternative<T>(r.frame));
    return std::get<T>(r.frame);
}

}  // namespace

TEST_CASE("a compat login is granted — registered, then answered — and a second one refused",
          "[service]") {
    Fixture f;
    Session s;
    f.service->step(ClientRequest{s, ReplyAddress{0, 2, 1}, protocol::LoginRequest{7}}, kNow,
                    f.output.effects);
    // One step: the caller registers the connection first, then sends the response.
    REQUIRE(f.output.effects.size() == 2);
    REQUIRE(std::holds_alternative<Register>(f.output.effects[0]));
    CHECK(std::get<Register>(f.output.effects[0]).conn == ReplyAddress{0, 2, 1});
    CHECK(std::get<Register>(f.output.effects[0]).user == 7);
    REQUIRE(std::holds_alternative<Send>(f.output.effects[1]));
    const Reply r = std::get<Send>(f.output.effects[1]).reply;
    f.output.effects.clear();
    CHECK(only<protocol::LoginResponse>(r) == protocol::LoginResponse{7, protocol::kResultOk});
    CHECK(s.logged_in);
    CHECK(f.count(ServiceEvent::logins) == 1);
    const Reply again = f.reply(s, protocol::LoginRequest{8});
    CHECK(again.close);
    CHECK(again.count == 0);  // the original client knows no error frame
    CHECK(f.count(ServiceEvent::protocol_errors) == 1);
}

TEST_CASE("auth logins need a valid, unexpired token, and compat mode off refuses compat logins",
          "[service]") {
    ServiceConfig config;
    config.compat_mode = false;
    config.auth_secret = "s3cret";
    Fixture f{0, 1, config};
    const std::uint64_t now_s = static_cast<std::uint64_t>(kNow.count() / 1000);
    Session ok;
    const auto token = make_login_token("s3cret", 5, now_s + 60);
    f.service->step(ClientRequest{ok, {}, protocol::AuthLogin{5, now_s + 60, token}}, kNow,
                    f.output.effects);
    REQUIRE(!f.output.effects.empty());
    CHECK(std::holds_alternative<Register>(f.output.effects[0]));
    f.output.effects.clear();
    CHECK(ok.logged_in);
    CHECK(ok.extended);

    Session wrong;
    const Reply r =
        f.reply(wrong, protocol::AuthLogin{5, now_s + 60, make_login_token("x", 5, now_s + 60)});
    REQUIRE(r.count == 2);
    CHECK(std::get<protocol::AuthLoginResponse>(r.at(0)).result ==
          static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed));
    CHECK(std::get<protocol::ErrorReply>(r.at(1)) ==
          protocol::ErrorReply{0, protocol::ErrorCode::auth_failed});
    CHECK(r.close);

    Session expired;
    const auto old = make_login_token("s3cret", 5, now_s - 1);
    CHECK(f.reply(expired, protocol::AuthLogin{5, now_s - 1, old}).close);

    Session compat;
    const Reply c = f.reply(compat, protocol::LoginRequest{5});
    CHECK(only<protocol::ErrorReply>(c).code == protocol::ErrorCode::auth_failed);
    CHECK(f.count(ServiceEvent::login_failures) == 3);
}

TEST_CASE("requests before a login and server frames from a client close the connection",
          "[service]") {
    Fixture f;
    Session s;
    CHECK(f.reply(s, protocol::ShakeRequest{1}).close);
    CHECK(f.reply(s, protocol::ShakeResponse{}).close);
    CHECK(f.count(ServiceEvent::protocol_errors) == 2);
    // Heartbeats need no login.
    CHECK(only<protocol::HeartbeatResponse>(f.reply(s, protocol::Heartbeat{9})).nonce == 9);
}

TEST_CASE("a shake takes from the user's SET: nothing, then an offered packet", "[service]") {
    Fixture f;
    Session s = f.login(33);  // SET 33 % 16 = 1
    CHECK(only<protocol::ShakeResponse>(f.reply(s, protocol::ShakeRequest{33})).result ==
          protocol::kShakeNoPacket);
    REQUIRE(f.store->pool(1)->offer(Cents{42}, kNow + 60s));
    const auto hit = only<protocol::ShakeResponse>(f.reply(s, protocol::ShakeRequest{33}));
    CHECK(hit.result == protocol::kShakeGotPacket);
    CHECK(hit.amount == 42);
    CHECK(packet_shard(PacketId{hit.packet}) == 1);
    CHECK(f.count(ServiceEvent::shake_hits) == 1);
    CHECK(f.count(ServiceEvent::shake_misses) == 1);
}

TEST_CASE("create validates policy, ttl and total, and a retry returns the same packet",
          "[service]") {
    Fixture f;
    Session s = f.login(3);
    const auto create = [&](protocol::CreatePacket req) { return f.reply(s, req); };
    CHECK(only<protocol::ErrorReply>(create({1, 100, 2, 99, 60})).code ==
          protocol::ErrorCode::malformed_frame);
    CHECK(only<protocol::ErrorReply>(create({2, 100, 2, 0, 0})).code ==
          protocol::ErrorCode::invalid_argument);
    CHECK(only<protocol::ErrorReply>(create({3, 100'000'001, 2, 0, 60})).code ==
          protocol::ErrorCode::invalid_amount);
    CHECK(only<protocol::ErrorReply>(create({4, 1, 2, 0, 60})).code ==
          protocol::ErrorCode::invalid_amount);  // the pool's rule: 2 shares of at least 1 cent
    const auto made = only<protocol::CreateResponse>(create({5, 100, 2, 0, 60}));
    CHECK(packet_shard(PacketId{made.packet}) == 3);  // the sender's SET
    CHECK(only<protocol::CreateResponse>(create({5, 100, 2, 0, 60})).packet == made.packet);
    CHECK(f.count(ServiceEvent::creates) == 6);
    CHECK(f.count(ServiceEvent::create_failures) == 4);
}

TEST_CASE("claims are answered where the SET is served and forwarded to its owner otherwise",
          "[service]") {
    Fixture owner{1, 2};  // worker 1 of 2: odd SETs
    Fixture asker{0, 2};
    Session creator = owner.login(5);
    const auto packet = only<protocol::CreateResponse>(
                            owner.reply(creator, protocol::CreatePacket{1, 100, 2, 2, 60}))
                            .packet;
    Session claimer = asker.login(4);  // an even SET: worker 0
    asker.service->step(ClientRequest{claimer, {0, 3, 1}, protocol::Claim{9, packet}}, kNow,
                        asker.output.effects);
    const Forward forward = only_effect<Forward>(asker.output.effects);
    CHECK(forward.worker == 1);
    CHECK(forward.request.reply_to == ReplyAddress{0, 3, 1});
    CHECK(forward.request.user == 4);
    CHECK(only<protocol::ErrorReply>(forward.refused).code == protocol::ErrorCode::overloaded);
    // The owner serves the forwarded request and answers for the asker.
    owner.service->step(forward.request, kNow, owner.output.effects);
    const Send served = only_effect<Send>(owner.output.effects);
    CHECK(served.to == ReplyAddress{0, 3, 1});
    const auto claimed = only<protocol::ClaimResponse>(served.reply);
    CHECK(claimed.status == protocol::to_wire(ClaimStatus::claimed));
    CHECK(claimed.amount == 50);
    CHECK(owner.count(ServiceEvent::claim_claimed) == 1);
    CHECK(asker.count(ServiceEvent::claims) == 1);  // counted where it was asked
    // A packet id naming a SET beyond the layout is not found, without a hop.
    CHECK(only<protocol::ClaimResponse>(asker.reply(claimer, protocol::Claim{10, 0xFFF})).status ==
          protocol::to_wire(ClaimStatus::not_found));
}

TEST_CASE("a grab with a compact id claims like the original client expects", "[service]") {
    Fixture f;
    Session s = f.login(2);
    const auto packet =
        only<protocol::CreateResponse>(f.reply(s, protocol::CreatePacket{1, 90, 3, 2, 60})).packet;
    const auto compact = static_cast<std::uint32_t>(packet);
    CHECK(only<protocol::GrabResponse>(f.reply(s, protocol::GrabRequest{0, compact})) ==
          protocol::GrabResponse{compact, 30});
    CHECK(only<protocol::GrabResponse>(f.reply(s, protocol::GrabRequest{0, compact})).amount == 30);
    CHECK(f.count(ServiceEvent::claim_already_claimed) == 1);
}

TEST_CASE("a query, a proof and an operator's read resolve a compact id to the full id a "
          "grabber needs for its proof",
          "[service][proof]") {
    PoolConfig pool;
    pool.max_packets = 1U << 19;     // 19 slot bits: every id has its generation above bit 31
    Fixture f(0, 16, {}, {}, pool);  // worker 0 of 16 serves SET 0 alone
    Session s = f.login(16);
    const auto packet =
        only<protocol::CreateResponse>(f.reply(s, protocol::CreatePacket{1, 90, 3, 2, 60})).packet;
    REQUIRE(packet > 0xFFFFFFFFULL);
    const auto compact = static_cast<std::uint32_t>(packet);
    CHECK(only<protocol::GrabResponse>(f.reply(s, protocol::GrabRequest{0, compact})).amount == 30);
    CHECK(only<protocol::QueryResponse>(f.reply(s, protocol::Query{2, compact})).packet == packet);
    const auto again = only<protocol::ClaimResponse>(f.reply(s, protocol::Claim{3, packet}));  // its index
    CHECK((again.status == protocol::to_wire(ClaimStatus::already_claimed) && again.amount == 30));
    CHECK(only<protocol::ClaimResponse>(f.reply(s, protocol::Claim{4, compact})).status ==
          protocol::to_wire(ClaimStatus::not_found));
    const auto proof = [&](std::uint64_t id) { return only<protocol::ProofResponse>(f.reply(s, protocol::Proof{5, id, 0})); };
    CHECK((proof(compact).status == protocol::kProofOk && proof(compact).value == proof(packet).value));
    CHECK(f.read(PacketId{compact})->id == PacketId{packet});
}

TEST_CASE("more requests than the rate limit in one second are answered overloaded", "[service]") {
    ServiceConfig config;
    config.rate_limit = 3;
    Fixture f{0, 1, config};
    Session s = f.login(1);
    for (int i = 0; i < 3; ++i) {
        CHECK(only<protocol::ShakeResponse>(f.reply(s, protocol::ShakeRequest{1})).result ==
              protocol::kShakeNoPacket);
    }
    CHECK(only<protocol::ShakeResponse>(f.reply(s, protocol::ShakeRequest{1})).result ==
          protocol::kShakeOverloaded);
    CHECK(only<protocol::ErrorReply>(f.reply(s, protocol::Claim{5, 1})).code ==
          protocol::ErrorCode::overloaded);
    // The next second has room again.
    CHECK(only<protocol::ShakeResponse>(f.reply(s, protocol::ShakeRequest{1}, kNow + 1s)).result ==
          protocol::kShakeNoPacket);
    CHECK(f.count(ServiceEvent::rate_limited) == 2);
}

TEST_CASE("with a journal a money reply waits for its record's sequence", "[service][journal]") {
    const auto dir =
        std::filesystem::temp_directory_path() / ("service-hold-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    {
        Fixture f{0, 1, {}, dir.string()};
        Session s = f.login(1);
        const Reply made = f.reply(s, protocol::CreatePacket{1, 100, 2, 2, 60});
        CHECK(made.hold_until == f.store->journal()->last_sequence());
        CHECK(made.hold_until > 0);
        const auto packet = only<protocol::CreateResponse>(made).packet;
        const Reply claimed = f.reply(s, protocol::Claim{2, packet});
        CHECK(claimed.hold_until == made.hold_until + 1);  // the claim's own record
        CHECK(f.reply(s, protocol::Heartbeat{1}).hold_until == 0);
        REQUIRE(f.store->journal()->last_sequence() == claimed.hold_until);
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("the shake campaign offers its rate over the owned SETs, up to its share of the total",
          "[service][campaign]") {
    Fixture f{1, 2};  // 8 of 16 SETs
    ShakeCampaign c;
    c.enabled = true;
    c.rate = 1000;  // per second over all 16 SETs: 500/s on this worker
    c.total = 300;  // this worker's share: 150
    f.service->set_shake_campaign(c);
    for (int tick = 0; tick < 10; ++tick) {
        f.tick(kNow + std::chrono::milliseconds{10 * tick}, 10, true);
    }
    CHECK(f.count(ServiceEvent::shake_offered) == 50);  // 100 ms at 500/s
    for (int tick = 10; tick < 100; ++tick) {
        f.tick(kNow + std::chrono::milliseconds{10 * tick}, 10, true);
    }
    CHECK(f.service->shake_done() == 150);
    CHECK(f.count(ServiceEvent::shake_offered) == 150);
    std::size_t queued = 0;
    for (const ShardId s : f.service->owned_sets()) {
        CHECK(s % 2 == 1);
        queued += f.store->pool(s)->shake_size();
    }
    CHECK(queued == 150);
}

TEST_CASE("a retuned campaign counts what it made against its new total, a restart starts again",
          "[service][campaign]") {
    Fixture f{1, 2};  // 8 of 16 SETs
    ShakeCampaign c;
    c.enabled = true;
    c.rate = 1000;
    c.total = 100;  // this worker's share: 50
    f.service->set_shake_campaign(c);
    int tick = 0;
    const auto run = [&](int ticks) {
        for (const int end = tick + ticks; tick < end; ++tick) {
            f.tick(kNow + std::chrono::milliseconds{10 * tick}, 10, true);
        }
    };
    run(100);
    REQUIRE(f.service->shake_done() == 50);
    c.rate = 2000;  // a reload that changes only the rate: the quota is made
    f.service->set_shake_campaign(c, CampaignChange::retune);
    run(100);
    CHECK(f.service->shake_done() == 50);
    CHECK(f.count(ServiceEvent::shake_offered) == 50);
    c.total = 160;  // a higher total: 30 more on this worker, not 80
    f.service->set_shake_campaign(c, CampaignChange::retune);
    run(100);
    CHECK(f.service->shake_done() == 80);
    CHECK(f.count(ServiceEvent::shake_offered) == 80);
    f.service->set_shake_campaign(c);  // a restart: a new campaign of 80 on this worker
    run(100);
    CHECK(f.service->shake_done() == 80);
    CHECK(f.count(ServiceEvent::shake_offered) == 160);
}

TEST_CASE("the send campaign makes packets only its online recipients can claim and tells them",
          "[service][campaign]") {
    Fixture f;
    for (UserId u = 16; u < 16 + 3; ++u) {  // three users of SET 0, 1, 2
        REQUIRE(f.registry.add(u, (ConnectionRef{u} << 32) | 1));
    }
    SendCampaign c;
    c.enabled = true;
    c.rate = 1600;  // per second: 16 per 10 ms tick over 16 SETs
    c.total = 3;
    c.shares = 3;
    c.min_total = 30;
    c.max_total = 30;
    f.service->set_send_campaign(c);
    f.tick(kNow, 10, true);
    CHECK(f.service->send_done() == 3);
    REQUIRE(f.output.notices.size() == 3);  // one single-share packet per SET with one user
    for (const auto& [conn, notice] : f.output.notices) {
        const UserId user = conn >> 32;
        CHECK(notice.users[0] == user);
        CHECK(notice.share_count == 1);
        const PacketId packet =
            *f.store->pool(f.registry.shard_of(user))->resolve_compact(notice.packet);
        CHECK(f.store->pool(packet_shard(packet))->claim(packet, user + 1, kNow).status ==
              ClaimStatus::not_allowed);
        CHECK(f.store->pool(packet_shard(packet))->claim(packet, user, kNow).amount == Cents{30});
    }
    CHECK(f.count(ServiceEvent::packets_sent) == 3);
    CHECK(f.count(ServiceEvent::notices) == 3);
}

TEST_CASE("with a journal a send campaign's notice waits for its packet's create record",
          "[service][campaign][journal]") {
    // Found by the simulator (seed 1160): a notice that left before the record could name a
    // packet a power cut then took back, and its id another packet.
    const auto dir =
        std::filesystem::temp_directory_path() / ("service-notice-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    {
        Fixture f{0, 1, {}, dir.string()};
        REQUIRE(f.registry.add(16, (ConnectionRef{16} << 32) | 1));
        SendCampaign c;
        c.enabled = true;
        c.rate = 100;  // one packet in the first 10 ms tick
        c.total = 1;
        c.shares = 1;
        f.service->set_send_campaign(c);
        f.service->step(Tick{10, true}, kNow, f.output.effects);
        REQUIRE(f.output.effects.size() == 1);
        const Notify n = std::get<Notify>(f.output.effects[0]);
        CHECK(n.hold_until > 0);
        CHECK(n.hold_until == f.store->journal()->last_sequence());  // the create's record
        f.output.effects.clear();
    }
    std::filesystem::remove_all(dir);
}

TEST_CASE("the tick refunds what fell due and counts it", "[service]") {
    Fixture f;
    Session s = f.login(1);
    (void)f.reply(s, protocol::CreatePacket{1, 100, 2, 2, 5});
    f.tick(kNow + 4s, 10, false);
    CHECK(f.count(ServiceEvent::refunds) == 0);
    f.tick(kNow + 5s, 10, false);
    CHECK(f.count(ServiceEvent::refunds) == 1);
    CHECK(f.store->stats().refunded == Cents{100});
}

namespace {

/// A store whose every operation completes later, when the test says so.
struct LaterStore final : PacketStore {
    StoreSink sink;
    std::deque<StoreTicket> claims;
    void set_sink(StoreSink s) override { sink = std::move(s); }
    /// Completes the operation of `ticket` now.
    template <class T>
    void complete(StoreTicket ticket, Completion<T> done) {
        sink(StoreCompletion{ticket, std::move(done)});
    }
    bool serves(ShardId) const noexcept override { return true; }
    std::uint64_t durable_sequence() const noexcept override { return UINT64_MAX; }
    bool has_room(std::size_t) const noexcept override { return true; }
    StoreResult<Created> create(StoreTicket, const CreateOp&) override {
        return StoreResult<Created>::pending();
    }
    StoreResult<Claimed> claim(StoreTicket t, const ClaimOp&) override {
        claims.push_back(t);
        return StoreResult<Claimed>::pending();
    }
    std::deque<StoreTicket> queries;
    StoreResult<PacketInfo> query(StoreTicket t, PacketId) override {
        queries.push_back(t);
        return StoreResult<PacketInfo>::pending();
    }
    StoreResult<std::optional<ShakeHit>> take(StoreTicket, const TakeOp&) override {
        return StoreResult<std::optional<ShakeHit>>::pending();
    }
    StoreResult<PacketId> offer(StoreTicket, const OfferOp&) override {
        return StoreResult<PacketId>::pending();
    }
    StoreResult<Expired> expire(StoreTicket, const ExpireOp&) override {
        return Completion<Expired>{Expired{}, 0};
    }
    StoreStats stats() const override { return {}; }
};

/// One worker over a LaterStore, with user 4 logged in on `session`.
struct LaterFixture {
    ConnectionRegistry registry{ShardingConfig{16, 1, 64}};
    EventCounter counter{kServiceEventCount};
    RecordingOutput output;
    LaterStore store;
    RequestService service{{}, store, registry, 0, counter};
    Session session;

    LaterFixture() {
        // Completions are the service's next input, as a worker feeds them.
        store.set_sink([this](StoreCompletion&& done) {
            service.step(done, kNow, output.effects);
            output.sort();
        });
        service.step(ClientRequest{session, {}, protocol::LoginRequest{4}}, kNow, output.effects);
        output.effects.clear();
    }
    /// Steps a client request that waits for the store: nothing comes out yet.
    bool waits(Session& s, const protocol::Message& m, ReplyAddress from) {
        service.step(input_of(s, from, m), kNow, output.effects);
        const bool nothing = output.effects.empty();
        output.effects.clear();
        return nothing;
    }
};

}  // namespace

TEST_CASE("a store that completes later gets Later, and the reply reaches the asker in any order",
          "[service]") {
    LaterFixture f;
    auto& [registry, counter, output, store, service, s] = f;
    CHECK(f.waits(s, protocol::Claim{1, 7}, {0, 1, 1}));
    CHECK(f.waits(s, protocol::Claim{2, 8}, {0, 2, 5}));
    CHECK(service.pending() == 2);
    REQUIRE(store.claims.size() == 2);
    // The second completes first.
    store.complete(
        store.claims[1],
        Completion<Claimed>{Claimed{PacketId{8}, {ClaimStatus::claimed, Cents{5}, 0}}, 0});
    store.complete(store.claims[0], Completion<Claimed>{std::unexpected(Error::unavailable), 0});
    REQUIRE(output.delivered.size() == 2);
    CHECK(output.delivered[0].first == ReplyAddress{0, 2, 5});
    CHECK(only<protocol::ClaimResponse>(output.delivered[0].second) ==
          protocol::ClaimResponse{2, 8, protocol::to_wire(ClaimStatus::claimed), 0, 5});
    CHECK(output.delivered[1].first == ReplyAddress{0, 1, 1});
    CHECK(only<protocol::ErrorReply>(output.delivered[1].second) ==
          protocol::ErrorReply{1, protocol::ErrorCode::unavailable});
    CHECK(service.pending() == 0);
    // A completion with a stale ticket is ignored.
    store.complete(store.claims[0], Completion<Claimed>{std::unexpected(Error::unavailable), 0});
    CHECK(output.delivered.size() == 2);
    CHECK(counter.total(static_cast<std::size_t>(ServiceEvent::journal_refusals)) == 1);
}

TEST_CASE(
    "read_packet answers at once from memory, and later from a store that completes "
    "later without taking a client's reply",
    "[service][proof]") {
    Fixture f;
    Session s = f.login(3);
    const auto made =
        only<protocol::CreateResponse>(f.reply(s, protocol::CreatePacket{1, 100, 2, 0, 60}));
    std::vector<std::expected<PacketInfo, Error>> read;
    read.push_back(f.read(PacketId{made.packet}));
    read.push_back(f.read(PacketId{made.packet + 1}));
    REQUIRE(read.size() == 2);
    REQUIRE(read[0].has_value());
    CHECK(read[0]->total == Cents{100});
    CHECK(read[0]->seed.has_value());
    CHECK(read[1] == std::unexpected(Error::not_found));

    LaterFixture later;
    auto& [registry, counter, output, store, service, c] = later;
    CHECK(later.waits(c, protocol::Query{1, 8}, {0, 1, 1}));
    service.step(ReadPacket{PacketId{8}, 5}, kNow, output.effects);
    REQUIRE(store.queries.size() == 2);
    CHECK(output.effects.empty());
    PacketInfo info;
    info.id = PacketId{8};
    info.total = Cents{77};
    store.complete(store.queries[1], Completion<PacketInfo>{info, 0});
    REQUIRE(output.reads.size() == 1);
    CHECK(output.reads[0].token == 5);
    CHECK(output.reads[0].result->total == Cents{77});
    CHECK(output.delivered.empty());  // the client's query is still waiting
    store.complete(store.queries[0], Completion<PacketInfo>{info, 0});
    REQUIRE(output.delivered.size() == 1);
    CHECK(only<protocol::QueryResponse>(output.delivered[0].second).total == 77);
    CHECK(output.reads.size() == 1);
}

TEST_CASE("a proof whose minimum share does not fit the frame's u32 is unavailable, not clamped",
          "[service][proof]") {
    PoolConfig pool;
    pool.min_share = Cents{std::int64_t{1} << 32};
    ServiceConfig config;
    config.max_packet_total = std::int64_t{1} << 40;
    Fixture big(0, 1, config, {}, pool);
    Fixture usual(0, 1, config);
    for (Fixture* f : {&big, &usual}) {
        Session s = f->login(3);
        const auto made = only<protocol::CreateResponse>(
            f->reply(s, protocol::CreatePacket{1, std::uint64_t{3} << 32, 2, 0, 60}));
        const auto read = f->read(PacketId{made.packet});
        REQUIRE(read);
        const std::optional<PacketInfo> info = *read;
        CHECK(info->seed.has_value());  // provable in principle: the frame is what cannot carry it
        const auto proof = only<protocol::ProofResponse>(
            f->reply(s, protocol::Proof{2, made.packet, protocol::kProofCommitment}));
        if (f == &big) {
            CHECK(info->min_share == Cents{std::int64_t{1} << 32});
            CHECK(proof.status == protocol::kProofUnavailable);
            CHECK(proof.value == std::array<std::uint8_t, 32>{});
        } else {
            CHECK(proof.status == protocol::kProofOk);
            CHECK(proof.min_share == 1);
        }
    }
}
