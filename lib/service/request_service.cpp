// RequestService: the step, the command table and one handler per command. The campaigns and
// the tick are in request_service_campaigns.cpp; the reply frame of every outcome in
// request_service_replies.cpp.
#include "redpacket/request_service.hpp"

#include <algorithm>

#include "redpacket/assert.hpp"
#include "redpacket/auth.hpp"
#include "redpacket/detail/overloaded.hpp"

namespace redpacket {
namespace {

constexpr std::array<std::string_view, kServiceEventCount> kServiceEventNames = {
    "logins",         "login_failures",   "protocol_errors",  "shake_requests",
    "shake_hits",     "shake_misses",     "shake_overloaded", "grabs",
    "grab_hits",      "grab_misses",      "claims",           "creates",
    "create_failures", "queries",         "proofs",           "heartbeats",       "notices",
    "rate_limited",   "shake_offered",    "shake_offer_refused", "packets_sent",
    "refunds",        "journal_refusals", "claim_claimed",    "claim_already_claimed",
    "claim_sold_out", "claim_expired",    "claim_not_found",  "claim_not_allowed"};

bool valid_proof_part(const protocol::Request& m) noexcept {
    const auto part = std::get<protocol::Proof>(m).part;
    return part == protocol::kProofCommitment || part == protocol::kProofSeed;
}

}  // namespace

std::span<const std::string_view> service_event_names() noexcept { return kServiceEventNames; }

// --- the command table -----------------------------------------------------------------------

/// Where a request is served.
enum class Routing : std::uint8_t {
    connection,  ///< here: the connection's user's SET (a logged-in connection lives on its owner)
    packet,      ///< the worker whose store serves the packet's SET (forwarded if not this one)
};

/// One request command: the rules every request of it passes before its handler, in order —
/// a login (unless a login), its event counted, the rate limit (refused "overloaded", with
/// `overload_event` counted), its fields checked (`valid`; refused malformed_frame), routed —
/// then the handler. One row per protocol::Request alternative, in its order (checked below),
/// so every request has exactly one row and finding it is an index.
struct RequestService::Command {
    protocol::Command code;
    bool needs_login{true};
    bool rate_limited{true};
    Routing routing{Routing::connection};
    std::optional<ServiceEvent> counted;
    std::optional<ServiceEvent> overload_event;
    bool (*valid)(const protocol::Request&) noexcept {nullptr};
    void (RequestService::*handler)(Asked&);

