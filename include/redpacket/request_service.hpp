// RequestService: the request rules of a red-packet service, as one step: inputs in, effects out.
//
// A worker thread runs one service over the SETs it owns. Everything that happens to the rules
// is an Input passed to `step` with the `now` it happens at: a decoded request of a connection,
// a connection that failed (a frame the decoder refused, a hand-over that could not happen), a
// request another worker forwarded here, a store's later completion, the ~10 ms tick, an
// operator's read of a packet, and a connection entering or leaving the registry. What the
// rules decide comes out as Effects appended to a buffer the caller owns and carries out in
// order:
//   - Send: reply frames for a connection (here, or on the worker that forwarded the request),
//     to leave once the store's durable sequence reaches `hold_until`, then maybe close it;
//   - Forward: the packet's SET is served by another worker's store — hand the request over,
//     or send `refused` to the asker if that cannot be done;
//   - Register: a login was granted — enter the connection in the registry (moving it to the
//     worker that owns the user's SET first);
//   - Notify: a send campaign's notice for a registered connection;
//   - PacketRead: the answer to an operator's read.
// Store operations the store completes later come back as a StoreCompletion input; nothing in
// here calls back into its caller. It never touches a socket, a clock or a thread: the caller
// passes `now`, and the tests drive it with neither. The commands are one table
// (request_service.cpp, `kCommands`): a row per request command with its login, rate-limit,
// routing and counting rules, and one handler each.
//
// The rules it holds: logins (compat mode, HMAC tokens), per-connection rate limits, create
// validation (policy, ttl, total) in the sender's SET with idempotent retries (the store's),
// grab / claim / query / proof routed by the packet's SET, shakes from the user's SET,
// heartbeats, the reply frame of every outcome in the original and the extended protocol, the
// campaigns (shake offers; send packets restricted to their recipients, with notices), and
// expiry. Every outcome is counted (ServiceEvent) in the caller's EventCounter.
//
// Ownership and thread-safety: single owner, the worker thread; the store, the counter and the
// effects buffer belong to the same thread. The registry's tables are read only for SETs this
// worker owns (their owner thread).
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "redpacket/campaign.hpp"
#include "redpacket/packet_store.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket/random.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace redpacket {

/// What a RequestService counts. Stable names (see `service_event_names`).
enum class ServiceEvent : std::uint8_t {
    logins,
    login_failures,
    protocol_errors,  ///< frames refused by the rules (not logged in, a second login, …)
    shake_requests,
    shake_hits,
    shake_misses,
    shake_overloaded,
    grabs,
    grab_hits,
    grab_misses,
    claims,
    creates,
    create_failures,
    queries,
    proofs,
    heartbeats,
    notices,
    rate_limited,
    shake_offered,
    shake_offer_refused,
    packets_sent,
    refunds,
    journal_refusals,  ///< money requests the store refused (journal failing or full)
    // The outcome of every grab and extended claim, in ClaimStatus order (counted where the
    // store was asked; refusals before that — rate limit, store unavailable — are not).
    claim_claimed,
    claim_already_claimed,
    claim_sold_out,
    claim_expired,
    claim_not_found,
    claim_not_allowed,
    count_  // not an event
};
inline constexpr std::size_t kServiceEventCount = static_cast<std::size_t>(ServiceEvent::count_);
/// The name of every ServiceEvent, in order.
[[nodiscard]] std::span<const std::string_view> service_event_names() noexcept;

/// Names a client connection across threads: its worker, slot and the slot's generation.
struct ReplyAddress {
    WorkerId worker{0};
    std::uint32_t slot{0};
    std::uint32_t generation{0};
    friend bool operator==(const ReplyAddress&, const ReplyAddress&) = default;
};

/// What the service keeps per connection.
struct Session {
    UserId user{0};
    bool logged_in{false};
    bool extended{false};  ///< authenticated login: connection errors get an error frame
    std::int64_t window_second{0};
    std::uint32_t window_requests{0};
};

