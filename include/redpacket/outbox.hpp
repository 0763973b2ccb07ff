// Outbox: what one connection is owed, and every rule about when it may leave.
//
// Replies are added to an open batch (a read's replies, and the later completions of one loop
// iteration, leave together in one write). Sealing the batch decides its fate: it may leave as
// soon as every batch before it has left and the store's durable sequence has reached its
// `hold` (the highest journal sequence its replies report) — hold-until-durable. A batch that
// must wait counts against the connection's output cap with the batches already waiting; one
// that would pass the cap is refused (the caller closes the connection: what the replies
// reported is journaled, and a retry finds it). A reply that closes the connection ends the
// outbox: nothing added after it leaves, and the connection is closed once it has been
// written. The socket is not the outbox's: `take_ready` hands over the bytes that may be
// written now, in order, and the caller writes them.
//
// Ownership and thread-safety: a value inside its connection, on the connection's loop thread.
// Waiting bytes are added to (and removed from) a HeldTally the caller may share between the
// outboxes of one thread, for its statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "redpacket/request_service.hpp"

namespace redpacket {

/// Reply bytes waiting for the journal, over several outboxes of one thread: now and at most.
struct HeldTally {
    std::uint64_t bytes{0};
    std::uint64_t peak{0};
};

class Outbox {
public:
    /// An outbox whose waiting bytes are counted in `tally` (may be null).
    explicit Outbox(HeldTally* tally = nullptr) noexcept : tally_{tally} {}
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;
    ~Outbox();
    /// Counts waiting bytes in `tally` from now on; only while nothing waits.
    void set_tally(HeldTally* tally) noexcept { tally_ = tally; }

    /// Appends `reply`'s frames, stamped with `now_s`, to the open batch; its hold and close
    /// join the batch's. Nothing is added once a closing reply has been.
    void add(const Reply& reply, std::uint64_t now_s);
    /// Appends frames already encoded (hold 0: they report nothing to wait for).
    void add_bytes(std::span<const std::byte> bytes);

    /// What sealing the open batch did.
    enum class Sealed : std::uint8_t {
        empty,    ///< there was nothing to seal
        ready,    ///< it may leave with take_ready (nothing before it waits; durable enough)
        waiting,  ///< it waits for the journal, or behind a batch that does
        refused,  ///< waiting it would pass `cap`: dropped; close the connection
    };
    /// Closes the open batch against the store's `durable` sequence and the output `cap`
    /// (bytes that may wait at once). Complexity: O(1).
    [[nodiscard]] Sealed seal(std::uint64_t durable, std::uint64_t cap);

    /// Moves the bytes of every sealed batch that may leave at `durable` — in order, stopping
    /// at the first that must still wait — to the end of `write`. Returns true if one of them
    /// closes the connection (then nothing waits any more).
    [[nodiscard]] bool take_ready(std::uint64_t durable, std::vector<std::byte>& write);

    /// The open batch's bytes, taken out (a connection moving to another worker takes them
    /// along); only while nothing is sealed.
    [[nodiscard]] std::vector<std::byte> take_open();

    /// True while sealed batches wait for the journal.
    [[nodiscard]] bool waiting() const noexcept { return !sealed_.empty(); }
    /// True if sealed bytes may leave now (take_ready).
    [[nodiscard]] bool ready() const noexcept { return !ready_.empty() || ready_close_; }
    /// True if a waiting batch closes the connection: read nothing more from it.
    [[nodiscard]] bool closing() const noexcept { return closed_; }
    /// True if the open batch has something (or a close) to seal.
    [[nodiscard]] bool has_open() const noexcept { return !open_.bytes.empty() || open_.close; }
    /// Bytes of the sealed batches that wait.
    [[nodiscard]] std::uint64_t waiting_bytes() const noexcept { return waiting_bytes_; }
    /// Sealed batches that wait.
    [[nodiscard]] std::size_t waiting_batches() const noexcept { return sealed_.size(); }

private:
    struct Batch {
        std::vector<std::byte> bytes;
        std::uint64_t hold{0};
        bool close{false};
    };
    void hold_bytes(std::int64_t delta) noexcept;

    Batch open_;
    std::vector<std::byte> ready_;  // sealed, may leave now
    bool ready_close_{false};       // …and the connection closes after them
    std::deque<Batch> sealed_;      // sealed, waiting, in order
    std::uint64_t waiting_bytes_{0};
    bool closed_{false};  // a closing reply was added: nothing more is
    HeldTally* tally_;
};

}  // namespace redpacket
