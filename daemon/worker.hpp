// Worker: one event loop thread that owns some SETs — their connections, their packet pools,
// their campaigns — and talks to other workers only through mailboxes.
//
// Connections are accepted by whichever worker's SO_REUSEPORT socket the kernel picks. After
// login, a connection whose user belongs to another worker's SET is *migrated*: its socket is
// dup()ed and handed over (with any frames already read) through that worker's mailbox, so
// from then on every frame of that user is served without a cross-thread hop and every pool is
// touched only by its owning thread. Claims and queries of packets owned by another SET's
// worker are forwarded to the owner, which replies through the mailbox of the asker.
//
// Thread-safety: everything here runs on the worker's loop thread, except the members marked
// otherwise (`post_*` go through the lock-free mailbox; published stats are atomics).
#pragma once

#include <uv.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "config.hpp"
#include "events.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/latency_histogram.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket/random.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace redpacketd {

namespace protocol = redpacket::protocol;

class Worker;
struct Connection;

/// Names a connection across threads: its worker, slot and the slot's generation.
struct ConnAddress {
    std::uint32_t worker{0};
    std::uint32_t slot{0};
    std::uint32_t generation{0};
};

/// A cross-worker message. Plain data; the heap parts are owned.
struct WorkerMessage {
    enum class Kind : std::uint8_t { none, migrate, claim, grab, query, reply };
    Kind kind{Kind::none};
    // migrate
    int fd{-1};
    bool extended{false};
    std::unique_ptr<protocol::FrameAssembler> assembler;
    std::unique_ptr<std::vector<protocol::Frame>> pending;
    std::unique_ptr<std::vector<std::byte>> output;  // replies already produced, not yet sent
    // claim / grab / query
    redpacket::UserId user{0};
    std::uint64_t packet{0};
    std::uint64_t request_id{0};
    ConnAddress reply_to;
    // reply
    protocol::Message reply;
};

using ConnectionSet = redpacket::ShardedConnectionSet<WorkerMessage>;

/// State shared by every worker, owned by the Server.
struct Shared {
    Config config;
    std::unique_ptr<ConnectionSet> sets;
    std::unique_ptr<redpacket::RateCounter> rates;
    std::atomic<std::uint64_t> connections{0};
    std::vector<Worker*> workers;
    // Campaign settings: written by the admin thread, read by workers each tick.
    std::atomic<std::uint64_t> shake_generation{0};
    std::atomic<std::uint64_t> send_generation{0};
    ShakeCampaignConfig shake;  // guarded by campaign_lock
    SendCampaignConfig send;    // guarded by campaign_lock
    std::atomic_flag campaign_lock = ATOMIC_FLAG_INIT;
    // Workers whose shutdown drain is not complete yet; each worker closes its connections once
    // it reaches 0 (so it keeps answering the others' forwarded requests until then) or at its
    // drain deadline.
    std::atomic<std::uint32_t> draining_workers{0};
};

/// Money and packet totals of one worker's pools, published once per tick.
struct alignas(redpacket::kCacheLine) PublishedStats {
    std::atomic<std::int64_t> amount_created{0};
    std::atomic<std::int64_t> amount_claimed{0};
    std::atomic<std::int64_t> amount_refunded{0};
    std::atomic<std::int64_t> amount_outstanding{0};
    std::atomic<std::int64_t> shake_amount_offered{0};
    std::atomic<std::int64_t> shake_amount_issued{0};
    std::atomic<std::int64_t> shake_amount_expired{0};
    std::atomic<std::uint64_t> packets_live{0};
    std::atomic<std::uint64_t> shake_queued{0};
    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> invariant_violations{0};
    std::atomic<std::uint64_t> shake_campaign_done{0};
    std::atomic<std::uint64_t> send_campaign_done{0};
    // Queues a peer can grow, with their high-water marks since start.
    std::atomic<std::uint64_t> output_queued_bytes{0};  // replies waiting in uv_write queues
    std::atomic<std::uint64_t> output_queued_peak{0};
    std::atomic<std::uint64_t> forwarded_in_flight{0};  // forwarded requests awaiting a reply
    std::atomic<std::uint64_t> forwarded_peak{0};
    std::atomic<std::uint64_t> reply_retry_queued{0};   // replies a full mailbox refused
    std::atomic<std::uint64_t> reply_retry_peak{0};
    std::atomic<std::uint64_t> held_bytes{0};  // replies waiting for their journal records
    std::atomic<std::uint64_t> held_bytes_peak{0};
    // Publishes so far, stored last with release: a reader that sees it advance sees every
    // value above from that publish or a later one.
    std::atomic<std::uint64_t> publishes{0};
};