    static const std::array<Command, std::variant_size_v<protocol::Request>> kAll;
    /// The row of `request`.
    static const Command& of(const protocol::Request& request) noexcept {
        return kAll[request.index()];
    }
};

using Row = RequestService::Command;
using E = ServiceEvent;
constexpr auto kConn = Routing::connection;
constexpr auto kPacket = Routing::packet;
constexpr std::optional<ServiceEvent> kNone{};
// clang-format off
constexpr std::array<Row, std::variant_size_v<protocol::Request>> Row::kAll{{
//   code                               login  limit  routed   counted             refusal counts        check              handler
    {protocol::Command::login_request,  false, false, kConn,   kNone,              kNone,                nullptr,           &RequestService::login},
    {protocol::Command::shake_request,  true,  true,  kConn,   E::shake_requests,  E::shake_overloaded,  nullptr,           &RequestService::shake},
    {protocol::Command::grab_request,   true,  true,  kPacket, E::grabs,           kNone,                nullptr,           &RequestService::grab},
    {protocol::Command::auth_login,     false, false, kConn,   kNone,              kNone,                nullptr,           &RequestService::auth_login},
    {protocol::Command::create_packet,  true,  true,  kConn,   E::creates,         kNone,                nullptr,           &RequestService::create},
    {protocol::Command::claim,          true,  true,  kPacket, E::claims,          kNone,                nullptr,           &RequestService::claim},
    {protocol::Command::query,          true,  true,  kPacket, E::queries,         kNone,                nullptr,           &RequestService::query},
    {protocol::Command::heartbeat,      false, true,  kConn,   E::heartbeats,      kNone,                nullptr,           &RequestService::heartbeat},
    {protocol::Command::proof,          true,  true,  kPacket, E::proofs,          kNone,                &valid_proof_part, &RequestService::proof},
}};
// clang-format on

namespace {
template <std::size_t... I>
constexpr bool rows_follow_requests(std::index_sequence<I...>) {
    return ((Row::kAll[I].code == std::variant_alternative_t<I, protocol::Request>::command) &&
            ...);
}
static_assert(rows_follow_requests(std::make_index_sequence<Row::kAll.size()>{}),
              "one row per protocol::Request alternative, in its order");
}  // namespace

// --- the step --------------------------------------------------------------------------------

RequestService::RequestService(ServiceConfig config, PacketStore& store,
                               const ConnectionRegistry& registry, WorkerId self,
                               EventCounter& counter)
    : config_{std::move(config)},
      store_{store},
      registry_{registry},
      self_{self},
      counter_{counter},
      rng_{config_.seed * 7919 + self} {
    for (const ShardId s : registry_.shards_of(self_)) {
        if (store_.serves(s)) {
            owned_.push_back(s);
        }
    }
}

void RequestService::step(const Input& input, Time now, Effects& out) {
    now_ = now;
    second_ = now.count() / 1000;
    [[maybe_unused]] const std::size_t before = out.size();
    std::visit(detail::Overloaded{
                   [&](const ClientRequest& in) { on_request(in, out); },
                   [&](const ConnectionFailed& in) { on_failed(in, out); },
                   [&](const PeerRequest& in) { on_peer(in, out); },
                   [&](const StoreCompletion& in) { on_store(in, out); },
                   [&](const Tick& in) { on_tick(in, out); },
                   [&](const ReadPacket& in) { on_read(in, out); },
                   [&](const Presence& in) { on_presence(in); },
               },
               input);
    // A client's request and a forwarded one get exactly one answer, now or when the store
    // completes: never two.
    REDPACKET_ASSERT(!std::holds_alternative<ClientRequest>(input) || out.size() - before <= 2);
}

void RequestService::on_request(const ClientRequest& in, Effects& out) {
    Session& session = in.session;
    const Command* row = &Command::of(in.request);
    if (row->needs_login && !session.logged_in) {
        count(ServiceEvent::protocol_errors);
        out.push_back(Send{in.from, error(session, 0, protocol::ErrorCode::not_logged_in, true)});
        return;
    }
    if (row->counted) {
        count(*row->counted);
    }
    if (row->rate_limited && rate_limited(session)) {
        if (row->overload_event) {
            count(*row->overload_event);
        }
        out.push_back(Send{in.from, overloaded(in.request, session.user)});
        return;
    }
    if (row->valid != nullptr && !row->valid(in.request)) {
        send(out, in.from,
             protocol::ErrorReply{protocol::request_id_of(in.request),
                                  protocol::ErrorCode::malformed_frame});
        return;
    }
    Asked a{&session, in.request, session.user, in.from, out};
    if (row->routing == Routing::packet) {
        route(*row, a);
        return;
    }
    (this->*row->handler)(a);
}

void RequestService::route(const Command& row, Asked& a) {
    const PacketId packet{protocol::packet_of(a.request)};
    if (packet_shard(packet) >= registry_.shard_count()) {
        a.out.push_back(Send{a.asker, beyond_sets(a.request)});
        return;
    }
    const ShardId set = packet_shard(packet);
    if (!store_.serves(set)) {
        a.out.push_back(Forward{registry_.worker_of(set), PeerRequest{a.request, a.user, a.asker},
                                overloaded(a.request, a.user)});
        return;
    }
    (this->*row.handler)(a);
}

void RequestService::on_peer(const PeerRequest& in, Effects& out) {
    const Command* row = &Command::of(in.request);
    // Only a request routed by its packet is forwarded, and only to the SET's owner.
    REDPACKET_ASSERT(row->routing == Routing::packet);
    REDPACKET_ASSERT(store_.serves(packet_shard(PacketId{protocol::packet_of(in.request)})));
    Asked a{nullptr, in.request, in.user, in.reply_to, out};
    (this->*row->handler)(a);
}

void RequestService::on_failed(const ConnectionFailed& in, Effects& out) {
    if (in.protocol_error) {
        count(ServiceEvent::protocol_errors);
    }
    out.push_back(Send{in.from, error(in.session, 0, in.code, true)});
}

void RequestService::on_read(const ReadPacket& in, Effects& out) {
    const StoreTicket ticket = next_ticket();
    if (auto result = store_.query(ticket, in.packet); result.ready()) {
        out.push_back(PacketRead{in.token, std::move(result.get().result)});
    } else {
        park(ticket, AwaitRead{in.token});
    }
}

void RequestService::on_presence(const Presence& in) {
    if (store_.tracks_presence()) {
        store_.presence(registry_.shard_of(in.user), in.user, in.online);
    }
}

bool RequestService::rate_limited(Session& session) {
    if (second_ != session.window_second) {
        session.window_second = second_;
        session.window_requests = 0;
    }
    if (++session.window_requests > config_.rate_limit) {
        count(ServiceEvent::rate_limited);
        return true;
    }
    return false;
}

// --- the commands ----------------------------------------------------------------------------

void RequestService::login(Asked& a) {
    if (!config_.compat_mode) {
        count(ServiceEvent::login_failures);
        a.out.push_back(
            Send{a.asker, error(*a.session, 0, protocol::ErrorCode::auth_failed, true)});
        return;
    }
    grant(a, std::get<protocol::LoginRequest>(a.request).user, false);
}

void RequestService::auth_login(Asked& a) {
    const auto& m = std::get<protocol::AuthLogin>(a.request);
    const auto now_s = static_cast<std::uint64_t>(second_);
    if (!verify_login_token(config_.auth_secret, m.user, m.expiry, m.token, now_s)) {
        count(ServiceEvent::login_failures);
        a.session->extended = true;
        Reply r{protocol::AuthLoginResponse{
            m.user, static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed)}};
        r.add(protocol::ErrorReply{0, protocol::ErrorCode::auth_failed});
        r.close = true;
        a.out.push_back(Send{a.asker, r});
        return;
    }
    grant(a, m.user, true);
}

