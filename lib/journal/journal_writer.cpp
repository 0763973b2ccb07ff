// JournalWriter: the producer side (`append`, under the mutex) encodes records into `pending_`;
// the writer thread swaps that buffer out, writes it at the end of the current segment, syncs
// per policy and publishes the durable sequence. Buffers are swapped, never freed, so the steady
// state allocates nothing.
#include <pthread.h>

#include <algorithm>
#include <cerrno>

#include "byte_io.hpp"
#include "redpacket/assert.hpp"
#include "redpacket/journal.hpp"

namespace redpacket {

namespace {

template <class T>
void raise_to(std::atomic<T>& a, T v) noexcept {
    T cur = a.load(std::memory_order_relaxed);
    while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
}

JournalError io_error(std::string file, std::error_code ec, std::string message) {
    return JournalError{Error::io_error, ec, std::move(file), 0, std::move(message)};
}

// The outcome of one attempt to make records durable.
struct Attempt {
    bool ok;
    std::error_code error;
};

}  // namespace

// State touched only by the writer thread (and by open/close before and after it runs), and
// the steps of one attempt. A nested class: it reaches the writer's options and counters.
struct JournalWriter::Private {
    explicit Private(JournalWriter& owner) noexcept : w{owner} {}

    Attempt roll();
    Attempt commit(std::span<const std::byte> bytes, std::size_t count);
    Attempt write_batch();

