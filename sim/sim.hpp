// The deterministic simulator: the request rules, stores and clients of redpacketd driven by
// one seed, with every money invariant checked after every event.
//
// A run builds a simulated world from a Scenario (itself drawn from the seed): W workers,
// each a real RequestService over a real MemoryStore of its SETs, sharing one real
// ConnectionRegistry; C clients, each a real ClientSession speaking both protocols (logins,
// creates, claims, grabs, shakes, queries, proofs, heartbeats, retries under the same request
// id) over simulated connections; a simulated clock, network and peer mailboxes. One event
// queue ordered by (time, sequence) runs everything; one Rng seeded by the seed draws every
// choice (delays, how bytes are cut into reads, which client acts and how, which connection
// drops). Nothing touches a socket, a thread, a file or the OS clock, so a seed replays bit
// for bit: `Result::hash` covers every byte sent to a client and when.
//
// What is checked (sim/checks.cpp, sim/clients.cpp): money is conserved in every pool after
// every event, and per packet at checkpoints and at the end (created = claimed + refunded +
// outstanding; once every packet has expired, outstanding is 0: each refunded exactly once);
// a malformed frame closes its connection (after the replies before it) and harms nothing
// else; every share a client was told of is the store's, at most one per user per packet, never two
// users with one share index; a retry under the same request id gets the same packet, amount
// and share; a commitment never changes, and every seed handed out proves every share a client
// was told of (verify_claim); every request on a live connection is answered within a bound.
//
// With `journal`, every store journals through the real writer (driven: no thread) to a
// simulated disk (sim/disk.hpp) whose syncs and writes fail at the scenario's rates; snapshots
// are taken and the journal pruned; and the whole daemon is killed at random moments and
// recovered from what the disk kept (torn tails included): every share and packet a client was
// told of must be found again, and retries must get the same answers.
//
// Not simulated: the daemon's Worker itself (the simulator carries effects out as it does, in
// its own code), the Redis store, and a disk that lies about a sync.
//
// Single-threaded; a run owns everything it builds.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace redpacket::sim {

/// A fault planted in the rules under test, to show that the checks catch it.
enum class Plant : std::uint8_t {
    none,
    swap_shares,    ///< the pools swap the first two shares of every packet (a dishonest split)
    early_replies,  ///< replies leave before their journal records are durable
};

/// Everything a run does, drawn from its seed (`from_seed`); fields may be changed before `run`.
struct Scenario {
    std::uint64_t seed{0};
    std::uint32_t workers{1};
    std::uint32_t sets{4};
    std::uint32_t clients{4};
    std::int64_t duration_ms{5000};    ///< clients act until then; the world then drains
    std::uint64_t max_steps{0};        ///< …or until this many events (0: no limit)
    std::int64_t think_max_ms{40};     ///< a client's pause between actions: 1 .. this
    std::int64_t net_delay_max_ms{5};  ///< one way, per chunk; each connection stays in order
    std::int64_t peer_delay_max_ms{3};
    std::uint32_t peer_capacity{64};    ///< forwards in flight to one worker before refusing
    std::uint32_t drop_permille{0};     ///< client actions that drop the connection
    std::uint32_t split_permille{0};    ///< writes delivered in several pieces
    std::uint32_t retry_permille{0};    ///< actions that resend an answered create or claim
    std::uint32_t garbage_permille{0};  ///< actions that send a frame the decoder must refuse
    std::uint32_t rate_limit{1000};     ///< requests per second per connection
    bool auth{false};                   ///< compat mode off: HMAC logins
    // The disk: each worker's store journals to the simulated disk (when `journal`).
    bool journal{false};
    std::int64_t disk_delay_max_ms{2};  ///< from records appended to their batch's write
    std::uint32_t sync_fail_permille{0};
    std::uint32_t stall_permille{0};       ///< batches whose sync stalls 100 ms – 1 s
    std::uint32_t write_fail_permille{0};  ///< half written, then ENOSPC
    std::int64_t snapshot_every_ms{0};     ///< 0: no snapshots
    std::uint32_t crashes{0};              ///< kill -9 of the whole daemon, at random times
    bool power_loss{false};                ///< crashes lose what was not synced
    bool tear{false};                      ///< …but keep a torn piece of it
    std::uint32_t shake_rate{0};           ///< shake campaign packets/s; 0: off
    std::uint32_t send_rate{0};            ///< send campaign packets/s; 0: off
    Plant plant{Plant::none};

    /// The scenario of `seed`: some seeds calm, some storms.
    [[nodiscard]] static Scenario from_seed(std::uint64_t seed);
    /// Makes a journaled scenario a disk storm: 40 % of syncs fail, three crashes (kill -9s and
    /// power cuts), many retries. An eighth of the rough seeds are storms already.
    void storm() noexcept;
    /// One line: every field.
    [[nodiscard]] std::string describe() const;
};

/// What a run did, and the first broken check if any.
struct Result {
    std::uint64_t seed{0};
    bool ok{true};
    std::string failure;               ///< the broken check, with the event it broke at
    std::vector<std::string> history;  ///< the last events before the end (oldest first)
    std::uint64_t events{0};
    std::uint64_t hash{0};  ///< FNV-1a of every byte sent to a client, and when
    std::int64_t simulated_ms{0};
    // Counts, for the summary and for tests that a seed exercised something.
    std::uint64_t requests{0};
    std::uint64_t replies{0};
    std::uint64_t creates{0};
    std::uint64_t shares_told{0};  ///< distinct (packet, user) shares clients were told of
    std::uint64_t retries_checked{0};
    std::uint64_t proofs_checked{0};
    std::uint64_t drops{0};
    std::uint64_t garbage_closes{0};  ///< connections closed for a malformed frame
    std::uint64_t forwards{0};
    std::uint64_t forwards_refused{0};
    std::uint64_t notices{0};
    std::uint64_t packets_expired{0};
    std::uint64_t crashes{0};
    std::uint64_t durable_checked{0};  ///< shares and packets found again after a recovery
    std::uint64_t sync_failures{0};
    std::uint64_t write_failures{0};
    std::uint64_t torn_bytes{0};
    std::uint64_t snapshots{0};
    std::uint64_t held_batches{0};  ///< replies that waited for the journal
};

/// Runs `scenario`, keeping the last `history` events for a failure report.
[[nodiscard]] Result run(const Scenario& scenario, std::size_t history = 40);

}  // namespace redpacket::sim