/// Frames to send: none, one, or one followed by an error frame for request 0 (a refused auth
/// login gets its response and then the error). Built in place on the hot path: no frame is
/// default-constructed.
struct Reply {
    protocol::Response frame;  ///< the first frame, when count ≥ 1
    std::uint8_t count{0};
    protocol::ErrorCode then_error{protocol::ErrorCode::internal};  ///< count == 2: its code
    bool close{false};            ///< close the connection once the frames have gone out
    std::uint64_t hold_until{0};  ///< send once the store's durable sequence reaches this

    Reply() = default;
    template <class M>
    explicit Reply(const M& m, std::uint64_t hold = 0) : frame{m}, count{1}, hold_until{hold} {}
    /// Appends a frame: the first, or an error frame for request 0 after it.
    void add(const protocol::Response& m) noexcept {
        if (count == 0) {
            frame = m;
            count = 1;
        } else if (const auto* e = std::get_if<protocol::ErrorReply>(&m); e && e->request_id == 0) {
            then_error = e->code;
            count = 2;
        }
    }
    /// Frame `i` (< count).
    [[nodiscard]] protocol::Response at(std::size_t i) const noexcept {
        return i == 0 ? frame : protocol::Response{protocol::ErrorReply{0, then_error}};
    }
    /// Calls `fn(const protocol::Response&)` for each frame in order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        if (count >= 1) {
            fn(frame);
        }
        if (count == 2) {
            fn(protocol::Response{protocol::ErrorReply{0, then_error}});
        }
    }
};
/// A request another worker forwarded here: a grab, claim, query or proof, its user and its
/// asker.
struct PeerRequest {
    protocol::Request request;
    UserId user{0};
    ReplyAddress reply_to;
};

// --- inputs ----------------------------------------------------------------------------------

/// A decoded request of a connection whose replies go to `from` (input_of makes it).
struct ClientRequest {
    Session& session;
    ReplyAddress from;
    protocol::Request request;
};
/// The connection `from` cannot go on (its stream failed to decode, or it could not be handed
/// to its owner): an error frame in its protocol, then the end of it. `protocol_error` counts
/// it as one.
struct ConnectionFailed {
    const Session& session;
    ReplyAddress from;
    protocol::ErrorCode code{protocol::ErrorCode::internal};
    bool protocol_error{false};
};
/// The ~10 ms tick: the campaigns' packets due in `elapsed_ms` (unless `campaigns` is false,
/// e.g. while draining) and the expiry of every owned SET.
struct Tick {
    std::int64_t elapsed_ms{0};
    bool campaigns{true};
};
/// An operator reads packet `packet` (the admin API's proof view): answered by a PacketRead
/// effect with `token`, at once or when the store completes.
struct ReadPacket {
    PacketId packet;
    std::uint64_t token{0};
};
/// A connection of `user` entered the registry here (`online`), or left it: tells a store that
/// tracks presence across processes.
struct Presence {
    UserId user{0};
    bool online{false};
};
using Input = std::variant<ClientRequest, ConnectionFailed, PeerRequest, StoreCompletion, Tick,
                           ReadPacket, Presence>;

/// The input a decoded frame `m` of a connection makes: a ClientRequest, or for a server →
/// client frame sent by a client a ConnectionFailed (unknown_command, a protocol error).
[[nodiscard]] inline Input input_of(Session& session, ReplyAddress from,
                                    const protocol::Message& m) noexcept {
    return std::visit(
        [&]<class T>(const T& msg) noexcept -> Input {
            if constexpr (protocol::IsAlternative<T, protocol::Request>::value) {
                return ClientRequest{session, from, protocol::Request{std::in_place_type<T>, msg}};
            } else {
                return ConnectionFailed{session, from, protocol::ErrorCode::unknown_command, true};
            }
        },
        m);
}

