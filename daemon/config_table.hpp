// redpacketd's option table: one row per setting, and everything about a setting derives from
// its row — the JSON key (config file and --print-config, where a `secret` prints as
// "<redacted>"), the command-line flag and its --help line (and so the man page, which help2man
// makes from --help), the range validate() enforces on the setting alone, whether SIGHUP applies
// a change while running (`reload`), and the environment variable that sets it (`env`).
//
// Internal to the configuration code (config.cpp, config_files.cpp) and to the compile-time
// check that SIGHUP's code agrees with it (server_reload.cpp); everything else asks config.hpp.
// Everything here is constexpr data, no state.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <variant>

#include "config.hpp"

namespace redpacketd::config_table {

using redpacket::SplitPolicy;

template <template <class> class Pointer>
using FieldVariant = std::variant<Pointer<bool>, Pointer<std::uint16_t>, Pointer<std::uint32_t>,
                                  Pointer<std::uint64_t>, Pointer<std::int64_t>,
                                  Pointer<std::string>, Pointer<SplitPolicy>>;
template <class T>
using MutablePointer = T*;
template <class T>
using ConstPointer = const T*;
using FieldRef = FieldVariant<MutablePointer>;  ///< a setting to write
using FieldView = FieldVariant<ConstPointer>;   ///< a setting to read

struct Accessor {
    FieldRef (*ref)(Config&);
    FieldView (*view)(const Config&);
};

/// Reaches the member `config.*P1.*P2...` (one pointer for a top-level setting, two inside a
/// campaign).
// clang-format off
template <auto... Path>
inline constexpr Accessor at{[](Config& c) -> FieldRef { return &(c .* ... .* Path); },
                             [](const Config& c) -> FieldView { return &(c .* ... .* Path); }};
// clang-format on

inline constexpr std::int64_t kNoMin = std::numeric_limits<std::int64_t>::min();
inline constexpr std::int64_t kNoMax = std::numeric_limits<std::int64_t>::max();
inline constexpr bool kSecret = true;

/// One setting. `key` is "name", or "section.name" inside a campaign object; `min`/`max` are
/// the bounds on the setting alone (cross-field rules live in config.cpp's `check_orderings`).
struct Field {
    std::string_view key;
    Accessor access;
    Reload reload;  ///< runtime: a SIGHUP applies a change; restart: it is logged as needing one
    std::string_view help;
    std::int64_t min{kNoMin};
    std::int64_t max{kNoMax};
    bool secret{false};      ///< printed as "<redacted>" by to_json unless asked otherwise
    std::string_view env{};  ///< environment variable setting it (over the file, under the flags)
};

inline constexpr auto kShake = &Config::shake;
inline constexpr auto kSend = &Config::send;
using Shake = ShakeCampaignConfig;
using Send = SendCampaignConfig;
using enum Reload;

// Row: key, where it lives, reload, help[, min[, max[, secret, env]]].
// clang-format off
inline constexpr auto kFields = std::to_array<Field>({
    {"host", at<&Config::host>, restart, "address of the game protocol listener"},
    {"port", at<&Config::port>, restart, "game protocol port; 0 picks a free one"},
    {"admin_host", at<&Config::admin_host>, restart, "address of the admin HTTP API"},
    {"admin_port", at<&Config::admin_port>, restart, "admin HTTP port; 0 picks a free one"},
    {"admin_token", at<&Config::admin_token>, restart,
     "bearer token for the admin API; empty = none (visible in the process list as a flag: prefer "
     "--admin-token-file or the environment)", kNoMin, kNoMax, kSecret, kAdminTokenEnv},
    {"admin_token_file", at<&Config::admin_token_file>, restart,
     "file holding the admin API's bearer token (one trailing newline dropped)"},
    {"admin_read_timeout_ms", at<&Config::admin_read_timeout_ms>, restart,
     "GET /packets/<id>/proof: longest wait for the packet's store; over it, 503", 1, 60000},
    {"workers", at<&Config::workers>, restart, "worker threads; 0 = number of cores", 0, 1024},
    {"sets", at<&Config::sets>, restart, "SETs (shards)", 1, 4096},
    {"backlog", at<&Config::backlog>, restart, "listen(2) backlog"},
    {"cpu_affinity", at<&Config::cpu_affinity>, restart,
     "CPU list (0,2-3): worker i pinned to its i-th CPU, the other threads kept off them; empty = "
     "no pinning"},
    {"realtime_priority", at<&Config::realtime_priority>, restart,
     "SCHED_FIFO priority of the worker threads (needs CAP_SYS_NICE or RLIMIT_RTPRIO; see "
     "README); 0 = normal scheduling", 0, 99},
    {"compat_mode", at<&Config::compat_mode>, restart,
     "accept the original unauthenticated login (off by default: logins need an auth_secret "
     "token)"},
    {"allow_compat_on_public", at<&Config::allow_compat_on_public>, restart,
     "allow compat mode on a non-loopback host"},
    {"auth_secret", at<&Config::auth_secret>, restart,
     "HMAC-SHA256 key for authenticated logins (prefer --auth-secret-file or the environment)",
     kNoMin, kNoMax, kSecret, kAuthSecretEnv},
    {"auth_secret_file", at<&Config::auth_secret_file>, restart,
     "file holding auth_secret (one trailing newline dropped)"},
    {"allow_readable_secret_files", at<&Config::allow_readable_secret_files>, restart,
     "accept an auth_secret_file or admin_token_file that group or others may read"},
    {"max_connections", at<&Config::max_connections>, runtime, "most open client connections"},
    {"login_timeout_ms", at<&Config::login_timeout_ms>, runtime, "time allowed to log in", 1},
    {"idle_timeout_ms", at<&Config::idle_timeout_ms>, runtime, "time a silent client stays", 1},
    {"shutdown_grace_ms", at<&Config::shutdown_grace_ms>, runtime,
     "on SIGTERM/SIGINT: longest wait for replies already owed (journal, other workers, slow "
     "readers) before closing", 0, 4000},
    {"max_frame", at<&Config::max_frame>, restart, "largest request frame, bytes", 72, 65535},
    {"output_cap", at<&Config::output_cap>, runtime,
     "bytes queued to one client before closing it", 4096},
    {"socket_send_buffer", at<&Config::socket_send_buffer>, restart,
     "kernel send buffer of a client socket (SO_SNDBUF); 0 = the kernel's autotuning",
     0, std::int64_t{1} << 30},
    {"rate_limit", at<&Config::rate_limit>, restart, "requests per second per connection", 1},
    {"mailbox_capacity", at<&Config::mailbox_capacity>, restart,
     "cross-worker messages per worker", 16, std::int64_t{1} << 30},
    {"max_forwarded", at<&Config::max_forwarded>, runtime,
     "requests a worker has forwarded to others and not yet had answered",
     1, std::int64_t{1} << 30},
    {"max_packets_per_set", at<&Config::max_packets_per_set>, restart,
     "open packets per SET", 1, std::int64_t{1} << 19},
    {"shake_capacity_per_set", at<&Config::shake_capacity_per_set>, restart,
     "shake packets queued per SET", 1},
    {"max_shares", at<&Config::max_shares>, restart, "most shares of one packet", 1, 100'000},
    {"max_packet_total", at<&Config::max_packet_total>, restart,
     "largest packet, cents", 1, 1'000'000'000'000},
    {"max_ttl_seconds", at<&Config::max_ttl_seconds>, restart, "longest packet lifetime"},
    {"retention_seconds", at<&Config::retention_seconds>, restart,
     "how long a packet stays queryable, and its proof fetchable, after its deadline "
     "(counted from the deadline, also for a packet claimed out earlier)"},
    {"proof_retention_seconds", at<&Config::proof_retention_seconds>, restart,
     "with a journal: how long a finished packet's proof stays fetchable from the proof archive "
     "(journal_dir/worker-N/proofs.sqlite) after its deadline; 0 = no archive"},
    {"seed", at<&Config::seed>, restart, "random seed (splits when verifiable_splits is off)"},
    {"verifiable_splits", at<&Config::verifiable_splits>, restart,
     "each packet's split from its own committed CSPRNG seed, provable (docs/fairness.md)"},
    {"journal_dir", at<&Config::journal_dir>, restart,
     "write-ahead journal directory; empty = none"},
    {"journal_fsync", at<&Config::journal_fsync>, restart, "always, batch (group commit) or off"},
    {"journal_max_delay_us", at<&Config::journal_max_delay_us>, restart,
     "group commit interval", 0, 1'000'000},
    {"journal_max_batch", at<&Config::journal_max_batch>, restart,
     "records that start a batch early", 1},
    {"journal_max_pending", at<&Config::journal_max_pending>, restart,
     "records not yet durable before money requests are refused", 16},
    {"journal_segment_bytes", at<&Config::journal_segment_bytes>, restart,
     "journal segment size", 4096},
    {"snapshot_interval_s", at<&Config::snapshot_interval_s>, restart,
     "seconds between snapshots; 0 = never"},
    {"journal_repair", at<&Config::journal_repair>, restart,
     "cut a corrupt journal at the first bad record instead of refusing to start (what is cut is "
     "logged)"},
    {"store", at<&Config::store>, restart, "memory or redis-cluster"},
    {"redis_nodes", at<&Config::redis_nodes>, restart,
     "Redis Cluster seed nodes: host:port,host:port"},
    {"redis_prefix", at<&Config::redis_prefix>, restart, "prefix of every Redis key"},
    {"redis_source_address", at<&Config::redis_source_address>, restart,
     "local IPv4 address the connections to Redis leave from; empty = the kernel's choice"},
    {"redis_timeout_ms", at<&Config::redis_timeout_ms>, restart,
     "deadline of one store operation, retries included", 10, 60'000},
    {"redis_wait_replicas", at<&Config::redis_wait_replicas>, restart,
     "replicas a write must reach (WAIT) before a reply reports money", 0, 16},
    {"redis_wait_all_replicas", at<&Config::redis_wait_all_replicas>, restart,
     "also WAIT for every replica the slot map lists for the master (a failover may promote "
     "any of them); false: redis_wait_replicas alone"},
    {"redis_wait_timeout_ms", at<&Config::redis_wait_timeout_ms>, restart,
     "how long WAIT waits", 1, 60'000},
    {"redis_sweep_interval_ms", at<&Config::redis_sweep_interval_ms>, restart,
     "how often each SET's due packets are refunded", 10, 60'000},
    {"redis_shake_empty_ms", at<&Config::redis_shake_empty_ms>, restart,
     "how long a SET's shake supply found empty is trusted to stay so", 0, 60'000},
    {"redis_lease_ttl_ms", at<&Config::redis_lease_ttl_ms>, restart,
     "campaign lease lifetime; one daemon of a cluster runs the campaigns", 300, 600'000},
    {"redis_max_claim_batch", at<&Config::redis_max_claim_batch>, restart,
     "claims on one SET asked for in one loop iteration go to Redis as one call of at most this "
     "many (1: one call per claim)", 1, 4096},
    {"shake.enabled", at<kShake, &Shake::enabled>, runtime, "run the shake campaign"},
    {"shake.rate", at<kShake, &Shake::rate>, runtime, "packets per second over all SETs"},
    {"shake.total", at<kShake, &Shake::total>, runtime, "packets to offer in all; 0 = no limit"},
    {"shake.min_amount", at<kShake, &Shake::min_amount>, runtime, "smallest packet, cents", 1},
    {"shake.max_amount", at<kShake, &Shake::max_amount>, runtime, "largest packet, cents"},
    {"shake.ttl_seconds", at<kShake, &Shake::ttl_seconds>, runtime, "packet lifetime", 1},
    {"send.enabled", at<kSend, &Send::enabled>, runtime, "run the send campaign"},
    {"send.rate", at<kSend, &Send::rate>, runtime, "packets per second over all SETs"},
    {"send.total", at<kSend, &Send::total>, runtime, "packets to create in all; 0 = no limit"},
    {"send.min_total", at<kSend, &Send::min_total>, runtime, "smallest packet, cents"},
    {"send.max_total", at<kSend, &Send::max_total>, runtime, "largest packet, cents"},
    {"send.shares", at<kSend, &Send::shares>, runtime, "recipients per packet", 1, 3},
    {"send.policy", at<kSend, &Send::policy>, runtime, "double_mean, line_cut, equal or fixed"},
    {"send.ttl_seconds", at<kSend, &Send::ttl_seconds>, runtime, "packet lifetime", 1},
    {"log_level", at<&Config::log_level>, runtime, "debug, info, warn or error"},
    {"log_format", at<&Config::log_format>, runtime,
     "text, or json: one object per line with time, level and msg"},
});
// clang-format on

/// The row of `key`, or nullptr.
[[nodiscard]] constexpr const Field* find_field(std::string_view key) noexcept {
    for (const Field& field : kFields) {
        if (field.key == key) {
            return &field;
        }
    }
    return nullptr;
}

/// Every variable sets a text setting (apply_secret_environment stores its text as it is).
/// Checked by a test, not a static_assert: building a Config (std::string members) in a
/// constant expression works with g++ 12 but not with clang 19 on libstdc++ 12.
[[nodiscard]] inline bool environment_sets_text() {
    Config config;
    for (const Field& field : kFields) {
        if (!field.env.empty() && !std::holds_alternative<std::string*>(field.access.ref(config))) {
            return false;
        }
    }
    return true;
}

}  // namespace redpacketd::config_table
