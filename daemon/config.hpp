// redpacketd configuration: every setting, its default, and how it is loaded.
//
// Settings come from defaults, then an optional JSON file, then command-line flags (flags
// win). Unknown JSON keys and out-of-range values are start-up errors that name the key.
// A plain value type; no thread-safety concerns.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redpacket/campaign.hpp"
#include "redpacket/money.hpp"
#include "redpacket/split.hpp"

namespace redpacketd {

/// The campaigns' settings are the library's (redpacket/campaign.hpp).
using ShakeCampaignConfig = redpacket::ShakeCampaign;
using SendCampaignConfig = redpacket::SendCampaign;

/// Every setting of the daemon.
struct Config {
    // Network.
    std::string host{"127.0.0.1"};
    std::uint16_t port{1025};                 ///< 0 = pick a free port (printed when ready)
    std::string admin_host{"127.0.0.1"};
    std::uint16_t admin_port{8989};           ///< 0 = pick a free port
    std::string admin_token;                  ///< bearer token for the admin API; empty = none
    std::string admin_token_file;             ///< file holding admin_token (keeps it off argv)
    std::uint32_t admin_read_timeout_ms{1000}; ///< GET /packets/<id>/proof: longest wait for the store
    std::uint32_t workers{0};                 ///< 0 = number of cores
    std::uint32_t sets{256};                  ///< SETs (shards)
    std::uint32_t backlog{4096};
    std::string cpu_affinity;                 ///< CPU list for the workers ("0", "2-3"); empty = none
    std::uint32_t realtime_priority{0};       ///< SCHED_FIFO priority of the workers; 0 = normal

    // Authentication.
    bool compat_mode{false};                  ///< accept the original unauthenticated login
    bool allow_compat_on_public{false};       ///< compat mode on a non-loopback address
    bool allow_readable_secret_files{false};  ///< secret files group or others may read
    std::string auth_secret;                  ///< HMAC-SHA256 key for authenticated logins
    std::string auth_secret_file;             ///< file holding auth_secret (keeps it off argv)

    // Limits (every one counted in /metrics).
    std::uint32_t max_connections{100000};
    std::uint32_t login_timeout_ms{5000};
    std::uint32_t idle_timeout_ms{120000};
    std::uint32_t shutdown_grace_ms{3000};    ///< SIGTERM: time to finish what was read
    std::uint32_t max_frame{1024};
    std::uint32_t output_cap{256 * 1024};     ///< bytes queued to one client before closing it
    std::uint32_t socket_send_buffer{0};      ///< SO_SNDBUF of client sockets; 0 = autotuned
    std::uint32_t rate_limit{1000};           ///< requests per second per connection
    std::uint32_t mailbox_capacity{65536};    ///< cross-worker messages per worker
    std::uint32_t max_forwarded{65536};       ///< requests forwarded and not yet answered, per worker

    // Pools (per SET).
    std::uint32_t max_packets_per_set{4096};
    std::uint32_t shake_capacity_per_set{1024};
    std::uint32_t max_shares{1000};
    std::int64_t max_packet_total{100000000};  ///< cents
    std::uint32_t max_ttl_seconds{86400};
    std::uint32_t retention_seconds{60};
    std::uint32_t proof_retention_seconds{7 * 86400};  ///< the proof archive's; 0 = none
    std::uint64_t seed{2017};
    bool verifiable_splits{true};             ///< per-packet committed seeds (docs/fairness.md)

    // Write-ahead journal (off when journal_dir is empty): one directory per worker below it.
    std::string journal_dir;
    std::string journal_fsync{"batch"};       ///< always, batch or off
    std::uint32_t journal_max_delay_us{2000}; ///< group commit: longest wait before a batch
    std::uint32_t journal_max_batch{1024};    ///< group commit: records that start a batch early
    std::uint32_t journal_max_pending{65536}; ///< records not yet durable before refusing
    std::uint64_t journal_segment_bytes{64ULL << 20};
    std::uint32_t snapshot_interval_s{60};    ///< 0 = never
    bool journal_repair{false};               ///< cut a corrupt journal instead of failing