    JournalWriter& w;
    std::unique_ptr<JournalFile> file;
    std::string file_name;
    std::uint64_t offset{0};       // end of the last durable record in `file`
    bool needs_truncate{false};    // a failed write or sync may have left bytes after `offset`
    std::vector<std::byte> batch;  // whole encoded records, not yet durable, in order
    std::uint64_t batch_first{0};
    std::size_t batch_count{0};
};

std::string_view to_string(FsyncPolicy p) noexcept {
    switch (p) {
        case FsyncPolicy::always:
            return "always";
        case FsyncPolicy::batch:
            return "batch";
        case FsyncPolicy::off:
            return "off";
    }
    return "unknown";
}

std::optional<FsyncPolicy> parse_fsync_policy(std::string_view name) noexcept {
    for (const FsyncPolicy p : {FsyncPolicy::always, FsyncPolicy::batch, FsyncPolicy::off}) {
        if (name == to_string(p)) {
            return p;
        }
    }
    return std::nullopt;
}

std::expected<std::unique_ptr<JournalWriter>, JournalError> JournalWriter::open(
    JournalFileSystem& fs, std::string dir, std::uint64_t next_sequence,
    JournalWriterOptions options) {
    if (next_sequence == 0 || options.max_batch == 0 || options.max_pending == 0 ||
        options.segment_bytes == 0 || options.retry_min.count() <= 0 ||
        options.retry_max < options.retry_min) {
        return std::unexpected(JournalError{
            Error::invalid_argument, {}, dir, 0, "journal writer options out of range"});
    }
    if (auto ok = fs.create_dirs(dir); !ok) {
        return std::unexpected(io_error(dir, ok.error(), "cannot create the journal directory"));
    }
    const std::string path = dir + "/" + segment_name(next_sequence);
    auto file = fs.open(path, OpenMode::write);
    if (!file) {
        return std::unexpected(io_error(path, file.error(), "cannot open the journal segment"));
    }
    const auto size = (*file)->size();
    if (!size) {
        return std::unexpected(io_error(path, size.error(), "cannot stat the journal segment"));
    }
    if (*size != 0) {
        return std::unexpected(JournalError{
            Error::already_exists, {}, path, 0, "segment already holds records: recover first"});
    }
    if (options.fsync != FsyncPolicy::off) {
        if (auto ok = fs.sync_dir(dir); !ok) {
            return std::unexpected(io_error(dir, ok.error(), "cannot sync the journal directory"));
        }
    }
    return std::unique_ptr<JournalWriter>{
        new JournalWriter(fs, std::move(dir), next_sequence, std::move(options), std::move(*file))};
}

JournalWriter::JournalWriter(JournalFileSystem& fs, std::string dir, std::uint64_t next_sequence,
                             JournalWriterOptions options, std::unique_ptr<JournalFile> file)
    : fs_{fs},
      dir_{std::move(dir)},
      options_{std::move(options)},
      state_{std::make_unique<Private>(*this)},
      next_sequence_{next_sequence},
      durable_{next_sequence - 1},
      last_{next_sequence - 1} {
    state_->file = std::move(file);
    state_->file_name = dir_ + "/" + segment_name(next_sequence);
    state_->batch_first = next_sequence;
    counters_.segments.store(1, std::memory_order_relaxed);
    if (!options_.driven) {
        thread_ = std::thread{[this] {
            pthread_setname_np(pthread_self(), "rp-journal");  // for ps, top and perf
            run();
        }};
    }
}

JournalWriter::~JournalWriter() { (void)close(); }

template <class Encode>
std::expected<std::uint64_t, Error> JournalWriter::enqueue(std::size_t size, Admission admission,
                                                           Encode&& encode) {
    bool wake = false;
    std::uint64_t sequence = 0;
    {
        const std::lock_guard lock{mutex_};
        if (stopping_) {
            return std::unexpected(Error::closed);
        }
        if (admission == Admission::bounded &&
            next_sequence_ - 1 - durable_.load(std::memory_order_relaxed) >= options_.max_pending) {
            counters_.refused.fetch_add(1, std::memory_order_relaxed);
            return std::unexpected(Error::queue_full);
        }
        sequence = next_sequence_;
        REDPACKET_ASSERT(sequence > durable_.load(std::memory_order_relaxed));  // never durable yet
        const std::size_t at = pending_.size();
        pending_.resize(at + size);  // may throw before anything changed
        if (encode(sequence, std::span<std::byte>{pending_}.subspan(at)) != size) {
            pending_.resize(at);
            return std::unexpected(Error::invalid_argument);
        }
        if (pending_count_ == 0) {
            pending_first_ = sequence;
            wake = true;
        }
        ++pending_count_;
        wake = wake || pending_count_ == options_.max_batch;
        ++next_sequence_;
        last_.store(sequence, std::memory_order_release);
        REDPACKET_ASSERT(pending_first_ + pending_count_ == next_sequence_);  // no hole
    }
    if (wake) {
        work_.notify_one();
    }
    return sequence;
}

std::expected<std::uint64_t, Error> JournalWriter::append(const JournalRecord& record,
                                                          Admission admission) {
    if (record.shares.size() > kMaxShares) {
        return std::unexpected(Error::invalid_count);
    }
    if (record.allowed.size() > kMaxAllowedClaimers) {
        return std::unexpected(Error::invalid_argument);
    }
    return enqueue(record_size(record), admission,
                   [&record](std::uint64_t sequence, std::span<std::byte> out) {
                       return encode_event(sequence, record.shard, record.request_id,
                                           to_event(record), out);
                   });
}

std::expected<std::uint64_t, Error> JournalWriter::append(const PoolEvent& event, ShardId shard,
                                                          std::uint64_t request_id,
                                                          Admission admission) {
    if (event.shares.size() > kMaxShares) {
        return std::unexpected(Error::invalid_count);
    }
    if (event.allowed.size() > kMaxAllowedClaimers) {
        return std::unexpected(Error::invalid_argument);
    }
    return enqueue(record_size(event.shares.size(), event.allowed.size(), event.seed != nullptr),
                   admission, [&](std::uint64_t sequence, std::span<std::byte> out) {
                       return encode_event(sequence, shard, request_id, event, out);
                   });
}

bool JournalWriter::has_room(std::size_t records) const noexcept {
    const std::uint64_t unsynced = last_sequence() - durable_sequence();
    return unsynced + records <= options_.max_pending;
}

std::error_code JournalWriter::last_error() const noexcept {
    return {last_errno_.load(std::memory_order_relaxed), std::system_category()};
}

JournalWriterStats JournalWriter::stats() const noexcept {
    constexpr auto r = std::memory_order_relaxed;
    return JournalWriterStats{counters_.records.load(r),  counters_.bytes.load(r),
                              counters_.batches.load(r),  counters_.syncs.load(r),
                              counters_.failures.load(r), counters_.max_batch.load(r),
                              counters_.refused.load(r),  counters_.segments.load(r)};
}

bool JournalWriter::wait_durable(std::uint64_t sequence, std::chrono::milliseconds timeout) {
    std::unique_lock lock{mutex_};
    return durable_cv_.wait_for(lock, timeout, [&] { return durable_sequence() >= sequence; });
}

std::expected<void, JournalError> JournalWriter::close() {
    const std::lock_guard close_lock{close_mutex_};
    {
        const std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    work_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (options_.driven && !closed_) {
        std::error_code error;
        for (std::uint32_t i = 0; i < options_.close_attempts && pump(); ++i) {
            error = failed() ? last_error() : std::error_code{};
        }
        const std::lock_guard lock{mutex_};
        if (state_->batch_count + pending_count_ > 0) {
            give_up(error);
        }
    }
    closed_ = true;
    const std::lock_guard lock{mutex_};
    if (close_error_) {
        return std::unexpected(*close_error_);
    }
    return {};
}

// --- the writer thread ---------------------------------------------------------------------

// Starts the next segment at the batch's first sequence.
Attempt JournalWriter::Private::roll() {
    const std::string path = w.dir_ + "/" + segment_name(batch_first);
    auto next = w.fs_.open(path, OpenMode::write);
    if (!next) {
        return {false, next.error()};
    }
    if (w.options_.fsync != FsyncPolicy::off) {
        if (auto ok = w.fs_.sync_dir(w.dir_); !ok) {
            return {false, ok.error()};
        }
    }
    file = std::move(*next);
    file_name = path;
    offset = 0;
    needs_truncate = true;  // a failed earlier attempt may have left bytes in it
    w.counters_.segments.fetch_add(1, std::memory_order_relaxed);
    return {true, {}};
}

// Writes `count` whole records at the end of the segment, syncs per policy, publishes.
Attempt JournalWriter::Private::commit(std::span<const std::byte> bytes, std::size_t count) {
    REDPACKET_ASSERT(count > 0 && count <= batch_count && !bytes.empty());
    if (offset >= w.options_.segment_bytes) {
        if (const Attempt a = roll(); !a.ok) {
            return a;
        }
    }
    if (needs_truncate) {
        if (auto ok = file->truncate(offset); !ok) {
            return {false, ok.error()};
        }
        needs_truncate = false;
    }
    if (auto ok = file->write_at(offset, bytes); !ok) {
        needs_truncate = true;
        return {false, ok.error()};
    }
    Counters& c = w.counters_;
    if (w.options_.fsync != FsyncPolicy::off) {
        if (auto ok = file->sync(); !ok) {
            needs_truncate = true;
            return {false, ok.error()};
        }
        c.syncs.fetch_add(1, std::memory_order_relaxed);
    }
    offset += bytes.size();
    const std::uint64_t last = batch_first + count - 1;
    // Durable advances in order, by exactly what was written: no record is skipped or reported
    // twice.
    REDPACKET_ASSERT(last >= batch_first && batch_first == w.durable_.load() + 1);
    batch_first += count;
    batch_count -= count;
    c.records.fetch_add(count, std::memory_order_relaxed);
    c.bytes.fetch_add(bytes.size(), std::memory_order_relaxed);
    c.batches.fetch_add(1, std::memory_order_relaxed);
    raise_to(c.max_batch, std::uint64_t{count});
    w.failed_.store(false, std::memory_order_release);
    w.durable_.store(last, std::memory_order_release);
    return {true, {}};
}

// One attempt at the whole batch (fsync=always: record by record, each published alone).
Attempt JournalWriter::Private::write_batch() {
    if (w.options_.fsync != FsyncPolicy::always) {
        const Attempt a = commit(batch, batch_count);
        if (a.ok) {
            batch.clear();
        }
        return a;
    }
    std::size_t done = 0;
    Attempt a{true, {}};
    while (batch_count > 0) {
        const auto length = detail::load_le<std::uint32_t>(batch.data() + done);
        a = commit(std::span<const std::byte>{batch}.subspan(done, length), 1);
        if (!a.ok) {
            break;
        }
        done += length;
        if (w.options_.on_batch) {
            w.options_.on_batch();
        }
    }
    batch.erase(batch.begin(), batch.begin() + static_cast<std::ptrdiff_t>(done));
    return a;
}

// Waits for work (under fsync=batch: until max_delay after the last batch started, or
// max_batch pending) and moves what is pending behind any records still being retried.
// Returns false once stopping with nothing left.
bool JournalWriter::next_batch(std::chrono::steady_clock::time_point& last_start) {
    Private& w = *state_;
    std::unique_lock lock{mutex_};
    if (w.batch_count == 0) {
        work_.wait(lock, [&] { return pending_count_ > 0 || stopping_; });
        if (pending_count_ == 0) {
            return false;
        }
        if (options_.fsync == FsyncPolicy::batch && options_.max_delay.count() > 0) {
            work_.wait_until(lock, last_start + options_.max_delay,
                             [&] { return pending_count_ >= options_.max_batch || stopping_; });
        }
        last_start = std::chrono::steady_clock::now();
    }
    take_pending();
    return true;
}

void JournalWriter::take_pending() {
    Private& w = *state_;
    if (pending_count_ > 0) {
        if (w.batch_count == 0) {
            w.batch.swap(pending_);
            w.batch_first = pending_first_;
        } else {
            w.batch.insert(w.batch.end(), pending_.begin(), pending_.end());
        }
        pending_.clear();
        REDPACKET_ASSERT(w.batch_first + w.batch_count == pending_first_);  // retried ones first
        w.batch_count += pending_count_;
        pending_count_ = 0;
    }
}

void JournalWriter::attempted(bool ok, std::error_code error) {
    if (!ok) {
        failed_.store(true, std::memory_order_release);
        last_errno_.store(error.value(), std::memory_order_relaxed);
        counters_.failures.fetch_add(1, std::memory_order_relaxed);
    }
    if (options_.on_batch && (!ok || options_.fsync != FsyncPolicy::always)) {
        options_.on_batch();
    }
    {
        const std::lock_guard lock{mutex_};  // so that a waiter cannot miss the notify
    }
    durable_cv_.notify_all();
}

void JournalWriter::give_up(std::error_code error) {
    Private& w = *state_;
    // Leave no record behind that was reported as not durable (best effort).
    if (w.needs_truncate && w.file->truncate(w.offset)) {
        (void)w.file->sync();
    }
    close_error_ =
        JournalError{Error::io_error, error, w.file_name, w.offset,
                     "journal closed with " + std::to_string(w.batch_count + pending_count_) +
                         " records not durable"};
}

bool JournalWriter::pump() {
    REDPACKET_ASSERT(options_.driven);
    Private& w = *state_;
    {
        const std::lock_guard lock{mutex_};
        if (w.batch_count == 0 && pending_count_ == 0) {
            return false;
        }
        take_pending();
    }
    const Attempt a = w.write_batch();
    attempted(a.ok, a.error);
    return true;
}

void JournalWriter::run() {
    Private& w = *state_;
    auto backoff = options_.retry_min;
    std::uint32_t attempts_after_stop = 0;
    // A writer that has just opened counts as having just synced: the first records gather too.
    auto last_start = std::chrono::steady_clock::now();
    while (next_batch(last_start)) {
        const Attempt a = w.write_batch();
        attempted(a.ok, a.error);
        if (a.ok) {
            backoff = options_.retry_min;
            continue;
        }
        {
            const std::lock_guard lock{mutex_};
            if (stopping_ && ++attempts_after_stop >= options_.close_attempts) {
                give_up(a.error);
                break;
            }
        }
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, options_.retry_max);
    }
}

// --- PoolJournal ---------------------------------------------------------------------------

void PoolJournal::on_pool_event(const PoolEvent& event) noexcept {
    const bool requested = event.kind == PoolEventKind::created ||
                           event.kind == PoolEventKind::claimed ||
                           event.kind == PoolEventKind::shake_issued;
    try {
        const auto sequence =
            writer_.append(event, shard_, requested ? request_id_ : 0, Admission::unbounded);
        if (sequence) {
            last_sequence_ = *sequence;
            return;
        }
    } catch (...) {  // std::bad_alloc growing the pending buffer: counted, never silent
    }
    ++lost_;
}

}  // namespace redpacket
