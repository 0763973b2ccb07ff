#include "store_setup.hpp"

#include <cstdlib>
#include <string_view>

#include <fmt/format.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "log.hpp"
#include "redpacket/address.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/redis/redis_store.hpp"

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

// Test-only fault injection (tests/daemon/test_daemon_proof.cpp, tests/redis): a store that
// rearranges every packet's shares, which proofs must catch. Never set in production.
bool fault_swap_shares_requested() {
    const char* fault = std::getenv("REDPACKETD_TEST_FAULT_SWAP_SHARES");
    return fault != nullptr && std::string_view(fault) == "1";
}

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
    o.pool.verifiable = c.verifiable_splits;
    o.pool.fault_swap_shares = fault_swap_shares_requested();
    if (!c.journal_dir.empty()) {
        o.journal_dir = fmt::format("{}/worker-{}", c.journal_dir, worker);
        o.journal.fsync = *redpacket::parse_fsync_policy(c.journal_fsync);
        o.journal.max_delay = std::chrono::microseconds{c.journal_max_delay_us};
        o.journal.max_batch = c.journal_max_batch;
        o.journal.max_pending = c.journal_max_pending;
        o.journal.segment_bytes = c.journal_segment_bytes;
        o.proof_retention = std::chrono::seconds{c.proof_retention_seconds};
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

namespace {

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

class MemoryHandle final : public StoreHandle {
public:
    explicit MemoryHandle(std::unique_ptr<redpacket::MemoryStore> store) : store_{std::move(store)} {}
    redpacket::PacketStore& store() noexcept override { return *store_; }
    redpacket::MemoryStore* memory() noexcept override { return store_.get(); }
    void close(std::function<void()> done) override {
        // Everything appended is written and synced before the loop goes away.
        if (auto closed = store_->close(); !closed) {
            log(LogLevel::error, "journal close: {}", redpacket::describe(closed.error()));
        }
        done();
    }

private:
    std::unique_ptr<redpacket::MemoryStore> store_;
};

redpacket::redis::ClusterOptions cluster_options(const Config& c) {
    redpacket::redis::ClusterOptions o;
    o.seeds = *redpacket::parse_host_port_list(c.redis_nodes);
    o.timeout = std::chrono::milliseconds{c.redis_timeout_ms};
    o.source_address = c.redis_source_address;
    return o;
}

class ClusterHandle final : public StoreHandle {
public:
    ClusterHandle(const Config& c, const redpacket::ConnectionRegistry& registry,
                  redpacket::WorkerId worker, uv_loop_t* loop,
                  std::shared_ptr<redpacket::redis::CampaignLease> lease)
        : client_{loop, cluster_options(c)},
          subscriber_{loop, client_, [this](std::string_view channel, std::string_view message) {
                          ++notices_received_;
                          store_->on_channel_message(channel, message);
                      }} {
        redpacket::redis::RedisStoreOptions o;
        o.prefix = c.redis_prefix;
        o.sets = c.sets;
        o.swept = registry.shards_of(worker);
        o.max_shares = c.max_shares;
        o.max_total = redpacket::Cents{c.max_packet_total};
        o.shake_capacity = c.shake_capacity_per_set;
        o.retention = std::chrono::seconds{c.retention_seconds};
        o.wait_replicas = c.redis_wait_replicas;
        wait_replicas_ = c.redis_wait_replicas;
        o.wait_all_replicas = c.redis_wait_all_replicas;
        o.wait_timeout = std::chrono::milliseconds{c.redis_wait_timeout_ms};
        o.sweep_interval = std::chrono::milliseconds{c.redis_sweep_interval_ms};
        o.shake_empty_ttl = std::chrono::milliseconds{c.redis_shake_empty_ms};
        o.seed = c.seed * 7919 + worker;
        o.verifiable = c.verifiable_splits;
        o.fault_swap_shares = fault_swap_shares_requested();
        o.lease_ttl = std::chrono::milliseconds{c.redis_lease_ttl_ms};
        o.max_claim_batch = c.redis_max_claim_batch;
        o.lease = std::move(lease);
        if (worker == 0) {
            o.lease_owner = fmt::format("{}:{}:{}", c.host, c.port, ::getpid());
        }
        store_ = std::make_unique<redpacket::redis::RedisStore>(loop, client_, &subscriber_,
                                                                std::move(o));
    }
    redpacket::PacketStore& store() noexcept override { return *store_; }
    void start() override {
        client_.start([](std::expected<void, std::string> ok) {
            if (!ok) {
                log(LogLevel::warn, "redis cluster: {}", ok.error());
            }
        });
    }
    void close(std::function<void()> done) override {
        auto left = std::make_shared<int>(3);
        auto finish = std::make_shared<std::function<void()>>(std::move(done));
        const auto one = [left, finish] {
            if (--*left == 0) {
                (*finish)();
            }
        };
        store_->close(one);
        subscriber_.close(one);
        client_.close(one);
    }
    StoreCounters counters() const override {
        const redpacket::redis::ClusterStats& s = client_.stats();
        StoreCounters out{s.round_trips, s.commands, s.moved, s.ask, s.retries, s.failures,
                          s.timeouts, store_->refusals(), store_->short_waits(),
                          store_->shakes_known_empty(), notices_received_, s.connects,
                          store_->runs_campaigns(), s.latency.summary()};
        for (const std::uint32_t replicas : client_.master_replicas()) {
            out.masters_short_of_replicas += replicas < wait_replicas_ ? 1U : 0U;
        }
        return out;
    }

private:
    redpacket::redis::ClusterClient client_;
    redpacket::redis::ShardedSubscriber subscriber_;
    std::unique_ptr<redpacket::redis::RedisStore> store_;
    std::uint64_t notices_received_{0};
    std::uint32_t wait_replicas_{0};
};

}  // namespace

void StoreHandle::publish(PublishedStats& p) {
    const redpacket::StoreStats st = store().stats();
    const StoreCounters sc = counters();
    const auto u = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
    using G = Gauge;
    for (const auto& [g, v] : std::to_array<std::pair<Gauge, std::int64_t>>({
             {G::amount_created, st.created.value}, {G::amount_claimed, st.claimed.value},
             {G::amount_refunded, st.refunded.value}, {G::amount_outstanding, st.outstanding.value},
             {G::shake_amount_offered, st.shake_offered.value},
             {G::shake_amount_issued, st.shake_issued.value},
             {G::shake_amount_expired, st.shake_expired.value},
             {G::packets_live, u(st.packets_live)}, {G::shake_queued, u(st.shake_queued)},
             {G::invariant_violations, u(st.invariant_violations)},
             {G::store_round_trips, u(sc.round_trips)}, {G::store_commands, u(sc.commands)},
             {G::store_moved, u(sc.moved)}, {G::store_ask, u(sc.ask)},
             {G::store_retries, u(sc.retries)}, {G::store_failures, u(sc.failures)},
             {G::store_timeouts, u(sc.timeouts)}, {G::store_refusals, u(sc.refusals)},
             {G::store_short_waits, u(sc.short_waits)},
             {G::store_shakes_known_empty, u(sc.shakes_known_empty)},
             {G::store_notices_received, u(sc.notices_received)},
             {G::store_connects, u(sc.connects)}, {G::store_lease_held, sc.lease_held ? 1 : 0},
             {G::store_latency_count, u(sc.latency.count)},
             {G::store_latency_p50, u(sc.latency.p50)}, {G::store_latency_p99, u(sc.latency.p99)},
             {G::store_masters_short, u(sc.masters_short_of_replicas)},
         })) {
        p.set(g, v);
    }
}

std::unique_ptr<StoreHandle> open_store(const Config& config,
                                        const redpacket::ConnectionRegistry& registry,
                                        redpacket::WorkerId worker, uv_loop_t* loop,
                                        std::function<void()> wake,
                                        std::shared_ptr<redpacket::redis::CampaignLease> lease) {
    if (config.store == "redis-cluster") {
        return std::make_unique<ClusterHandle>(config, registry, worker, loop,
                                               std::move(lease));
    }
    return std::make_unique<MemoryHandle>(
        open_memory_store(config, registry, worker, std::move(wake)));
}

void prepare_cluster(const Config& config) {
    if (config.store != "redis-cluster") {
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    std::optional<std::expected<void, std::string>> outcome;
    {
        redpacket::redis::ClusterClient client{&loop, cluster_options(config)};
        client.start([&](std::expected<void, std::string> started) {
            if (!started) {
                outcome = std::move(started);
                return;
            }
            redpacket::redis::prepare_functions(
                client, [&](std::expected<void, std::string> ready) { outcome = std::move(ready); });
        });
        const auto deadline = std::chrono::steady_clock::now() +
                              std::chrono::milliseconds{config.redis_timeout_ms} * 3;
        while (!outcome && std::chrono::steady_clock::now() < deadline) {
            uv_run(&loop, UV_RUN_ONCE);
        }
        bool closed = false;
        client.close([&] { closed = true; });
        while (!closed && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    (void)uv_loop_close(&loop);
    if (!outcome) {
        throw std::runtime_error("redis cluster " + config.redis_nodes +
                                 ": no answer within the timeout");
    }
    if (!*outcome) {
        throw std::runtime_error("redis cluster " + config.redis_nodes + ": " + outcome->error());
    }
    log(LogLevel::info, "redis cluster {}: slot map and functions version {} ready",
        config.redis_nodes, redpacket::redis::functions_version());
}

}  // namespace redpacketd
