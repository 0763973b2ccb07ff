// ConnectionTable and ShardedConnectionSet: add, find, remove and bytes per connection.
//
// Keys are distinct pseudo-random 32-bit user ids (the wire protocol's width), drawn through
// a bijective mixer so a table of N holds exactly N users. `find` looks up present users in a
// shuffled order; `add` fills an empty table (growth included, amortised); `remove` empties a
// full one in a shuffled order. Items are operations.
//
// Baseline: std::unordered_map<uint64_t, uint64_t> (one node allocation per entry). Peer:
// absl::flat_hash_map<uint64_t, uint64_t> (open addressing, entries inline in one array): the
// packaged table our own has to beat to be worth keeping.
// Memory: heap bytes (malloc_usable_size, see heap_counter.hpp) from before construction to
// after the fill, per entry (malloc_bytes_per_connection adds glibc's 8 B header per block);
// cross-checked against memory_bytes() / table_memory_bytes() (the sharded set's includes
// its 256 cache-line shard headers). Goal: ≤ 64 B per connection at 1M.
#include <absl/container/flat_hash_map.h>
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "heap_counter.hpp"
#include "redpacket/connection_table.hpp"
#include "redpacket/random.hpp"
#include "redpacket/sharded_connection_set.hpp"

namespace {

using redpacket::ConnectionRef;
using redpacket::UserId;

// Chris Wellons' lowbias32: a bijection on 32-bit values, so distinct inputs stay distinct.
constexpr std::uint32_t mix32(std::uint32_t x) noexcept {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

std::vector<UserId> make_users(std::size_t n) {
    std::vector<UserId> users(n);
    for (std::size_t i = 0; i < n; ++i) {
        users[i] = mix32(static_cast<std::uint32_t>(i + 1));
    }
    return users;
}

std::vector<UserId> shuffled(std::vector<UserId> v) {
    redpacket::Rng rng{5};
    for (std::size_t i = v.size(); i > 1; --i) {
        std::swap(v[i - 1], v[rng.below(i)]);
    }
    return v;
}

// --- one adapter per contender -----------------------------------------------------------
struct Table {
    redpacket::ConnectionTable t;
    bool add(UserId u, ConnectionRef c) { return t.add(u, c).has_value(); }
    std::optional<ConnectionRef> find(UserId u) const noexcept { return t.find(u); }
    bool remove(UserId u) noexcept { return t.remove(u).has_value(); }
    std::size_t reported_bytes() const noexcept { return t.memory_bytes(); }
};

struct Message {
    std::uint64_t payload{0};
};

struct Sharded {
    redpacket::ShardedConnectionSet<Message> s{redpacket::ShardingConfig{256, 1, 2}};
    bool add(UserId u, ConnectionRef c) { return s.add(u, c).has_value(); }
    std::optional<ConnectionRef> find(UserId u) const noexcept { return s.find(u); }
    bool remove(UserId u) noexcept { return s.remove(u).has_value(); }
    std::size_t reported_bytes() const noexcept { return s.table_memory_bytes(); }
};

/// A general-purpose hash map behind the same interface: the naive baseline and the peer.
template <class Map>
struct HashMapAdapter {
    Map m;
    bool add(UserId u, ConnectionRef c) { return m.emplace(u, c).second; }
    std::optional<ConnectionRef> find(UserId u) const noexcept {
        const auto it = m.find(u);
        return it == m.end() ? std::nullopt : std::optional<ConnectionRef>{it->second};
    }
    bool remove(UserId u) noexcept { return m.erase(u) != 0; }
    std::size_t reported_bytes() const noexcept { return 0; }
};
using StdMap = HashMapAdapter<std::unordered_map<UserId, ConnectionRef>>;
using AbslMap = HashMapAdapter<absl::flat_hash_map<UserId, ConnectionRef>>;

template <class T>
std::unique_ptr<T> filled(const std::vector<UserId>& users) {
    auto t = std::make_unique<T>();
    for (const UserId u : users) {
        benchmark::DoNotOptimize(t->add(u, u + 1));
    }
    return t;
}

void set_ops(benchmark::State& state, std::int64_t ops_per_iteration) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * ops_per_iteration);
}

template <class T>
void BM_Find(benchmark::State& state) {
    const auto users = make_users(static_cast<std::size_t>(state.range(0)));
    const auto t = filled<T>(users);
    const auto probes = shuffled(users);
    std::size_t i = 0;
    std::uint64_t hits = 0;
    for (auto _ : state) {
        const auto c = t->find(probes[i]);
        benchmark::DoNotOptimize(c);
        hits += c.has_value() ? 1U : 0U;
        i = i + 1 == probes.size() ? 0 : i + 1;
    }
    set_ops(state, 1);
    if (hits != static_cast<std::uint64_t>(state.iterations())) {
        state.SkipWithError("a present user was not found");
    }
}

