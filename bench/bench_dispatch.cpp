// Cross-thread dispatch: one producer thread posts messages to the worker that owns a shard.
//
// The benchmark thread is the producer; a consumer thread, started per run, plays the owning
// worker and drains in batches of up to 1024, as a worker's uv_async callback would. Each
// iteration posts 64 Ki messages (24-byte payloads) and waits until the consumer has processed
// all of them, so the time covers enqueue, hand-over and dequeue, amortised per message
// (items/s, and ns_per_msg). A full mailbox is retried after a pause (`retries_per_msg`).
//
// Contenders: Mailbox::try_push directly, and ShardedConnectionSet::post (shard lookup and
// envelope on top), both with the wake-up protocol live (`wakes_per_msg`: how often a producer
// would have called uv_async_send). Baselines: std::mutex + std::deque drained by a consumer
// that polls it, and the same with a std::condition_variable the consumer sleeps on (the
// producer notifies when it makes the queue non-empty). Peers: moodycamel::ConcurrentQueue
// (lock-free, blocks per producer) used the way its header recommends for one producer and one
// consumer — tokens on both sides, try_enqueue into space reserved up front (so, like the
// mailbox, bounded near kCapacity and never allocating), try_dequeue_bulk — polled; and its
// BlockingConcurrentQueue, whose consumer sleeps on a semaphore, the condvar baseline's peer.
//
// Two consumer cadences (tick_us): 0 — the consumer checks again the moment it is idle, so it
// runs right behind the producer and every message's cache lines cross cores (the worst case
// for a ring); 20 — it looks every 20 µs, like an event loop busy with sockets, and drains
// what has piled up in big batches (the case a worker is built for). The condvar baseline and
// the blocking queue sleep instead. Run on two cores (`taskset -c 0,1`), never one.
// Goal: ≤ 50 ns per message.
#include <benchmark/benchmark.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <concurrentqueue/concurrentqueue.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>

#include "redpacket/mailbox.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace {

struct Message {
    std::uint64_t user{0};
    std::uint64_t packet{0};
    std::int64_t amount{0};
};

constexpr std::size_t kBatch = 1024;
constexpr std::size_t kCapacity = 1U << 16;
constexpr std::uint64_t kMessagesPerIteration = 1U << 16;
constexpr std::chrono::seconds kStrandedAfter{2};
// A consumer asleep in BlockingConcurrentQueue can be woken only by a message, so it looks at
// `stop` this often instead of being woken by close().
constexpr std::chrono::milliseconds kBlockedWaitLimit{1};

void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
}

// --- channels: try_send (producer), drain (consumer), close (wake a sleeping consumer) -------
// The library channels model a libuv worker: the mailbox's wake function stands in for
// uv_async_send (it sets a pending flag and counts the call), and the consumer drains only
// when that flag is set, as the async callback would run only then. So a lost wake-up would
// strand messages; the producer detects that (see `kStrandedAfter`) instead of hanging.
class WakeFlag {
public:
    static void wake(void* context) noexcept {
        auto* self = static_cast<WakeFlag*>(context);
        self->calls_.fetch_add(1, std::memory_order_relaxed);
        self->pending_.store(true, std::memory_order_release);
    }
    /// Consumes a pending wake-up (or, when `force`, pretends there was one).
    bool take(bool force) noexcept {
        return force || (pending_.load(std::memory_order_relaxed) &&
                         pending_.exchange(false, std::memory_order_acquire));
    }
    std::uint64_t calls() const noexcept { return calls_.load(std::memory_order_relaxed); }

private:
    alignas(redpacket::kCacheLine) std::atomic<bool> pending_{false};
    std::atomic<std::uint64_t> calls_{0};
};

class MailboxChannel {
public:
    MailboxChannel() { mailbox_.set_wake(&wake_, &WakeFlag::wake); }
    bool try_send(const Message& m) noexcept { return mailbox_.try_push(Message{m}); }
    template <class Fn>
    std::size_t drain(Fn&& fn, bool force) {
        return wake_.take(force) ? mailbox_.drain(kBatch, std::forward<Fn>(fn)) : 0;
    }
    void close() noexcept {}
    std::uint64_t wakes() const noexcept { return wake_.calls(); }

private:
    redpacket::Mailbox<Message> mailbox_{kCapacity};
    WakeFlag wake_;
};

