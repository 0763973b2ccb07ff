#include "redpacket/proof_archive.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "redpacket/assert.hpp"

namespace redpacket {

namespace {

constexpr std::uint8_t kRowVersion = 1;
// The schema's shake index and its query write the shake bit as 4096.
static_assert((std::uint64_t{1} << kPacketShardBits) == 4096);
/// Rows deleted per statement, and statements per batch, so that one expiry never holds the
/// writer for long (what is left goes with the next batch).
constexpr int kDeleteChunk = 10'000;
constexpr int kDeleteChunks = 10;

template <class T>
void put_le(std::string& out, T v) {
    auto u = static_cast<std::make_unsigned_t<T>>(v);
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        out.push_back(static_cast<char>(u & 0xFFU));
        u = static_cast<decltype(u)>(u >> 8U);
    }
}

/// Reads little-endian integers from a row; `ok` turns false past its end.
struct Reader {
    std::string_view in;
    bool ok{true};
    template <class T>
    T get() {
        using U = std::make_unsigned_t<T>;
        if (in.size() < sizeof(T)) {
            ok = false;
            return T{};
        }
        U u = 0;
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            u = static_cast<U>(u | (static_cast<U>(static_cast<std::uint8_t>(in[i])) << (8U * i)));
        }
        in.remove_prefix(sizeof(T));
        return static_cast<T>(u);
    }
};

// A queued packet: encoded by the writer thread, not by the store's thread that finished it.
struct Row {
    std::uint64_t packet;
    std::int64_t finished_ms;
    PacketInfo info;
    bool forgotten{false};  // a tombstone: delete the packet's row (forget)
};

std::string sqlite_error(sqlite3* db, const std::string& what) {
    return what + ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

}  // namespace

struct ProofArchive::Impl {
    sqlite3* writer{nullptr};  // the writer thread's connection
    sqlite3* reader{nullptr};  // gets, under read_mu
    // Prepared statements, finalized in ~Impl before the connections close.
    sqlite3_stmt* insert{nullptr};
    sqlite3_stmt* remove{nullptr};
    sqlite3_stmt* erase{nullptr};
    sqlite3_stmt* select{nullptr};
    sqlite3_stmt* select_shake{nullptr};
    std::mutex read_mu;

    mutable std::mutex mu;
    std::condition_variable wake;       // the writer: rows, a flush, an expiry or the stop
    std::condition_variable committed;  // flush waiters
    std::deque<Row> queue;
    // The batch being written: changed only under `mu`, read by gets until it is committed.
    std::vector<Row> writing;
    std::uint64_t put_seq{0};        // puts accepted (and expiries asked) so far
    std::uint64_t committed_seq{0};  // of them, committed
    std::uint64_t flush_wanted{0};
    bool last_commit_ok{true};
    std::int64_t expire_before{INT64_MIN};  // delete rows finished before this
    bool expire_asked{false};               // by expire(): do it now, not with the next batch
    bool stop{false};
    ProofArchiveStats stats;
    // queue and writing's sizes, for backlogged() without the lock
    std::atomic<std::size_t> queued{0};
    std::thread thread;

    ~Impl() {
        sqlite3_finalize(insert);
        sqlite3_finalize(remove);
        sqlite3_finalize(erase);
        sqlite3_finalize(select);
        sqlite3_finalize(select_shake);
        sqlite3_close(reader);
        sqlite3_close(writer);
    }

    void fail(const std::string& why) {
        std::lock_guard lk(mu);
        ++stats.errors;
        stats.last_error = why;
    }