// --- effects ---------------------------------------------------------------------------------

/// Send `reply` to connection `to` — of this worker, or of the worker that forwarded the
/// request here (post it back) — once the store's durable sequence reaches its `hold_until`.
struct Send {
    ReplyAddress to;
    Reply reply;
};
/// Hand `request` to `worker`, whose store serves the packet's SET; if that cannot be done
/// (its mailbox is full, too many requests are out), send `refused` to the asker instead.
struct Forward {
    WorkerId worker{0};
    PeerRequest request;
    Reply refused;
};
/// A login of `user` on connection `conn` was granted (the Session says so already): enter it
/// in the registry — on the worker that owns the user's SET, moving the connection there
/// first — and then give the step a Presence input.
struct Register {
    ReplyAddress conn;
    UserId user{0};
};
/// A send campaign's notice for a registered connection of this worker (counted as
/// ServiceEvent::notices; a connection gone by the time it is carried out gets nothing), to
/// leave once the store's durable sequence reaches `hold_until` — the packet's create record:
/// a notice names money, and a crash must not take back a packet its recipients were told of.
struct Notify {
    ConnectionRef conn{0};
    protocol::PacketNotice notice;
    std::uint64_t hold_until{0};
};
/// The answer to the ReadPacket with `token`. Errors: not_found, unavailable (the store could
/// not answer).
struct PacketRead {
    std::uint64_t token{0};
    std::expected<PacketInfo, Error> result;
};
using Effect = std::variant<Send, Forward, Register, Notify, PacketRead>;
/// The caller's buffer of effects: `step` appends, the caller carries them out and clears it.
using Effects = std::vector<Effect>;

/// The rules' settings.
struct ServiceConfig {
    bool compat_mode{true};          ///< accept the original unauthenticated login
    std::string auth_secret;         ///< HMAC key of authenticated logins; empty: none
    std::uint32_t rate_limit{1000};  ///< requests per second per connection
    std::uint32_t max_ttl_seconds{86400};
    std::int64_t max_packet_total{100000000};  ///< cents
    std::uint64_t seed{2017};                  ///< the campaigns' random amounts and recipients
};

/// Whether a packet's seed may be shown (docs/fairness.md): nothing is left to hand out —
/// every share claimed, or the rest refunded.
[[nodiscard]] bool seed_revealable(const PacketInfo& info) noexcept;

class RequestService {
public:
    /// A service for worker `self` of `registry`, over the SETs `store` serves among those
    /// the registry gives `self`. Every reference must outlive the service; the caller sets
    /// the store's sink (its completions are this service's inputs).
    RequestService(ServiceConfig config, PacketStore& store, const ConnectionRegistry& registry,
                   WorkerId self, EventCounter& counter);
    RequestService(const RequestService&) = delete;
    RequestService& operator=(const RequestService&) = delete;

    /// The one way in: `input`, happening at `now`; what the rules decide is appended to `out`,
    /// in the order the caller must carry it out.
    void step(const Input& input, Time now, Effects& out);

    /// Runs or stops the campaigns (takes effect on the next tick).
    void set_shake_campaign(const ShakeCampaign& campaign,
                            CampaignChange change = CampaignChange::restart);
    void set_send_campaign(const SendCampaign& campaign,
                           CampaignChange change = CampaignChange::restart);
    /// Packets each campaign has made since it was last restarted.
    [[nodiscard]] std::uint64_t shake_done() const noexcept { return shake_pacer_.done(); }
    [[nodiscard]] std::uint64_t send_done() const noexcept { return send_pacer_.done(); }
    /// The SETs this service owns.
    [[nodiscard]] const std::vector<ShardId>& owned_sets() const noexcept { return owned_; }
    /// Operations waiting for the store.
    [[nodiscard]] std::size_t pending() const noexcept { return pending_ops_.size(); }

