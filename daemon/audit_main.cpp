// redpacket-audit: checks the money invariants of a redpacketd journal directory, or of a
// Redis Cluster store.
//
//   redpacket-audit <journal-dir> [--json] [--min-share CENTS]
//   redpacket-audit --redis host:port[,host:port] [--redis-prefix rp] [--sets 256] [--json]
//
// Replays snapshot + journal through redpacket::audit_journal (read only: a torn tail is
// reported, not truncated, so it may run beside a live daemon) and prints a summary — packets,
// claims, money created / claimed / refunded / outstanding, shake packets offered / issued /
// expired — and every violation. Exit status: 0 clean, 1 violations found, 2 the journal could
// not be read (or bad usage).
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <uv.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "redpacket/audit.hpp"
#include "redpacket/journal_file.hpp"
#include "redpacket/redis/audit.hpp"
#include "redpacket_build_info.hpp"

namespace {

using redpacket::AuditReport;

constexpr int kClean = 0;
constexpr int kViolations = 1;
constexpr int kUnreadable = 2;

nlohmann::json to_json(const std::string& dir, const AuditReport& r) {
    const redpacket::AuditSummary& s = r.summary;
    nlohmann::json violations = nlohmann::json::array();
    for (const redpacket::Violation& v : r.violations) {
        violations.push_back({{"kind", std::string{to_string(v.kind)}},
                              {"sequence", v.sequence},
                              {"packet", v.packet.value},
                              {"detail", v.detail}});
    }
    return {
        {"dir", dir},
        {"ok", r.ok()},
        {"base", r.base},
        {"base_sequence", r.base_sequence},
        {"records", s.records},
        {"first_sequence", s.first_sequence},
        {"last_sequence", s.last_sequence},
        {"packets", {{"created", s.packets_created}, {"refunded", s.packets_refunded}}},
        {"claims", s.claims},
        {"money_cents",
         {{"created", s.amount_created.value},
          {"claimed", s.amount_claimed.value},
          {"refunded", s.amount_refunded.value},
          {"outstanding", s.amount_outstanding.value}}},
        {"shake",
         {{"offered", s.shake_offered},
          {"issued", s.shake_issued},
          {"expired", s.shake_expired},
          {"amount_offered", s.shake_amount_offered.value},
          {"amount_issued", s.shake_amount_issued.value},
          {"amount_expired", s.shake_amount_expired.value},
          {"amount_queued", s.shake_amount_queued.value}}},
        {"violation_count", r.violation_count},
        {"violations", violations},
        {"warnings", r.warnings},
    };
}

void print_text(const std::string& dir, const AuditReport& r) {
    const redpacket::AuditSummary& s = r.summary;
    fmt::print("redpacket-audit {}\n", dir);
    if (r.base_sequence != 0) {
        fmt::print("  base       snapshot {} (sequence {})\n", r.base, r.base_sequence);
    } else {
        fmt::print("  base       journal from sequence 1\n");
    }
    fmt::print("  records    {} (sequences {}..{})\n", s.records, s.first_sequence, s.last_sequence);
    fmt::print("  packets    {} created, {} refunded; {} claims\n", s.packets_created,
               s.packets_refunded, s.claims);
    fmt::print("  money      created {} = claimed {} + refunded {} + outstanding {} (cents)\n",
               s.amount_created.value, s.amount_claimed.value, s.amount_refunded.value,
               s.amount_outstanding.value);
    fmt::print("  shake      offered {} ({} cents), issued {} ({}), expired {} ({}), queued {}\n",
               s.shake_offered, s.shake_amount_offered.value, s.shake_issued,
               s.shake_amount_issued.value, s.shake_expired, s.shake_amount_expired.value,
               s.shake_amount_queued.value);
    for (const std::string& w : r.warnings) {
        fmt::print("  warning    {}\n", w);
    }
    fmt::print("  violations {}\n", r.violation_count);
    for (const redpacket::Violation& v : r.violations) {
        fmt::print("    seq {} packet {:#x}: {}: {}\n", v.sequence, v.packet.value,
                   to_string(v.kind), v.detail);
    }
    if (r.violations.size() < r.violation_count) {
        fmt::print("    ... {} more not listed\n", r.violation_count - r.violations.size());
    }
}

void print_redis_report(const std::string& nodes, const std::string& prefix,
                        const redpacket::redis::ClusterAuditReport& r, bool json) {
    if (json) {
        nlohmann::json violations = nlohmann::json::array();
        for (const auto& v : r.violations) {
            violations.push_back({{"set", v.set}, {"packet", v.packet}, {"detail", v.what}});
        }
        fmt::print("{}\n", nlohmann::json{{"redis", nodes}, {"prefix", prefix},
                                          {"ok", r.violations.empty()}, {"sets", r.sets},
                                          {"packets", r.packets}, {"claims", r.claims},
                                          {"money_cents", {{"created", r.created},
                                                           {"claimed", r.claimed},
                                                           {"refunded", r.refunded},
                                                           {"outstanding", r.outstanding}}},
                                          {"violations", violations}}
                                .dump(2));
    } else {
        fmt::print("redpacket-audit --redis {} (prefix {}, {} SETs)\n", nodes, prefix, r.sets);
        fmt::print("  packets    {} live, {} claims\n", r.packets, r.claims);
        fmt::print("  money      created {} = claimed {} + refunded {} + outstanding {} (cents)\n",
                   r.created, r.claimed, r.refunded, r.outstanding);
        fmt::print("  violations {}\n", r.violations.size());
        for (const auto& v : r.violations) {
            fmt::print("    SET {} packet {}: {}\n", v.set, v.packet.empty() ? "-" : v.packet, v.what);
        }
    }
}

/// The Redis Cluster audit (redpacket/redis/audit.hpp), on a private loop.
int audit_redis(const std::string& nodes, const std::string& prefix, std::uint32_t sets,
                bool json) {
    auto seeds = redpacket::parse_host_port_list(nodes);
    if (!seeds) {
        fmt::print(stderr, "redpacket-audit: --redis: {}\n", seeds.error());
        return kUnreadable;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    std::optional<std::expected<redpacket::redis::ClusterAuditReport, std::string>> outcome;
    {
        redpacket::redis::ClusterOptions options;
        options.seeds = *seeds;
        redpacket::redis::ClusterClient client{&loop, options};
        client.start([&](std::expected<void, std::string> started) {
            if (!started) {
                outcome = std::unexpected(started.error());
                return;
            }
            redpacket::redis::audit_cluster(client, prefix, sets,
                                            [&](auto report) { outcome = std::move(report); });
        });
        while (!outcome && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
        bool closed = false;
        client.close([&] { closed = true; });
        while (!closed && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    (void)uv_loop_close(&loop);
    if (!outcome || !*outcome) {
        fmt::print(stderr, "redpacket-audit: cannot read the cluster: {}\n",
                   outcome ? outcome->error() : std::string("no answer"));
        return kUnreadable;
    }
    const redpacket::redis::ClusterAuditReport& r = **outcome;
    print_redis_report(nodes, prefix, r, json);
    return r.violations.empty() ? kClean : kViolations;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Checks the money invariants of a redpacketd journal directory, or of a Redis "
                 "Cluster store (--redis)"};
    app.set_version_flag("--version", redpacket::build_info::version_line("redpacket-audit"));
    std::string dir;
    bool json = false;
    std::int64_t min_share = 1;
    std::string redis;
    std::string prefix = "rp";
    std::uint32_t sets = 256;
    app.add_option("journal-dir", dir, "the journal directory (segments and snapshots)");
    app.add_option("--redis", redis, "audit a Redis Cluster store instead: seed nodes host:port,...");
    app.add_option("--redis-prefix", prefix, "the store's key prefix")->capture_default_str();
    app.add_option("--sets", sets, "the daemons' SET count")->check(CLI::Range(1, 4096))
        ->capture_default_str();
    app.add_flag("--json", json, "print the report as JSON");
    app.add_option("--min-share", min_share, "the smallest valid share, in cents")
        ->check(CLI::Range(std::int64_t{1}, std::int64_t{1'000'000'000'000}))
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e) == 0 ? kClean : kUnreadable;
    }
    if (!redis.empty()) {
        return audit_redis(redis, prefix, sets, json);
    }
    std::error_code ec;
    if (dir.empty() || !std::filesystem::is_directory(dir, ec)) {
        fmt::print(stderr, "redpacket-audit: {} is not a directory\n", dir);
        return kUnreadable;
    }
    redpacket::AuditOptions options;
    options.min_share = redpacket::Cents{min_share};
    const auto report = redpacket::audit_journal(redpacket::posix_file_system(), dir, options);
    if (!report) {
        fmt::print(stderr, "redpacket-audit: cannot read the journal: {}\n",
                   redpacket::describe(report.error()));
        return kUnreadable;
    }
    if (json) {
        fmt::print("{}\n", to_json(dir, *report).dump(2));
    } else {
        print_text(dir, *report);
    }
    return report->ok() ? kClean : kViolations;
}
