// RedPacketPool: claim, shake and memory per packet / per claim.
//
// Baseline (BM_NaivePool_*): the obvious thread-safe pool — a std::mutex around
// std::unordered_map<packet, {std::vector<int64_t> shares; std::unordered_map<user, share>
// claimed;}> — doing the same claim (lookup, idempotent retry, deadline, sold out, record).
// The mutex is uncontended here, as the library's single-owner pool never needs one.
// Shares are split outside the timed region in both, so only the claim path is compared.
//
// Goals: claim ≤ 100 ns, shake take ≤ 50 ns, ≤ 128 B per packet, ≤ 32 B per claim.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <deque>
#include <mutex>
#include <numeric>
#include <optional>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "heap_counter.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace {

using redpacket::Cents;
using redpacket::ClaimResult;
using redpacket::ClaimStatus;
using redpacket::PacketId;
using redpacket::RedPacketPool;
using redpacket::SplitPolicy;
using redpacket::Time;
using redpacket::UserId;

constexpr Time kNow{0};
constexpr Time kDeadline{std::chrono::hours{24}};
constexpr std::int64_t kCentsPerShare = 1000;

redpacket::PoolConfig pool_config() {
    redpacket::PoolConfig c;
    c.max_packets = 1U << 16;
    c.shake_capacity = 1U << 16;
    return c;
}

// --- the naive baseline ----------------------------------------------------------------------
class NaivePool {
public:
    std::uint64_t create(std::vector<std::int64_t> shares, Time expires_at,
                         std::span<const UserId> allowed = {}) {
        const std::lock_guard lock{mutex_};
        const std::uint64_t id = ++next_id_;
        packets_.emplace(id, Packet{std::move(shares), {}, expires_at,
                                    std::unordered_set<UserId>(allowed.begin(), allowed.end())});
        return id;
    }
    ClaimResult claim(std::uint64_t packet, UserId user, Time now) {
        const std::lock_guard lock{mutex_};
        const auto it = packets_.find(packet);
        if (it == packets_.end()) {
            return {ClaimStatus::not_found, Cents{0}, 0};
        }
        Packet& p = it->second;
        if (!p.allowed.empty() && !p.allowed.contains(user)) {
            return {ClaimStatus::not_allowed, Cents{0}, 0};
        }
        if (const auto held = p.claimed.find(user); held != p.claimed.end()) {
            return {ClaimStatus::already_claimed, Cents{p.shares[held->second]}, held->second};
        }
        if (now >= p.expires_at) {
            return {ClaimStatus::expired, Cents{0}, 0};
        }
        if (p.claimed.size() == p.shares.size()) {
            return {ClaimStatus::sold_out, Cents{0}, 0};
        }
        const auto share = static_cast<std::uint32_t>(p.claimed.size());
        p.claimed.emplace(user, share);
        return {ClaimStatus::claimed, Cents{p.shares[share]}, share};
    }

private:
    struct Packet {
        std::vector<std::int64_t> shares;
        std::unordered_map<UserId, std::uint32_t> claimed;
        Time expires_at;
        std::unordered_set<UserId> allowed;  // empty: anyone
    };
    std::mutex mutex_;
    std::unordered_map<std::uint64_t, Packet> packets_;
    std::uint64_t next_id_{0};
};

std::vector<std::int64_t> naive_shares(std::uint32_t count, redpacket::Rng& rng) {
    const auto shares = redpacket::split(SplitPolicy::double_mean, Cents{kCentsPerShare * count},
                                         count, Cents{1}, rng);
    std::vector<std::int64_t> out;
    out.reserve(count);
    for (const Cents c : *shares) {
        out.push_back(c.value);
    }
    return out;
}

// The two pools behind one face: fresh() (a new, empty pool), create(count) and claim.
struct CountingObserver {
    std::uint64_t events{0};
    std::int64_t amount{0};
    void on_pool_event(const redpacket::PoolEvent& e) noexcept {
        ++events;
        amount += e.amount.value;
    }
};

template <bool Verifiable>
class LibPoolOf {
public:
    explicit LibPoolOf(CountingObserver* observer = nullptr) : observer_{observer} {}
    void fresh() {
        redpacket::PoolConfig config = pool_config();
        config.verifiable = Verifiable;  // a 40-byte seed and minimum share per packet
        pool_.emplace(config);
        if (observer_ != nullptr) {
            pool_->set_observer(redpacket::PoolObserver::bind(*observer_));
        }
    }
    PacketId create(std::uint32_t count, std::span<const UserId> allowed = {}) {
        return *pool_->create(1, Cents{kCentsPerShare * count}, count, SplitPolicy::double_mean,
                              kDeadline, allowed);
    }
    ClaimResult claim(PacketId id, UserId user) noexcept { return pool_->claim(id, user, kNow); }

private:
    std::optional<RedPacketPool> pool_;
    CountingObserver* observer_;
};
using LibPool = LibPoolOf<true>;

