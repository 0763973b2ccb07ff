// ClientSession: the client side of the wire protocol without I/O — requests encoded into an
// output buffer, bytes read turned into frames, and each reply matched to the request it
// answers. Client (client.hpp) runs it on a libuv connection; redpacket-load runs one per
// connection on its own paced loop. One implementation of the client's protocol rules:
//
//   - extended requests (create, claim, query) are matched by request id, whatever the order
//     replies come in (a claim forwarded to another worker comes back later than a query
//     answered at once); an error frame with that id answers them too;
//   - heartbeats are matched by nonce; grabs by packet id; logins and shakes in order (the
//     original protocol has no ids, and the daemon answers a connection's frames in order
//     except for forwarded ones, which are grabs, claims and queries);
//   - an error frame with request id 0 answers the oldest heartbeat (rate limited) or login
//     (refused); otherwise it, packet notices, and anything nobody asked for go to `on_other`.
//
// `Tag` is whatever the caller keeps per request (a callback id and deadline, a scheduled send
// time): handed back with the reply, or by `take_all` / `take_if` to fail or resend requests.
//
// Single owner; not thread-safe. Header-only (a template); the frame rules are in
// client_session.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <expected>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "redpacket/protocol.hpp"

namespace redpacket {

/// What a request asks for, as far as matching goes.
enum class RequestKind : std::uint8_t {
    login, auth_login, shake, grab, create, claim, query, heartbeat, proof,
    other  ///< a frame that gets no reply (a server-to-client frame sent by a client)
};
/// "claim", "shake", ...
[[nodiscard]] std::string_view to_string(RequestKind k) noexcept;

/// The kind and matching key of a request frame: the request id (create, claim, query), the
/// nonce (heartbeat), the packet (grab), else 0.
struct RequestKey {
    RequestKind kind{RequestKind::other};
    std::uint64_t key{0};
};
[[nodiscard]] RequestKey request_key(const protocol::Message& request) noexcept;
/// True if a request of this kind may be sent again after a reconnect with the same result:
/// creates, claims, queries and proofs (by request id), grabs (one share per user) and
/// heartbeats.
/// Not shakes (each takes a new packet) nor logins.
[[nodiscard]] bool is_retryable(RequestKind kind) noexcept;
/// True if `reply` answers `request` (see the file comment).
[[nodiscard]] bool answers(const protocol::Message& reply, const RequestKey& request) noexcept;

template <class Tag>
class ClientSession {
public:
    /// A request sent and not yet answered.
    struct Pending {
        RequestKey key;
        protocol::Message request;
        Tag tag;
    };

    explicit ClientSession(std::size_t max_frame = protocol::kDefaultMaxFrame)
        : assembler_{max_frame} {}

    /// Encodes `request` (stamped `now_s`) into the output and remembers it until its reply.
    void send(const protocol::Message& request, Tag tag, std::uint64_t now_s) {
        protocol::append(output_, request, now_s);
        const RequestKey key = request_key(request);
        if (key.kind != RequestKind::other) {
            pending_.push_back(Pending{key, request, std::move(tag)});
        }
    }
    /// Raw bytes for the output (nothing is remembered: replies go to `on_other`).
    void send_raw(std::span<const std::byte> bytes) {
        output_.insert(output_.end(), bytes.begin(), bytes.end());
    }
    /// Bytes waiting to be written; the caller erases what it wrote.
    [[nodiscard]] std::vector<std::byte>& output() noexcept { return output_; }
    [[nodiscard]] const std::vector<std::byte>& output() const noexcept { return output_; }

    /// Feeds bytes read. Calls `on_reply(Tag&&, const Message& reply, const Pending&)` for each
    /// frame that answers a pending request (which is then forgotten) and `on_other(const
    /// Message&)` for every other frame. Returns the frames decoded, or the decoder's error.
    template <class OnReply, class OnOther>
    std::expected<std::size_t, protocol::DecodeError> feed(std::span<const std::byte> bytes,
                                                          OnReply&& on_reply, OnOther&& on_other) {
        return assembler_.feed(bytes, [&](const protocol::Frame& f) {
            for (auto it = pending_.begin(); it != pending_.end(); ++it) {
                if (answers(f.message, it->key)) {
                    Pending p = std::move(*it);
                    pending_.erase(it);
                    on_reply(std::move(p.tag), f.message, p);
                    return;
                }
            }
            on_other(f.message);
        });
    }

    /// Forgets the oldest pending request of `kind` and returns its tag (e.g. an echo server's
    /// "reply", or an error frame the caller attributes to it).
    [[nodiscard]] std::optional<Tag> take_first(RequestKind kind) {
        for (auto it = pending_.begin(); it != pending_.end(); ++it) {
            if (it->key.kind == kind) {
                Tag tag = std::move(it->tag);
                pending_.erase(it);
                return tag;
            }
        }
        return std::nullopt;
    }
    /// Forgets every pending request for which `pred(const Pending&)` holds, then passes each,
    /// oldest first, to `fn(Pending&&)` (which may send new requests).
    template <class Pred, class Fn>
    void take_if(Pred&& pred, Fn&& fn) {
        std::vector<Pending> taken;
        for (auto it = pending_.begin(); it != pending_.end();) {
            if (pred(*it)) {
                taken.push_back(std::move(*it));
                it = pending_.erase(it);
            } else {
                ++it;
            }
        }
        for (Pending& p : taken) {
            fn(std::move(p));
        }
    }
    /// A new connection: forgets partial frames, unwritten output and — passing them to
    /// `fn(Pending&&)`, oldest first, to fail or send again — every pending request.
    template <class Fn>
    void reset(Fn&& fn) {
        assembler_.reset();
        output_.clear();
        take_if([](const Pending&) { return true; }, std::forward<Fn>(fn));
    }
    [[nodiscard]] std::size_t pending() const noexcept { return pending_.size(); }
    [[nodiscard]] const std::deque<Pending>& pending_requests() const noexcept { return pending_; }

private:
    protocol::FrameAssembler assembler_;
    std::vector<std::byte> output_;
    std::deque<Pending> pending_;
};

}  // namespace redpacket
