#include "redpacket/recovery.hpp"

#include <unordered_set>

namespace redpacket {
namespace {

JournalError error(Error code, const std::string& file, std::uint64_t offset, std::string message) {
    return JournalError{code, {}, file, offset, std::move(message)};
}

bool fresh(const RedPacketPool& pool) noexcept {
    return pool.stats().packets_created == 0 && pool.stats().shake_offered == 0;
}

// Resolves each shard once, checking that its pool is fresh the first time.
class Pools {
public:
    explicit Pools(const PoolResolver& resolve) : resolve_{resolve} {}

    std::expected<RedPacketPool*, JournalError> get(ShardId shard, const std::string& file,
                                                    std::uint64_t offset) {
        if (shard == last_shard_ && last_ != nullptr) {
            return last_;
        }
        RedPacketPool* pool = resolve_ ? resolve_(shard) : nullptr;
        if (pool == nullptr) {
            return std::unexpected(error(Error::not_found, file, offset,
                                         "no pool serves shard " + std::to_string(shard)));
        }
        if (seen_.insert(shard).second && !fresh(*pool)) {
            return std::unexpected(
                error(Error::invalid_argument, file, offset,
                      "the pool of shard " + std::to_string(shard) + " is not fresh"));
        }
        last_shard_ = shard;
        last_ = pool;
        return pool;
    }

private:
    const PoolResolver& resolve_;
    std::unordered_set<ShardId> seen_;
    ShardId last_shard_{0};
    RedPacketPool* last_{nullptr};
};

// Stage 1: the newest valid snapshot into the fresh pools.
std::expected<void, JournalError> restore_snapshot(JournalFileSystem& fs, const std::string& dir,
                                                   Pools& pools, RecoveryReport& report) {
    auto choice = load_newest_snapshot(fs, dir);
    if (!choice) {
        return std::unexpected(choice.error());
    }
    for (const std::string& skipped : choice->skipped) {
        report.warnings.push_back("skipped corrupt snapshot " + skipped);
    }
    if (!choice->snapshot) {
        return {};
    }
    const Snapshot& snap = *choice->snapshot;
    report.snapshot_file = choice->file;
    report.snapshot_sequence = snap.sequence;
    for (const PoolSnapshot& ps : snap.pools) {
        auto pool = pools.get(ps.shard, choice->file, 0);
        if (!pool) {
            return std::unexpected(pool.error());
        }
        if (auto ok = restore_pool(**pool, ps); !ok) {
            return std::unexpected(error(
                ok.error() == Error::invalid_argument ? Error::invalid_argument : Error::corrupt,
                choice->file, 0,
                "cannot restore shard " + std::to_string(ps.shard) + ": " +
                    std::string{to_string(ok.error())}));
        }
    }
    report.create_requests = snap.create_requests;
    return {};
}

// Stage 2, per record: applies what the snapshot does not cover.
class Replayer {
public:
    Replayer(Pools& pools, RecoveryReport& report)
        : pools_{pools}, report_{report}, base_{report.snapshot_sequence} {}

