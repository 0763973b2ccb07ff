// The simulated world's parts (internal to sim/): the event queue, the workers (a real
// RequestService and MemoryStore each), the connections between clients and workers, the
// clients, and the oracle that checks what clients are told against the stores.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <unordered_map>
#include <variant>
#include <vector>

#include "disk.hpp"
#include "redpacket/client_session.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/outbox.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/random.hpp"
#include "redpacket/request_service.hpp"
#include "sim.hpp"

namespace redpacket::sim {

/// A broken check: thrown, caught by `run`, reported with the seed and history.
struct Broken : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// --- events ----------------------------------------------------------------------------------

struct ClientWake {
    std::uint32_t client;
};
/// Bytes a client wrote, arriving at the worker side of link `link`.
struct ToServer {
    std::uint64_t link;
    std::vector<std::byte> bytes;
};
/// Bytes a worker wrote, arriving at the client of link `link`; then maybe the close.
struct ToClient {
    std::uint64_t link;
    std::vector<std::byte> bytes;
    bool close{false};
};
// Events of the daemon's process carry its incarnation: after a crash, those of the dead one
// are dropped.
/// A forwarded request arriving at `worker`.
struct PeerArrive {
    std::uint32_t incarnation;
    WorkerId worker;
    PeerRequest request;
};
/// A reply posted back by another worker, arriving at the asker's worker.
struct PeerReply {
    std::uint32_t incarnation;
    Send send;
};
struct TickDue {
    std::uint32_t incarnation;
    WorkerId worker;
};
/// The journal writer of `worker` writes and syncs what is pending.
struct JournalPump {
    std::uint32_t incarnation;
    WorkerId worker;
};
/// A worker encodes a snapshot of its pools (on its own thread, between two steps)…
struct SnapshotDue {
    std::uint32_t incarnation;
    WorkerId worker;
};
/// …and, later, another thread writes it once the journal has every record it covers, while
/// claims go on.
struct SnapshotWrite {
    std::uint32_t incarnation;
    WorkerId worker;
    std::uint32_t tries;
};
/// kill -9 of the daemon (or a power cut), then its restart from what the disk kept. Half of
/// them land inside a disk operation: the disk is armed to die a few calls later, and the crash
/// is carried out at the end of that event (`armed`: the fallback if it never trips).
struct CrashDue {
    bool armed{false};
    std::uint32_t incarnation{0};
};
using Event = std::variant<ClientWake, ToServer, ToClient, PeerArrive, PeerReply, TickDue,
                           JournalPump, SnapshotDue, SnapshotWrite, CrashDue>;

// --- the parts -------------------------------------------------------------------------------

/// One connection: the worker side (session, decoder, outbox) and its client.
struct Link {
    std::uint64_t id{0};
    std::uint32_t client{0};
    bool alive{true};
    WorkerId worker{0};
    std::uint32_t generation{1};  ///< bumped when the connection moves to another worker
    std::optional<WorkerId> move_to;
    Session session;
    protocol::FrameAssembler assembler;
    Outbox outbox;
    Time to_server_last{};  ///< each direction stays in order
    Time to_client_last{};
};

struct SimWorker {
    std::unique_ptr<MemoryStore> store;
    std::unique_ptr<EventCounter> counter;
    std::unique_ptr<RequestService> service;
    std::uint32_t peer_in_flight{0};
    /// Replies for other workers' connections, waiting for this worker's journal.
    std::vector<Send> held;
    bool pump_due{false};
    std::unique_ptr<SnapshotJob> snapshot;  ///< encoded, not yet written
};

/// What a client keeps per request: when it was sent, and whether it resends an answered one.
struct Tag {
    Time sent{};
    bool retry{false};
};

struct SimClient {
    UserId user{0};
    std::uint64_t link{0};  ///< 0: not connected
    enum class State : std::uint8_t { offline, logging_in, ready } state{State::offline};
    ClientSession<Tag> session;
    std::uint64_t next_request_id{1};
    Time login_sent{};
    std::optional<Time> garbage_sent;  ///< the worker must close the connection
    /// Retryable requests cut off by a drop, sent again once logged in.
    std::vector<protocol::Message> resend;
    /// Answered creates and claims, to resend under the same request id.
    std::deque<protocol::Message> answered;
};

/// A share a client was told of.
struct Told {
    Cents amount{};
    std::optional<std::uint32_t> index;  ///< unknown for an original-protocol grab
};

/// Everything clients were told, checked as it arrives and against the stores.
class World;

class Oracle {
public:
    explicit Oracle(Result& result) : result_{result} {}
    void created(UserId user, std::uint64_t request_id, PacketId packet);
    /// A packet clients know of must be found until `until` (its deadline plus retention).
    void keep(PacketId packet, Time until);
    /// After a recovery: every packet and share clients were told of, still there at `now`.
    void check_recovered(World& world, Time now);
    /// Until when `packet` must be found (Time::min() if nobody said).
    [[nodiscard]] Time keep_until(PacketId packet) const {
        const auto it = keep_until_.find(packet);
        return it == keep_until_.end() ? Time::min() : it->second;
    }
    /// True if `user` was told of a share of `packet`.
    [[nodiscard]] bool holds(PacketId packet, UserId user) const {
        const auto it = shares_.find(packet);
        return it != shares_.end() && it->second.contains(user);
    }
    /// A shake packet handed to `user`: never to two users.
    void shook(std::uint32_t compact, UserId user);
    void told_share(PacketId packet, UserId user, Cents amount, std::optional<std::uint32_t> index);
    void claim_answer(UserId user, std::uint64_t request_id, PacketId packet, Cents amount,
                      std::uint32_t index);
    void commitment(PacketId packet, const std::array<std::uint8_t, 32>& value);
    /// A seed handed out for `packet` of `terms`: it must prove every share told of.
    void seed(const SplitTerms& terms, const std::array<std::uint8_t, 32>& seed);
    /// Every share told of is the store's (while the store still has the packet).
    void check_against(World& world) const;
    [[nodiscard]] const std::map<PacketId, std::map<UserId, Told>>& shares() const {
        return shares_;
    }

private:
    Result& result_;
    using RequestKey = std::pair<UserId, std::uint64_t>;  // (user, request id)
    std::map<RequestKey, PacketId> creates_;
    std::map<RequestKey, std::tuple<PacketId, Cents, std::uint32_t>> claims_;
    std::map<PacketId, std::map<UserId, Told>> shares_;
    std::map<PacketId, std::array<std::uint8_t, 32>> commitments_;
    std::map<PacketId, Time> keep_until_;
    std::unordered_map<std::uint32_t, UserId> shakes_;
};

class World {
public:
    explicit World(const Scenario& scenario, std::size_t history);
    Result run();
    /// Says which seed, event and history an assertion broke (before the abort).
    void report_abort() const noexcept;

