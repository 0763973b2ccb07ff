// Option parsing with CLI11; the plan through parse_plan / parse_plan_json.
#include "options.hpp"

#include <arpa/inet.h>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "redpacket/address.hpp"
#include "redpacket_build_info.hpp"

#include <fstream>
#include <sstream>

namespace redpacket::load {
namespace {

std::expected<Plan, std::string> load_plan(const std::string& text, const std::string& file) {
    if (!text.empty() && !file.empty()) {
        return std::unexpected(std::string("give either --plan or --plan-file, not both"));
    }
    if (file.empty()) {
        return parse_plan(text.empty() ? "connect 1000 @ 1000/s; qps 1000 for 10s" : text);
    }
    std::ifstream in(file);
    if (!in) {
        return std::unexpected(fmt::format("cannot read plan file '{}'", file));
    }
    std::stringstream ss;
    ss << in.rdbuf();
    auto plan = parse_plan_json(ss.str());
    if (!plan) {
        return std::unexpected(fmt::format("{}: {}", file, plan.error()));
    }
    return plan;
}

std::expected<Workload, OptionsExit> parse_workload(const std::string& name, bool echo) {
    if (name != "shake" && name != "claim" && name != "cycle") {
        return std::unexpected(
            OptionsExit{2, fmt::format("--request {}: expected shake, claim or cycle", name)});
    }
    if (name != "shake" && echo) {
        return std::unexpected(OptionsExit{2, fmt::format("--request {} cannot run against --echo", name)});
    }
    return name == "claim" ? Workload::claim : name == "cycle" ? Workload::cycle : Workload::shake;
}

}  // namespace

bool is_ipv4_loopback(std::string_view host) noexcept {
    return redpacket::is_loopback_host(host) && redpacket::parse_ipv4_host(host).has_value();
}

std::expected<Options, OptionsExit> parse_options(int argc, const char* const* argv) {
    Options o;
    std::string mode = "seed";
    std::string workload = "shake";
    std::string plan_text;
    std::string plan_file;
    CLI::App app{"redpacket-load: paced, coordinated-omission-free load for redpacketd "
                 "(loopback only, one libuv loop, single-threaded)"};
    app.set_version_flag("--version", redpacket::build_info::version_line("redpacket-load"));
    app.add_option("--target", o.target, "daemon address (127.0.0.0/8 only)")->capture_default_str();
    app.add_option("--port", o.port, "daemon client port")->required();
    app.add_option("--sources", o.sources, "source addresses 127.0.0.2..")
        ->check(CLI::Range(1, 250))->capture_default_str();
    app.add_option("--mode", mode, "seed | smooth | closed")->capture_default_str();
    app.add_option("--request", workload,
                   "shake | claim (each connection creates a packet with a share for every "
                   "other connection, then claims the others' packets; the daemon's "
                   "max_shares must be at least the connection count) | cycle (a "
                   "connection with no packet open creates a one-share packet and its next "
                   "request claims it: every packet finishes and then expires)")
        ->capture_default_str();
    app.add_option("--claim-packets", o.claim_packets,
                   "claim: only the first N connections make a packet, and every connection "
                   "claims those N in turn (1: one hot packet); 0: every connection")
        ->capture_default_str();
    app.add_option("--cycle-ttl", o.cycle_ttl,
                   "cycle: each packet's lifetime, seconds (it expires, and is archived, then)")
        ->check(CLI::Range(1, 86400))->capture_default_str();
    app.add_option("--inflight", o.inflight, "closed mode: requests in flight per connection")
        ->check(CLI::Range(1, 1024))->capture_default_str();
    app.add_option("--plan", plan_text, "e.g. \"connect 2000 @ 1000/s; hold 2s; qps 3000 for 10s\"");
    app.add_option("--plan-file", plan_file, "JSON list of phases");
    app.add_option("--csv", o.csv_path, "per-second CSV file");
    app.add_option("--json", o.json_path, "JSON summary file (also printed to stdout)");
    app.add_option("--admin-port", o.admin_port, "scrape GET /stats on 127.0.0.1:P each second");
    app.add_option("--admin-token", o.admin_token,
                   "bearer token for the scrape (prefer the environment variable: a flag shows "
                   "in /proc/<pid>/cmdline)")
        ->envname("REDPACKETD_ADMIN_TOKEN");
    app.add_option("--max-seconds", o.max_seconds, "hard limit on the run")
        ->check(CLI::Range(1, 86400))->capture_default_str();
    app.add_option("--auth-secret", o.auth_secret, "log in with HMAC-SHA256 tokens (cmd 16)");
    app.add_option("--user-base", o.user_base, "user id of the first connection")
        ->check(CLI::Range(1U, 4'000'000'000U))->capture_default_str();
    app.add_flag("--quiet", o.quiet, "no live line on stderr");
    app.add_flag("--echo", o.echo, "the target echoes bytes back (redpacket-echo): echoed "
                                   "logins and shakes count as replies");
    app.add_flag("--spin", o.spin, "busy-poll: send on schedule to the microsecond instead of "
                                   "on a 1 ms timer (uses a whole core)");
    app.add_option("--server-pid", o.server_pid,
                   "sample this process's CPU time and RSS from /proc each second")
        ->check(CLI::PositiveNumber);
    app.add_option("--preempt-threshold-us", o.preempt_threshold_us,
                   "mark a second preempted when the daemon's or this generator's threads "
                   "waited this long in the run queue during it (/proc/<pid>/task/*/schedstat)")
        ->capture_default_str();
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return std::unexpected(OptionsExit{0, app.help()});
    } catch (const CLI::CallForVersion& e) {
        return std::unexpected(OptionsExit{0, e.what()});
    } catch (const CLI::ParseError& e) {
        return std::unexpected(OptionsExit{2, e.what()});
    }
    if (!is_ipv4_loopback(o.target)) {
        return std::unexpected(OptionsExit{
            2, fmt::format("--target {}: only IPv4 loopback targets (127.0.0.0/8) are allowed",
                           o.target)});
    }
    if (o.target == "localhost") {
        o.target = "127.0.0.1";  // connect() takes a dotted quad
    }
    const auto m = mode_from_string(mode);
    if (!m) {
        return std::unexpected(OptionsExit{2, fmt::format("--mode {}: expected seed, smooth or "
                                                          "closed", mode)});
    }
    o.mode = *m;
    const auto w = parse_workload(workload, o.echo);
    if (!w) {
        return std::unexpected(w.error());
    }
    o.workload = *w;
    auto plan = load_plan(plan_text, plan_file);
    if (!plan) {
        return std::unexpected(OptionsExit{2, "plan: " + plan.error()});
    }
    o.plan = std::move(*plan);
    return o;
}

}  // namespace redpacket::load
