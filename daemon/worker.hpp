// Worker: one event-loop thread. It owns sockets, buffers, timers and its mailbox, and carries
// out effects — nothing else: the request rules are the library's RequestService, the packets
// live in a PacketStore (the MemoryStore of the SETs this worker owns), when a connection's
// replies may leave is its Outbox's business and the traffic to other workers its PeerLink's.
//
// A request passes four stages: it arrives (on_read decodes frames), the service decides
// (RequestService::step appends effects: Send, Forward, Register, Notify, PacketRead), the
// store completes (at once for the memory store; later completions are the step's next
// input), the reply leaves (one write per read, or held until the journal has made it
// durable). The worker carries out effects and nothing else. Files follow those stages: worker.cpp
// (loop, tick, shutdown), worker_io.cpp (connections, reads, replies, held output),
// worker_peers.cpp (migration and the mailbox traffic between workers).
//
// After login, a connection whose user belongs to another worker's SET is *migrated*: its
// socket is dup()ed and handed over, with any frames already read, through that worker's
// mailbox, so every later frame of that user is served without a hop. Grabs, claims and
// queries of packets in another worker's SET are forwarded to that worker, which replies
// through the asker's mailbox.
//
// Thread-safety: everything runs on the worker's loop thread except `request_stop`, `wake`
// and the published statistics (atomics).
#pragma once

#include <uv.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "connection.hpp"
#include "events.hpp"
#include "loop_lag.hpp"
#include "peer_link.hpp"
#include "redpacket/latency_histogram.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/rate_counter.hpp"
#include "redpacket/request_service.hpp"
#include "redpacket/slot_map.hpp"
#include "shared_state.hpp"
#include "snapshot_task.hpp"

namespace redpacketd {

class Worker final {
public:
    Worker(Shared& shared, std::uint32_t index);
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    /// Opens this worker's store: with a journal directory, recovers its SETs and refunds what
    /// fell due while the daemon was down. Main thread, before start(); throws
    /// std::runtime_error naming what failed.
    void open_store();
    /// Adopts a bound, non-blocking listening socket (called before `start`).
    void adopt_listener(int fd);
    /// Runs the loop on a new thread, pinned to `cores` (none: unpinned) and real-time at
    /// `realtime_priority` (0: normal), both checked by plan_isolation beforehand.
    void start(std::vector<int> cores = {}, int realtime_priority = 0);
    /// Asks the loop to drain and stop. Thread-safety: any thread.
    void request_stop() noexcept;
    /// Waits for the thread to end.
    void join();
    /// True once the worker's loop has returned (its drain is done): join() will not wait.
    /// Thread-safety: any thread.
    [[nodiscard]] bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
    /// After every worker is joined: closes leftover mailbox messages, the journal and the
    /// loop. Main thread.
    void close_loop();
    /// Wakes the loop because a message was posted (the mailbox calls this).
    static void wake(void* self) noexcept;

    [[nodiscard]] std::uint32_t index() const noexcept { return index_; }
    [[nodiscard]] const PublishedStats& published() const noexcept { return published_; }
    [[nodiscard]] const PublishedLoopLag& loop_lag() const noexcept { return published_lag_; }
    /// Lifetime totals of the transport's and the service's events. Thread-safety: any thread.
    [[nodiscard]] const redpacket::EventCounter& transport_events() const noexcept {
        return transport_;
    }
    [[nodiscard]] const redpacket::EventCounter& service_events() const noexcept {
        return service_events_;
    }
    [[nodiscard]] const redpacket::LatencyHistogram& latency() const noexcept { return latency_; }
    /// Connections per owned SET, published each tick (index = SET id; others 0).
    [[nodiscard]] std::uint64_t set_size(redpacket::ShardId s) const noexcept {
        return set_sizes_[s].load(std::memory_order_relaxed);
    }
    /// The memory store, or nullptr (another store, or not opened yet).
    [[nodiscard]] const redpacket::MemoryStore* memory_store() const noexcept { return memory_; }

private:
    friend struct Connection;

    // worker.cpp: loop callbacks, the tick, shutdown.
    static void on_async(uv_async_t* handle);
    static void on_tick(uv_timer_t* timer);
    static void on_sweep(uv_timer_t* timer);
    void pick_up_campaigns();
    void publish();
    void begin_drain();
    void check_drain();
    void stop_on_loop();
    void close_unstarted() noexcept;
    void refresh_clock() noexcept;
    [[nodiscard]] redpacket::Time now() const noexcept { return redpacket::Time{now_ms_}; }
    void count(Event e, std::uint64_t n = 1) noexcept {
        transport_.add(static_cast<std::size_t>(e), now_ms_ / 1000, n);
    }

