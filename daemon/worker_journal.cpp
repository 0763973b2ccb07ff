// Worker, journal side: recovery at start-up, the write-ahead journal of every owned pool,
// holding replies that report money until their records are durable, and periodic snapshots.
//
// Each worker journals its own SETs into `journal_dir/worker-<index>` with its own writer
// thread (group commit). A read's replies are held when that read appended records: they go
// out, in order, once the writer reports the records durable (its batch callback wakes the
// loop through the worker's async handle). Replies of a connection that still has held
// output are held behind it. While the journal is failing (or its queue is full) requests that
// would move money are refused up front; records already appended are retried by the writer
// and their replies leave when they finally are durable — never before.
#include <uv.h>

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "log.hpp"
#include "redpacket/recovery.hpp"
#include "redpacket/snapshot.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

std::string worker_dir(const Config& c, std::uint32_t index) {
    return fmt::format("{}/worker-{}", c.journal_dir, index);
}

// The journal records ids that depend on the SET layout: refuse to recover with another one.
void check_layout(const Config& c) {
    const std::string path = c.journal_dir + "/LAYOUT";
    const std::string want = fmt::format("workers={} sets={} max_packets_per_set={}\n",
                                         c.workers, c.sets, c.max_packets_per_set);
    std::ifstream in(path);
    if (in) {
        std::stringstream have;
        have << in.rdbuf();
        if (have.str() != want) {
            throw std::runtime_error(fmt::format(
                "{} says \"{}\" but this daemon runs with \"{}\": packet ids and SET owners "
                "would not match; start with the same --workers, --sets and "
                "--max-packets-per-set, or use another --journal-dir",
                path, have.str().substr(0, have.str().find('\n')),
                want.substr(0, want.size() - 1)));
        }
        return;
    }
    std::ofstream out(path);
    out << want;
    if (!out) {
        throw std::runtime_error(fmt::format("cannot write {}", path));
    }
}

struct SnapshotWork {
    uv_work_t req{};
    Worker* worker{nullptr};
    redpacket::JournalWriter* writer{nullptr};
    std::string dir;
    std::uint64_t sequence{0};
    std::vector<std::byte> bytes;  // encoded on the loop thread, freed there too
    std::string outcome;           // empty: written
};

}  // namespace

void Worker::open_journal() {
    if (config_.journal_dir.empty()) {
        return;
    }
    auto& fs = redpacket::posix_file_system();
    if (index_ == 0) {
        if (auto made = fs.create_dirs(config_.journal_dir); !made) {
            throw std::runtime_error(fmt::format("cannot create {}: {}", config_.journal_dir,
                                                 made.error().message()));
        }
        check_layout(config_);
    }
    const std::string dir = worker_dir(config_, index_);
    redpacket::RecoveryOptions options;
    options.repair = config_.journal_repair;
    auto recovered = redpacket::recover(
        fs, dir,
        [this](redpacket::ShardId s) {
            return s < pools_.size() ? pools_[s].get() : nullptr;
        },
        options);
    if (!recovered) {
        throw std::runtime_error(fmt::format(
            "journal recovery failed: {}{}", redpacket::describe(recovered.error()),
            config_.journal_repair ? "" : " (--repair cuts the journal at the first bad record)"));
    }
    for (const std::string& w : recovered->warnings) {
        log(LogLevel::warn, "worker {}: journal: {}", index_, w);
    }
    for (const redpacket::CreateRequestEntry& e : recovered->create_requests) {
        remember_create(RequestKey{e.user, e.request_id}, e.packet.value);
    }
    if (recovered->last_sequence > 0) {
        log(LogLevel::info,
            "worker {}: recovered {} records after snapshot {} (sequence {}), {} create requests",
            index_, recovered->records_replayed,
            recovered->snapshot_file.empty() ? "none" : recovered->snapshot_file,
            recovered->last_sequence, recovered->create_requests.size());
    }

    redpacket::JournalWriterOptions wo;
    wo.fsync = *redpacket::parse_fsync_policy(config_.journal_fsync);
    wo.max_delay = std::chrono::microseconds{config_.journal_max_delay_us};
    wo.max_batch = config_.journal_max_batch;
    wo.max_pending = config_.journal_max_pending;
    wo.segment_bytes = config_.journal_segment_bytes;
    wo.on_batch = [this]() noexcept { uv_async_send(&async_); };
    auto writer = redpacket::JournalWriter::open(fs, dir, recovered->last_sequence + 1, wo);
    if (!writer) {
        throw std::runtime_error(redpacket::describe(writer.error()));
    }
    journal_ = std::move(*writer);
    pool_journals_.resize(pools_.size());
    for (const redpacket::ShardId s : owned_sets_) {
        pool_journals_[s] = std::make_unique<redpacket::PoolJournal>(*journal_, s);
        pools_[s]->set_observer(redpacket::PoolObserver::bind(*pool_journals_[s]));
    }
    // Packets that expired while the daemon was down are refunded now (and journaled).
    refresh_clock();
    expire_packets();
    last_snapshot_ms_ = now_ms_;
}

