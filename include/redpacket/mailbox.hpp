// Mailbox: a bounded multi-producer, single-consumer queue with a coalescing wake-up.
//
// Producers on any thread `try_push`; the one consumer (the owning worker) `drain`s in
// batches. The ring is Vyukov's bounded queue: each cell carries a sequence number, producers
// claim a cell with one compare-and-swap on the tail, so producers never block each other and
// never take a lock; a full ring is reported to the producer, never blocked on or dropped.
//
// Wake-up: a producer that finds the mailbox "not yet signalled" calls the wake function once
// (e.g. `uv_async_send`); further pushes before the consumer drains do not call it again. The
// consumer re-arms the signal *before* draining, so a message pushed during a drain always
// either is drained now or triggers a new wake (a seq_cst fence on each side orders the
// re-arm against the producer's publish; the common push reads the flag without writing it,
// so producers do not bounce its cache line). ThreadSanitizer does not model standalone
// fences (g++ says so with -Wtsan): it checks the data hand-off, not this liveness argument.
//
// Thread-safety: try_push from any thread; drain / try_pop from one consumer thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <stdexcept>
#include <utility>

namespace redpacket {

/// Size of a destructive-interference unit; per-thread data is aligned to it.
inline constexpr std::size_t kCacheLine = 64;

/// Bounded MPSC queue of `T` (default-constructible, move-assignable).
template <class T>
class Mailbox {
public:
    using WakeFn = void (*)(void* context) noexcept;

    /// Capacity is rounded up to a power of two (≥ 2). Throws std::invalid_argument for 0 or
    /// more than 2^30.
    explicit Mailbox(std::size_t capacity) {
        if (capacity == 0 || capacity > (std::size_t{1} << 30)) {
            throw std::invalid_argument("mailbox capacity must be in [1, 2^30]");
        }
        std::size_t cap = 2;
        while (cap < capacity) {
            cap <<= 1;
        }
        mask_ = cap - 1;
        cells_ = std::make_unique<Cell[]>(cap);
        for (std::size_t i = 0; i < cap; ++i) {
            cells_[i].sequence.store(i, std::memory_order_relaxed);
        }
    }

    /// Sets the function called when the mailbox goes from idle to signalled. Call before
    /// any producer starts.
    void set_wake(void* context, WakeFn fn) noexcept {
        wake_context_ = context;
        wake_fn_ = fn;
    }

    /// Enqueues `value`; false if the mailbox is full (counted in `rejected()`).
    /// Thread-safety: any thread. Lock-free.
    [[nodiscard]] bool try_push(T&& value) noexcept {
        std::size_t pos = tail_.load(std::memory_order_relaxed);
        Cell* cell = nullptr;
        for (;;) {
            cell = &cells_[pos & mask_];
            const std::size_t seq = cell->sequence.load(std::memory_order_acquire);
            const auto diff = static_cast<std::intptr_t>(seq) - static_cast<std::intptr_t>(pos);
            if (diff == 0) {
                if (tail_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
                    break;
                }
            } else if (diff < 0) {
                rejected_.fetch_add(1, std::memory_order_relaxed);
                return false;
            } else {
                pos = tail_.load(std::memory_order_relaxed);
            }
        }
        cell->value = std::move(value);
        cell->sequence.store(pos + 1, std::memory_order_release);
        // Store-buffer pattern with `drain`: either the consumer's fence comes first and this
        // load sees `false` (we wake it), or ours does and its pops see the cell (it drains).
        std::atomic_thread_fence(std::memory_order_seq_cst);
        if (!signalled_.load(std::memory_order_relaxed) &&
            !signalled_.exchange(true, std::memory_order_relaxed) && wake_fn_ != nullptr) {
            wake_fn_(wake_context_);
        }
        return true;
    }

    /// Re-arms the wake-up, then pops up to `max` values into `fn(T&&)`; returns how many.
    /// If it stops at `max` with messages left, it signals itself again (calls the wake
    /// function), so a bounded drain never strands messages. Thread-safety: the consumer only.
    template <class Fn>
    std::size_t drain(std::size_t max, Fn&& fn) {
        signalled_.store(false, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        std::size_t n = 0;
        T value{};
        while (n < max && try_pop(value)) {
            fn(std::move(value));
            ++n;
        }
        if (n == max && !empty() && !signalled_.exchange(true, std::memory_order_relaxed) &&
            wake_fn_ != nullptr) {
            wake_fn_(wake_context_);
        }
        return n;
    }

    /// True if no message is ready. Thread-safety: the consumer only.
    [[nodiscard]] bool empty() const noexcept {
        return cells_[head_ & mask_].sequence.load(std::memory_order_acquire) != head_ + 1;
    }

    /// Pushes refused because the mailbox was full.
    [[nodiscard]] std::uint64_t rejected() const noexcept {
        return rejected_.load(std::memory_order_relaxed);
    }
    [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

private:
    // Dequeues one value into `out`; false if empty. The consumer only; does not re-arm.
    [[nodiscard]] bool try_pop(T& out) noexcept {
        Cell& cell = cells_[head_ & mask_];
        const std::size_t seq = cell.sequence.load(std::memory_order_acquire);
        if (seq != head_ + 1) {
            return false;
        }
        out = std::move(cell.value);
        cell.sequence.store(head_ + mask_ + 1, std::memory_order_release);
        ++head_;
        return true;
    }

    struct Cell {
        std::atomic<std::size_t> sequence{0};
        T value{};
    };

    std::unique_ptr<Cell[]> cells_;
    std::size_t mask_{0};
    void* wake_context_{nullptr};
    WakeFn wake_fn_{nullptr};
    alignas(kCacheLine) std::atomic<std::size_t> tail_{0};
    alignas(kCacheLine) std::atomic<bool> signalled_{false};
    std::atomic<std::uint64_t> rejected_{0};
    alignas(kCacheLine) std::size_t head_{0};
};

}  // namespace redpacket