class NaiveAdapter {
public:
    explicit NaiveAdapter(CountingObserver* /*unsupported*/ = nullptr) {}
    void fresh() { pool_.emplace(); }
    std::uint64_t create(std::uint32_t count, std::span<const UserId> allowed = {}) {
        return pool_->create(naive_shares(count, rng_), kDeadline, allowed);
    }
    ClaimResult claim(std::uint64_t id, UserId user) { return pool_->claim(id, user, kNow); }

private:
    std::optional<NaivePool> pool_;
    redpacket::Rng rng_{7};
};

void finish_claims(benchmark::State& state, std::int64_t claimed) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (claimed != static_cast<std::int64_t>(state.iterations())) {
        state.SkipWithError("a claim did not return `claimed`");
    }
}

// --- one hot packet --------------------------------------------------------------------------
// A packet of range(0) shares claimed by distinct users, user ids range(1) apart (a stride of 1
// is sequential ids; a power-of-two stride models ids that share their low bits, which would
// defeat a hash using the low bits). A fresh pool and packet are made, untimed, every range(0)
// claims.
template <class Pool>
void BM_ClaimHotPacket(benchmark::State& state) {
    const auto shares = static_cast<std::uint32_t>(state.range(0));
    const auto stride = static_cast<UserId>(state.range(1));
    Pool pool;
    decltype(pool.create(1)) id{};
    std::uint32_t left = 0;
    UserId user = 0;
    std::int64_t claimed = 0;
    for (auto _ : state) {
        if (left == 0) {
            state.PauseTiming();
            pool.fresh();
            id = pool.create(shares);
            left = shares;
            state.ResumeTiming();
        }
        --left;
        user += stride;
        const ClaimResult r = pool.claim(id, user);
        benchmark::DoNotOptimize(r);
        claimed += r.status == ClaimStatus::claimed ? 1 : 0;
    }
    finish_claims(state, claimed);
}

// --- many packets ----------------------------------------------------------------------------
// 10k packets of 10 shares; each round visits every packet once in a fixed shuffled order and
// claims one share with a user new to that packet. Refilled, untimed, when all are sold out.
// range(0) = 1 attaches a counting observer (library only): the hook's cost when used; with
// none attached it is one predictable branch, which range(0) = 0 includes. range(1) = 1 makes
// every packet a restricted one, allowed to exactly the ten users who claim it (a group packet):
// each claim then also checks the claimer against the list.
constexpr std::uint32_t kManyPackets = 10'000;
constexpr std::uint32_t kManyShares = 10;

std::vector<std::uint32_t> shuffled_order(std::uint32_t n) {
    std::vector<std::uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0U);
    redpacket::Rng rng{99};
    for (std::uint32_t i = n; i > 1; --i) {
        std::swap(order[i - 1], order[rng.below(i)]);
    }
    return order;
}

template <class Pool>
void BM_ClaimManyPackets(benchmark::State& state) {
    const std::vector<std::uint32_t> order = shuffled_order(kManyPackets);
    CountingObserver observer;
    Pool pool{state.range(0) != 0 ? &observer : nullptr};
    std::vector<decltype(pool.create(1))> ids(kManyPackets);
    std::uint64_t i = 0;
    std::int64_t claimed = 0;
    for (auto _ : state) {
        if (i % (std::uint64_t{kManyPackets} * kManyShares) == 0) {
            state.PauseTiming();
            pool.fresh();
            for (std::uint32_t p = 0; p < kManyPackets; ++p) {
                std::array<UserId, kManyShares> members{};
                for (std::uint32_t r = 0; r < kManyShares; ++r) {
                    // the users who claim it before the next refill, below
                    members[r] = ((i / kManyPackets + r) << 32) | p;
                }
                ids[p] = state.range(1) != 0 ? pool.create(kManyShares, members)
                                             : pool.create(kManyShares);
            }
            state.ResumeTiming();
        }
        const std::uint32_t packet = order[i % kManyPackets];
        const UserId user = ((i / kManyPackets) << 32) | packet;
        const ClaimResult r = pool.claim(ids[packet], user);
        benchmark::DoNotOptimize(r);
        claimed += r.status == ClaimStatus::claimed ? 1 : 0;
        ++i;
    }
    benchmark::DoNotOptimize(observer);
    finish_claims(state, claimed);
}

