// Command-line options of redpacket-load (CLI11) and the loopback-only target rule.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "pacing.hpp"
#include "plan.hpp"

namespace redpacket::load {

/// What each paced (or closed-loop) request is.
enum class Workload : std::uint8_t {
    shake,  ///< a shake (the seed experiment)
    claim,  ///< a claim: each connection creates one packet with a share for every other
            ///< connection at login, then claims the others' packets in turn
    cycle,  ///< a packet's whole life: a connection with no packet open creates a one-share
            ///< packet, its next request claims it; each packet finishes within two
            ///< requests and expires (and is archived) cycle_ttl seconds after its create
};

/// Everything a run needs.
struct Options {
    std::string target{"127.0.0.1"};  ///< IPv4 loopback address of redpacketd
    std::uint16_t port{0};
    std::uint32_t sources{4};          ///< source addresses 127.0.0.2 .. 127.0.0.(1+sources)
    Mode mode{Mode::seed};
    std::uint32_t inflight{1};         ///< closed mode: requests in flight per connection
    Workload workload{Workload::shake};
    /// Claim workload: how many connections make a packet that every connection claims in
    /// turn (0: every connection; 1: one hot packet).
    std::uint32_t claim_packets{0};
    /// Cycle workload: the lifetime of each packet created, seconds.
    std::uint32_t cycle_ttl{2};
    Plan plan;
    std::string csv_path;              ///< empty: no CSV
    std::string json_path;             ///< empty: summary on stdout only
    std::uint16_t admin_port{0};       ///< 0: do not scrape /stats
    std::string admin_token;           ///< sent as a bearer token with the scrape
    std::uint64_t max_seconds{600};    ///< hard limit on the whole run
    std::string auth_secret;           ///< non-empty: authenticated login (cmd 16)
    std::uint32_t user_base{1};        ///< user id of connection i is user_base + i
    bool quiet{false};                 ///< no live line on stderr
    /// The peer is a plain echo server (redpacket-echo): an echoed login counts as logged in
    /// and an echoed shake as its reply (result "none"). For the machine's raw ceiling.
    bool echo{false};
    /// Busy-poll the loop and pace on every iteration instead of on a 1 ms timer, so send times
    /// match the schedule to microseconds (uses a whole core; pin the generator).
    bool spin{false};
    std::int64_t server_pid{0};        ///< > 0: sample this process's CPU and RSS from /proc
    /// A second is "preempted" when the daemon's or the generator's threads waited this long
    /// in the run queue during it (summed over threads).
    std::uint64_t preempt_threshold_us{1000};
};

/// Why parsing stopped: exit code 0 for --help (message = help text), 2 for a usage error.
struct OptionsExit {
    int exit_code{2};
    std::string message;
};

/// Parses argv (argv[0] is the program name).
[[nodiscard]] std::expected<Options, OptionsExit> parse_options(int argc, const char* const* argv);

/// True for an IPv4 loopback host: a dotted quad in 127.0.0.0/8, or "localhost"
/// (redpacket/address.hpp); the generator and the echo server speak IPv4 only.
[[nodiscard]] bool is_ipv4_loopback(std::string_view host) noexcept;

}  // namespace redpacket::load