    // Where packets live: "memory" (this process's pools, journaled with journal_dir) or
    // "redis-cluster" (any number of daemons share one Redis Cluster).
    std::string store{"memory"};
    std::string redis_nodes;                  ///< seed nodes, "host:port,host:port"
    std::string redis_prefix{"rp"};           ///< key prefix (several services can share a cluster)
    std::string redis_source_address;         ///< local IPv4 address to reach Redis from; "" = any
    std::uint32_t redis_timeout_ms{2000};     ///< deadline of one store operation, retries included
    std::uint32_t redis_wait_replicas{1};     ///< replicas a write must reach before money replies
    bool redis_wait_all_replicas{true};       ///< and for every replica its master has
    std::uint32_t redis_wait_timeout_ms{200}; ///< how long WAIT waits for them
    std::uint32_t redis_sweep_interval_ms{250};  ///< how often each SET's expiry is swept
    std::uint32_t redis_shake_empty_ms{1000};    ///< how long an empty shake supply is trusted
    std::uint32_t redis_lease_ttl_ms{3000};      ///< campaign lease lifetime (renewed at a third)
    std::uint32_t redis_max_claim_batch{256};    ///< claims on one SET sent as one call, at most

    ShakeCampaignConfig shake;
    SendCampaignConfig send;

    std::string log_level{"info"};            ///< debug, info, warn, error
    std::string log_format{"text"};           ///< text or json (one object per line)
};

/// Loads `path` (JSON) over the defaults. Errors name the key and the problem.
[[nodiscard]] std::expected<Config, std::string> load_config_file(const std::string& path);
/// Parses a JSON text over `base`.
[[nodiscard]] std::expected<Config, std::string> parse_config(const std::string& json_text,
                                                              Config base = {});
/// Checks cross-field rules (ranges, compat mode on public addresses, ...).
[[nodiscard]] std::expected<void, std::string> validate(const Config& config);
/// What to_json prints for a secret that is set (and check_secrets refuses as a value).
inline constexpr std::string_view kRedacted = "<redacted>";
/// Whether to_json prints the secrets (auth_secret, admin_token) or "<redacted>" for each
/// one that is set.
enum class Secrets { redacted, shown };
/// The effective configuration as pretty JSON (what --print-config prints, secrets redacted).
[[nodiscard]] std::string to_json(const Config& config, Secrets secrets = Secrets::redacted);
/// The keys ("port", "shake.rate") whose values differ between `a` and `b`, in table order.
[[nodiscard]] std::vector<std::string> changed_settings(const Config& a, const Config& b);
/// What a SIGHUP does with a changed setting: applies it while running, or logs that it needs a
/// restart (each setting's `reload` column in config_table.hpp).
enum class Reload { restart, runtime };
/// Whether SIGHUP applies a change of `key` ("log_level", "shake.rate") while running; false for
/// a setting that needs a restart, and for an unknown key.
[[nodiscard]] bool reloadable(std::string_view key);
/// Environment variables that set a secret, read after the config file and before the flags
/// (the table's `env` column names them).
inline constexpr const char* kAuthSecretEnv = "REDPACKETD_AUTH_SECRET";
inline constexpr const char* kAdminTokenEnv = "REDPACKETD_ADMIN_TOKEN";
/// A variable of the environment and the setting it sets.
struct EnvironmentSetting {
    std::string_view variable;  ///< "REDPACKETD_AUTH_SECRET"
    std::string_view key;       ///< "auth_secret"
};
/// Every variable of the environment that sets a setting, in table order.
[[nodiscard]] std::vector<EnvironmentSetting> environment_settings();
/// Refuses a secret that is "<redacted>" (a --print-config output loaded back). Part of validate.
[[nodiscard]] std::expected<void, std::string> check_secrets(const Config& config);
/// Each variable of environment_settings() that is set and non-empty over its setting in
/// `config` ($REDPACKETD_AUTH_SECRET, $REDPACKETD_ADMIN_TOKEN).
void apply_secret_environment(Config& config);
/// Reads `auth_secret_file` / `admin_token_file` into their secrets (one trailing newline
/// dropped). Error: a file that cannot be read or is empty, or a secret given both ways.
[[nodiscard]] std::expected<void, std::string> load_secret_files(Config& config);
/// Parses the command line (CLI11): --config FILE, one flag per setting, --print-config,
/// --help. Returns the effective config, or an error / help text and an exit code.
struct CommandLine {
    Config config;
    bool print_config{false};
};
struct CommandLineExit {
    int code;
    std::string text;
};
[[nodiscard]] std::expected<CommandLine, CommandLineExit> parse_command_line(int argc,
                                                                             char** argv);

}  // namespace redpacketd