void RequestService::grant(Asked& a, UserId user, bool extended) {
    Session& session = *a.session;
    if (session.logged_in) {
        count(ServiceEvent::protocol_errors);
        a.out.push_back(
            Send{a.asker, error(session, 0, protocol::ErrorCode::already_logged_in, true)});
        return;
    }
    session.user = user;
    session.extended = extended;
    session.logged_in = true;
    count(ServiceEvent::logins);
    a.out.push_back(Register{a.asker, user});
    const auto u32 = static_cast<std::uint32_t>(user);
    if (extended) {
        send(a.out, a.asker, protocol::AuthLoginResponse{u32, protocol::kResultOk});
    } else {
        send(a.out, a.asker, protocol::LoginResponse{u32, protocol::kResultOk});
    }
    REDPACKET_ASSERT(session.logged_in && session.user == user);
}

void RequestService::heartbeat(Asked& a) {
    send(a.out, a.asker,
         protocol::HeartbeatResponse{std::get<protocol::Heartbeat>(a.request).nonce});
}

void RequestService::shake(Asked& a) {
    REDPACKET_ASSERT(a.session != nullptr && a.session->logged_in);
    const UserId user = a.user;
    answer(
        store_.take(next_ticket(), TakeOp{registry_.shard_of(user), user, now_}), a.out, a.asker,
        [&] {
            return AwaitShake{a.asker, user};
        },
        [&](const auto& done) { return shake_reply(user, done); });
}

void RequestService::create(Asked& a) {
    REDPACKET_ASSERT(a.session != nullptr && a.session->logged_in);
    const auto& req = std::get<protocol::CreatePacket>(a.request);
    const auto fail = [&](protocol::ErrorCode code) {
        count(ServiceEvent::create_failures);
        send(a.out, a.asker, protocol::ErrorReply{req.request_id, code});
    };
    const auto policy = protocol::split_policy_from_wire(req.policy);
    if (!policy) {
        return fail(protocol::ErrorCode::malformed_frame);
    }
    if (req.ttl_seconds == 0 || req.ttl_seconds > config_.max_ttl_seconds) {
        return fail(protocol::ErrorCode::invalid_argument);
    }
    if (req.total > static_cast<std::uint64_t>(config_.max_packet_total)) {
        return fail(protocol::ErrorCode::invalid_amount);
    }
    CreateOp op;
    op.set = registry_.shard_of(a.user);
    op.sender = a.user;
    op.request_id = req.request_id;
    op.total = Cents{static_cast<std::int64_t>(req.total)};
    op.count = req.count;
    op.policy = *policy;
    op.expires_at = now_ + std::chrono::seconds{req.ttl_seconds};
    answer(
        store_.create(next_ticket(), op), a.out, a.asker,
        [&] {
            return AwaitCreate{a.asker, req.request_id};
        },
        [&](const auto& done) { return create_reply(req.request_id, done); });
}

void RequestService::grab(Asked& a) {
    const auto& m = std::get<protocol::GrabRequest>(a.request);
    answer(
        store_.claim(next_ticket(), ClaimOp{PacketId{m.packet}, true, a.user, 0, now_}), a.out,
        a.asker,
        [&] {
            return AwaitClaim{a.asker, 0, m.packet, true};
        },
        [&](const auto& done) { return claim_reply(true, 0, m.packet, done); });
}

void RequestService::claim(Asked& a) {
    const auto& m = std::get<protocol::Claim>(a.request);
    answer(
        store_.claim(next_ticket(), ClaimOp{PacketId{m.packet}, false, a.user, m.request_id, now_}),
        a.out, a.asker,
        [&] {
            return AwaitClaim{a.asker, m.request_id, m.packet, false};
        },
        [&](const auto& done) { return claim_reply(false, m.request_id, m.packet, done); });
}

void RequestService::query(Asked& a) {
    const auto& m = std::get<protocol::Query>(a.request);
    answer(
        store_.query(next_ticket(), PacketId{m.packet}), a.out, a.asker,
        [&] {
            return AwaitQuery{a.asker, m.request_id};
        },
        [&](const auto& done) { return query_reply(m.request_id, done); });
}

