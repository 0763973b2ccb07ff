// RequestService: the reply frame of every outcome, in the original and the extended protocol —
// for a completion (now or later), a refusal before the store was asked, and a connection error.
#include <algorithm>
#include <limits>

#include "redpacket/proof.hpp"
#include "redpacket/request_service.hpp"

namespace redpacket {
namespace {

ServiceEvent claim_event(ClaimStatus s) noexcept {
    return static_cast<ServiceEvent>(static_cast<unsigned>(ServiceEvent::claim_claimed) +
                                     static_cast<unsigned>(s));
}

std::uint32_t to_u32_amount(Cents c) noexcept {
    return static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(c.value, 0, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

bool seed_revealable(const PacketInfo& info) noexcept {
    return info.claimed_count == info.count || info.refunded > Cents{0} ||
           (info.state == PacketState::expired && info.remaining == Cents{0});
}

// --- refusals before the store is asked ------------------------------------------------------

Reply RequestService::overloaded(const protocol::Request& request, UserId user) {
    if (const auto* g = std::get_if<protocol::GrabRequest>(&request)) {
        return Reply{protocol::GrabResponse{g->packet, 0}};
    }
    if (std::holds_alternative<protocol::ShakeRequest>(request)) {
        return Reply{protocol::ShakeResponse{static_cast<std::uint32_t>(user),
                                             protocol::kShakeOverloaded, 0, 0}};
    }
    return Reply{
        protocol::ErrorReply{protocol::request_id_of(request), protocol::ErrorCode::overloaded}};
}

Reply RequestService::beyond_sets(const protocol::Request& request) {
    if (const auto* g = std::get_if<protocol::GrabRequest>(&request)) {
        count(ServiceEvent::grab_misses);
        count(ServiceEvent::claim_not_found);
        return Reply{protocol::GrabResponse{g->packet, 0}};
    }
    if (const auto* c = std::get_if<protocol::Claim>(&request)) {
        count(ServiceEvent::claim_not_found);
        return Reply{protocol::ClaimResponse{c->request_id, c->packet,
                                             protocol::to_wire(ClaimStatus::not_found), 0, 0}};
    }
    // A query or a proof.
    return Reply{
        protocol::ErrorReply{protocol::request_id_of(request), protocol::ErrorCode::not_found}};
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

// --- completions -----------------------------------------------------------------------------

Reply RequestService::shake_reply(UserId user, const Completion<std::optional<ShakeHit>>& done) {
    const auto u32 = static_cast<std::uint32_t>(user);
    if (!done.result) {
        count(ServiceEvent::shake_overloaded);
        count(ServiceEvent::journal_refusals);
        return Reply{protocol::ShakeResponse{u32, protocol::kShakeOverloaded, 0, 0}};
    }
    const std::optional<ShakeHit>& hit = *done.result;
    if (!hit) {
        count(ServiceEvent::shake_misses);
        return Reply{protocol::ShakeResponse{u32, protocol::kShakeNoPacket, 0, 0}, done.durable_at};
    }
    count(ServiceEvent::shake_hits);
    return Reply{protocol::ShakeResponse{u32, protocol::kShakeGotPacket,
                                         static_cast<std::uint32_t>(hit->packet.value),
                                         to_u32_amount(hit->amount)},
                 done.durable_at};
}

Reply RequestService::create_reply(std::uint64_t request_id, const Completion<Created>& done) {
    if (!done.result) {
        count(ServiceEvent::create_failures);
        const Error e = done.result.error();
        if (e == Error::unavailable) {
            count(ServiceEvent::journal_refusals);
        }
        // A SET this thread does not hold: the sender's connection is on the wrong worker.
        const auto code =
            e == Error::not_found ? protocol::ErrorCode::unavailable : protocol::to_error_code(e);
        return Reply{protocol::ErrorReply{request_id, code}, done.durable_at};
    }
    return Reply{protocol::CreateResponse{request_id, done.result->packet.value}, done.durable_at};
}

Reply RequestService::claim_reply(bool grab, std::uint64_t request_id, std::uint64_t packet,
                                  const Completion<Claimed>& done) {
    const auto compact = static_cast<std::uint32_t>(packet);
    if (!done.result && done.result.error() != Error::not_found) {
        count(ServiceEvent::journal_refusals);
        if (grab) {
            count(ServiceEvent::grab_misses);
            return Reply{protocol::GrabResponse{compact, 0}};
        }
        return Reply{protocol::ErrorReply{request_id, protocol::ErrorCode::unavailable}};
    }
    const ClaimResult r = done.result ? done.result->result : ClaimResult{};  // not_found
    count(claim_event(r.status));
    const bool got = r.status == ClaimStatus::claimed || r.status == ClaimStatus::already_claimed;
    if (grab) {
        count(got ? ServiceEvent::grab_hits : ServiceEvent::grab_misses);
        return Reply{protocol::GrabResponse{compact, got ? to_u32_amount(r.amount) : 0U},
                     done.durable_at};
    }
    return Reply{
        protocol::ClaimResponse{request_id, packet, protocol::to_wire(r.status), r.share_index,
                                static_cast<std::uint64_t>(got ? r.amount.value : 0)},
        done.durable_at};
}

// A query's or a proof's store read that failed: unavailable if the store could not answer,
// else the packet is not there.
protocol::ErrorReply RequestService::read_refusal(std::uint64_t request_id, Error e) {
    return protocol::ErrorReply{request_id, e == Error::unavailable
                                                ? protocol::ErrorCode::unavailable
                                                : protocol::ErrorCode::not_found};
}

Reply RequestService::proof_reply(std::uint64_t request_id, std::uint32_t part,
                                  const Completion<PacketInfo>& done) {
    if (!done.result) {
        return Reply{read_refusal(request_id, done.result.error())};
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
        return Reply{r};
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
    return Reply{r};
}

Reply RequestService::query_reply(std::uint64_t request_id, const Completion<PacketInfo>& done) {
    if (!done.result) {
        return Reply{read_refusal(request_id, done.result.error())};
    }
    const PacketInfo& info = *done.result;
    protocol::QueryResponse q;
    q.request_id = request_id;
    q.packet = info.id.value;  // the full id, also when asked with a compact one
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
    return Reply{q};
}

}  // namespace redpacket
