// RateCounter: per-second counts of named events, written by several threads, read by any.
//
// Each writer (a thread or worker) gets its own slot: a ring of one-second buckets, each an
// array of counters, in memory no other writer touches. `Writer::add` is wait-free: a compare
// of the second, then a relaxed load and store of one counter the writer alone owns — no
// read-modify-write, no shared cache line. Moving to a new second zeroes the next bucket under
// a per-bucket stamp (a seqlock), then publishes the writer's open second with release order.
//
// Completeness: second t is complete once every writer has opened a later second. A writer
// opens a second by adding to it or by `advance(second)`; a writer with nothing to count should
// call `advance` once a second (e.g. from its loop timer), or completeness waits for it. A
// second still being written is therefore never reported as complete, and reading a complete
// second returns exactly what was added to it. Events added with an older second than the
// writer's open one are counted in the open second (a clock never makes a count vanish).
//
// Thread-safety: `writer(i)` and its methods on the thread that owns slot i; every const
// member function from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/mailbox.hpp"

namespace redpacket {

/// Index of a named event in a RateCounter.
using EventId = std::uint32_t;

/// Per-second event counts over a ring of history.
class RateCounter {
public:
    /// One writer's slot. Obtain with `RateCounter::writer`; use from one thread.
    class alignas(kCacheLine) Writer {
    public:
        /// Adds `n` occurrences of `event` at `second`. Wait-free. Complexity: O(1), O(E) on
        /// the first add of a new second.
        void add(EventId event, std::int64_t second, std::uint64_t n = 1) noexcept {
            if (second > open_) [[unlikely]] {
                open(second);
            }
            std::atomic<std::uint64_t>& c = counts_[event];
            c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        }
        /// Opens `second` without counting anything, completing every earlier second.
        void advance(std::int64_t second) noexcept {
            if (second > open_) {
                open(second);
            }
        }

    private:
        friend class RateCounter;
        void open(std::int64_t second) noexcept;

        std::int64_t open_{kNone};              // writer-private copy of open_second_
        std::atomic<std::uint64_t>* counts_{};  // counters of the open bucket
        const RateCounter* owner_{nullptr};
        std::size_t index_{0};
        std::atomic<std::int64_t> open_second_{kNone};
    };

    /// `history_seconds` is rounded up to a power of two, at least 128. Throws
    /// std::invalid_argument for no events, duplicate names or no writers.
    RateCounter(std::vector<std::string> events, std::uint32_t writers,
                std::uint32_t history_seconds = 128);
    ~RateCounter();
    RateCounter(const RateCounter&) = delete;
    RateCounter& operator=(const RateCounter&) = delete;

    /// The writer slot `i` (< writer_count()).
    [[nodiscard]] Writer& writer(std::uint32_t i) noexcept { return writers_[i]; }

    /// The id of a named event, if registered. Complexity: O(E).
    [[nodiscard]] std::optional<EventId> event(std::string_view name) const noexcept;
    [[nodiscard]] const std::vector<std::string>& events() const noexcept { return names_; }
    [[nodiscard]] std::uint32_t writer_count() const noexcept { return writer_count_; }
    [[nodiscard]] std::uint32_t history_seconds() const noexcept { return history_; }

    /// The latest second every writer has moved past, if any.
    [[nodiscard]] std::optional<std::int64_t> last_complete_second() const noexcept;
    /// True if `second` is complete (see the file comment).
    [[nodiscard]] bool is_complete(std::int64_t second) const noexcept;

    /// Sum over writers of `event` in `second` (partial if the second is still open), or
    /// nothing if `second` has left some writer's history ring.
    [[nodiscard]] std::optional<std::uint64_t> total(EventId event,
                                                     std::int64_t second) const noexcept;
    /// Mean events per second over the `window` complete seconds ending at the last complete
    /// one; nothing if no second is complete or the window exceeds the history.
    [[nodiscard]] std::optional<double> rate(EventId event, std::uint32_t window) const noexcept;

private:
    static constexpr std::int64_t kNone = INT64_MIN;
    static constexpr std::int64_t kInvalidStamp = INT64_MIN;

    // Bucket b of writer w: stamp at base(w, b), counters at base(w, b) + 1.
    [[nodiscard]] std::atomic<std::uint64_t>* bucket(std::size_t w, std::int64_t second) const;
    [[nodiscard]] std::optional<std::uint64_t> read(std::size_t w, EventId event,
                                                    std::int64_t second) const noexcept;

    std::vector<std::string> names_;
    std::uint32_t writer_count_;
    std::uint32_t history_;
    std::size_t stride_;  // words per bucket: 1 stamp + E counters, rounded to a cache line
    std::unique_ptr<Writer[]> writers_;
    std::unique_ptr<std::atomic<std::uint64_t>[]> storage_;
    std::atomic<std::uint64_t>* words_{nullptr};  // writer-major, cache-line aligned
};

/// One thread's event counts: lifetime totals, readable from any thread, and — when given a
/// RateCounter writer slot — the same events per second, as RateCounter events `first` +
/// event. Thread-safety: `add` on the owning thread only; `total` from any thread.
class EventCounter {
public:
    /// Counts `events` kinds of event (ids 0 .. events − 1).
    explicit EventCounter(std::size_t events, RateCounter::Writer* rates = nullptr,
                          EventId first = 0)
        : totals_{std::make_unique<std::atomic<std::uint64_t>[]>(events)},
          size_{events},
          rates_{rates},
          first_{first} {}

    /// Adds `n` occurrences of `event` at `second` (unix seconds). Wait-free.
    void add(std::size_t event, std::int64_t second, std::uint64_t n = 1) noexcept {
        std::atomic<std::uint64_t>& t = totals_[event];
        t.store(t.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
        if (rates_ != nullptr) {
            rates_->add(first_ + static_cast<EventId>(event), second, n);
        }
    }
    /// Occurrences of `event` since construction. Thread-safety: any thread (relaxed).
    [[nodiscard]] std::uint64_t total(std::size_t event) const noexcept {
        return totals_[event].load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }

private:
    std::unique_ptr<std::atomic<std::uint64_t>[]> totals_;
    std::size_t size_;
    RateCounter::Writer* rates_;
    EventId first_;
};

}  // namespace redpacket
