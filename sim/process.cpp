// The simulated daemon's process: its workers (each a RequestService over a MemoryStore that
// journals to the simulated disk through a driven writer), the journal pumps that make records
// durable and let held replies leave, snapshots, and kill -9 followed by recovery from what the
// disk kept.
#include <string>

#include "world.hpp"

namespace redpacket::sim {

void World::start_process() {
    // A start that fails (a sync failing while recovery cuts a torn tail…) exits; the service
    // manager starts it again.
    for (int attempt = 1;; ++attempt) {
        try {
            start_once();
            return;
        } catch (const Broken& e) {
            if (attempt == 20) {
                throw;
            }
            note(std::string("the daemon exits at start: ") + e.what());
            disk_.crash(false, false);  // first: the exiting process writes no more
            workers_.clear();
        }
    }
}

void World::start_once() {
    ++incarnation_;
    disk_.restart();
    registry_ =
        std::make_unique<ConnectionRegistry>(ShardingConfig{scenario_.sets, scenario_.workers, 64});
    ServiceConfig config;
    config.compat_mode = !scenario_.auth;
    config.auth_secret = scenario_.auth ? kSecret : "";
    config.rate_limit = scenario_.rate_limit;
    config.max_ttl_seconds = 10;
    config.seed = scenario_.seed + incarnation_;
    workers_.resize(scenario_.workers);
    for (WorkerId w = 0; w < scenario_.workers; ++w) {
        SimWorker& worker = workers_[w];
        MemoryStoreOpenReport report;
        auto store = MemoryStore::open(store_options(w), now_, &report);
        if (!store) {
            throw Broken("worker " + std::to_string(w) +
                         " could not open its store: " + store.error());
        }
        if (incarnation_ > 1) {
            note("worker " + std::to_string(w) + " recovered " +
                 std::to_string(report.records_replayed) + " records" +
                 (report.snapshot_file.empty() ? "" : " after " + report.snapshot_file) +
                 ", refunded " + std::to_string(report.refunds_at_open));
        }
        worker.store = std::move(*store);
        worker.counter = std::make_unique<EventCounter>(kServiceEventCount);
        worker.service =
            std::make_unique<RequestService>(config, *worker.store, *registry_, w, *worker.counter);
        if (scenario_.shake_rate != 0) {
            worker.service->set_shake_campaign(
                ShakeCampaign{true, scenario_.shake_rate, 0, 1, 500, 3});
        }
        if (scenario_.send_rate != 0) {
            SendCampaign send;
            send.enabled = true;
            send.rate = scenario_.send_rate;
            send.total = 0;
            send.ttl_seconds = 3;
            worker.service->set_send_campaign(send);
        }
        at(now_ + Time{1} + up_to(kTickMs - 1), TickDue{incarnation_, w});
        if (scenario_.journal && scenario_.snapshot_every_ms > 0) {
            at(now_ + up_to(scenario_.snapshot_every_ms), SnapshotDue{incarnation_, w});
        }
    }
}

MemoryStoreOptions World::store_options(WorkerId w) {
    MemoryStoreOptions o;
    o.sets = registry_->shards_of(w);
    o.pool.max_packets = 512;
    o.pool.shake_capacity = 64;
    o.pool.retention = kRetention;
    o.pool.fault_swap_shares = scenario_.plant == Plant::swap_shares;
    o.pool.simulated_seeds = (scenario_.seed * 7919 + incarnation_) * 64 + 1;
    if (scenario_.journal) {
        o.journal_dir = "/sim/worker-" + std::to_string(w);
        o.fs = &disk_;
        o.journal.driven = true;
        o.journal.segment_bytes = 16 * 1024;  // many segments: rolls, pruning
        o.journal.max_pending = 4096;
        o.journal.close_attempts = 2;
    }
    return o;
}

void World::crash() {
    // Power-cut seeds mix both kinds: a kill -9 leaves unsynced bytes in the page cache that the
    // restarted daemon reads, and a power cut after it may still take them.
    const bool power = scenario_.power_loss && rng_.below(3) != 0;
    note(power ? "power cut: the daemon dies" : "kill -9: the daemon dies");
    ++result_.crashes;
    disk_.crash(power, scenario_.tear);  // first: the dead process writes no more
    for (auto& link : links_) {
        if (link->alive) {
            link->alive = false;
            send_to_client(*link, {}, true);  // the client sees a reset
        }
    }
    workers_.clear();  // services, then stores: their writers' files are dead
    start_process();
    oracle_.check_recovered(*this, now_);
    check_pools();
    check_packets();
}

void World::schedule_pumps() {
    if (!scenario_.journal) {
        return;
    }
    for (WorkerId w = 0; w < workers_.size(); ++w) {
        SimWorker& worker = workers_[w];
        const JournalWriter* writer = worker.store->journal();
        if (!worker.pump_due && writer->last_sequence() > writer->durable_sequence()) {
            worker.pump_due = true;
            const Time delay = chance(scenario_.stall_permille)
                                   ? Time{100} + up_to(900)  // an fsync that stalls
                                   : Time{1} + up_to(scenario_.disk_delay_max_ms - 1);
            at(now_ + delay, JournalPump{incarnation_, w});
        }
    }
}

void World::pump(WorkerId w) {
    workers_[w].pump_due = false;
    (void)workers_[w].store->journal()->pump();
    release_held(w);
}

void World::release_held(WorkerId w) {
    SimWorker& worker = workers_[w];
    const std::uint64_t durable = worker.store->durable_sequence();
    std::erase_if(worker.held, [&](Send& s) {
        if (s.reply.hold_until > durable) {
            return false;
        }
        at(now_ + Time{1} + up_to(scenario_.peer_delay_max_ms - 1),
           PeerReply{incarnation_, std::move(s)});
        return true;
    });
    for (auto& link : links_) {
        if (link->alive && link->worker == w && link->outbox.waiting()) {
            flush(*link);
        }
    }
}

void World::snapshot(WorkerId w) {
    at(now_ + Time{scenario_.snapshot_every_ms}, SnapshotDue{incarnation_, w});
    SimWorker& worker = workers_[w];
    if (worker.snapshot == nullptr) {
        worker.snapshot = worker.store->snapshot();
        at(now_ + Time{1} + up_to(49), SnapshotWrite{incarnation_, w, 0});
    }
}

void World::write_snapshot(WorkerId w, std::uint32_t tries) {
    SimWorker& worker = workers_[w];
    if (worker.store->durable_sequence() < worker.snapshot->sequence()) {
        if (tries < 20) {  // the snapshot thread waits for the journal (at most 100 ms here)
            at(now_ + Time{5}, SnapshotWrite{incarnation_, w, tries + 1});
            return;
        }
        note("worker " + std::to_string(w) + " drops a snapshot: the journal is failing");
        worker.snapshot.reset();
        return;
    }
    const std::string error = worker.snapshot->run(std::chrono::milliseconds{0});
    note("worker " + std::to_string(w) + " wrote a snapshot at " +
         std::to_string(worker.snapshot->sequence()) + (error.empty() ? "" : ": " + error));
    if (error.empty()) {
        ++result_.snapshots;
    }
    worker.snapshot.reset();
}

void World::keep_packet(PacketId packet) {
    if (const auto info = read(packet)) {
        oracle_.keep(packet, info->expires_at + kRetention);
    } else if (oracle_.keep_until(packet) > now_ + Time{kTickMs}) {
        throw Broken("packet " + std::to_string(packet.value) +
                     ", which a reply just named, is not in the store");
    }
}

}  // namespace redpacket::sim