    // For the clients (clients.cpp).
    [[nodiscard]] Time now() const noexcept { return now_; }
    [[nodiscard]] std::uint64_t now_s() const noexcept {
        return static_cast<std::uint64_t>(now_.count() / 1000);
    }
    Rng& rng() noexcept { return rng_; }
    /// A delay of 0 .. `max_ms`.
    [[nodiscard]] Time up_to(std::int64_t max_ms) noexcept {
        return Time{static_cast<std::int64_t>(rng_.below(static_cast<std::uint64_t>(max_ms) + 1))};
    }
    [[nodiscard]] bool chance(std::uint32_t permille) noexcept {
        return permille != 0 && rng_.below(1000) < permille;
    }
    void at(Time when, Event e);
    void note(std::string line);
    /// Opens a link for `client` on a worker of its choosing; returns its id.
    std::uint64_t connect(std::uint32_t client);
    /// Closes link `id` from the client's side (nothing in flight arrives any more).
    void drop(std::uint64_t id);
    /// Sends the client's output on its link.
    void write(SimClient& client);
    [[nodiscard]] const std::vector<PacketId>& known_packets() const { return known_; }
    /// Every packet clients have learned of (by compact id, the newest).
    void learn(PacketId packet);
    [[nodiscard]] std::optional<PacketId> resolve_compact(std::uint32_t compact);
    [[nodiscard]] std::optional<PacketInfo> read(PacketId packet);
    Oracle& oracle() noexcept { return oracle_; }
    Result& result() noexcept { return result_; }
    const Scenario& scenario() const noexcept { return scenario_; }
    static constexpr const char* kSecret = "simulated-secret";
    static constexpr std::int64_t kTickMs = 10;
    static constexpr Time kRetention{2000};
    /// Tells the oracle how long a packet a client knows of must be found.
    void keep_packet(PacketId packet);

private:
    // The worker side (world.cpp).
    void handle(Event& e);
    void on_bytes(Link& link, std::vector<std::byte>& bytes);
    void step(WorkerId w, const Input& in, Link* current);
    void carry_out(WorkerId w, Effect& effect, Link* current, std::vector<Link*>& touched);
    void enter(Link& link, UserId user);
    void move(Link& link);
    void flush(Link& link);
    void close(Link& link);
    // The process and its disk (process.cpp).
    void start_process();
    void start_once();
    [[nodiscard]] MemoryStoreOptions store_options(WorkerId w);
    void crash();
    void pump(WorkerId w);
    void schedule_pumps();
    void snapshot(WorkerId w);
    void write_snapshot(WorkerId w, std::uint32_t tries);
    void release_held(WorkerId w);
    [[nodiscard]] Link* find(const ReplyAddress& a);
    [[nodiscard]] ReplyAddress address(const Link& l) const {
        return ReplyAddress{l.worker, static_cast<std::uint32_t>(l.id), l.generation};
    }
    void send_to_client(Link& link, std::vector<std::byte> bytes, bool close);
    void hash(std::uint64_t v) noexcept;
    // The clients (clients.cpp).
    void client_wake(std::uint32_t c);
    void client_read(Link& link, const ToClient& in);
    void client_act(SimClient& client);
    void client_reply(SimClient& client, const Tag& tag, const protocol::Message& reply,
                      const ClientSession<Tag>::Pending& pending);
    void client_logged_in(SimClient& client);
    void client_lost(SimClient& client);
    [[nodiscard]] protocol::Message client_request(SimClient& client);
    void on_created(UserId user, const protocol::CreatePacket& asked,
                    const protocol::CreateResponse& r, const Tag& tag);
    void on_claimed(UserId user, const protocol::Claim& asked, const protocol::ClaimResponse& r);
    void on_proof(PacketId packet, const protocol::ProofResponse& r);
    void check_answered(const SimClient& client) const;
    // Checks (checks.cpp).
    void check_pools();
    void check_packets();
    void check_registry();
    void drain();
    [[nodiscard]] bool settled();
    /// Runs the next event before `end` and the checks after it; false if there is none.
    bool next(Time end);

    Scenario scenario_;
    Result result_;
    Rng rng_;
    Time now_;
    Time start_;
    std::uint64_t sequence_{0};
    std::map<std::pair<Time, std::uint64_t>, Event> queue_;
    SimDisk disk_;
    std::unique_ptr<ConnectionRegistry> registry_;
    std::vector<SimWorker> workers_;
    std::uint32_t incarnation_{0};
    std::vector<std::unique_ptr<Link>> links_;  // by id − 1
    std::vector<SimClient> clients_;
    std::vector<PacketId> known_;
    std::unordered_map<std::uint32_t, PacketId> compact_;
    Oracle oracle_;
    std::deque<std::string> history_;
    std::size_t history_size_;
    bool draining_{false};
};

}  // namespace redpacket::sim