/// One worker's progress through a campaign: its copy of the settings (taken when the admin
/// thread publishes a new generation), its share of the total, what it has made, and its token
/// bucket in units of 1/(1000 · sets) packet, so that any rate accumulates exactly however small
/// and however spread over workers.
template <class Settings>
struct CampaignRun {
    Settings settings;
    std::uint64_t generation{0};
    std::optional<std::uint64_t> quota;  // this worker's share of the total; none = no limit
    std::uint64_t done{0};
    std::int64_t tokens{0};
    std::size_t next_set{0};
    [[nodiscard]] bool quota_left() const noexcept { return !quota || done < *quota; }
};

/// Spin lock around Shared's campaign settings: held for a struct copy, on the admin thread's
/// rare updates and when a worker sees a new generation.
class CampaignLock {
public:
    explicit CampaignLock(std::atomic_flag& flag) noexcept : flag_{flag} {
        while (flag_.test_and_set(std::memory_order_acquire)) {
        }
    }
    ~CampaignLock() { flag_.clear(std::memory_order_release); }
    CampaignLock(const CampaignLock&) = delete;
    CampaignLock& operator=(const CampaignLock&) = delete;

private:
    std::atomic_flag& flag_;
};

class Worker {
public:
    Worker(Shared& shared, std::uint32_t index);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Adopts a bound, non-blocking listening socket (called before `start`).
    void adopt_listener(int fd);
    /// Runs the loop on a new thread.
    void start();
    /// Asks the loop to close everything and return. Thread-safety: any thread.
    void request_stop() noexcept;
    /// Waits for the thread to end.
    void join();
    /// After every worker is joined: closes leftover mailbox messages, the async handle and
    /// the loop. Called on the main thread.
    void close_loop();

    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] const PublishedStats& published() const noexcept { return published_; }
    /// Lifetime event totals. Thread-safety: any thread (relaxed atomics).
    [[nodiscard]] std::uint64_t total(Event e) const noexcept {
        return totals_[static_cast<std::size_t>(e)].load(std::memory_order_relaxed);
    }
    [[nodiscard]] const redpacket::LatencyHistogram& latency() const noexcept { return latency_; }
    /// Connections per owned SET, published each tick (index = SET id; others 0).
    [[nodiscard]] std::uint64_t set_size(redpacket::ShardId s) const noexcept {
        return set_sizes_[s].load(std::memory_order_relaxed);
    }
    /// Wakes the loop because a message was posted (the mailbox calls this).
    static void wake(void* self) noexcept;

    // --- request handling without sockets (also used by the benchmark) -------------------
    /// Handles one frame of `conn`, appending any reply frames to the pending output.
    void handle_frame(Connection& conn, const protocol::Frame& frame);
    /// Takes the output accumulated by `handle_frame` calls.
    [[nodiscard]] std::vector<std::byte>& pending_output() noexcept { return out_; }
    /// A connection not attached to a socket, for tests and benchmarks.
    Connection& detached_connection();
    /// Current unix time in ms, refreshed once per loop callback.
    [[nodiscard]] std::int64_t now_ms() const noexcept { return now_ms_; }
    void set_now_ms(std::int64_t now) noexcept { now_ms_ = now; }
    /// The pool of an owned SET (nullptr for SETs of other workers).
    [[nodiscard]] redpacket::RedPacketPool* pool(redpacket::ShardId s) noexcept {
        return pools_[s].get();
    }

    // --- journal (worker_journal.cpp) ------------------------------------------------------
    /// Recovers the owned SETs from `journal_dir/worker-<index>` (newest snapshot + journal),
    /// refunds what fell due while the daemon was down, and starts the journal writer. Main
    /// thread, before start(). Throws std::runtime_error naming the file and offset of any
    /// corruption (unless journal_repair). No-op without a journal_dir.
    void open_journal();
    /// The writer, or nullptr without a journal. Its stats are thread-safe.
    [[nodiscard]] const redpacket::JournalWriter* journal() const noexcept {
        return journal_.get();
    }
    /// Pool events that could not be journaled (writer closed): each a broken invariant.
    [[nodiscard]] std::uint64_t journal_lost() const noexcept {
        return journal_lost_.load(std::memory_order_relaxed);
    }

