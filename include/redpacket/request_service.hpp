// RequestService: the request rules of a red-packet service, as a step that returns values.
//
// A worker thread runs one service over the SETs it owns. For each decoded request of a
// connection it decides and returns a Decision:
//   - Reply: the frames to send (and `hold_until`, the store's journal sequence they must wait
//     for; `close` when the connection ends after them);
//   - Forward: the packet's SET is served by another worker's store — hand the request over
//     (as a PeerRequest) and deliver that worker's reply when it comes back;
//   - Later: the store completes the operation later; the reply arrives through
//     ServiceOutput::deliver;
//   - LoginGranted: register the connection (or move it to the user's SET owner), then
//     call `welcome`.
// It never touches a socket, a clock or a thread: the caller passes `now`, and the tests drive
// it with neither. Stages: a request arrives (the caller's transport) → the service decides →
// the store completes (packet_store.hpp) → the reply leaves (the caller's transport).
//
// The rules it holds: logins (compat mode, HMAC tokens), per-connection rate limits, create
// validation (policy, ttl, total) in the sender's SET with idempotent retries (the store's),
// grab / claim / query routed by the packet's SET, shakes from the user's SET, heartbeats, the
// reply frame of every outcome in the original and the extended protocol, the campaigns
// (shake offers; send packets restricted to their recipients, with notices), and expiry.
// Every outcome is counted (ServiceEvent) in the caller's EventCounter.
//
// Ownership and thread-safety: single owner, the worker thread; the store, the counter and the
// output belong to the same thread. The registry's tables are read only for SETs this worker
// owns (their owner thread).
#pragma once

#include <array>
#include <cstdint>
#include <functional>
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
    protocol::Message frame;  ///< the first frame, when count ≥ 1
    std::uint8_t count{0};
    protocol::ErrorCode then_error{protocol::ErrorCode::internal};  ///< count == 2: its code
    bool close{false};            ///< close the connection once the frames have gone out
    std::uint64_t hold_until{0};  ///< send once the store's durable sequence reaches this

    Reply() = default;
    template <class M>
    explicit Reply(const M& m, std::uint64_t hold = 0) : frame{m}, count{1}, hold_until{hold} {}
    /// Appends a frame: the first, or an error frame for request 0 after it.
    void add(const protocol::Message& m) noexcept {
        if (count == 0) {
            frame = m;
            count = 1;
        } else if (const auto* e = std::get_if<protocol::ErrorReply>(&m); e && e->request_id == 0) {
            then_error = e->code;
            count = 2;
        }
    }
    /// Frame `i` (< count).
    [[nodiscard]] protocol::Message at(std::size_t i) const noexcept {
        return i == 0 ? frame : protocol::Message{protocol::ErrorReply{0, then_error}};
    }
    /// Calls `fn(const protocol::Message&)` for each frame in order.
    template <class Fn>
    void for_each(Fn&& fn) const {
        if (count >= 1) {
            fn(frame);
        }
        if (count == 2) {
            fn(protocol::Message{protocol::ErrorReply{0, then_error}});
        }
    }
};
/// Send the request to `worker`, whose store serves the packet's SET.
struct Forward {
    WorkerId worker{0};
};
/// The store completes later: the reply comes through ServiceOutput::deliver.
struct Later {};
/// The login is valid: register the connection, then `welcome` it.
struct LoginGranted {
    UserId user{0};
    bool extended{false};
};
using Decision = std::variant<Reply, Forward, Later, LoginGranted>;

/// A request another worker forwarded here: a grab, claim or query, its user and its asker.
struct PeerRequest {
    protocol::Message request;
    UserId user{0};
    ReplyAddress reply_to;
};

/// Where the service sends what it produces outside a `handle` call.
class ServiceOutput {
public:
    virtual ~ServiceOutput() = default;
    /// A reply whose store operation completed later, for connection `to` (of this worker,
    /// or of another one for a request forwarded here).
    virtual void deliver(const ReplyAddress& to, const Reply& reply) = 0;
    /// A send campaign's notice for a connection of this worker (its registry reference);
    /// false if that connection is gone.
    virtual bool notify(ConnectionRef conn, const protocol::PacketNotice& notice) = 0;
};

/// The rules' settings.
struct ServiceConfig {
    bool compat_mode{true};            ///< accept the original unauthenticated login
    std::string auth_secret;           ///< HMAC key of authenticated logins; empty: none
    std::uint32_t rate_limit{1000};    ///< requests per second per connection
    std::uint32_t max_ttl_seconds{86400};
    std::int64_t max_packet_total{100000000};  ///< cents
    std::uint64_t seed{2017};          ///< the campaigns' random amounts and recipients
};