std::uint64_t Worker::journal_mark() noexcept {
    money_out_ = false;
    return journal_ ? journal_->last_sequence() : 0;
}

bool Worker::must_hold(std::uint64_t mark) const noexcept {
    const std::uint64_t last = journal_->last_sequence();
    return last > mark || (money_out_ && last > journal_->durable_sequence());
}

bool Worker::journal_ready() noexcept {
    // A request moves money through at most a few records (a claim, or a take).
    if (!journal_ || (!journal_->failed() && journal_->has_room(4))) {
        return true;
    }
    count(Event::journal_refusals);
    return false;
}

void Worker::journal_request(redpacket::ShardId shard, std::uint64_t request_id) noexcept {
    if (shard < pool_journals_.size() && pool_journals_[shard]) {
        pool_journals_[shard]->set_request(request_id);
    }
}

void Worker::flush_after(Connection& conn, std::uint64_t mark) {
    if (!journal_ || out_.empty() || (conn.held == 0 && !must_hold(mark)) || conn.closing ||
        !conn.attached) {
        flush(conn);
        return;
    }
    hold(conn, false);
}

void Worker::hold(Connection& conn, bool close_after) {
    // Replies held for the journal count against the output cap like replies queued to a slow
    // reader: a client that keeps asking while its earlier answers wait is closed, not buffered
    // without bound (what is held stays journaled; a retry finds it).
    if (std::uint64_t{conn.held_bytes} + out_.size() > config_.output_cap) {
        out_.clear();
        close_connection(conn, Event::output_cap_closes);
        return;
    }
    conn.held_bytes += static_cast<std::uint32_t>(out_.size());
    held_bytes_ += out_.size();
    held_bytes_peak_ = std::max(held_bytes_peak_, held_bytes_);
    Held h;
    h.sequence = journal_->last_sequence();
    h.conn = address_of(conn);
    h.bytes = std::move(out_);
    h.close_after = close_after;
    out_.clear();
    ++conn.held;
    count(Event::held_replies);
    held_.push_back(std::move(h));
    release_held();  // the records may be durable already
}

void Worker::post_after(redpacket::ShardId to, WorkerMessage&& m, std::uint64_t mark) {
    if (!journal_ || !must_hold(mark)) {
        post_or_retry(to, std::move(m));
        return;
    }
    Held h;
    h.sequence = journal_->last_sequence();
    h.is_message = true;
    h.to = to;
    h.message = std::move(m);
    count(Event::held_replies);
    held_.push_back(std::move(h));
    release_held();
}