private:
    friend struct Connection;

    // Loop callbacks.
    static void on_connection(uv_stream_t* server, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_async(uv_async_t* handle);
    static void on_tick(uv_timer_t* timer);
    static void on_sweep(uv_timer_t* timer);
    static void on_close(uv_handle_t* handle);

    // Connections.
    Connection* new_connection();
    // Frees a connection's slot and memory (from its close callback, or before it had a handle).
    void release_connection(Connection* conn) noexcept;
    void start_reading(Connection& conn);
    void close_connection(Connection& conn, Event reason);
    void flush(Connection& conn);
    void send_now(Connection& conn, const protocol::Message& m);
    Connection* find(ConnAddress a) noexcept;
    [[nodiscard]] ConnAddress address_of(const Connection& conn) const noexcept;
    void adopt_migrated(WorkerMessage&& m);
    void finish_migration(Connection& conn);
    void post_or_retry(redpacket::ShardId shard, WorkerMessage&& m);
    void retry_posts();

    // Requests.
    void reply(const protocol::Message& m);
    void reply_error(Connection& conn, std::uint64_t request_id, protocol::ErrorCode code,
                     bool close);
    void handle_login(Connection& conn, redpacket::UserId user, bool extended);
    void handle_shake(Connection& conn);
    void handle_grab(Connection& conn, std::uint32_t compact_packet);
    void handle_create(Connection& conn, const protocol::CreatePacket& req);
    void handle_claim(Connection& conn, const protocol::Claim& req);
    void handle_query(Connection& conn, const protocol::Query& req);
    bool rate_limited(Connection& conn);
    [[nodiscard]] protocol::Message local_claim(WorkerMessage::Kind kind, redpacket::UserId user,
                                                std::uint64_t packet, std::uint64_t request_id);
    [[nodiscard]] protocol::Message local_query(std::uint64_t packet, std::uint64_t request_id);
    void forward(WorkerMessage::Kind kind, Connection& conn, std::uint64_t packet,
                 std::uint64_t request_id);
    void on_message(WorkerMessage&& m);

    // Campaigns and housekeeping.
    [[nodiscard]] std::int64_t refill(std::int64_t tokens, std::uint32_t rate,
                                      std::int64_t elapsed_ms) const noexcept;
    [[nodiscard]] std::int64_t token_cost() const noexcept;
    template <class Settings>
    [[nodiscard]] bool prepare_campaign(CampaignRun<Settings>& run,
                                        const std::atomic<std::uint64_t>& generation,
                                        const Settings& published, std::int64_t elapsed_ms);
    void run_shake_campaign(std::int64_t elapsed_ms);
    void run_send_campaign(std::int64_t elapsed_ms);
    enum class SendOutcome : std::uint8_t { sent, refused, nobody };
    SendOutcome send_one_packet();
    void expire_packets();
    void publish();
    void count(Event e, std::uint64_t n = 1) noexcept;
    void refresh_clock() noexcept;
    void begin_drain();
    void check_drain();
    void stop_on_loop();

    // Journal: replies that report money leave only once their records are durable.
    /// Starts a batch of output: the sequence of the last record appended (0 without a
    /// journal), and clears money_out_. Output produced after the mark waits if records were
    /// appended since, or if it reports money whose records are not all durable yet (a retried
    /// claim answered from a record still in flight).
    [[nodiscard]] std::uint64_t journal_mark() noexcept;
    /// Set when a reply reporting money (shake hit, claim or grab with an amount, create) was
    /// produced since the last mark.
    bool money_out_{false};
    [[nodiscard]] bool must_hold(std::uint64_t mark) const noexcept;
    /// False (and counted) when a money request must be refused: the journal is failing or
    /// its queue is full. Always true without a journal.
    [[nodiscard]] bool journal_ready() noexcept;
    /// Stamps `request_id` on the records of the next pool call on `shard`.
    void journal_request(redpacket::ShardId shard, std::uint64_t request_id) noexcept;
    /// Writes out_ to `conn`, or holds it until the records appended after `mark` are durable
    /// (also when earlier output of `conn` is still held, to keep replies in order).
    void flush_after(Connection& conn, std::uint64_t mark);
    /// Holds out_ for `conn` until everything appended so far is durable; then writes it (and
    /// closes the connection if `close_after`).
    void hold(Connection& conn, bool close_after);
    /// Posts a cross-worker reply now, or once the records appended after `mark` are durable.
    void post_after(redpacket::ShardId to, WorkerMessage&& m, std::uint64_t mark);
    /// Sends everything held whose records are now durable (on every async wake-up).
    void release_held();
    void maybe_snapshot();

    Shared& shared_;
    const Config& config_;
    std::uint32_t index_;
    uv_loop_t loop_{};
    uv_tcp_t listener_{};
    bool listening_{false};
    uv_async_t async_{};
    uv_timer_t tick_{};
    uv_timer_t sweep_{};
    std::unique_ptr<std::uint8_t[]> read_buffer_;
    std::vector<std::byte> out_;
    std::vector<Connection*> slots_;
    std::vector<std::uint32_t> generations_;
    std::vector<std::uint32_t> free_slots_;
    std::size_t open_connections_{0};
    std::vector<std::unique_ptr<redpacket::RedPacketPool>> pools_;  // by SET id
    std::vector<redpacket::ShardId> owned_sets_;
    // Idempotent creates: (user, request id) → packet, bounded FIFO.
    struct RequestKey {
        redpacket::UserId user;
        std::uint64_t request_id;
        bool operator==(const RequestKey&) const = default;
    };
    struct RequestKeyHash {
        std::size_t operator()(const RequestKey& k) const noexcept {
            return static_cast<std::size_t>((k.user * 0x9e3779b97f4a7c15ULL) ^ k.request_id);
        }
    };
    std::unordered_map<RequestKey, std::uint64_t, RequestKeyHash> created_by_request_;
    std::vector<RequestKey> created_order_;
    std::size_t created_next_{0};
    /// Remembers a create's (user, request id) → packet for retries (bounded FIFO).
    void remember_create(const RequestKey& key, std::uint64_t packet);
    redpacket::Rng rng_;
    std::int64_t now_ms_{0};
    std::int64_t last_tick_ms_{0};
    CampaignRun<ShakeCampaignConfig> shake_;
    CampaignRun<SendCampaignConfig> send_;
    std::unique_ptr<Connection> detached_;
    std::unique_ptr<redpacket::JournalWriter> journal_;
    std::vector<std::unique_ptr<redpacket::PoolJournal>> pool_journals_;  // by SET id
    struct Held {
        std::uint64_t sequence{0};  // durable at or past this: send
        ConnAddress conn;           // bytes for this connection, or
        std::vector<std::byte> bytes;
        bool close_after{false};    // close the connection once the bytes are written
        bool is_message{false};     // a cross-worker reply for `to`
        redpacket::ShardId to{0};
        WorkerMessage message;
    };
    std::deque<Held> held_;
    std::atomic<std::uint64_t> journal_lost_{0};
    std::int64_t last_snapshot_ms_{0};
    bool snapshot_running_{false};  // a snapshot is being written on the libuv threadpool
    std::vector<std::pair<redpacket::ShardId, WorkerMessage>> retry_;  // replies a full mailbox refused
    std::size_t retry_peak_{0};
    // Requests this worker forwarded and has not had answered: at most max_forwarded, so the
    // other workers' retry_ queues hold at most (workers - 1) * max_forwarded replies for it.
    std::uint64_t forwarded_in_flight_{0};
    std::uint64_t forwarded_peak_{0};
    std::uint64_t output_queued_{0};  // bytes in this loop's uv_write requests
    std::uint64_t output_queued_peak_{0};
    std::uint64_t held_bytes_{0};  // reply bytes in held_, waiting for the journal
    std::uint64_t held_bytes_peak_{0};
    std::atomic<bool> stop_requested_{false};
    bool draining_{false};        // stop requested: no new requests, answering what was read
    bool drain_reported_{false};  // this worker's own drain done (draining_workers counted down)
    std::int64_t drain_deadline_ms_{0};
    bool stopping_{false};        // connections closed, the loop is ending
    std::unique_ptr<std::atomic<std::uint64_t>[]> set_sizes_;
    std::array<std::atomic<std::uint64_t>, kEventCount> totals_{};
    redpacket::LatencyHistogram latency_;
    PublishedStats published_;
    std::thread thread_;
};

/// One client connection. Lives in its worker's slot table until its close callback.
struct Connection {
    uv_tcp_t tcp{};  // tcp.data points back to the Connection
    Worker* worker{nullptr};
    std::uint32_t slot{0};
    redpacket::UserId user{0};
    bool logged_in{false};
    bool extended{false};  // authenticated login: errors get an error frame
    bool closing{false};
    bool attached{false};  // has a socket
    bool counted{false};   // holds one unit of Shared::connections
    bool migrating{false};
    std::int64_t deadline_ms{0};  // login deadline before login, idle deadline after
    std::uint32_t held{0};        // reply batches waiting for the journal (kept in order)
    std::uint32_t held_bytes{0};  // their bytes: counted against output_cap like queued ones
    std::int64_t window_second{0};
    std::uint32_t window_requests{0};
    protocol::FrameAssembler assembler;
    std::vector<protocol::Frame>* migrate_pending{nullptr};  // set while migrating
};

}  // namespace redpacketd