/// Whether a packet's seed may be shown (docs/fairness.md): nothing is left to hand out —
/// every share claimed, or the rest refunded.
[[nodiscard]] bool seed_revealable(const PacketInfo& info) noexcept;

class RequestService final : public StoreListener {
public:
    /// A service for worker `self` of `registry`, over the SETs `store` serves among those
    /// the registry gives `self`. Every reference must outlive the service.
    RequestService(ServiceConfig config, PacketStore& store, const ConnectionRegistry& registry,
                   WorkerId self, EventCounter& counter, ServiceOutput& output);
    RequestService(const RequestService&) = delete;
    RequestService& operator=(const RequestService&) = delete;

    /// Decides about one decoded frame of a connection whose replies go to `asker`.
    [[nodiscard]] Decision handle(Session& session, const protocol::Message& request,
                                  const ReplyAddress& asker, Time now);
    /// Completes a granted login once the connection is registered: the login response.
    [[nodiscard]] Reply welcome(Session& session, const LoginGranted& login, Time now);
    /// Serves a request another worker forwarded: a Reply (to post back after its hold) or
    /// Later.
    [[nodiscard]] Decision serve_peer(const PeerRequest& peer, Time now);
    /// The answer to a request that could not be forwarded (the peer's mailbox is full or
    /// too many requests are out): "overloaded", in the request's own protocol.
    [[nodiscard]] Reply overloaded(const protocol::Message& request) const;
    /// A connection-level error: an error frame (unless the session speaks the original
    /// protocol, whose client knows none) and, with `close`, the end of the connection.
    [[nodiscard]] Reply error(const Session& session, std::uint64_t request_id,
                              protocol::ErrorCode code, bool close) const;

    /// Reads packet `packet` from the store for an operator (the admin API's proof view):
    /// `done` runs on this thread, at once or when the store answers; never if the service is
    /// destroyed first. Errors: not_found, unavailable (the store could not answer).
    using PacketRead = std::function<void(std::expected<PacketInfo, Error>)>;
    void read_packet(PacketId packet, PacketRead done);

    /// A connection of `user` was registered here (`online`), or went: tells a store that
    /// tracks presence across processes.
    void presence(UserId user, bool online);

    /// Runs or stops the campaigns (takes effect on the next tick; restarts the quota).
    void set_shake_campaign(const ShakeCampaign& campaign);
    void set_send_campaign(const SendCampaign& campaign);
    /// Every ~10 ms: the campaigns' packets due in `elapsed_ms` (unless `campaigns` is false,
    /// e.g. while draining) and the expiry of every owned SET.
    void tick(Time now, std::int64_t elapsed_ms, bool campaigns);
    /// Packets each campaign has made since it was last set.
    [[nodiscard]] std::uint64_t shake_done() const noexcept { return shake_pacer_.done(); }
    [[nodiscard]] std::uint64_t send_done() const noexcept { return send_pacer_.done(); }
    /// The SETs this service owns.
    [[nodiscard]] const std::vector<ShardId>& owned_sets() const noexcept { return owned_; }
    /// Operations waiting for the store.
    [[nodiscard]] std::size_t pending() const noexcept { return pending_ops_.size(); }

    // StoreListener: completions of operations that returned pending.
    void on_created(StoreTicket ticket, Completion<Created> done) override;
    void on_claimed(StoreTicket ticket, Completion<Claimed> done) override;
    void on_queried(StoreTicket ticket, Completion<PacketInfo> done) override;
    void on_taken(StoreTicket ticket, Completion<std::optional<ShakeHit>> done) override;
    void on_offered(StoreTicket ticket, Completion<PacketId> done) override;
    void on_expired(StoreTicket ticket, Completion<Expired> done) override;
    void on_recipients(StoreTicket ticket, Completion<std::vector<UserId>> done) override;
    void on_announcement(ShardId set, const Announcement& a) override;

private:
    enum class OpKind : std::uint8_t {
        create, claim, grab, query, proof, shake, offer, send, expire, recipients
    };
    /// What a pending operation needs to answer when it completes.
    struct PendingOp {
        OpKind kind{OpKind::claim};
        ReplyAddress asker;
        UserId user{0};
        std::uint64_t request_id{0};
        std::uint64_t packet{0};
        // send campaign: the recipients to notify
        std::array<std::uint32_t, protocol::kNoticeUserSlots> users{};
        std::array<ConnectionRef, protocol::kNoticeUserSlots> conns{};
        std::uint8_t recipients{0};
        Cents total{};
        std::uint32_t epoch{0};  // campaign operations: the campaign they belong to
    };
    [[nodiscard]] static PendingOp pending_op(OpKind kind, const ReplyAddress& asker = {},
                                              UserId user = 0, std::uint64_t request_id = 0,
                                              std::uint64_t packet = 0) noexcept {
        PendingOp o;
        o.kind = kind;
        o.asker = asker;
        o.user = user;
        o.request_id = request_id;
        o.packet = packet;
        return o;
    }