template <class T>
void BM_Add(benchmark::State& state) {
    const auto users = make_users(static_cast<std::size_t>(state.range(0)));
    std::unique_ptr<T> t;
    for (auto _ : state) {
        state.PauseTiming();
        t = std::make_unique<T>();  // the previous table is freed here, untimed
        state.ResumeTiming();
        for (const UserId u : users) {
            benchmark::DoNotOptimize(t->add(u, u + 1));
        }
        benchmark::ClobberMemory();
    }
    set_ops(state, state.range(0));
}

template <class T>
void BM_Remove(benchmark::State& state) {
    const auto users = make_users(static_cast<std::size_t>(state.range(0)));
    const auto order = shuffled(users);
    std::unique_ptr<T> t;
    for (auto _ : state) {
        state.PauseTiming();
        t = filled<T>(users);
        state.ResumeTiming();
        for (const UserId u : order) {
            benchmark::DoNotOptimize(t->remove(u));
        }
        benchmark::ClobberMemory();
    }
    set_ops(state, state.range(0));
}

template <class T>
void BM_Memory(benchmark::State& state) {
    const auto n = static_cast<std::size_t>(state.range(0));
    const auto users = make_users(n);
    double bytes = 0.0;
    double blocks = 0.0;
    double reported = 0.0;
    for (auto _ : state) {
        const redpacket::bench::HeapDelta delta;
        const auto t = filled<T>(users);
        bytes = static_cast<double>(delta.bytes());
        blocks = static_cast<double>(delta.blocks());
        reported = static_cast<double>(t->reported_bytes());
    }
    const double entries = static_cast<double>(n);
    state.counters["bytes_per_connection"] = bytes / entries;
    // Plus glibc's 8-byte chunk header per block: what one node per entry really costs.
    state.counters["malloc_bytes_per_connection"] = (bytes + 8.0 * blocks) / entries;
    if (reported != 0.0) {
        state.counters["reported_bytes_per_connection"] = reported / entries;
    }
}

// 19,000: one redpacketd worker in the seed experiment (about 74 per table in its 256 SETs).
void sizes(benchmark::internal::Benchmark* b) {
    b->ArgName("entries")->Arg(1'000)->Arg(19'000)->Arg(100'000)->Arg(1'000'000);
}
void bulk_sizes(benchmark::internal::Benchmark* b) {
    sizes(b);
    b->Unit(benchmark::kMicrosecond);
}
void memory_sizes(benchmark::internal::Benchmark* b) {
    sizes(b);
    b->Iterations(1)->Unit(benchmark::kMillisecond);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_Find, Table)->Name("BM_ConnectionTable_Find")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Find, Sharded)->Name("BM_ShardedSet_Find")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Find, StdMap)->Name("BM_UnorderedMap_Find")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Find, AbslMap)->Name("BM_AbslFlatHashMap_Find")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_Add, Table)->Name("BM_ConnectionTable_Add")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Add, Sharded)->Name("BM_ShardedSet_Add")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Add, StdMap)->Name("BM_UnorderedMap_Add")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Add, AbslMap)->Name("BM_AbslFlatHashMap_Add")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Remove, Table)->Name("BM_ConnectionTable_Remove")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Remove, Sharded)->Name("BM_ShardedSet_Remove")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Remove, StdMap)->Name("BM_UnorderedMap_Remove")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Remove, AbslMap)->Name("BM_AbslFlatHashMap_Remove")->Apply(bulk_sizes);
BENCHMARK_TEMPLATE(BM_Memory, Table)->Name("BM_ConnectionTable_Memory")->Apply(memory_sizes);
BENCHMARK_TEMPLATE(BM_Memory, Sharded)->Name("BM_ShardedSet_Memory")->Apply(memory_sizes);
BENCHMARK_TEMPLATE(BM_Memory, StdMap)->Name("BM_UnorderedMap_Memory")->Apply(memory_sizes);
BENCHMARK_TEMPLATE(BM_Memory, AbslMap)->Name("BM_AbslFlatHashMap_Memory")->Apply(memory_sizes);

// Freed memory stays in the process (up to glibc's 32 MiB mmap ceiling), so `add` measures the
// tables and not whether the heap's layout left by earlier benchmarks made glibc return the
// last table's pages to the kernel: on this project's VM a run of Add at 100k took 1.9 ms or
// 20 ms for the same table, the difference being 48,000 page faults (`perf stat -e
// page-faults`). Tables of 1M entries (over 32 MiB) are still mmapped and faulted each time.
int main(int argc, char** argv) {
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