void Worker::release_held() {
    if (!journal_) {
        return;
    }
    std::uint64_t lost = 0;
    for (const auto& j : pool_journals_) {
        lost += j ? j->lost() : 0;
    }
    journal_lost_.store(lost, std::memory_order_relaxed);
    const std::uint64_t durable = journal_->durable_sequence();
    while (!held_.empty() && held_.front().sequence <= durable) {
        Held h = std::move(held_.front());
        held_.pop_front();
        if (h.is_message) {
            post_or_retry(h.to, std::move(h.message));
            continue;
        }
        held_bytes_ -= h.bytes.size();
        Connection* conn = find(h.conn);
        if (conn == nullptr) {
            continue;  // the client left; its money is journaled and a retry finds it
        }
        --conn->held;
        conn->held_bytes -= static_cast<std::uint32_t>(h.bytes.size());
        std::vector<std::byte> saved;
        saved.swap(out_);
        out_ = std::move(h.bytes);
        flush(*conn);
        out_.swap(saved);
        if (h.close_after) {
            close_connection(*conn, Event::closed);
        }
    }
}

void Worker::maybe_snapshot() {
    if (!journal_ || snapshot_running_ || config_.snapshot_interval_s == 0 ||
        now_ms_ - last_snapshot_ms_ < std::int64_t{config_.snapshot_interval_s} * 1000) {
        return;
    }
    last_snapshot_ms_ = now_ms_;
    // Capture on the loop (the pools' thread); write on the threadpool once the journal has
    // made every record the capture reflects durable.
    auto* work = new SnapshotWork{};
    work->req.data = work;
    work->worker = this;
    work->writer = journal_.get();
    work->dir = worker_dir(config_, index_);
    {
        // Encode here, straight from the pools (no per-packet capture objects), so that every
        // allocation of a snapshot is one buffer made and freed on this thread: done on the
        // threadpool, each of its threads' malloc arenas kept a snapshot's worth of memory
        // (+100 MiB in a 30-minute soak).
        std::vector<const redpacket::RedPacketPool*> pools;
        pools.reserve(owned_sets_.size());
        for (const redpacket::ShardId s : owned_sets_) {
            pools.push_back(pools_[s].get());
        }
        std::vector<redpacket::CreateRequestEntry> requests;
        requests.reserve(created_order_.size());
        for (const RequestKey& k : created_order_) {
            if (const auto it = created_by_request_.find(k); it != created_by_request_.end()) {
                requests.push_back(redpacket::CreateRequestEntry{
                    k.user, k.request_id, redpacket::PacketId{it->second}});
            }
        }
        work->sequence = journal_->last_sequence();
        work->bytes = redpacket::encode_snapshot(work->sequence, pools, requests);
    }
    snapshot_running_ = true;
    const int rc = uv_queue_work(
        &loop_, &work->req,
        [](uv_work_t* req) {
            auto& w = *static_cast<SnapshotWork*>(req->data);
            auto& fs = redpacket::posix_file_system();
            if (!w.writer->wait_durable(w.sequence, std::chrono::seconds{30})) {
                w.outcome = "journal not durable in 30 s";
                return;
            }
            auto written = redpacket::write_snapshot_bytes(fs, w.dir, w.sequence, w.bytes);
            if (!written) {
                w.outcome = redpacket::describe(written.error());
                return;
            }
            if (auto pruned = redpacket::prune_journal(fs, w.dir); !pruned) {
                w.outcome = "written, but pruning failed: " + redpacket::describe(pruned.error());
            }
        },
        [](uv_work_t* req, int status) {
            std::unique_ptr<SnapshotWork> w{static_cast<SnapshotWork*>(req->data)};
            w->worker->snapshot_running_ = false;
            if (status != 0 || !w->outcome.empty()) {
                log(LogLevel::warn, "worker {}: snapshot at sequence {}: {}",
                    w->worker->index(), w->sequence,
                    status != 0 ? uv_strerror(status) : w->outcome.c_str());
            } else {
                log(LogLevel::debug, "worker {}: snapshot at sequence {} written",
                    w->worker->index(), w->sequence);
            }
        });
    if (rc != 0) {
        snapshot_running_ = false;
        delete work;
        log(LogLevel::warn, "worker {}: uv_queue_work: {}", index_, uv_strerror(rc));
    }
}

}  // namespace redpacketd
