// Recovery: rebuilds a worker's pools from its journal directory after a restart.
//
// `recover` loads the newest valid snapshot into fresh pools, then replays every journal record
// after it (scan_journal: torn tail truncated and reported, corruption an error naming file and
// offset unless `repair`). Packet ids, shares, claims, refunds and the shake supply come back
// exactly (RedPacketPool::replay), so ids and amounts clients were told stay true, a retried
// claim gets `already_claimed` with the same share, and a retried create finds its packet in
// `create_requests`. Refunds that fell due while the process was down are not made here: call
// `pool.expire(now)` on each pool afterwards (and journal them: attach the PoolJournal first).
// Then open the JournalWriter at `last_sequence + 1`.
//
// Thread-safety: runs on one thread at start-up, before the pools are shared.
#pragma once

#include <cstdint>
#include <expected>
#include <functional>
#include <string>
#include <vector>

#include "redpacket/journal.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "redpacket/snapshot.hpp"

namespace redpacket {

/// The pool that owns `shard`, or nullptr if this process does not serve it (an error).
using PoolResolver = std::function<RedPacketPool*(ShardId shard)>;

/// How `recover` treats damage.
struct RecoveryOptions {
    /// Cut the journal at the first corrupt record instead of failing (see scan_journal).
    bool repair{false};
};

/// What `recover` found and did.
struct RecoveryReport {
    std::string snapshot_file;           ///< empty if no snapshot was used
    std::uint64_t snapshot_sequence{0};  ///< last sequence the snapshot covers (0 if none)
    JournalScanReport scan;              ///< segments, torn tail, repair
    std::uint64_t records_replayed{0};   ///< journal records applied after the snapshot
    std::uint64_t last_sequence{0};      ///< the writer continues at last_sequence + 1
    /// The snapshot's create idempotency entries, then every journaled create with a request id
    /// (user = sender), in sequence order.
    std::vector<CreateRequestEntry> create_requests;
    /// One line per thing worth logging: skipped snapshots, a truncated tail, a repair.
    std::vector<std::string> warnings;
};

/// Rebuilds the pools of `dir`. Every pool `pool_for` returns must be fresh (nothing created
/// or offered) and configured with the shard and max_packets it had. Errors: corrupt (a bad
/// record before the end, a sequence gap, a journal that does not continue from the snapshot, a
/// record the pool refuses to replay — naming file and offset), not_found (no pool for a
/// shard), invalid_argument (a pool that is not fresh or not matching), io_error.
/// Complexity: O(snapshot + journal bytes after it); allocation-free per claim record.
[[nodiscard]] std::expected<RecoveryReport, JournalError> recover(JournalFileSystem& fs,
                                                                  const std::string& dir,
                                                                  const PoolResolver& pool_for,
                                                                  RecoveryOptions options = {});

}  // namespace redpacket