    void count(ServiceEvent e, std::uint64_t n = 1) noexcept {
        counter_.add(static_cast<std::size_t>(e), second_, n);
    }
    [[nodiscard]] bool rate_limited(Session& session);
    [[nodiscard]] Decision login(Session& session, const protocol::Message& request, Time now);
    [[nodiscard]] Decision grant(Session& session, UserId user, bool extended);
    [[nodiscard]] Decision dispatch(Session& session, const protocol::Message& request,
                                    const ReplyAddress& asker, Time now);
    [[nodiscard]] Decision shake(Session& session, const ReplyAddress& asker, Time now);
    [[nodiscard]] Decision create(Session& session, const protocol::CreatePacket& req,
                                  const ReplyAddress& asker, Time now);
    /// Grab, claim and query: here if the store serves the packet's SET, else Forward.
    [[nodiscard]] Decision route(const Session& session, const protocol::Message& request,
                                 const ReplyAddress& asker, Time now);
    [[nodiscard]] Decision serve(const protocol::Message& request, UserId user,
                                 const ReplyAddress& asker, Time now);

    // Replies from completions, for both the immediate and the later path.
    [[nodiscard]] Decision shake_reply(UserId user, Completion<std::optional<ShakeHit>>& done);
    [[nodiscard]] Decision create_reply(std::uint64_t request_id, Completion<Created>& done);
    [[nodiscard]] Decision claim_reply(OpKind kind, std::uint64_t request_id, std::uint64_t packet,
                                    Completion<Claimed>& done);
    [[nodiscard]] static protocol::ErrorReply read_refusal(std::uint64_t request_id, Error e);
    [[nodiscard]] Decision proof_reply(std::uint64_t request_id, std::uint32_t part,
                                       Completion<PacketInfo>& done);
    /// Hands `result` to the read_packet parked under `ticket`; false if there is none.
    bool answer_read(StoreTicket ticket, std::expected<PacketInfo, Error>& result);
    [[nodiscard]] Decision query_reply(std::uint64_t request_id, std::uint64_t packet,
                                    Completion<PacketInfo>& done);
    /// The reply to a completion now, or Later after parking the operation `op()` describes.
    template <class T, class MakeOp, class Answer>
    [[nodiscard]] Decision answer(StoreResult<T>&& result, MakeOp&& op, Answer&& reply);

    // Campaigns.
    void run_shake_campaign(Time now, std::int64_t elapsed_ms);
    void run_send_campaign(Time now, std::int64_t elapsed_ms);
    enum class SendOutcome : std::uint8_t { sent, refused, nobody };
    [[nodiscard]] SendOutcome send_one_packet(Time now);
    void pick_recipients(const ConnectionTable& table, PendingOp& sent);
    void send_notices(const PendingOp& op, PacketId packet);
    /// The send campaign's packet for `recipients` of SET `set` (a store tracking presence).
    void send_to(ShardId set, const std::vector<UserId>& recipients, std::uint32_t epoch, Time now);
    void on_recipients_now(const PendingOp& op, Completion<std::vector<UserId>>& done);
    void count_offer(const Completion<PacketId>& done);
    [[nodiscard]] CampaignShare share() const noexcept;

    // Operations the store completes later, by ticket (a counter: never reused).
    [[nodiscard]] StoreTicket next_ticket();
    void park(StoreTicket ticket, const PendingOp& op);
    [[nodiscard]] std::optional<PendingOp> unpark(StoreTicket ticket);

    ServiceConfig config_;
    PacketStore& store_;
    const ConnectionRegistry& registry_;
    WorkerId self_;
    EventCounter& counter_;
    ServiceOutput& output_;
    std::vector<ShardId> owned_;
    std::int64_t second_{0};  // of the current call's `now`, for the per-second counts
    Time now_{};              // of the current call
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
    StoreTicket current_ticket_{0};  // the ticket of the operation being started
    std::unordered_map<StoreTicket, PendingOp> pending_ops_;
    std::unordered_map<StoreTicket, PacketRead> pending_reads_;  // read_packet's, answered later
};

}  // namespace redpacket
