// RequestService: requests in, decisions out. Campaigns and later completions are in
// request_service_campaigns.cpp.
#include "redpacket/request_service.hpp"

#include "redpacket/proof.hpp"
#include "redpacket/detail/overloaded.hpp"

#include <algorithm>
#include <limits>

#include "redpacket/auth.hpp"

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

ServiceEvent claim_event(ClaimStatus s) noexcept {
    return static_cast<ServiceEvent>(static_cast<unsigned>(ServiceEvent::claim_claimed) +
                                     static_cast<unsigned>(s));
}

/// A Decision holding a one-frame Reply, built in place (no copy of the Reply on the hot path).
template <class M>
Decision reply(const M& message, std::uint64_t hold_until = 0) {
    return Decision{std::in_place_type<Reply>, message, hold_until};
}

std::uint32_t to_u32_amount(Cents c) noexcept {
    return static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(c.value, 0, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

std::span<const std::string_view> service_event_names() noexcept { return kServiceEventNames; }

RequestService::RequestService(ServiceConfig config, PacketStore& store,
                               const ConnectionRegistry& registry, WorkerId self,
                               EventCounter& counter, ServiceOutput& output)
    : config_{std::move(config)},
      store_{store},
      registry_{registry},
      self_{self},
      counter_{counter},
      output_{output},
      rng_{config_.seed * 7919 + self} {
    for (const ShardId s : registry_.shards_of(self_)) {
        if (store_.serves(s)) {
            owned_.push_back(s);
        }
    }
    store_.set_listener(this);
}

// --- entry points ----------------------------------------------------------------------------

Decision RequestService::handle(Session& session, const protocol::Message& request,
                                const ReplyAddress& asker, Time now) {
    second_ = now.count() / 1000;
    return std::visit(
        detail::Overloaded{
            [&](const protocol::LoginRequest&) { return login(session, request, now); },
            [&](const protocol::AuthLogin&) { return login(session, request, now); },
            [&](const protocol::Heartbeat& m) -> Decision {
                count(ServiceEvent::heartbeats);
                if (rate_limited(session)) {
                    return reply(protocol::ErrorReply{0, protocol::ErrorCode::overloaded});
                }
                return reply(protocol::HeartbeatResponse{m.nonce});
            },
            [&](const auto& m) -> Decision {
                using M = std::decay_t<decltype(m)>;
                constexpr bool is_request =
                    std::is_same_v<M, protocol::ShakeRequest> ||
                    std::is_same_v<M, protocol::GrabRequest> ||
                    std::is_same_v<M, protocol::CreatePacket> ||
                    std::is_same_v<M, protocol::Claim> || std::is_same_v<M, protocol::Query> ||
                    std::is_same_v<M, protocol::Proof>;
                if (!is_request) {  // a server-to-client frame sent by a client
                    count(ServiceEvent::protocol_errors);
                    return error(session, 0, protocol::ErrorCode::unknown_command, true);
                }
                if (!session.logged_in) {
                    count(ServiceEvent::protocol_errors);
                    return error(session, 0, protocol::ErrorCode::not_logged_in, true);
                }
                return dispatch(session, request, asker, now);
            },
        },
        request);
}

Decision RequestService::login(Session& session, const protocol::Message& request, Time now) {
    if (const auto* m = std::get_if<protocol::LoginRequest>(&request)) {
        if (!config_.compat_mode) {
            count(ServiceEvent::login_failures);
            return error(session, 0, protocol::ErrorCode::auth_failed, true);
        }
        return grant(session, m->user, false);
    }
    const auto& m = std::get<protocol::AuthLogin>(request);
    const auto now_s = static_cast<std::uint64_t>(now.count() / 1000);
    if (!verify_login_token(config_.auth_secret, m.user, m.expiry, m.token, now_s)) {
        count(ServiceEvent::login_failures);
        session.extended = true;
        Reply r{protocol::AuthLoginResponse{
            m.user, static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed)}};
        r.add(protocol::ErrorReply{0, protocol::ErrorCode::auth_failed});
        r.close = true;
        return r;
    }
    return grant(session, m.user, true);
}

Decision RequestService::grant(Session& session, UserId user, bool extended) {
    if (session.logged_in) {
        count(ServiceEvent::protocol_errors);
        return error(session, 0, protocol::ErrorCode::already_logged_in, true);
    }
    return LoginGranted{user, extended};
}

Reply RequestService::welcome(Session& session, const LoginGranted& login, Time now) {
    second_ = now.count() / 1000;
    session.user = login.user;
    session.extended = login.extended;
    session.logged_in = true;
    count(ServiceEvent::logins);
    const auto u32 = static_cast<std::uint32_t>(login.user);
    if (login.extended) {
        return Reply{protocol::AuthLoginResponse{u32, protocol::kResultOk}};
    }
    return Reply{protocol::LoginResponse{u32, protocol::kResultOk}};
}

Decision RequestService::serve_peer(const PeerRequest& peer, Time now) {
    second_ = now.count() / 1000;
    return serve(peer.request, peer.user, peer.reply_to, now);
}

Reply RequestService::overloaded(const protocol::Message& request) const {
    if (const auto* g = std::get_if<protocol::GrabRequest>(&request)) {
        return Reply{protocol::GrabResponse{g->packet, 0}};
    }
    std::uint64_t request_id = 0;
    if (const auto* c = std::get_if<protocol::Claim>(&request)) {
        request_id = c->request_id;
    } else if (const auto* q = std::get_if<protocol::Query>(&request)) {
        request_id = q->request_id;
    } else if (const auto* p = std::get_if<protocol::Proof>(&request)) {
        request_id = p->request_id;
    }
    return Reply{protocol::ErrorReply{request_id, protocol::ErrorCode::overloaded}};
}

Reply RequestService::error(const Session& session, std::uint64_t request_id,
                            protocol::ErrorCode code, bool close) const {
    Reply r;
    // The original client knows no error frame: it only ever sees the connection close.
    if (session.extended || !config_.compat_mode) {
        r.add(protocol::ErrorReply{request_id, code});
    }
    r.close = close;
    return r;
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

// --- requests of a logged-in user ------------------------------------------------------------

Decision RequestService::dispatch(Session& session, const protocol::Message& request,
                                  const ReplyAddress& asker, Time now) {
    const auto beyond_sets = [&](std::uint64_t packet) {
        return packet_shard(PacketId{packet}) >= registry_.shard_count();
    };
    if (std::holds_alternative<protocol::ShakeRequest>(request)) {
        return shake(session, asker, now);
    }
    if (const auto* m = std::get_if<protocol::CreatePacket>(&request)) {
        return create(session, *m, asker, now);
    }
    if (const auto* g = std::get_if<protocol::GrabRequest>(&request)) {
        count(ServiceEvent::grabs);
        if (rate_limited(session)) {
            return reply(protocol::GrabResponse{g->packet, 0});
        }
        if (beyond_sets(g->packet)) {
            count(ServiceEvent::grab_misses);
            count(ServiceEvent::claim_not_found);
            return reply(protocol::GrabResponse{g->packet, 0});
        }
    } else if (const auto* c = std::get_if<protocol::Claim>(&request)) {
        count(ServiceEvent::claims);
        if (rate_limited(session)) {
            return reply(protocol::ErrorReply{c->request_id, protocol::ErrorCode::overloaded});
        }
        if (beyond_sets(c->packet)) {
            count(ServiceEvent::claim_not_found);
            return reply(protocol::ClaimResponse{
                c->request_id, c->packet, protocol::to_wire(ClaimStatus::not_found), 0, 0});
        }
    } else if (const auto* q = std::get_if<protocol::Query>(&request)) {
        count(ServiceEvent::queries);
        if (rate_limited(session)) {
            return reply(protocol::ErrorReply{q->request_id, protocol::ErrorCode::overloaded});
        }
        if (beyond_sets(q->packet)) {
            return reply(protocol::ErrorReply{q->request_id, protocol::ErrorCode::not_found});
        }
    } else if (const auto* p = std::get_if<protocol::Proof>(&request)) {
        count(ServiceEvent::proofs);
        if (rate_limited(session)) {
            return reply(protocol::ErrorReply{p->request_id, protocol::ErrorCode::overloaded});
        }
        if (p->part != protocol::kProofCommitment && p->part != protocol::kProofSeed) {
            return reply(protocol::ErrorReply{p->request_id, protocol::ErrorCode::malformed_frame});
        }
        if (beyond_sets(p->packet)) {
            return reply(protocol::ErrorReply{p->request_id, protocol::ErrorCode::not_found});
        }
    }
    return route(session, request, asker, now);
}

Decision RequestService::shake(Session& session, const ReplyAddress& asker, Time now) {
    count(ServiceEvent::shake_requests);
    const auto user = static_cast<std::uint32_t>(session.user);
    if (rate_limited(session)) {
        count(ServiceEvent::shake_overloaded);
        return reply(protocol::ShakeResponse{user, protocol::kShakeOverloaded, 0, 0});
    }
    const StoreTicket ticket = next_ticket();
    return answer(store_.take(ticket, TakeOp{registry_.shard_of(session.user), session.user, now}),
                  [&] { return pending_op(OpKind::shake, asker, session.user); },
                  [&](auto& done) { return shake_reply(session.user, done); });
}

Decision RequestService::create(Session& session, const protocol::CreatePacket& req,
                                const ReplyAddress& asker, Time now) {
    count(ServiceEvent::creates);
    if (rate_limited(session)) {
        return reply(protocol::ErrorReply{req.request_id, protocol::ErrorCode::overloaded});
    }
    const auto fail = [&](protocol::ErrorCode code) {
        count(ServiceEvent::create_failures);
        return reply(protocol::ErrorReply{req.request_id, code});
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
    CreateOp create;
    create.set = registry_.shard_of(session.user);
    create.sender = session.user;
    create.request_id = req.request_id;
    create.total = Cents{static_cast<std::int64_t>(req.total)};
    create.count = req.count;
    create.policy = *policy;
    create.expires_at = now + std::chrono::seconds{req.ttl_seconds};
    const StoreTicket ticket = next_ticket();
    return answer(store_.create(ticket, create),
                  [&] { return pending_op(OpKind::create, asker, session.user, req.request_id); },
                  [&](auto& done) { return create_reply(req.request_id, done); });
}

Decision RequestService::route(const Session& session, const protocol::Message& request,
                               const ReplyAddress& asker, Time now) {
    const std::uint64_t packet = std::visit(
        detail::Overloaded{[](const protocol::GrabRequest& m) -> std::uint64_t { return m.packet; },
                   [](const protocol::Claim& m) -> std::uint64_t { return m.packet; },
                   [](const protocol::Query& m) -> std::uint64_t { return m.packet; },
                   [](const protocol::Proof& m) -> std::uint64_t { return m.packet; },
                   [](const auto&) -> std::uint64_t { return 0; }},
        request);
    const ShardId set = packet_shard(PacketId{packet});
    if (!store_.serves(set)) {
        return Forward{registry_.worker_of(set)};
    }
    return serve(request, session.user, asker, now);
}

Decision RequestService::serve(const protocol::Message& request, UserId user,
                               const ReplyAddress& asker, Time now) {
    const StoreTicket ticket = next_ticket();
    if (const auto* m = std::get_if<protocol::GrabRequest>(&request)) {
        return answer(store_.claim(ticket, ClaimOp{PacketId{m->packet}, true, user, 0, now}),
                      [&] { return pending_op(OpKind::grab, asker, user, 0, m->packet); },
                      [&](auto& done) { return claim_reply(OpKind::grab, 0, m->packet, done); });
    }
    if (const auto* m = std::get_if<protocol::Claim>(&request)) {
        return answer(
            store_.claim(ticket, ClaimOp{PacketId{m->packet}, false, user, m->request_id, now}),
            [&] { return pending_op(OpKind::claim, asker, user, m->request_id, m->packet); }, [&](auto& done) {
                return claim_reply(OpKind::claim, m->request_id, m->packet, done);
            });
    }
    if (const auto* m = std::get_if<protocol::Proof>(&request)) {
        PendingOp op = pending_op(OpKind::proof, asker, user, m->request_id, m->packet);
        op.recipients = static_cast<std::uint8_t>(m->part);  // which part was asked for
        return answer(store_.query(ticket, PacketId{m->packet}), [&] { return op; },
                      [&](auto& done) { return proof_reply(m->request_id, m->part, done); });
    }
    const auto& q = std::get<protocol::Query>(request);
    return answer(store_.query(ticket, PacketId{q.packet}),
                  [&] { return pending_op(OpKind::query, asker, 0, q.request_id, q.packet); },
                  [&](auto& done) { return query_reply(q.request_id, q.packet, done); });
}

template <class T, class MakeOp, class Answer>
Decision RequestService::answer(StoreResult<T>&& result, MakeOp&& op, Answer&& reply) {
    if (result.ready()) {
        return reply(result.get());
    }
    park(current_ticket_, op());  // built only when the store will answer later
    return Later{};
}

// --- replies ---------------------------------------------------------------------------------

Decision RequestService::shake_reply(UserId user, Completion<std::optional<ShakeHit>>& done) {
    const auto u32 = static_cast<std::uint32_t>(user);
    if (!done.result) {
        count(ServiceEvent::shake_overloaded);
        count(ServiceEvent::journal_refusals);
        return reply(protocol::ShakeResponse{u32, protocol::kShakeOverloaded, 0, 0});
    }
    const std::optional<ShakeHit>& hit = *done.result;
    if (!hit) {
        count(ServiceEvent::shake_misses);
        return reply(protocol::ShakeResponse{u32, protocol::kShakeNoPacket, 0, 0},
                     done.durable_at);
    }
    count(ServiceEvent::shake_hits);
    return reply(protocol::ShakeResponse{u32, protocol::kShakeGotPacket,
                                         static_cast<std::uint32_t>(hit->packet.value),
                                         to_u32_amount(hit->amount)},
                 done.durable_at);
}

Decision RequestService::create_reply(std::uint64_t request_id, Completion<Created>& done) {
    if (!done.result) {
        count(ServiceEvent::create_failures);
        const Error e = done.result.error();
        if (e == Error::unavailable) {
            count(ServiceEvent::journal_refusals);
        }
        // A SET this thread does not hold: the sender's connection is on the wrong worker.
        const auto code =
            e == Error::not_found ? protocol::ErrorCode::unavailable : protocol::to_error_code(e);
        return reply(protocol::ErrorReply{request_id, code}, done.durable_at);
    }
    return reply(protocol::CreateResponse{request_id, done.result->packet.value}, done.durable_at);
}

Decision RequestService::claim_reply(OpKind kind, std::uint64_t request_id, std::uint64_t packet,
                                  Completion<Claimed>& done) {
    const bool grab = kind == OpKind::grab;
    const auto compact = static_cast<std::uint32_t>(packet);
    if (!done.result && done.result.error() != Error::not_found) {
        count(ServiceEvent::journal_refusals);
        if (grab) {
            count(ServiceEvent::grab_misses);
            return reply(protocol::GrabResponse{compact, 0});
        }
        return reply(protocol::ErrorReply{request_id, protocol::ErrorCode::unavailable});
    }
    const ClaimResult r = done.result ? done.result->result : ClaimResult{};  // not_found
    count(claim_event(r.status));
    const bool got = r.status == ClaimStatus::claimed || r.status == ClaimStatus::already_claimed;
    if (grab) {
        count(got ? ServiceEvent::grab_hits : ServiceEvent::grab_misses);
        return reply(protocol::GrabResponse{compact, got ? to_u32_amount(r.amount) : 0U},
                     done.durable_at);
    }
    return reply(protocol::ClaimResponse{request_id, packet, protocol::to_wire(r.status),
                                         r.share_index,
                                         static_cast<std::uint64_t>(got ? r.amount.value : 0)},
                 done.durable_at);
}

bool seed_revealable(const PacketInfo& info) noexcept {
    return info.claimed_count == info.count || info.refunded > Cents{0} ||
           (info.state == PacketState::expired && info.remaining == Cents{0});
}

void RequestService::read_packet(PacketId packet, PacketRead done) {
    const StoreTicket ticket = next_ticket();
    // Parked first: a store may complete through the listener before query() returns.
    pending_reads_.emplace(ticket, std::move(done));
    if (auto result = store_.query(ticket, packet); result.ready()) {
        (void)answer_read(ticket, result.get().result);
    }
}

bool RequestService::answer_read(StoreTicket ticket, std::expected<PacketInfo, Error>& result) {
    const auto read = pending_reads_.find(ticket);
    if (read == pending_reads_.end()) {
        return false;  // answered already, or a client's query
    }
    const PacketRead answer = std::move(read->second);
    pending_reads_.erase(read);
    answer(std::move(result));
    return true;
}

// A query's or a proof's store read that failed: unavailable if the store could not answer,
// else the packet is not there.
protocol::ErrorReply RequestService::read_refusal(std::uint64_t request_id, Error e) {
    return protocol::ErrorReply{request_id, e == Error::unavailable
                                                ? protocol::ErrorCode::unavailable
                                                : protocol::ErrorCode::not_found};
}

Decision RequestService::proof_reply(std::uint64_t request_id, std::uint32_t part,
                                     Completion<PacketInfo>& done) {
    if (!done.result) {
        return reply(read_refusal(request_id, done.result.error()));
    }
    const PacketInfo& info = *done.result;
    protocol::ProofResponse r;
    r.request_id = request_id;
    r.part = part;
    r.policy = protocol::to_wire(info.policy);
    // No seed, or a minimum share the frame's u32 cannot carry (a clamped one would make
    // every verifier's commitment differ): no proof (docs/fairness.md §5).
    if (!info.seed || info.min_share.value < 0 || info.min_share.value > UINT32_MAX) {
        r.status = protocol::kProofUnavailable;
        return reply(r);
    }
    r.min_share = static_cast<std::uint32_t>(info.min_share.value);
    const SplitTerms terms{info.id, info.total, info.count, info.policy, info.min_share};
    if (part == protocol::kProofCommitment) {
        r.value = commitment(terms, *info.seed);
    } else if (seed_revealable(info)) {
        r.value = *info.seed;
    } else {
        r.status = protocol::kProofWithheld;
    }
    return reply(r);
}

Decision RequestService::query_reply(std::uint64_t request_id, std::uint64_t packet,
                                  Completion<PacketInfo>& done) {
    if (!done.result) {
        return reply(read_refusal(request_id, done.result.error()));
    }
    const PacketInfo& info = *done.result;
    protocol::QueryResponse q;
    q.request_id = request_id;
    q.packet = packet;
    q.total = static_cast<std::uint64_t>(info.total.value);
    q.count = info.count;
    q.claimed_count = info.claimed_count;
    q.remaining = static_cast<std::uint64_t>(info.remaining.value);
    if (info.best_luck) {
        const ClaimRecord& best = info.claims[*info.best_luck];
        q.best_user = best.user;
        q.best_amount = static_cast<std::uint64_t>(best.amount.value);
    }
    q.state = protocol::to_wire(info.state);
    return reply(q);
}

}  // namespace redpacket
