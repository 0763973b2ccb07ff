#include "redpacket/memory_store.hpp"
#include "redpacket/assert.hpp"

#include <algorithm>
#include <new>
#include <stdexcept>
#include <utility>

#include "kept_shakes.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/recovery.hpp"

namespace redpacket {
namespace {

template <class T>
Completion<T> refused(Error e) {
    return Completion<T>{std::unexpected(e), 0};
}

bool balances(const PoolStats& st) noexcept {
    return st.amount_created == st.amount_claimed + st.amount_refunded + st.amount_outstanding &&
           st.shake_amount_offered ==
               st.shake_amount_issued + st.shake_amount_expired + st.shake_amount_queued;
}

}  // namespace

// --- snapshot job ----------------------------------------------------------------------------

std::string SnapshotJob::run(std::chrono::milliseconds wait) {
    JournalFileSystem& fs = *fs_;
    // Packets this snapshot no longer holds must be in the archive before the journal that
    // still holds them is pruned.
    if (archive_ != nullptr && !archive_->flush(wait)) {
        const std::string why = archive_->stats().last_error;
        return "proof archive not committed in time" + (why.empty() ? "" : ": " + why);
    }
    if (!writer_->wait_durable(sequence_, wait)) {
        return "journal not durable in time";
    }
    if (auto written = write_snapshot_bytes(fs, dir_, sequence_, bytes_); !written) {
        return describe(written.error());
    }
    if (auto pruned = prune_journal(fs, dir_); !pruned) {
        return "written, but pruning failed: " + describe(pruned.error());
    }
    return {};
}

// --- opening ---------------------------------------------------------------------------------

MemoryStore::MemoryStore(MemoryStoreOptions options) : options_{std::move(options)} {
    sets_ = options_.sets;
    std::ranges::sort(sets_);
    sets_.erase(std::unique(sets_.begin(), sets_.end()), sets_.end());
    const ShardId top = sets_.empty() ? 0 : sets_.back() + 1;
    pools_.resize(top);
    for (const ShardId s : sets_) {
        PoolConfig pc = options_.pool;
        pc.shard = s;
        pc.seed = options_.pool.seed + s;
        if (pc.simulated_seeds != 0) {
            pc.simulated_seeds += s;  // each SET its own stream
        }
        pools_[s] = std::make_unique<RedPacketPool>(pc);
    }
    created_order_.reserve(std::min<std::size_t>(options_.remembered_creates, 1024));
}

MemoryStore::~MemoryStore() {
    (void)close();
}

std::expected<std::unique_ptr<MemoryStore>, std::string> MemoryStore::open(
    MemoryStoreOptions options, Time now, MemoryStoreOpenReport* report) {
    std::unique_ptr<MemoryStore> store;
    if (options.proof_retention.count() > 0) {
        // A refunded packet must still be in memory when expire() archives it.
        options.pool.retention = std::max(options.pool.retention, Time{1});
    }
    try {
        store.reset(new MemoryStore(std::move(options)));
    } catch (const std::invalid_argument& e) {
        return std::unexpected(std::string("pool configuration: ") + e.what());
    }
    MemoryStoreOpenReport local;
    MemoryStoreOpenReport& r = report != nullptr ? *report : local;
    if (!store->options_.journal_dir.empty()) {
        // The archive first: replay may drop a refunded packet (open_archive's hook keeps it).
        if (auto archived = store->open_archive(); !archived) {
            return std::unexpected(archived.error());
        }
        if (auto recovered = store->recover(r); !recovered) {
            return std::unexpected(recovered.error());
        }
        store->rearchive();
    }
    if (!store->archive_) {
        // As many as its pools may hold group packets alive, shared by all its SETs.
        store->kept_shakes_ = std::make_unique<KeptShakes>(std::size_t{store->options_.pool.max_packets} *
                                                           store->sets_.size());
    }
    // Packets that fell due while the process was down are refunded now (and journaled).
    for (const ShardId s : store->sets_) {
        const auto done = store->expire(0, ExpireOp{s, now}).get();
        r.refunds_at_open += done.result ? done.result->refunds : 0;
    }
    return store;
}

std::expected<void, std::string> MemoryStore::recover(MemoryStoreOpenReport& report) {
    JournalFileSystem& fs = options_.fs != nullptr ? *options_.fs : posix_file_system();
    const std::string& dir = options_.journal_dir;
    auto recovered = redpacket::recover(
        fs, dir, [this](ShardId s) { return pool(s); }, RecoveryOptions{options_.repair});
    if (!recovered) {
        return std::unexpected("journal recovery failed: " + describe(recovered.error()) +
                               (options_.repair ? ""
                                                : " (repair cuts the journal at the first bad "
                                                  "record)"));
    }
    for (const CreateRequestEntry& e : recovered->create_requests) {
        remember_create(RequestKey{e.user, e.request_id}, e.packet);
    }
    report.snapshot_file = recovered->snapshot_file;
    report.last_sequence = recovered->last_sequence;
    report.records_replayed = recovered->records_replayed;
    report.create_requests = recovered->create_requests.size();
    report.warnings = std::move(recovered->warnings);

    auto writer = JournalWriter::open(fs, dir, recovered->last_sequence + 1, options_.journal);
    if (!writer) {
        return std::unexpected(describe(writer.error()));
    }
    journal_ = std::move(*writer);
    pool_journals_.resize(pools_.size());
    for (const ShardId s : sets_) {
        pool_journals_[s] = std::make_unique<PoolJournal>(*journal_, s);
        pools_[s]->set_observer(PoolObserver::bind(*pool_journals_[s]));
    }
    return {};
}

std::expected<void, JournalError> MemoryStore::close() {
    if (!journal_) {
        return {};
    }
    auto closed = journal_->close();
    refresh_lost();
    return closed;
}

// --- the journal rule ------------------------------------------------------------------------

std::uint64_t MemoryStore::durable_sequence() const noexcept {
    return journal_ ? journal_->durable_sequence() : UINT64_MAX;
}

bool MemoryStore::has_room(std::size_t operations) const noexcept {
    return !journal_ || (!journal_->failed() && journal_->has_room(operations));
}

bool MemoryStore::journal_ready() const noexcept {
    // A request moves money through at most a few records (a claim, or a take).
    return has_room(4);
}

std::uint64_t MemoryStore::hold_for(std::uint64_t before, bool money) const noexcept {
    if (!journal_) {
        return 0;
    }
    const std::uint64_t last = journal_->last_sequence();
    REDPACKET_ASSERT(before == UINT64_MAX || last >= before);  // sequences only grow
    return last > before || (money && last > journal_->durable_sequence()) ? last : 0;
}

template <class Op>
auto MemoryStore::journaled(ShardId set, std::uint64_t request_id, Op&& op) {
    const std::uint64_t before = journal_ ? journal_->last_sequence() : 0;
    PoolJournal* pj = journal_ ? pool_journals_[set].get() : nullptr;
    if (pj != nullptr) {
        pj->set_request(request_id);
    }
    auto result = op(*pools_[set]);
    if (pj != nullptr) {
        pj->set_request(0);
    }
    return std::pair{std::move(result), before};
}

void MemoryStore::refresh_lost() const noexcept {
    std::uint64_t lost = 0;
    for (const auto& j : pool_journals_) {
        lost += j ? j->lost() : 0;
    }
    lost_.store(lost, std::memory_order_relaxed);
}

// --- operations ------------------------------------------------------------------------------

StoreResult<Created> MemoryStore::create(StoreTicket, const CreateOp& op) {
    // Request id 0 means "no retry protection": the journal records 0 as "no request id", so
    // remembering it would make a retry behave differently before and after a restart.
    if (op.request_id != 0) {
        if (const auto it = created_by_request_.find(RequestKey{op.sender, op.request_id});
            it != created_by_request_.end()) {
            return Completion<Created>{Created{it->second, true}, hold_for(UINT64_MAX, true)};
        }
    }
    if (!serves(op.set)) {
        return refused<Created>(Error::not_found);
    }
    // A packet is made only if the archive can take it when it finishes: while its queue is
    // half full, creates are refused (the packets already made keep their place in it).
    if (!journal_ready() || (archive_ && archive_->backlogged())) {
        return refused<Created>(Error::unavailable);
    }
    auto [id, before] = journaled(op.set, op.request_id, [&](RedPacketPool& p) {
        return p.create(op.sender, op.total, op.count, op.policy, op.expires_at, op.allowed);
    });
    if (!id) {
        return Completion<Created>{std::unexpected(id.error()), hold_for(before, false)};
    }
    if (op.request_id != 0) {
        remember_create(RequestKey{op.sender, op.request_id}, *id);
    }
    return Completion<Created>{Created{*id, false}, hold_for(before, true)};
}

void MemoryStore::remember_create(const RequestKey& key, PacketId packet) {
    const std::size_t limit = std::max<std::size_t>(options_.remembered_creates, 1);
    if (created_by_request_.contains(key)) {
        return;
    }
    if (created_order_.size() < limit) {
        created_order_.push_back(key);
    } else {
        created_by_request_.erase(created_order_[created_next_]);
        created_order_[created_next_] = key;
        created_next_ = (created_next_ + 1) % limit;
    }
    created_by_request_.emplace(key, packet);
}

StoreResult<Claimed> MemoryStore::claim(StoreTicket, const ClaimOp& op) {
    // One result object returned from every path (see take).
    StoreResult<Claimed> out{std::in_place};
    Completion<Claimed>& done = out.get();
    // A compact id is the low 32 bits of the full one: the SET bits are the same.
    const ShardId set = packet_shard(op.packet);
    std::optional<PacketId> id = op.packet;
    if (serves(set) && op.compact) {
        id = pools_[set]->resolve_compact(static_cast<std::uint32_t>(op.packet.value));
    }
    if (!serves(set) || !id) {
        done.result = std::unexpected(Error::not_found);
        return out;
    }
    if (!journal_ready()) {
        done.result = std::unexpected(Error::unavailable);
        return out;
    }
    const std::uint64_t before = journal_ ? journal_->last_sequence() : 0;
    PoolJournal* pj = journal_ ? pool_journals_[set].get() : nullptr;
    const std::uint64_t lost_before = pj != nullptr ? pj->lost() : 0;
    if (pj != nullptr) {
        pj->set_request(op.request_id);
    }
    done.result->packet = *id;
    done.result->result = pools_[set]->claim(*id, op.user, op.now);
    if (pj != nullptr) {
        pj->set_request(0);
    }
    const ClaimStatus status = done.result->result.status;
    done.durable_at = hold_for(
        before, status == ClaimStatus::claimed || status == ClaimStatus::already_claimed);
    // A claim that paid was journaled (its reply waits for a record that exists), or the
    // journal counted it lost (an invariant violation /stats reports).
    REDPACKET_ASSERT(pj == nullptr || status != ClaimStatus::claimed || pj->lost() > lost_before ||
                     (done.durable_at > before && done.durable_at <= journal_->last_sequence()));
    return out;
}

StoreResult<PacketInfo> MemoryStore::query(StoreTicket, PacketId packet) {
    const ShardId set = packet_shard(packet);
    if (!serves(set)) {
        return refused<PacketInfo>(Error::not_found);
    }
    // The full id first, in memory, then in the archive (finished, within the proof
    // retention); only a value that names no packet there is read as a compact id.
    auto info = pools_[set]->query(packet);
    if (!info && archive_) {
        auto archived = archive_->get(packet);
        if (!archived) {
            return refused<PacketInfo>(Error::unavailable);
        }
        if (*archived) {
            info = std::move(**archived);
        }
    }
    if (!info && kept_shakes_) {
        if (const PacketInfo* kept = kept_shakes_->find(packet)) {
            info = *kept;
        }
    }
    if (!info && packet.value <= UINT32_MAX) {
        const auto compact = static_cast<std::uint32_t>(packet.value);
        if (!is_shake_packet(packet)) {
            // A grab's or a notice's compact id: the live packet with those low 32 bits.
            if (const auto full = pools_[set]->resolve_compact(compact)) {
                info = pools_[set]->query(*full);
            }
        } else if (archive_) {
            // A shake response's: issued shake packets live only in the archive (without one,
            // for a while in kept_shakes_, below).
            auto archived = archive_->find_shake(compact);
            if (!archived) {
                return refused<PacketInfo>(Error::unavailable);
            }
            if (*archived) {
                info = std::move(**archived);
            }
        } else if (const PacketInfo* kept = kept_shakes_ ? kept_shakes_->find_compact(compact) : nullptr) {
            info = *kept;  // without an archive: kept in memory for a while (KeptShakes)
        }
    }
    return Completion<PacketInfo>{std::move(info), 0};
}

void MemoryStore::archive_finished(ShardId set, const std::vector<Refund>& refunds, Time now) {
    if (!archive_) {
        return;
    }
    for (const Refund& r : refunds) {
        if (auto info = pools_[set]->query(r.packet)) {
            archive(std::move(*info));
        }
    }
    if (now - last_archive_expire_ >= std::chrono::seconds{1}) {
        last_archive_expire_ = now;
        archive_->expire(now);  // rows past their retention go even when nothing finishes
    }
}

std::size_t MemoryStore::kept_shakes() const noexcept {
    return kept_shakes_ ? kept_shakes_->size() : 0;
}

std::uint64_t MemoryStore::kept_shakes_dropped() const noexcept {
    return kept_shakes_ ? kept_shakes_->dropped_early() : 0;
}

void MemoryStore::archive(PacketInfo&& info) {
    // Kept until the deadline plus the retention: what docs/fairness.md §5a promises.
    const Time deadline = info.expires_at;
    // A full queue waits for the writer rather than lose a proof (refunds at open can be
    // many; at run time creates stop at half the queue, see create).
    while (!archive_->put(std::move(info), deadline)) {
        if (!archive_->flush(std::chrono::seconds{10})) {
            return;  // the writer is failing: counted (dropped, errors)
        }
    }
}

std::expected<void, std::string> MemoryStore::open_archive() {
    if (options_.proof_retention.count() <= 0 || options_.fs != nullptr) {
        return {};
    }
    ProofArchiveOptions o = options_.archive;
    o.path = options_.journal_dir + "/proofs.sqlite";
    o.retention = options_.proof_retention;
    // Room for every live packet, group or shake, twice over: creates and offers stop at half
    // (backlogged), so the packets alive then can all finish into the other half.
    o.max_pending = std::max<std::size_t>(
        o.max_pending,
        2 * (std::size_t{options_.pool.max_packets} + options_.pool.shake_capacity) * sets_.size());
    if (auto made = posix_file_system().create_dirs(options_.journal_dir); !made) {
        return std::unexpected("cannot create " + options_.journal_dir + ": " +
                               made.error().message());
    }
    auto opened = ProofArchive::open(std::move(o));
    if (!opened) {
        return std::unexpected(opened.error());
    }
    archive_ = std::move(*opened);
    for (const ShardId s : sets_) {
        pools_[s]->set_on_replay_retire([this](const PacketInfo& info) { archive(PacketInfo{info}); });
    }
    return {};
}

void MemoryStore::rearchive() {
    if (!archive_) {
        return;
    }
    // A killed process's queue is gone: every refunded packet recovery restored goes in again
    // (a row written twice is replaced). A shake packet still in the supply was not issued as
    // far as the journal knows: a row for it (archived at a take whose journal record never
    // became durable) would name a winner who was never told, so it goes.
    for (const ShardId s : sets_) {
        pools_[s]->set_on_replay_retire({});
        pools_[s]->for_each_live([&](const PoolEvent& e) {
            if (e.kind == PoolEventKind::refunded) {
                if (auto info = pools_[s]->query(e.packet)) {
                    archive(std::move(*info));
                }
            } else if (e.kind == PoolEventKind::shake_offered && e.seed != nullptr) {
                archive_->forget(e.packet);
            }
        });
    }
}

StoreResult<std::optional<ShakeHit>> MemoryStore::take(StoreTicket, const TakeOp& op) {
    // The hot path of every shake. One result object, returned from every path, so it is built
    // where the caller receives it: copying a freshly built nested optional costs
    // store-forwarding stalls (perf showed them as most of this function).
    StoreResult<std::optional<ShakeHit>> out{std::in_place};
    if (!serves(op.set)) {
        return out;
    }
    if (!journal_ready()) {
        out.get().result = std::unexpected(Error::unavailable);
        return out;
    }
    const std::uint64_t before = journal_ ? journal_->last_sequence() : 0;
    if (const std::optional<ShakeHit> hit = pools_[op.set]->take(op.user, op.now)) {
        out.get().result->emplace(hit->packet, hit->amount);
        if (archive_ && valid_seed(hit->seed)) {
            archive(issued_shake_info(*hit, op.user));  // finished now: its proof is complete
        } else if (kept_shakes_ && valid_seed(hit->seed)) {
            kept_shakes_->keep(issued_shake_info(*hit, op.user), hit->expires_at + options_.pool.retention,
                               op.now);
        }
    }
    if (journal_) {
        out.get().durable_at = hold_for(before, out.get().result->has_value());
    }
    return out;
}

StoreResult<PacketId> MemoryStore::offer(StoreTicket, const OfferOp& op) {
    if (!serves(op.set)) {
        return refused<PacketId>(Error::not_found);
    }
    if (archive_ && archive_->backlogged()) {
        return refused<PacketId>(Error::unavailable);  // as for creates: it could not be archived
    }
    auto [id, before] =
        journaled(op.set, 0, [&](RedPacketPool& p) { return p.offer(op.amount, op.expires_at); });
    return Completion<PacketId>{id, hold_for(before, false)};
}

StoreResult<Expired> MemoryStore::expire(StoreTicket, const ExpireOp& op) {
    if (!serves(op.set)) {
        return refused<Expired>(Error::not_found);
    }
    auto [refunds, before] =
        journaled(op.set, 0, [&](RedPacketPool& p) { return p.expire(op.now); });
    archive_finished(op.set, refunds, op.now);
    if (kept_shakes_) {
        kept_shakes_->expire(op.now);
    }
    Expired e{refunds.size(), Cents{0}};
    for (const Refund& r : refunds) {
        e.amount = e.amount + r.amount;
    }
    return Completion<Expired>{e, hold_for(before, false)};
}

// --- views -----------------------------------------------------------------------------------

StoreStats MemoryStore::stats() const {
    StoreStats out;
    for (const ShardId s : sets_) {
        const PoolStats& st = pools_[s]->stats();
        out.created = out.created + st.amount_created;
        out.claimed = out.claimed + st.amount_claimed;
        out.refunded = out.refunded + st.amount_refunded;
        out.outstanding = out.outstanding + st.amount_outstanding;
        out.shake_offered = out.shake_offered + st.shake_amount_offered;
        out.shake_issued = out.shake_issued + st.shake_amount_issued;
        out.shake_expired = out.shake_expired + st.shake_amount_expired;
        out.packets_live += st.packets_live;
        out.shake_queued += pools_[s]->shake_size();
        out.invariant_violations += balances(st) ? 0U : 1U;
    }
    refresh_lost();
    return out;
}

std::unique_ptr<SnapshotJob> MemoryStore::snapshot() const {
    if (!journal_) {
        return nullptr;
    }
    // Encoded here, on the pools' thread, straight from the pools into one buffer sized up
    // front: done on another thread, each thread's malloc arena kept a snapshot's worth of
    // memory (+100 MiB in a 30-minute soak).
    std::vector<const RedPacketPool*> pools;
    pools.reserve(sets_.size());
    for (const ShardId s : sets_) {
        pools.push_back(pools_[s].get());
    }
    std::vector<CreateRequestEntry> requests;
    requests.reserve(created_order_.size());
    for (const RequestKey& k : created_order_) {
        if (const auto it = created_by_request_.find(k); it != created_by_request_.end()) {
            requests.push_back(CreateRequestEntry{k.user, k.request_id, it->second});
        }
    }
    auto job = std::make_unique<SnapshotJob>();
    job->writer_ = journal_.get();
    job->archive_ = archive_.get();
    job->fs_ = options_.fs != nullptr ? options_.fs : &posix_file_system();
    job->dir_ = options_.journal_dir;
    job->sequence_ = journal_->last_sequence();
    job->bytes_ = encode_snapshot(job->sequence_, pools, requests);
    return job;
}

}  // namespace redpacket