    // worker_io.cpp: connections, frames in, replies out, held output.
    static void on_connection(uv_stream_t* server, int status);
    static void on_alloc(uv_handle_t* handle, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf);
    static void on_close(uv_handle_t* handle);
    /// A new connection in a slot, with its TCP handle initialised; nullptr if that failed.
    Connection* open_connection();
    void release_connection(Connection* conn) noexcept;
    void start_reading(Connection& conn);
    void handle_frame(Connection& conn, const protocol::Frame& frame);
    /// Runs the service's step on `input` and carries out its effects; `current` is the
    /// connection whose read is being served (its replies join the read's one write).
    void step(const redpacket::Input& input, Connection* current);
    void carry_out(redpacket::Effect& effect, Connection* current);
    /// A reply completed outside a read of its connection (a store's later completion).
    void deliver(const redpacket::ReplyAddress& to, const redpacket::Reply& reply);
    void notify(const redpacket::Notify& n);
    /// Enters a logged-in connection in the registry, or starts moving it to its SET's owner.
    void enter(Connection& conn, redpacket::UserId user);
    /// Adds `reply` to the connection's outbox; a closing one is sealed and written at once.
    void reply(Connection& conn, const redpacket::Reply& reply);
    /// Seals the outbox's open batch and writes what may leave.
    void finish_output(Connection& conn);
    /// Writes what the outbox lets leave now (and closes the connection if it says so).
    void write_ready(Connection& conn);
    /// Seals and writes the open batches later completions left this loop iteration.
    void flush_unsealed();
    void send_now(Connection& conn, const protocol::Response& frame);
    void close_connection(Connection& conn, Event reason);
    Connection* find(const redpacket::ReplyAddress& a) noexcept;
    [[nodiscard]] redpacket::ReplyAddress address_of(const Connection& conn) const noexcept;
    /// Writes what the journal's progress lets leave: held peer replies and waiting outboxes.
    void release_held();
    /// True while an outbox of a live connection waits for the journal.
    [[nodiscard]] bool outboxes_waiting();

    // worker_peers.cpp: migration, forwarding, mailbox messages.
    void on_message(WorkerMessage&& m);
    void finish_migration(Connection& conn);
    void adopt(std::unique_ptr<Migration> m);
    void forward(redpacket::Forward& f, Connection* asker);

    Shared& shared_;
    const Config& config_;
    std::uint32_t index_;
    uv_loop_t loop_{};
    uv_tcp_t listener_{};
    bool listening_{false};
    bool loop_closed_{false};
    uv_async_t async_{};
    uv_timer_t tick_{};
    uv_timer_t sweep_{};
    uv_check_t flush_check_{};  // writes the replies later completions left in this iteration
    uv_prepare_t wait_prepare_{};  // stamps the start of each wait for events (LoopLag)
    std::vector<redpacket::ConnectionRef> unsealed_;  // connections with such replies
    std::vector<redpacket::ConnectionRef> waiting_;   // connections whose outbox waits
    redpacket::HeldTally held_tally_;                 // their waiting bytes
    std::vector<std::byte> write_buffer_;             // what one write_ready writes
    std::int64_t now_ms_{0};
    std::int64_t last_tick_ms_{0};
    std::unique_ptr<std::uint8_t[]> read_buffer_;
    redpacket::SlotMap<Connection> slots_;
    redpacket::EventCounter transport_;
    redpacket::EventCounter service_events_;
    std::unique_ptr<StoreHandle> handle_;          // the store and its loop handles
    redpacket::PacketStore* store_{nullptr};       // handle_'s store
    redpacket::MemoryStore* memory_{nullptr};      // the same, when it is the memory store
    std::unique_ptr<redpacket::RequestService> service_;
    std::vector<redpacket::Effects> spare_effects_;  // step's buffers, reused (steps nest)
    // Admin reads waiting for the store, by the token their ReadPacket carried.
    std::unordered_map<std::uint64_t, std::shared_ptr<AdminRead::Answer>> admin_reads_;
    std::uint64_t last_admin_read_{0};
    std::uint64_t shake_generation_{0};  // campaign settings last taken from Shared
    std::uint64_t send_generation_{0};
    std::uint64_t shake_restarts_{0};  // and the restarts among them (CampaignBoard)
    std::uint64_t send_restarts_{0};
    SnapshotTask snapshots_;
    PeerLink peers_;  // forwarded requests and the answers to other workers' ones
    std::uint64_t output_queued_{0};  // bytes in this loop's uv_write requests
    std::uint64_t output_queued_peak_{0};
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> finished_{false};
    bool draining_{false};        // stop requested: no new requests, answering what was read
    bool drain_reported_{false};  // this worker's own drain done (draining_workers counted down)
    std::int64_t drain_deadline_ms_{0};
    bool stopping_{false};  // connections closed, the loop is ending
    std::unique_ptr<std::atomic<std::uint64_t>[]> set_sizes_;
    redpacket::LatencyHistogram latency_;
    PublishedStats published_;
    LoopLag lag_;
    PublishedLoopLag published_lag_;
    std::thread thread_;
};

}  // namespace redpacketd
