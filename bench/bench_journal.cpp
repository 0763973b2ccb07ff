// Journal: closed-loop claim throughput with the write-ahead journal under fsync=batch against
// fsync=off, journal bytes per claim, recovery time of 1,000,000 journaled claims, and what the
// proof archive costs the claims whose packets it archives (and its bytes per packet).
//
// Closed loop: one thread plays the event loop — it claims a share and appends its record
// (PoolJournal), and keeps at most `window` records not yet durable, as if that many clients
// were waiting for their replies; when the window is full it waits for the writer thread's
// batch callback. Baselines in the same binary: the pool alone (no journal: the ceiling) and
// fsync=always (one fdatasync per record: the naive write-ahead log). Goal: batch ≥ 0.7× off.
//
// Where: $REDPACKET_BENCH_JOURNAL_DIR if set (point it at the disk under test, or at /dev/shm
// for tmpfs), else the temp directory. Each run writes into a fresh subdirectory and removes it.
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "redpacket/journal.hpp"
#include "redpacket/memory_store.hpp"
#include "redpacket/recovery.hpp"
#include "redpacket/red_packet_pool.hpp"

namespace {

using namespace redpacket;

constexpr std::uint32_t kSharesPerPacket = 1000;
constexpr Time kDeadline{std::chrono::hours{24}};
constexpr Time kNow{1000};

// A fresh directory, removed at scope exit.
class ScratchDir {
public:
    ScratchDir() {
        const char* base = std::getenv("REDPACKET_BENCH_JOURNAL_DIR");
        const std::filesystem::path root =
            base != nullptr ? std::filesystem::path{base} : std::filesystem::temp_directory_path();
        std::filesystem::create_directories(root);
        std::string pattern = (root / "redpacket-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            std::abort();
        }
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    [[nodiscard]] const std::string& path() const noexcept { return path_; }

private:
    std::string path_;
};

PoolConfig bench_pool_config() {
    PoolConfig c;
    c.shard = 1;
    c.max_packets = 1U << 16;
    c.max_live_shares = 1U << 24;
    return c;
}

// Wakes the producer when a batch completes (the daemon would uv_async_send instead).
struct BatchSignal {
    std::mutex mutex;
    std::condition_variable cv;
    std::uint64_t batches{0};
    void notify() {
        {
            const std::lock_guard lock{mutex};
            ++batches;
        }
        cv.notify_one();
    }
};

// Claims shares one after another, opening a new packet when one sells out.
class Claimer {
public:
    explicit Claimer(RedPacketPool& pool) : pool_{pool} {}
    void claim_one() {
        if (left_ == 0) {
            packet_ = *pool_.create(1, Cents{10 * kSharesPerPacket}, kSharesPerPacket,
                                    SplitPolicy::double_mean, kDeadline);
            left_ = kSharesPerPacket;
        }
        const ClaimResult r = pool_.claim(packet_, ++user_, kNow);
        benchmark::DoNotOptimize(r);
        --left_;
    }

private:
    RedPacketPool& pool_;
    PacketId packet_;
    std::uint32_t left_{0};
    UserId user_{0};
};

void BM_ClaimNoJournal(benchmark::State& state) {
    RedPacketPool pool{bench_pool_config()};
    Claimer claimer{pool};
    for (auto _ : state) {
        claimer.claim_one();
    }
    state.SetItemsProcessed(state.iterations());
}

// Arguments: window (records in flight), max_batch, max_delay in µs (the last two: batch only).
void claim_with_journal(benchmark::State& state, FsyncPolicy policy) {
    const auto window = static_cast<std::uint64_t>(state.range(0));
    ScratchDir dir;
    BatchSignal signal;
    JournalWriterOptions options;
    options.fsync = policy;
    options.max_batch = static_cast<std::size_t>(state.range(1));
    options.max_delay = std::chrono::microseconds{state.range(2)};
    options.max_pending = window * 2;
    options.on_batch = [&signal] { signal.notify(); };
    auto writer = JournalWriter::open(posix_file_system(), dir.path(), 1, options);
    if (!writer) {
        state.SkipWithError(describe(writer.error()).c_str());
        return;
    }
    JournalWriter& w = **writer;
    RedPacketPool pool{bench_pool_config()};
    PoolJournal journal{w, 1};
    pool.set_observer(PoolObserver::bind(journal));
    Claimer claimer{pool};

    for (auto _ : state) {
        claimer.claim_one();
        if (journal.last_sequence() - w.durable_sequence() >= window) {
            std::unique_lock lock{signal.mutex};
            signal.cv.wait(lock, [&] { return journal.last_sequence() - w.durable_sequence() < window; });
        }
    }
    // The timer stopped with the loop: the last ≤ `window` records' sync (one batch) is not
    // timed, which is noise against the run's length.
    if (!w.wait_durable(journal.last_sequence(), std::chrono::minutes{1})) {
        state.SkipWithError("journal did not become durable");
    }
    (void)w.close();
    const JournalWriterStats st = w.stats();
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(static_cast<std::int64_t>(st.bytes));
    // Creates are one record per 1000 claims: bytes per record ≈ bytes per claim.
    state.counters["bytes_per_claim"] =
        benchmark::Counter(static_cast<double>(st.bytes) / static_cast<double>(state.iterations()));
    state.counters["records_per_batch"] = benchmark::Counter(
        st.batches == 0 ? 0.0 : static_cast<double>(st.records) / static_cast<double>(st.batches));
    state.counters["syncs"] = benchmark::Counter(static_cast<double>(st.syncs));
}

void BM_ClaimJournal_FsyncOff(benchmark::State& state) { claim_with_journal(state, FsyncPolicy::off); }
void BM_ClaimJournal_FsyncBatch(benchmark::State& state) {
    claim_with_journal(state, FsyncPolicy::batch);
}
void BM_ClaimJournal_FsyncAlways(benchmark::State& state) {
    claim_with_journal(state, FsyncPolicy::always);
}

BENCHMARK(BM_ClaimNoJournal);
// window = clients waiting for a reply. With max_batch = window only one batch can be in
// flight: the loop stalls for each sync. A window above max_batch lets the next batch fill while
// one syncs. max_delay (default 2 ms) caps the sync rate, which a small window feels directly.
const std::vector<std::string> kArgNames{"window", "max_batch", "delay_us"};
BENCHMARK(BM_ClaimJournal_FsyncOff)
    ->ArgNames(kArgNames)
    ->Args({1024, 1024, 2000})
    ->Args({8192, 1024, 2000})
    ->UseRealTime();
BENCHMARK(BM_ClaimJournal_FsyncBatch)
    ->ArgNames(kArgNames)
    ->Args({64, 1024, 2000})
    ->Args({64, 1024, 0})
    ->Args({1024, 1024, 2000})
    ->Args({1024, 256, 2000})
    ->Args({8192, 1024, 2000})
    ->UseRealTime();
BENCHMARK(BM_ClaimJournal_FsyncAlways)
    ->ArgNames(kArgNames)
    ->Args({1024, 1024, 2000})
    ->UseRealTime();

// --- recovery ------------------------------------------------------------------------------

constexpr std::uint64_t kRecoveryClaims = 1'000'000;

// A journal of 1,000 packets × 1,000 claims, written once per process.
const std::string& recovery_journal() {
    static ScratchDir dir;
    static const bool written = [] {
        JournalWriterOptions options;
        options.fsync = FsyncPolicy::off;
        options.max_pending = 1U << 20;
        auto writer = JournalWriter::open(posix_file_system(), dir.path(), 1, options);
        if (!writer) {
            std::abort();
        }
        RedPacketPool pool{bench_pool_config()};
        PoolJournal journal{**writer, 1};
        pool.set_observer(PoolObserver::bind(journal));
        Claimer claimer{pool};
        for (std::uint64_t i = 0; i < kRecoveryClaims; ++i) {
            claimer.claim_one();
        }
        return (*writer)->close().has_value();
    }();
    if (!written) {
        std::abort();
    }
    return dir.path();
}

void BM_Recover1MClaims(benchmark::State& state) {
    const std::string& dir = recovery_journal();
    std::uint64_t records = 0;
    std::uint64_t bytes = 0;
    for (auto _ : state) {
        state.PauseTiming();
        std::optional<RedPacketPool> pool{bench_pool_config()};
        state.ResumeTiming();
        auto report = recover(posix_file_system(), dir,
                              [&](ShardId s) { return s == 1 ? &*pool : nullptr; });
        if (!report) {
            state.SkipWithError(describe(report.error()).c_str());
            return;
        }
        records = report->records_replayed;
        bytes = report->scan.bytes;
        if (pool->stats().claims != kRecoveryClaims) {
            state.SkipWithError("recovered the wrong number of claims");
            return;
        }
        state.PauseTiming();
        pool.reset();  // freeing 1M shares is not recovery
        state.ResumeTiming();
    }
    state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(records));
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
    state.counters["claims"] = benchmark::Counter(static_cast<double>(kRecoveryClaims));
    state.counters["journal_MB"] = benchmark::Counter(static_cast<double>(bytes) / 1e6);
}

BENCHMARK(BM_Recover1MClaims)->Unit(benchmark::kMillisecond)->Iterations(3);

// --- the proof archive ---------------------------------------------------------------------

constexpr std::uint32_t kArchivedShares = 10;

// A memory store of one SET, journaled with fsync off (so that the journal's syncs do not hide
// the archive's cost): packets of 10 shares, each claimed out, refunded at its deadline (and
// then archived) and retired. Arg: 0 archive off, 1 on (proof_retention 7 days). Items: claims.
// Counters: bytes_per_packet, the archive file's size over the packets it holds.
void BM_StoreClaimsArchive(benchmark::State& state) {
    const bool archive = state.range(0) != 0;
    ScratchDir dir;
    MemoryStoreOptions o;
    o.sets = {0};
    o.journal_dir = dir.path() + "/store";
    o.journal.fsync = FsyncPolicy::off;
    o.journal.max_pending = 1U << 20;
    o.pool.retention = Time{0};
    o.proof_retention = std::chrono::seconds{archive ? 7 * 86400 : 0};
    auto opened = MemoryStore::open(o, Time{1});
    if (!opened) {
        state.SkipWithError(opened.error().c_str());
        return;
    }
    std::unique_ptr<MemoryStore> store = std::move(*opened);
    std::int64_t now = 1;
    UserId user = 1;
    PacketId packet{};
    std::uint32_t left = 0;
    std::uint64_t refused = 0;
    std::uint64_t backlogged = 0;
    for (auto _ : state) {
        if (left == 0) {
            ++now;  // the last packet's deadline: refunded (archived); the one before retired
            (void)store->expire(0, ExpireOp{0, Time{now}});
            if (archive && store->archive()->backlogged()) {
                // The store would refuse the create: at this rate the archive is the bottleneck,
                // and waiting for it is what sustained claims cost.
                (void)store->archive()->flush(std::chrono::minutes{1});
                ++backlogged;
            }
            auto made = store->create(0, CreateOp{0, 1, 0, Cents{1000}, kArchivedShares,
                                                  SplitPolicy::double_mean, Time{now + 1}});
            packet = made.get().result ? made.get().result->packet : PacketId{};
            left = kArchivedShares;
        }
        auto got = store->claim(0, ClaimOp{packet, false, user++, 0, Time{now}});
        refused += got.get().result ? 0U : 1U;
        --left;
    }
    state.SetItemsProcessed(state.iterations());
    state.counters["refused"] = benchmark::Counter(static_cast<double>(refused));
    state.counters["waits"] = benchmark::Counter(static_cast<double>(backlogged));
    if (archive) {
        const std::uint64_t archived = store->archive()->stats().archived;
        state.counters["dropped"] =
            benchmark::Counter(static_cast<double>(store->archive()->stats().dropped));
        store.reset();  // commits the archive and folds its write-ahead log into the file
        const auto bytes = std::filesystem::file_size(o.journal_dir + "/proofs.sqlite");
        state.counters["bytes_per_packet"] = benchmark::Counter(
            archived == 0 ? 0.0 : static_cast<double>(bytes) / static_cast<double>(archived));
    }
}

BENCHMARK(BM_StoreClaimsArchive)->ArgName("archive")->Arg(0)->Arg(1)->UseRealTime();

// The archive's writer alone: packets of 10 claims put and committed (one transaction per
// 200 ms, synchronous=FULL). Items: packets.
void BM_ArchiveCommit(benchmark::State& state) {
    ScratchDir dir;
    ProofArchiveOptions options;
    options.path = dir.path() + "/proofs.sqlite";
    auto opened = ProofArchive::open(std::move(options));
    if (!opened) {
        state.SkipWithError(opened.error().c_str());
        return;
    }
    ProofArchive& archive = **opened;
    PacketInfo info;
    info.total = Cents{1000};
    info.count = kArchivedShares;
    info.claimed_count = kArchivedShares;
    info.state = PacketState::sold_out;
    info.seed = std::array<std::uint8_t, 32>{1};
    for (std::uint32_t k = 0; k < kArchivedShares; ++k) {
        info.claims.push_back(ClaimRecord{1000 + k, Cents{100}});
    }
    std::uint64_t id = 0;
    for (auto _ : state) {
        info.id = PacketId{(++id * 7919) << 13};  // keys in no order, as slots are reused
        while (!archive.put(PacketInfo{info}, Time{static_cast<std::int64_t>(id)})) {
            (void)archive.flush(std::chrono::minutes{1});
        }
    }
    (void)archive.flush(std::chrono::minutes{1});
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ArchiveCommit)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