class ShardedChannel {
public:
    ShardedChannel() { set_.set_wake(0, &wake_, &WakeFlag::wake); }
    bool try_send(const Message& m) noexcept {
        return set_.post(set_.shard_of(m.user), Message{m}).has_value();
    }
    template <class Fn>
    std::size_t drain(Fn&& fn, bool force) {
        if (!wake_.take(force)) {
            return 0;
        }
        return set_.drain(0, kBatch, [&fn](redpacket::ShardId, Message&& m) { fn(std::move(m)); });
    }
    void close() noexcept {}
    std::uint64_t wakes() const noexcept { return wake_.calls(); }

private:
    redpacket::ShardedConnectionSet<Message> set_{redpacket::ShardingConfig{256, 1, kCapacity}};
    WakeFlag wake_;
};

template <bool kSleep>
class MutexDequeChannel {
public:
    bool try_send(const Message& m) {
        bool was_empty = false;
        {
            const std::lock_guard lock{mutex_};
            was_empty = queue_.empty();
            queue_.push_back(m);
        }
        if (kSleep && was_empty) {
            ready_.notify_one();
        }
        return true;
    }
    template <class Fn>
    std::size_t drain(Fn&& fn, bool /*force*/) {
        std::size_t n = 0;
        {
            std::unique_lock lock{mutex_};
            if (kSleep) {
                ready_.wait(lock, [this] { return !queue_.empty() || closed_; });
            }
            while (n < kBatch && !queue_.empty()) {
                buffer_[n++] = queue_.front();
                queue_.pop_front();
            }
        }
        for (std::size_t i = 0; i < n; ++i) {
            fn(std::move(buffer_[i]));
        }
        return n;
    }
    void close() {
        {
            const std::lock_guard lock{mutex_};
            closed_ = true;
        }
        ready_.notify_all();
    }
    std::uint64_t wakes() const noexcept { return 0; }

private:
    std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<Message> queue_;
    bool closed_{false};
    std::array<Message, kBatch> buffer_{};  // consumer only
};

template <bool kSleep>
class ConcurrentQueueChannel {
public:
    bool try_send(const Message& m) noexcept { return queue_.try_enqueue(producer_, m); }
    template <class Fn>
    std::size_t drain(Fn&& fn, bool /*force*/) {
        std::size_t n = 0;
        if constexpr (kSleep) {
            n = queue_.wait_dequeue_bulk_timed(consumer_, buffer_.begin(), kBatch,
                                               kBlockedWaitLimit);
        } else {
            n = queue_.try_dequeue_bulk(consumer_, buffer_.begin(), kBatch);
        }
        for (std::size_t i = 0; i < n; ++i) {
            fn(std::move(buffer_[i]));
        }
        return n;
    }
    void close() noexcept {}
    std::uint64_t wakes() const noexcept { return 0; }

private:
    using Queue = std::conditional_t<kSleep, moodycamel::BlockingConcurrentQueue<Message>,
                                     moodycamel::ConcurrentQueue<Message>>;
    // An explicit producer sizes its block index from the blocks reserved here, which is what
    // lets try_enqueue use all kCapacity slots without allocating.
    Queue queue_{kCapacity};
    typename Queue::producer_token_t producer_{queue_};  // producer only
    typename Queue::consumer_token_t consumer_{queue_};  // consumer only
    std::array<Message, kBatch> buffer_{};               // consumer only
};