    /// One batch in one transaction; false (and counted) if it failed.
    bool write(const std::vector<Row>& rows, std::int64_t before) {
        bool ok = sqlite3_exec(writer, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK;
        std::string bytes;
        for (const Row& r : rows) {
            if (!ok) {
                break;
            }
            if (r.forgotten) {
                sqlite3_reset(erase);
                sqlite3_bind_int64(erase, 1, static_cast<sqlite3_int64>(r.packet));
                ok = sqlite3_step(erase) == SQLITE_DONE;
                continue;
            }
            bytes = ProofArchive::encode(r.info);
            sqlite3_reset(insert);
            sqlite3_bind_int64(insert, 1, static_cast<sqlite3_int64>(r.packet));
            sqlite3_bind_int64(insert, 2, r.finished_ms);
            sqlite3_bind_blob(insert, 3, bytes.data(), static_cast<int>(bytes.size()),
                              SQLITE_TRANSIENT);
            ok = sqlite3_step(insert) == SQLITE_DONE;
        }
        std::uint64_t deleted = 0;
        for (int chunk = 0; ok && before != INT64_MIN && chunk < kDeleteChunks; ++chunk) {
            sqlite3_reset(remove);
            sqlite3_bind_int64(remove, 1, before);
            ok = sqlite3_step(remove) == SQLITE_DONE;
            const int changed = sqlite3_changes(writer);
            deleted += static_cast<std::uint64_t>(changed);
            if (changed < kDeleteChunk) {
                break;
            }
        }
        ok = ok && sqlite3_exec(writer, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK;
        if (!ok) {
            const std::string why = sqlite_error(writer, "proof archive write");
            (void)sqlite3_exec(writer, "ROLLBACK", nullptr, nullptr, nullptr);
            fail(why);
            return false;
        }
        std::lock_guard lk(mu);
        stats.archived += rows.size();
        stats.deleted += deleted;
        return true;
    }

    /// A packet kept since `oldest` (unix ms) that `match`es: the newest put of one not yet
    /// committed (the queue, then the batch being written), else the row `s` (bound to `key`,
    /// `oldest`) selects.
    template <class Match>
    std::expected<std::optional<PacketInfo>, Error> read(sqlite3_stmt* s, std::uint64_t key,
                                                         std::int64_t oldest, Match match) {
        {
            std::lock_guard lk(mu);
            ++stats.reads;
            const auto newest = [&](auto first, auto last) -> const Row* {
                const auto it = std::find_if(first, last, [&](const Row& r) { return match(r.packet); });
                return it == last ? nullptr : &*it;
            };
            const Row* row = newest(queue.rbegin(), queue.rend());
            if (row == nullptr) {
                row = newest(writing.rbegin(), writing.rend());
            }
            if (row != nullptr) {
                if (row->forgotten || row->finished_ms < oldest) {
                    return std::optional<PacketInfo>{};
                }
                ++stats.hits;
                return std::optional<PacketInfo>{row->info};
            }
        }
        std::lock_guard rk(read_mu);
        sqlite3_bind_int64(s, 1, static_cast<sqlite3_int64>(key));
        sqlite3_bind_int64(s, 2, oldest);
        const int rc = sqlite3_step(s);
        std::optional<PacketInfo> info;
        PacketId id{};
        if (rc == SQLITE_ROW) {
            id = PacketId{static_cast<std::uint64_t>(sqlite3_column_int64(s, 0))};
            const auto* blob = static_cast<const char*>(sqlite3_column_blob(s, 1));
            info = ProofArchive::decode(
                id, std::string_view(blob != nullptr ? blob : "",
                                     static_cast<std::size_t>(sqlite3_column_bytes(s, 1))));
        }
        // Reset at once: a statement left on a row keeps a read transaction open, which stops
        // WAL checkpoints (the -wal file would grow).
        sqlite3_reset(s);
        if (rc == SQLITE_DONE) {
            return std::optional<PacketInfo>{};
        }
        if (rc != SQLITE_ROW) {
            fail(sqlite_error(reader, "proof archive read"));
            return std::unexpected(Error::unavailable);
        }
        if (!info) {
            fail("proof archive: the row of packet " + std::to_string(id.value) + " does not decode");
            return std::unexpected(Error::corrupt);
        }
        std::lock_guard lk(mu);
        ++stats.hits;
        return info;
    }

    void run(std::chrono::milliseconds interval) {
        std::unique_lock lk(mu);
        for (;;) {
            wake.wait_for(lk, interval,
                          [&] { return stop || flush_wanted > committed_seq || expire_asked; });
            expire_asked = false;
            writing.assign(std::make_move_iterator(queue.begin()), std::make_move_iterator(queue.end()));
            queue.clear();  // `queued` still counts them until they are committed
            const std::vector<Row>& rows = writing;
            const std::uint64_t upto = put_seq;
            const std::int64_t before = std::exchange(expire_before, INT64_MIN);
            const bool done = stop;
            lk.unlock();
            const bool ok = rows.empty() && before == INT64_MIN ? true : write(rows, before);
            lk.lock();
            last_commit_ok = ok;
            if (ok) {
                committed_seq = upto;
                writing.clear();
            } else {
                // Rolled back: the rows go back to the front and are tried again with the next
                // batch; a flush meanwhile fails (and so does the snapshot that asked for it).
                queue.insert(queue.begin(), std::make_move_iterator(writing.begin()),
                             std::make_move_iterator(writing.end()));
                writing.clear();
                expire_before = std::max(expire_before, before);
                if (done) {
                    return;  // stopping: what could not be written stays in the journal
                }
                wake.wait_for(lk, interval, [&] { return stop; });  // no busy retry
            }
            stats.pending = queue.size();  // `writing` is empty again here
            queued.store(queue.size(), std::memory_order_relaxed);
            committed.notify_all();
            if (done && queue.empty()) {
                return;
            }
        }
    }
};

std::expected<std::unique_ptr<ProofArchive>, std::string> ProofArchive::open(
    ProofArchiveOptions options) {
    std::unique_ptr<ProofArchive> a(new ProofArchive(std::move(options)));
    Impl& i = *a->impl_;
    const std::string& path = a->options_.path;
    const std::string cache = "PRAGMA cache_size=-" + std::to_string(a->options_.cache_kib);
    for (sqlite3** db : {&i.writer, &i.reader}) {
        if (sqlite3_open_v2(path.c_str(), db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                            nullptr) != SQLITE_OK ||
            sqlite3_busy_timeout(*db, 2000) != SQLITE_OK ||
            sqlite3_exec(*db, cache.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
            return std::unexpected(sqlite_error(*db, "cannot open the proof archive " + path));
        }
    }
    // 1 KiB pages (a new file only): under a closed-loop load of one-share packets, the
    // archive thread handed 4.5-9.5 KB to write calls per ~184-byte row with 4 KiB
    // pages and 0.6-0.7 KB with 1 KiB, the page cache (cache_kib) the same 2 MiB. Why is not
    // established (docs/perf/archive-cost-2026-12-08.md).
    const char* schema =
        "PRAGMA page_size=1024; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
        "CREATE TABLE IF NOT EXISTS proofs(packet INTEGER PRIMARY KEY, finished_ms INTEGER NOT "
        "NULL, info BLOB NOT NULL);"
        "CREATE INDEX IF NOT EXISTS proofs_by_finish ON proofs(finished_ms);"
        // Shake packets by compact id (a shake response carries only that): shake rows only.
        "CREATE INDEX IF NOT EXISTS proofs_shake_by_compact ON proofs(packet & 4294967295) "
        "WHERE packet & 4096;";
    if (sqlite3_exec(i.writer, schema, nullptr, nullptr, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(i.writer, "INSERT OR REPLACE INTO proofs VALUES(?1, ?2, ?3)", -1,
                           &i.insert, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(i.writer,
                           ("DELETE FROM proofs WHERE packet IN (SELECT packet FROM proofs WHERE "
                            "finished_ms < ?1 LIMIT " +
                            std::to_string(kDeleteChunk) + ")")
                               .c_str(),
                           -1, &i.remove, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(i.writer, "DELETE FROM proofs WHERE packet = ?1", -1, &i.erase,
                           nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(i.reader,
                           "SELECT packet, info FROM proofs WHERE packet = ?1 AND finished_ms >= ?2",
                           -1, &i.select, nullptr) != SQLITE_OK ||
        sqlite3_prepare_v2(i.reader,
                           "SELECT packet, info FROM proofs WHERE packet & 4096 AND "
                           "(packet & 4294967295) = ?1 AND finished_ms >= ?2 "
                           "ORDER BY packet DESC LIMIT 1",
                           -1, &i.select_shake, nullptr) != SQLITE_OK) {
        return std::unexpected(sqlite_error(i.writer, "cannot set up the proof archive " + path));
    }
    i.thread = std::thread([&i, interval = a->options_.commit_interval] {
        pthread_setname_np(pthread_self(), "rp-archive");  // for ps, top and perf
        i.run(interval);
    });
    return a;
}

ProofArchive::ProofArchive(ProofArchiveOptions options)
    : options_{std::move(options)}, impl_{std::make_unique<Impl>()} {}

ProofArchive::~ProofArchive() {
    {
        std::lock_guard lk(impl_->mu);
        impl_->stop = true;
    }
    impl_->wake.notify_one();
    if (impl_->thread.joinable()) {
        impl_->thread.join();
    }
}

bool ProofArchive::put(PacketInfo&& info, Time finished_at) {
    {
        std::lock_guard lk(impl_->mu);
        if (impl_->queue.size() + impl_->writing.size() >= options_.max_pending) {
            ++impl_->stats.dropped;
            return false;
        }
        info.allowed = {};  // not archived: no reason to hold it in the queue
        impl_->queue.push_back(Row{info.id.value, finished_at.count(), std::move(info)});
        ++impl_->put_seq;
        impl_->stats.pending = impl_->queue.size() + impl_->writing.size();
        impl_->queued.store(impl_->queue.size() + impl_->writing.size(), std::memory_order_relaxed);
        // Rows past their retention go with the next batch.
        const std::int64_t before = finished_at.count() - std::chrono::milliseconds{options_.retention}.count();
        impl_->expire_before = std::max(impl_->expire_before, before);
    }
    return true;
}

void ProofArchive::forget(PacketId id) {
    std::lock_guard lk(impl_->mu);
    impl_->queue.push_back(Row{id.value, INT64_MAX, PacketInfo{}, true});
    ++impl_->put_seq;
    impl_->stats.pending = impl_->queue.size() + impl_->writing.size();
    impl_->queued.store(impl_->queue.size() + impl_->writing.size(), std::memory_order_relaxed);
}

std::expected<std::optional<PacketInfo>, Error> ProofArchive::get(PacketId id) {
    return impl_->read(impl_->select, id.value, oldest_kept(),
                       [&](std::uint64_t packet) { return packet == id.value; });
}

std::expected<std::optional<PacketInfo>, Error> ProofArchive::find_shake(std::uint32_t compact) {
    if (!is_shake_packet(PacketId{compact})) {
        return std::optional<PacketInfo>{};
    }
    return impl_->read(impl_->select_shake, compact, oldest_kept(), [&](std::uint64_t packet) {
        return (packet & UINT32_MAX) == compact;
    });
}

std::int64_t ProofArchive::oldest_kept() const {
    const Time now = options_.clock ? options_.clock()
                                    : std::chrono::duration_cast<Time>(
                                          std::chrono::system_clock::now().time_since_epoch());
    return now.count() - std::chrono::milliseconds{options_.retention}.count();
}

bool ProofArchive::flush(std::chrono::milliseconds wait) {
    std::unique_lock lk(impl_->mu);
    const std::uint64_t target = impl_->put_seq;
    impl_->flush_wanted = std::max(impl_->flush_wanted, target);
    impl_->wake.notify_one();
    const bool done = impl_->committed.wait_for(
        lk, wait, [&] { return impl_->committed_seq >= target || impl_->stop; });
    return done && impl_->committed_seq >= target && impl_->last_commit_ok;
}

void ProofArchive::expire(Time now) {
    {
        std::lock_guard lk(impl_->mu);
        impl_->expire_before = std::max(
            impl_->expire_before, now.count() - std::chrono::milliseconds{options_.retention}.count());
        impl_->expire_asked = true;
        ++impl_->put_seq;  // a flush after this call waits for the deletion too
    }
    impl_->wake.notify_one();
}

bool ProofArchive::backlogged() const noexcept {
    return impl_->queued.load(std::memory_order_relaxed) >= options_.max_pending / 2;
}

ProofArchiveStats ProofArchive::stats() const {
    std::lock_guard lk(impl_->mu);
    return impl_->stats;
}

std::string ProofArchive::encode(const PacketInfo& info) {
    std::string out;
    out.reserve(104 + 16 * info.claims.size());
    put_le(out, kRowVersion);
    put_le(out, info.sender);
    put_le(out, static_cast<std::uint8_t>(info.policy));
    put_le(out, static_cast<std::uint8_t>(info.state));
    put_le(out, info.total.value);
    put_le(out, info.count);
    put_le(out, info.claimed_count);
    put_le(out, info.claimed_amount.value);
    put_le(out, info.remaining.value);
    put_le(out, info.refunded.value);
    put_le(out, info.expires_at.count());
    put_le(out, static_cast<std::uint8_t>(info.seed ? 1 : 0));
    const std::array<std::uint8_t, 32> seed = info.seed.value_or(std::array<std::uint8_t, 32>{});
    out.append(reinterpret_cast<const char*>(seed.data()), seed.size());
    put_le(out, info.min_share.value);
    put_le(out, static_cast<std::uint32_t>(info.claims.size()));
    for (const ClaimRecord& c : info.claims) {
        put_le(out, c.user);
        put_le(out, c.amount.value);
    }
    return out;
}

std::optional<PacketInfo> ProofArchive::decode(PacketId id, std::string_view bytes) {
    Reader r{bytes};
    if (r.get<std::uint8_t>() != kRowVersion) {
        return std::nullopt;
    }
    PacketInfo info;
    info.id = id;
    info.sender = r.get<std::uint64_t>();
    info.policy = static_cast<SplitPolicy>(r.get<std::uint8_t>());
    info.state = static_cast<PacketState>(r.get<std::uint8_t>());
    info.total = Cents{r.get<std::int64_t>()};
    info.count = r.get<std::uint32_t>();
    info.claimed_count = r.get<std::uint32_t>();
    info.claimed_amount = Cents{r.get<std::int64_t>()};
    info.remaining = Cents{r.get<std::int64_t>()};
    info.refunded = Cents{r.get<std::int64_t>()};
    info.expires_at = Time{r.get<std::int64_t>()};
    const bool has_seed = r.get<std::uint8_t>() != 0;
    if (!r.ok || r.in.size() < 32) {
        return std::nullopt;
    }
    std::array<std::uint8_t, 32> seed{};
    std::memcpy(seed.data(), r.in.data(), seed.size());
    r.in.remove_prefix(seed.size());
    if (has_seed) {
        info.seed = seed;
    }
    info.min_share = Cents{r.get<std::int64_t>()};
    const auto n = r.get<std::uint32_t>();
    if (!r.ok || r.in.size() != std::size_t{n} * 16) {
        return std::nullopt;
    }
    info.claims.reserve(n);
    for (std::uint32_t k = 0; k < n; ++k) {
        const ClaimRecord c{r.get<std::uint64_t>(), Cents{r.get<std::int64_t>()}};
        if (!info.best_luck || c.amount > info.claims[*info.best_luck].amount) {
            info.best_luck = k;
        }
        info.claims.push_back(c);
    }
    return info;
}

}  // namespace redpacket