    /// One request command's rules (request_service.cpp, kCommands).
    struct Command;
    /// A request being served: from a client connection (`session` set) or forwarded by
    /// another worker.
    struct Asked {
        Session* session;  ///< null for a forwarded request
        const protocol::Request& request;
        UserId user;
        ReplyAddress asker;
        Effects& out;
    };

private:
    // What a store operation that completes later needs to finish: one struct per kind.
    struct AwaitCreate {
        ReplyAddress asker;
        std::uint64_t request_id{0};
    };
    struct AwaitClaim {
        ReplyAddress asker;
        std::uint64_t request_id{0};
        std::uint64_t packet{0};
        bool grab{false};
    };
    struct AwaitQuery {
        ReplyAddress asker;
        std::uint64_t request_id{0};
    };
    struct AwaitProof {
        ReplyAddress asker;
        std::uint64_t request_id{0};
        std::uint32_t part{0};
    };
    struct AwaitShake {
        ReplyAddress asker;
        UserId user{0};
    };
    struct AwaitRead {
        std::uint64_t token{0};
    };
    struct AwaitOffer {
        std::uint32_t epoch{0};
    };
    /// A send campaign's packet: its recipients (and, picked here, their connections).
    struct AwaitSend {
        std::uint32_t epoch{0};
        std::array<std::uint32_t, protocol::kNoticeUserSlots> users{};
        std::array<ConnectionRef, protocol::kNoticeUserSlots> conns{};
        std::uint8_t recipients{0};
        Cents total{};
    };
    struct AwaitRecipients {
        ShardId set{0};
        std::uint32_t epoch{0};
    };
    struct AwaitExpire {};
    using PendingOp = std::variant<AwaitCreate, AwaitClaim, AwaitQuery, AwaitProof, AwaitShake,
                                   AwaitRead, AwaitOffer, AwaitSend, AwaitRecipients, AwaitExpire>;

    void count(ServiceEvent e, std::uint64_t n = 1) noexcept {
        counter_.add(static_cast<std::size_t>(e), second_, n);
    }
    [[nodiscard]] bool rate_limited(Session& session);
    /// A Send of a one-frame reply to `to`.
    template <class M>
    static void send(Effects& out, const ReplyAddress& to, const M& m, std::uint64_t hold = 0) {
        out.emplace_back(std::in_place_type<Send>, to, Reply{m, hold});
    }

    // The inputs.
    void on_request(const ClientRequest& in, Effects& out);
    void on_failed(const ConnectionFailed& in, Effects& out);
    void on_peer(const PeerRequest& in, Effects& out);
    void on_store(const StoreCompletion& in, Effects& out);
    void on_tick(const Tick& in, Effects& out);
    void on_read(const ReadPacket& in, Effects& out);
    void on_presence(const Presence& in);

    // The commands (one handler each; the table says which runs when).
    void login(Asked& a);
    void auth_login(Asked& a);
    void grant(Asked& a, UserId user, bool extended);
    void heartbeat(Asked& a);
    void shake(Asked& a);
    void create(Asked& a);
    void grab(Asked& a);
    void claim(Asked& a);
    void query(Asked& a);
    void proof(Asked& a);
    /// Serves `a` by its row: here if the store serves the packet's SET, else Forward.
    void route(const Command& row, Asked& a);
    /// The answer to `request` when it cannot be served now (rate limit, no room to forward):
    /// "overloaded", in the request's own protocol (a shake's names `user`).
    [[nodiscard]] static Reply overloaded(const protocol::Request& request, UserId user);
    /// The answer to a request for a packet whose id names no SET of the layout.
    [[nodiscard]] Reply beyond_sets(const protocol::Request& request);
    /// A connection-level error: an error frame (unless the session speaks the original
    /// protocol, whose client knows none) and, with `close`, the end of the connection.
    [[nodiscard]] Reply error(const Session& session, std::uint64_t request_id,
                              protocol::ErrorCode code, bool close) const;

