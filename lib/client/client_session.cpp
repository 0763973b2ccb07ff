#include "redpacket/client_session.hpp"
#include "redpacket/detail/overloaded.hpp"

namespace redpacket {
namespace {

bool has_request_id(RequestKind k) noexcept {
    return k == RequestKind::create || k == RequestKind::claim || k == RequestKind::query ||
           k == RequestKind::proof;
}

}  // namespace

std::string_view to_string(RequestKind k) noexcept {
    switch (k) {
        case RequestKind::login: return "login";
        case RequestKind::auth_login: return "auth_login";
        case RequestKind::shake: return "shake";
        case RequestKind::grab: return "grab";
        case RequestKind::create: return "create";
        case RequestKind::claim: return "claim";
        case RequestKind::query: return "query";
        case RequestKind::heartbeat: return "heartbeat";
        case RequestKind::proof: return "proof";
        case RequestKind::other: return "other";
    }
    return "other";
}

RequestKey request_key(const protocol::Message& request) noexcept {
    using K = RequestKind;
    return std::visit(
        detail::Overloaded{
            [](const protocol::LoginRequest&) { return RequestKey{K::login, 0}; },
            [](const protocol::AuthLogin&) { return RequestKey{K::auth_login, 0}; },
            [](const protocol::ShakeRequest&) { return RequestKey{K::shake, 0}; },
            [](const protocol::GrabRequest& m) { return RequestKey{K::grab, m.packet}; },
            [](const protocol::CreatePacket& m) { return RequestKey{K::create, m.request_id}; },
            [](const protocol::Claim& m) { return RequestKey{K::claim, m.request_id}; },
            [](const protocol::Query& m) { return RequestKey{K::query, m.request_id}; },
            [](const protocol::Heartbeat& m) { return RequestKey{K::heartbeat, m.nonce}; },
            [](const protocol::Proof& m) { return RequestKey{K::proof, m.request_id}; },
            [](const auto&) { return RequestKey{K::other, 0}; },
        },
        request);
}

bool is_retryable(RequestKind kind) noexcept {
    return has_request_id(kind) || kind == RequestKind::grab || kind == RequestKind::heartbeat;
}

bool answers(const protocol::Message& reply, const RequestKey& r) noexcept {
    using K = RequestKind;
    return std::visit(
        detail::Overloaded{
            [&](const protocol::LoginResponse&) { return r.kind == K::login; },
            [&](const protocol::AuthLoginResponse&) { return r.kind == K::auth_login; },
            [&](const protocol::ShakeResponse&) { return r.kind == K::shake; },
            [&](const protocol::GrabResponse& m) { return r.kind == K::grab && r.key == m.packet; },
            [&](const protocol::CreateResponse& m) {
                return r.kind == K::create && r.key == m.request_id;
            },
            [&](const protocol::ClaimResponse& m) {
                return r.kind == K::claim && r.key == m.request_id;
            },
            [&](const protocol::QueryResponse& m) {
                return r.kind == K::query && r.key == m.request_id;
            },
            [&](const protocol::HeartbeatResponse& m) {
                return r.kind == K::heartbeat && r.key == m.nonce;
            },
            [&](const protocol::ProofResponse& m) {
                return r.kind == K::proof && r.key == m.request_id;
            },
            [&](const protocol::ErrorReply& m) {
                if (has_request_id(r.kind)) {
                    return r.key == m.request_id;
                }
                // Id 0: a rate-limited heartbeat, or a refused login.
                return m.request_id == 0 &&
                       (r.kind == K::heartbeat || r.kind == K::login || r.kind == K::auth_login);
            },
            [](const auto&) { return false; },  // notices, and client frames echoed back
        },
        reply);
}

}  // namespace redpacket