// --- shake -----------------------------------------------------------------------------------
void BM_Pool_ShakeOfferTake(benchmark::State& state) {
    RedPacketPool pool{pool_config()};
    UserId user = 0;
    for (auto _ : state) {
        auto offered = pool.offer(Cents{100}, kDeadline);
        auto hit = pool.take(++user, kNow);
        benchmark::DoNotOptimize(offered);
        benchmark::DoNotOptimize(hit);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (pool.stats().shake_issued != static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("a take found nothing");
    }
}

// take alone: the supply is filled to capacity, untimed, whenever it runs dry.
void BM_Pool_ShakeTake(benchmark::State& state) {
    RedPacketPool pool{pool_config()};
    UserId user = 0;
    for (auto _ : state) {
        if (pool.shake_size() == 0) {
            state.PauseTiming();
            while (pool.offer(Cents{100}, kDeadline)) {
            }
            state.ResumeTiming();
        }
        auto hit = pool.take(++user, kNow);
        benchmark::DoNotOptimize(hit);
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    if (pool.stats().shake_issued != static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("a take found nothing");
    }
}

// Baseline: a mutex-guarded std::deque of (amount, deadline), dropping expired heads on take.
void BM_NaiveShake_OfferTake(benchmark::State& state) {
    struct Entry {
        std::int64_t amount;
        Time expires_at;
    };
    std::mutex mutex;
    std::deque<Entry> supply;
    std::int64_t issued = 0;
    for (auto _ : state) {
        {
            const std::lock_guard lock{mutex};
            supply.push_back(Entry{100, kDeadline});
        }
        const std::lock_guard lock{mutex};
        while (!supply.empty() && supply.front().expires_at <= kNow) {
            supply.pop_front();
        }
        if (!supply.empty()) {
            benchmark::DoNotOptimize(supply.front());
            supply.pop_front();
            ++issued;
        }
    }
    state.SetItemsProcessed(issued);
}

// --- memory ----------------------------------------------------------------------------------
// Heap bytes (malloc_usable_size, see heap_counter.hpp) of P packets × N shares, measured after
// the empty pool exists (its fixed cost — Impl, shake ring — is `pool_fixed_bytes`).
// A share array (8 B per share) is the payload every design must hold, so it is subtracted.
//   bytes_per_claim  = (bytes(P × N) − bytes(P × 1)) / (P·(N−1)) − 8: storage reserved at
//                      create for each share's claimer (user + user index), beyond the share
//                      itself. Claims allocate nothing (`claim_heap_delta` checks it).
//   bytes_per_packet = bytes(P × N)/P − N·(8 + bytes_per_claim): the fixed cost of a packet
//                      (slot, deadline, allocation rounding), independent of N.
//   bytes_per_packet_with_claims = bytes(P × N)/P − 8N: everything but the share array.
// The baseline allocates claim storage on claim instead, so there bytes_per_claim = heap
// growth from claiming every share / (P·N), and bytes_per_packet = bytes(P × N)/P − 8N.
// glibc's 8-byte chunk header per block is not included (allocs_per_packet says how many).
// With P = 10 000 the pool's slot and deadline vectors sit at 16 384 capacity after doubling;
// P = 16 384 shows the cost without that slack.
struct Footprint {
    std::int64_t fixed{0};
    std::int64_t packets{0};
    std::int64_t blocks{0};
    std::int64_t claims{0};
};

template <class Pool>
Footprint footprint(std::uint32_t packets, std::uint32_t shares) {
    Pool pool;
    std::vector<decltype(pool.create(1))> ids;
    ids.reserve(packets);
    Footprint f;
    const redpacket::bench::HeapDelta whole;
    pool.fresh();
    f.fixed = whole.bytes();
    const redpacket::bench::HeapDelta created;
    for (std::uint32_t p = 0; p < packets; ++p) {
        ids.push_back(pool.create(shares));
    }
    f.packets = created.bytes();
    f.blocks = created.blocks();
    const redpacket::bench::HeapDelta claimed;
    for (std::uint32_t s = 0; s < shares; ++s) {
        for (std::uint32_t p = 0; p < packets; ++p) {
            benchmark::DoNotOptimize(pool.claim(ids[p], (UserId{s} << 32) | p));
        }
    }
    f.claims = claimed.bytes();
    return f;
}

template <Footprint (*Measure)(std::uint32_t, std::uint32_t)>
void BM_Memory(benchmark::State& state) {
    const auto packets = static_cast<std::uint32_t>(state.range(0));
    const auto shares = static_cast<std::uint32_t>(state.range(1));
    Footprint many;
    Footprint one;
    for (auto _ : state) {
        many = Measure(packets, shares);
        one = Measure(packets, 1);
    }
    const double p = packets;
    const double n = shares;
    const double beyond_shares = static_cast<double>(many.packets) / p - 8.0 * n;
    // The library reserves claim storage at create: it is the growth from 1 to N shares.
    // The baseline allocates it on claim: it is what claiming every share added.
    const bool reserved_at_create = many.claims == 0;
    const double per_claim =
        reserved_at_create
            ? static_cast<double>(many.packets - one.packets) / (p * (n - 1.0)) - 8.0
            : static_cast<double>(many.claims) / (p * n);
    state.counters["bytes_per_claim"] = per_claim;
    state.counters["bytes_per_packet"] = beyond_shares - (reserved_at_create ? n * per_claim : 0.0);
    state.counters["bytes_per_packet_with_claims"] =
        beyond_shares + (reserved_at_create ? 0.0 : n * per_claim);
    state.counters["allocs_per_packet"] = static_cast<double>(many.blocks) / p;
    state.counters["claim_heap_delta"] = static_cast<double>(many.claims);
    state.counters["pool_fixed_bytes"] = static_cast<double>(many.fixed);
}

// Create: split, commit and store one packet. verifiable = 1 draws a CSPRNG seed per packet
// (buffered 64 at a time) and splits from it; 0 splits from the pool's engine. The goal of
// docs/fairness.md: verifiable ≤ 1.2× the time of unverifiable, in the same run.
void BM_Pool_Create(benchmark::State& state) {
    redpacket::PoolConfig config = pool_config();
    config.verifiable = state.range(0) != 0;
    const auto shares = static_cast<std::uint32_t>(state.range(1));
    const auto policy = static_cast<SplitPolicy>(state.range(2));
    constexpr std::uint32_t kBatch = 4096;  // creates between fresh pools (untimed)
    std::optional<RedPacketPool> pool;
    pool.emplace(config);
    std::uint32_t made = 0;
    for (auto _ : state) {
        if (made == kBatch) {
            state.PauseTiming();
            pool.emplace(config);
            made = 0;
            state.ResumeTiming();
        }
        auto id = pool->create(UserId{1}, Cents{kCentsPerShare * shares}, shares, policy,
                               Time{std::chrono::seconds{60}});
        benchmark::DoNotOptimize(id);
        ++made;
    }
    state.SetItemsProcessed(state.iterations());
}

void memory_shapes(benchmark::internal::Benchmark* b) {
    b->ArgNames({"packets", "shares"});
    b->Args({10'000, 10})->Args({16'384, 10})->Args({10'000, 100});
    b->Iterations(1)->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_ClaimHotPacket, LibPool)
    ->Name("BM_Pool_ClaimHotPacket")
    ->ArgNames({"shares", "user_stride"})
    ->Args({100'000, 1})
    ->Args({10'000, 1})
    ->Args({10'000, 1024});
BENCHMARK_TEMPLATE(BM_ClaimHotPacket, NaiveAdapter)
    ->Name("BM_NaivePool_ClaimHotPacket")
    ->ArgNames({"shares", "user_stride"})
    ->Args({100'000, 1})
    ->Args({10'000, 1024});
BENCHMARK_TEMPLATE(BM_ClaimManyPackets, LibPool)
    ->Name("BM_Pool_ClaimManyPackets")
    ->ArgNames({"observer", "restricted"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({0, 1});
BENCHMARK_TEMPLATE(BM_ClaimManyPackets, NaiveAdapter)
    ->Name("BM_NaivePool_ClaimManyPackets")
    ->ArgNames({"observer", "restricted"})
    ->Args({0, 0})
    ->Args({0, 1});
BENCHMARK(BM_Pool_Create)
    ->ArgNames({"verifiable", "shares", "policy"})
    ->Args({0, 10, 0})
    ->Args({1, 10, 0})
    ->Args({0, 10, 1})
    ->Args({1, 10, 1})
    ->Args({0, 100, 0})
    ->Args({1, 100, 0});
BENCHMARK(BM_Pool_ShakeOfferTake);
BENCHMARK(BM_Pool_ShakeTake);
BENCHMARK(BM_NaiveShake_OfferTake);
BENCHMARK_TEMPLATE(BM_Memory, footprint<LibPool>)->Name("BM_Pool_Memory")->Apply(memory_shapes);
BENCHMARK_TEMPLATE(BM_Memory, footprint<LibPoolOf<false>>)
    ->Name("BM_Pool_Memory_Unverifiable")
    ->Apply(memory_shapes);
BENCHMARK_TEMPLATE(BM_Memory, footprint<NaiveAdapter>)
    ->Name("BM_NaivePool_Memory")
    ->Apply(memory_shapes);

BENCHMARK_MAIN();