    std::expected<void, JournalError> operator()(const JournalRecord& r, const RecordLocation& at) {
        // Writers number records from 1. A CRC-valid record 0 would otherwise pass for one the
        // snapshot covers (r.sequence <= base with base 0) and be skipped without a word.
        if (r.sequence == 0) {
            return std::unexpected(error(Error::corrupt, *at.file, at.offset,
                                         "record has sequence 0 (sequences start at 1)"));
        }
        if (first_seen_ == 0) {
            first_seen_ = r.sequence;
            if (r.sequence > base_ + 1) {
                return std::unexpected(error(
                    Error::corrupt, *at.file, at.offset,
                    "journal starts at sequence " + std::to_string(r.sequence) + " but " +
                        (base_ == 0 ? std::string{"no snapshot covers the records before it"}
                                    : "the snapshot covers only up to " + std::to_string(base_))));
            }
        }
        if (r.sequence <= base_) {
            return {};  // already in the snapshot
        }
        auto pool = pools_.get(r.shard, *at.file, at.offset);
        if (!pool) {
            return std::unexpected(pool.error());
        }
        if (auto ok = (*pool)->replay(to_event(r)); !ok) {
            return std::unexpected(error(
                Error::corrupt, *at.file, at.offset,
                "record " + std::to_string(r.sequence) + " (" + std::string{to_string(r.kind)} +
                    ") contradicts the state: " + std::string{to_string(ok.error())}));
        }
        if (r.kind == PoolEventKind::created && r.request_id != 0) {
            report_.create_requests.push_back(CreateRequestEntry{r.user, r.request_id, r.packet});
        }
        ++report_.records_replayed;
        return {};
    }

private:
    Pools& pools_;
    RecoveryReport& report_;
    std::uint64_t base_;
    std::uint64_t first_seen_{0};
};

// Stage 3: what the scan truncated or repaired, for the log.
void describe_drops(RecoveryReport& report) {
    if (const auto& torn = report.scan.torn_tail) {
        report.warnings.push_back("truncated a torn record at the end of " + torn->file +
                                  " at byte " + std::to_string(torn->offset) + " (" +
                                  std::to_string(torn->bytes) + " bytes, " +
                                  std::string{to_string(torn->reason)} + ")");
    }
    if (const auto& cut = report.scan.repaired) {
        std::string line = "repair cut " + cut->file + " at byte " + std::to_string(cut->offset) +
                           " (" + std::to_string(cut->bytes) + " bytes, " +
                           std::string{to_string(cut->reason)} + ")";
        for (const std::string& removed : cut->removed_segments) {
            line += "; removed " + removed;
        }
        report.warnings.push_back(std::move(line));
    }
}

/// Makes what recovery read durable before anything is built on it: a process killed between a
/// batch's write and its fsync leaves records in the page cache that recovery replays (and the
/// restarted daemon answers from) but that a later power cut would still take — leaving a hole
/// before the new segment that no later start could get past. Found by the simulator.
std::expected<void, JournalError> make_durable(JournalFileSystem& fs, const std::string& dir,
                                               const std::vector<SegmentInfo>& segments) {
    for (const SegmentInfo& seg : segments) {
        auto file = fs.open(seg.file, OpenMode::write);
        if (!file) {
            return std::unexpected(JournalError{Error::io_error, file.error(), seg.file, 0,
                                                "cannot open a recovered segment to sync it"});
        }
        if (auto ok = (*file)->sync(); !ok) {
            return std::unexpected(JournalError{Error::io_error, ok.error(), seg.file, 0,
                                                "cannot sync a recovered segment"});
        }
    }
    if (auto ok = fs.sync_dir(dir); !ok && !segments.empty()) {
        return std::unexpected(
            JournalError{Error::io_error, ok.error(), dir, 0, "cannot sync the journal directory"});
    }
    return {};
}

}  // namespace

std::expected<RecoveryReport, JournalError> recover(JournalFileSystem& fs, const std::string& dir,
                                                    const PoolResolver& pool_for,
                                                    RecoveryOptions options) {
    RecoveryReport report;
    Pools pools{pool_for};
    if (auto restored = restore_snapshot(fs, dir, pools, report); !restored) {
        return std::unexpected(restored.error());
    }
    const std::uint64_t base = report.snapshot_sequence;
    Replayer replayer{pools, report};
    const RecordVisitor replay = [&replayer](const JournalRecord& r, const RecordLocation& at) {
        return replayer(r, at);
    };
    JournalScanOptions scan_options;
    scan_options.repair = options.repair;
    auto scan = scan_journal(fs, dir, replay, scan_options);
    if (!scan) {
        return std::unexpected(scan.error());
    }
    report.scan = std::move(*scan);
    if (auto durable = make_durable(fs, dir, report.scan.segments); !durable) {
        return std::unexpected(durable.error());
    }
    if (report.scan.records > 0 && report.scan.last_sequence < base) {
        return std::unexpected(error(Error::corrupt, dir, 0,
                                     "journal ends at sequence " +
                                         std::to_string(report.scan.last_sequence) +
                                         " before the snapshot's " + std::to_string(base) +
                                         ": records the snapshot includes are missing"));
    }
    report.last_sequence = std::max(base, report.scan.last_sequence);
    describe_drops(report);
    return report;
}

}  // namespace redpacket