template <class Channel>
void BM_Dispatch(benchmark::State& state) {
    const std::chrono::microseconds tick{state.range(0)};
    auto channel = std::make_unique<Channel>();
    std::atomic<bool> stop{false};
    std::atomic<bool> force_drain{false};  // set only if a wake-up was lost
    alignas(redpacket::kCacheLine) std::atomic<std::uint64_t> consumed{0};
    std::int64_t checksum = 0;
    std::thread consumer{[&] {
        std::uint64_t done = 0;
        std::int64_t sum = 0;
        auto next_tick = std::chrono::steady_clock::now();
        while (!stop.load(std::memory_order_acquire)) {
            if (tick.count() != 0) {
                // Touch nothing shared until the next tick, as a loop busy elsewhere would not.
                while (std::chrono::steady_clock::now() < next_tick) {
                    cpu_relax();
                }
                next_tick += tick;
            }
            const bool force = force_drain.load(std::memory_order_relaxed);
            std::size_t n = 0;
            do {  // a tick drains everything ready, batch after batch
                n = channel->drain([&sum](Message&& m) { sum += m.amount; }, force);
                if (n != 0) {
                    done += n;
                    consumed.store(done, std::memory_order_release);  // before any blocking wait
                }
            } while (n == kBatch);
            if (n == 0 && tick.count() == 0) {
                cpu_relax();
            }
        }
        checksum = sum;
    }};

    std::uint64_t sent = 0;
    std::uint64_t retries = 0;
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        for (std::uint64_t k = 0; k < kMessagesPerIteration; ++k) {
            const Message m{sent * 0x9e3779b97f4a7c15ULL, sent, static_cast<std::int64_t>(k)};
            while (!channel->try_send(m)) {
                ++retries;
                cpu_relax();
            }
            ++sent;
        }
        const auto waiting_since = std::chrono::steady_clock::now();
        while (consumed.load(std::memory_order_acquire) < sent) {
            cpu_relax();
            if (!force_drain.load(std::memory_order_relaxed) &&
                std::chrono::steady_clock::now() - waiting_since > kStrandedAfter) {
                force_drain.store(true, std::memory_order_relaxed);
                state.SkipWithError("messages stranded without a wake-up (lost wake-up)");
            }
        }
    }
    const auto elapsed = std::chrono::steady_clock::now() - start;
    stop.store(true, std::memory_order_release);
    channel->close();
    consumer.join();
    benchmark::DoNotOptimize(checksum);

    const auto messages = static_cast<double>(sent);
    state.SetItemsProcessed(static_cast<std::int64_t>(sent));
    state.counters["ns_per_msg"] =
        static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count()) /
        messages;
    state.counters["retries_per_msg"] = static_cast<double>(retries) / messages;
    if (const std::uint64_t wakes = channel->wakes(); wakes != 0) {
        state.counters["wakes_per_msg"] = static_cast<double>(wakes) / messages;
    }
}

void ticks(benchmark::internal::Benchmark* b) {
    b->ArgName("tick_us")->Arg(0)->Arg(20)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

/// A consumer that sleeps until a message wakes it has no drain tick: 0 only.
void wake_only(benchmark::internal::Benchmark* b) {
    b->ArgName("tick_us")->Arg(0)->UseRealTime()->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Dispatch, MailboxChannel)->Name("BM_Dispatch_MailboxPush")->Apply(ticks);
BENCHMARK_TEMPLATE(BM_Dispatch, ShardedChannel)->Name("BM_Dispatch_ShardedPost")->Apply(ticks);
BENCHMARK_TEMPLATE(BM_Dispatch, MutexDequeChannel<false>)
    ->Name("BM_NaiveDispatch_MutexDequePoll")
    ->Apply(ticks);
BENCHMARK_TEMPLATE(BM_Dispatch, MutexDequeChannel<true>)
    ->Name("BM_NaiveDispatch_MutexDequeCondvar")
    ->Apply(wake_only);
BENCHMARK_TEMPLATE(BM_Dispatch, ConcurrentQueueChannel<false>)
    ->Name("BM_PeerDispatch_ConcurrentQueuePoll")
    ->Apply(ticks);
BENCHMARK_TEMPLATE(BM_Dispatch, ConcurrentQueueChannel<true>)
    ->Name("BM_PeerDispatch_BlockingConcurrentQueue")
    ->Apply(wake_only);

BENCHMARK_MAIN();