    // Replies from completions, for both the immediate and the later path.
    [[nodiscard]] Reply shake_reply(UserId user, const Completion<std::optional<ShakeHit>>& done);
    [[nodiscard]] Reply create_reply(std::uint64_t request_id, const Completion<Created>& done);
    [[nodiscard]] Reply claim_reply(bool grab, std::uint64_t request_id, std::uint64_t packet,
                                    const Completion<Claimed>& done);
    [[nodiscard]] static protocol::ErrorReply read_refusal(std::uint64_t request_id, Error e);
    [[nodiscard]] Reply proof_reply(std::uint64_t request_id, std::uint32_t part,
                                    const Completion<PacketInfo>& done);
    /// Names the packet by the full id the store found (the query may have used a compact one).
    [[nodiscard]] Reply query_reply(std::uint64_t request_id, const Completion<PacketInfo>& done);
    /// Sends the reply `answer(completion)` to `to` now, or parks `op()` until the store
    /// completes.
    template <class T, class MakeOp, class Answer>
    void answer(StoreResult<T>&& result, Effects& out, const ReplyAddress& to, MakeOp&& op,
                Answer&& reply);
    /// Finishes the operation `op` with the store's later `done`.
    template <class T>
    void finish(PendingOp& op, const Completion<T>& done, Effects& out);

    // Campaigns (request_service_campaigns.cpp).
    void run_shake_campaign(Time now, std::int64_t elapsed_ms);
    void run_send_campaign(std::int64_t elapsed_ms, Effects& out);
    enum class SendOutcome : std::uint8_t { sent, refused, nobody };
    [[nodiscard]] SendOutcome send_one_packet(Effects& out);
    void pick_recipients(const ConnectionTable& table, AwaitSend& sent);
    void send_notices(const AwaitSend& op, PacketId packet, std::uint64_t durable_at, Effects& out);
    /// The send campaign's packet for `recipients` of SET `set` (a store tracking presence).
    void send_to(ShardId set, const std::vector<UserId>& recipients, std::uint32_t epoch,
                 Effects& out);
    void on_recipients(const AwaitRecipients& op, const Completion<std::vector<UserId>>& done,
                       Effects& out);
    void on_created_send(const AwaitSend& op, const Completion<Created>& done, Effects& out);
    void on_offered(const AwaitOffer& op, const Completion<PacketId>& done);
    void on_announcement(const Announced& a, Effects& out);
    void count_offer(const Completion<PacketId>& done);
    [[nodiscard]] CampaignShare share() const noexcept;
    [[nodiscard]] CreateOp send_create(ShardId set, AwaitSend& sent,
                                       std::array<UserId, protocol::kNoticeUserSlots>& allowed);

    // Operations the store completes later, by ticket (a counter: never reused).
    [[nodiscard]] StoreTicket next_ticket();
    void park(StoreTicket ticket, PendingOp&& op);
    [[nodiscard]] std::optional<PendingOp> unpark(StoreTicket ticket);

    ServiceConfig config_;
    PacketStore& store_;
    const ConnectionRegistry& registry_;
    WorkerId self_;
    EventCounter& counter_;
    std::vector<ShardId> owned_;
    std::int64_t second_{0};  // of the current step's `now`, for the per-second counts
    Time now_{};              // of the current step
    Rng rng_;
    ShakeCampaign shake_campaign_;
    SendCampaign send_campaign_;
    CampaignPacer shake_pacer_;
    CampaignPacer send_pacer_;
    std::size_t next_shake_set_{0};
    std::size_t next_send_set_{0};
    std::uint32_t shake_epoch_{0};  // bumped by set_shake_campaign
    std::uint32_t send_epoch_{0};
    StoreTicket last_ticket_{0};
    std::unordered_map<StoreTicket, PendingOp> pending_ops_;
};

}  // namespace redpacket
