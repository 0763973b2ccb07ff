#include "store_setup.hpp"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "log.hpp"
#include "redpacket/journal.hpp"

namespace redpacketd {

redpacket::ServiceConfig service_config(const Config& c) {
    redpacket::ServiceConfig sc;
    sc.compat_mode = c.compat_mode;
    sc.auth_secret = c.auth_secret;
    sc.rate_limit = c.rate_limit;
    sc.max_ttl_seconds = c.max_ttl_seconds;
    sc.max_packet_total = c.max_packet_total;
    sc.seed = c.seed;
    return sc;
}

void prepare_journal_dir(const Config& c) {
    if (c.journal_dir.empty()) {
        return;
    }
    if (auto made = redpacket::posix_file_system().create_dirs(c.journal_dir); !made) {
        throw std::runtime_error(
            fmt::format("cannot create {}: {}", c.journal_dir, made.error().message()));
    }
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

namespace {

redpacket::MemoryStoreOptions memory_options(const Config& c,
                                             const redpacket::ConnectionRegistry& registry,
                                             redpacket::WorkerId worker) {
    redpacket::MemoryStoreOptions o;
    o.sets = registry.shards_of(worker);
    o.pool.max_packets = c.max_packets_per_set;
    o.pool.max_shares = c.max_shares;
    o.pool.max_live_shares = std::max<std::uint32_t>(c.max_shares, 1U << 20);
    o.pool.max_total = redpacket::Cents{c.max_packet_total};
    o.pool.shake_capacity = c.shake_capacity_per_set;
    o.pool.retention = std::chrono::seconds{c.retention_seconds};
    o.pool.seed = c.seed;
    if (!c.journal_dir.empty()) {
        o.journal_dir = fmt::format("{}/worker-{}", c.journal_dir, worker);
        o.journal.fsync = *redpacket::parse_fsync_policy(c.journal_fsync);
        o.journal.max_delay = std::chrono::microseconds{c.journal_max_delay_us};
        o.journal.max_batch = c.journal_max_batch;
        o.journal.max_pending = c.journal_max_pending;
        o.journal.segment_bytes = c.journal_segment_bytes;
    }
    o.repair = c.journal_repair;
    return o;
}

std::int64_t unix_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

std::unique_ptr<redpacket::MemoryStore> open_memory_store(
    const Config& config, const redpacket::ConnectionRegistry& registry, redpacket::WorkerId worker,
    std::function<void()> wake) {
    redpacket::MemoryStoreOptions options = memory_options(config, registry, worker);
    options.journal.on_batch = std::move(wake);
    redpacket::MemoryStoreOpenReport report;
    auto store = redpacket::MemoryStore::open(std::move(options), redpacket::Time{unix_ms()},
                                              &report);
    if (!store) {
        throw std::runtime_error(store.error());
    }
    for (const std::string& w : report.warnings) {
        log(LogLevel::warn, "worker {}: journal: {}", worker, w);
    }
    if (report.last_sequence > 0) {
        log(LogLevel::info,
            "worker {}: recovered {} records after snapshot {} (sequence {}), {} create requests, "
            "{} refunds due",
            worker, report.records_replayed,
            report.snapshot_file.empty() ? "none" : report.snapshot_file, report.last_sequence,
            report.create_requests, report.refunds_at_open);
    }
    return std::move(*store);
}

}  // namespace redpacketd