void RequestService::proof(Asked& a) {
    const auto& m = std::get<protocol::Proof>(a.request);
    answer(
        store_.query(next_ticket(), PacketId{m.packet}), a.out, a.asker,
        [&] {
            return AwaitProof{a.asker, m.request_id, m.part};
        },
        [&](const auto& done) { return proof_reply(m.request_id, m.part, done); });
}

template <class T, class MakeOp, class Answer>
void RequestService::answer(StoreResult<T>&& result, Effects& out, const ReplyAddress& to,
                            MakeOp&& op, Answer&& reply) {
    if (result.ready()) {
        out.push_back(Send{to, reply(result.get())});
        return;
    }
    park(last_ticket_, op());  // built only when the store will answer later
}

// --- completions -----------------------------------------------------------------------------

void RequestService::on_store(const StoreCompletion& in, Effects& out) {
    if (const auto* a = std::get_if<Announced>(&in.outcome)) {
        on_announcement(*a, out);
        return;
    }
    auto op = unpark(in.ticket);
    if (!op) {
        return;  // not ours, or completed twice: a store bug, ignored
    }
    std::visit(
        [&](const auto& done) {
            using D = std::decay_t<decltype(done)>;
            if constexpr (!std::is_same_v<D, Announced>) {
                finish(*op, done, out);
            }
        },
        in.outcome);
}

template <class T>
void RequestService::finish(PendingOp& pending, const Completion<T>& done, Effects& out) {
    // By the kind of completion, then by what was waiting for it; any other pairing is a store
    // that completed a ticket with another operation's result.
    bool matched = true;
    if constexpr (std::is_same_v<T, Created>) {
        if (const auto* op = std::get_if<AwaitCreate>(&pending)) {
            out.push_back(Send{op->asker, create_reply(op->request_id, done)});
        } else if (const auto* send = std::get_if<AwaitSend>(&pending)) {
            on_created_send(*send, done, out);
        } else {
            matched = false;
        }
    } else if constexpr (std::is_same_v<T, Claimed>) {
        if (const auto* op = std::get_if<AwaitClaim>(&pending)) {
            out.push_back(Send{op->asker, claim_reply(op->grab, op->request_id, op->packet, done)});
        } else {
            matched = false;
        }
    } else if constexpr (std::is_same_v<T, PacketInfo>) {
        if (const auto* query = std::get_if<AwaitQuery>(&pending)) {
            out.push_back(Send{query->asker, query_reply(query->request_id, done)});
        } else if (const auto* proof = std::get_if<AwaitProof>(&pending)) {
            out.push_back(Send{proof->asker, proof_reply(proof->request_id, proof->part, done)});
        } else if (const auto* read = std::get_if<AwaitRead>(&pending)) {
            out.push_back(PacketRead{read->token, done.result});
        } else {
            matched = false;
        }
    } else if constexpr (std::is_same_v<T, std::optional<ShakeHit>>) {
        if (const auto* op = std::get_if<AwaitShake>(&pending)) {
            out.push_back(Send{op->asker, shake_reply(op->user, done)});
        } else {
            matched = false;
        }
    } else if constexpr (std::is_same_v<T, PacketId>) {
        if (const auto* op = std::get_if<AwaitOffer>(&pending)) {
            on_offered(*op, done);
        } else {
            matched = false;
        }
    } else if constexpr (std::is_same_v<T, Expired>) {
        matched = std::holds_alternative<AwaitExpire>(pending);
        if (matched && done.result) {
            count(ServiceEvent::refunds, done.result->refunds);
        }
    } else {
        static_assert(std::is_same_v<T, std::vector<UserId>>, "a completion kind with no finish");
        if (const auto* op = std::get_if<AwaitRecipients>(&pending)) {
            on_recipients(*op, done, out);
        } else {
            matched = false;
        }
    }
    REDPACKET_ASSERT(matched && "a completion of another kind than its operation");
}

StoreTicket RequestService::next_ticket() {
    // A number, nothing else: an operation that completes at once never touches the table of
    // pending ones.
    return ++last_ticket_;
}

void RequestService::park(StoreTicket ticket, PendingOp&& op) {
    const bool fresh = pending_ops_.emplace(ticket, std::move(op)).second;
    REDPACKET_ASSERT(fresh);  // tickets are never reused
}

std::optional<RequestService::PendingOp> RequestService::unpark(StoreTicket ticket) {
    const auto it = pending_ops_.find(ticket);
    if (it == pending_ops_.end()) {
        return std::nullopt;
    }
    PendingOp op = std::move(it->second);
    pending_ops_.erase(it);
    return op;
}

}  // namespace redpacket
