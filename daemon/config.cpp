// redpacketd configuration: loading, checking and printing.
//
// One table, `kFields` (config_table.hpp), lists every setting once: its JSON key, where it lives
// in `Config`, whether SIGHUP applies it, its flag help, its range, whether it is a secret and
// its environment variable. JSON loading, JSON printing, the command-line flags and their help,
// the per-setting range checks and the reload rule all walk that table, so a new setting is one
// row. Command-line values are converted by the same code as JSON values (the flag text is read
// as a JSON scalar), so both sources refuse the same inputs with the same messages.
#include "config.hpp"
#include "config_table.hpp"
#include "isolation.hpp"
#include "redpacket_build_info.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <concepts>
#include <exception>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "redpacket/address.hpp"
#include "redpacket/journal.hpp"

namespace redpacketd {

namespace {

using Json = nlohmann::ordered_json;  // keeps the table's order in --print-config
using config_table::Field;
using config_table::FieldRef;
using config_table::FieldView;
using config_table::find_field;
using config_table::kFields;
using config_table::kNoMax;
using config_table::kNoMin;
using redpacket::SplitPolicy;

constexpr std::array kPolicies{SplitPolicy::double_mean, SplitPolicy::line_cut, SplitPolicy::equal,
                               SplitPolicy::fixed};
constexpr std::array<std::string_view, 4> kLogLevels{"debug", "info", "warn", "error"};

/// True if `name` is a campaign object ("shake", "send"): some key is "name.<setting>".
bool is_section(std::string_view name) {
    for (const Field& field : kFields) {
        if (field.key.starts_with(fmt::format("{}.", name))) {
            return true;
        }
    }
    return false;
}

/// "--shake-min-amount" for "shake.min_amount".
std::string flag_name(std::string_view key) {
    std::string flag = fmt::format("--{}", key);
    std::ranges::replace(flag, '.', '-');
    std::ranges::replace(flag, '_', '-');
    return flag;
}

std::string policy_names() {
    std::string names;
    for (SplitPolicy policy : kPolicies) {
        names += fmt::format("{}{}", names.empty() ? "" : ", ", redpacket::to_string(policy));
    }
    return names;
}

/// A JSON value for error messages: `number -1`, `string "x"`, `object`.
std::string describe(const Json& value) {
    if (value.is_structured() || value.is_null()) {
        return value.type_name();
    }
    return fmt::format("{} {}", value.type_name(),
                       value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

using Stored = std::expected<void, std::string>;

Stored store_value(bool& out, const Json& value) {
    if (!value.is_boolean()) {
        return std::unexpected(fmt::format("expected true or false, got {}", describe(value)));
    }
    out = value.get<bool>();
    return {};
}

Stored store_value(std::string& out, const Json& value) {
    if (!value.is_string()) {
        return std::unexpected(fmt::format("expected a string, got {}", describe(value)));
    }
    out = value.get<std::string>();
    return {};
}

Stored store_value(SplitPolicy& out, const Json& value) {
    std::optional<SplitPolicy> policy;
    if (value.is_string()) {
        policy = redpacket::parse_split_policy(value.get_ref<const std::string&>());
    }
    if (!policy) {
        return std::unexpected(
            fmt::format("expected one of {}, got {}", policy_names(), describe(value)));
    }
    out = *policy;
    return {};
}

template <std::integral T>
requires(!std::same_as<T, bool>) Stored store_value(T& out, const Json& value) {
    // nlohmann keeps non-negative literals as unsigned and negative ones as signed.
    const bool fits = value.is_number_unsigned() ? std::in_range<T>(value.get<std::uint64_t>())
                                                 : value.is_number_integer() &&
                                                       std::in_range<T>(value.get<std::int64_t>());
    if (!fits) {
        return std::unexpected(fmt::format("expected an integer in [{}, {}], got {}",
                                           std::numeric_limits<T>::min(),
                                           std::numeric_limits<T>::max(), describe(value)));
    }
    out = value.get<T>();
    return {};
}

Stored store(FieldRef ref, const Json& value) {
    return std::visit([&value](auto* target) { return store_value(*target, value); }, ref);
}

Json json_value(FieldView view) {
    return std::visit(
        [](const auto* source) -> Json {
            if constexpr (std::is_same_v<std::remove_cvref_t<decltype(*source)>, SplitPolicy>) {
                return std::string(redpacket::to_string(*source));
            } else {
                return *source;
            }
        },
        view);
}

/// Stores every member of `object` (the top level when `section` is empty).
Stored load_object(const Json& object, const std::string& section, Config& config) {
    for (const auto& item : object.items()) {
        const std::string key =
            section.empty() ? item.key() : fmt::format("{}.{}", section, item.key());
        if (section.empty() && is_section(key)) {
            if (!item.value().is_object()) {
                return std::unexpected(
                    fmt::format("\"{}\": expected an object, got {}", key, describe(item.value())));
            }
            if (auto loaded = load_object(item.value(), key, config); !loaded) {
                return loaded;
            }
            continue;
        }
        const Field* field = find_field(key);
        if (field == nullptr) {
            return std::unexpected(fmt::format("unknown key \"{}\"", key));
        }
        if (auto stored = store(field->access.ref(config), item.value()); !stored) {
            return std::unexpected(fmt::format("\"{}\": {}", key, stored.error()));
        }
    }
    return {};
}

// ---- validation ----

std::optional<std::string> range_problem(const Field& field, const Config& config) {
    return std::visit(
        [&field](const auto* value) -> std::optional<std::string> {
            using T = std::remove_cvref_t<decltype(*value)>;
            if constexpr (std::integral<T> && !std::same_as<T, bool>) {
                // The sentinels mean "no bound" (a uint64_t seed may exceed kNoMax).
                const bool below = field.min != kNoMin && std::cmp_less(*value, field.min);
                const bool above = field.max != kNoMax && std::cmp_greater(*value, field.max);
                if (below || above) {
                    const std::string bound =
                        field.max == kNoMax   ? fmt::format("at least {}", field.min)
                        : field.min == kNoMin ? fmt::format("at most {}", field.max)
                                              : fmt::format("in [{}, {}]", field.min, field.max);
                    return fmt::format("\"{}\" must be {}, got {}", field.key, bound, *value);
                }
            }
            return std::nullopt;
        },
        field.access.view(config));
}

/// `lower` ≤ `upper`, both settings named in the message.
struct Ordering {
    std::string_view lower_key;
    std::int64_t lower;
    std::string_view upper_key;
    std::int64_t upper;
};

constexpr std::int64_t kWireMax = 0xffffffffLL;

Stored check_orderings(const Config& c) {
    const std::array orderings{
        Ordering{"workers", c.workers, "sets", c.sets},  // workers = 0 always passes
        Ordering{"shake.min_amount", c.shake.min_amount, "shake.max_amount", c.shake.max_amount},
        Ordering{"shake.max_amount", c.shake.max_amount, "max_packet_total", c.max_packet_total},
        Ordering{"send.shares", c.send.shares, "send.min_total", c.send.min_total},
        Ordering{"send.shares", c.send.shares, "max_shares", c.max_shares},
        Ordering{"send.min_total", c.send.min_total, "send.max_total", c.send.max_total},
        Ordering{"send.max_total", c.send.max_total, "max_packet_total", c.max_packet_total},
        Ordering{"shake.ttl_seconds", c.shake.ttl_seconds, "max_ttl_seconds", c.max_ttl_seconds},
        Ordering{"send.ttl_seconds", c.send.ttl_seconds, "max_ttl_seconds", c.max_ttl_seconds},
        // The original protocol carries amounts as u32 cents.
        Ordering{"shake.max_amount", c.shake.max_amount, "the u32 wire limit", kWireMax},
        Ordering{"send.max_total", c.send.max_total, "the u32 wire limit", kWireMax},
    };
    for (const Ordering& o : orderings) {
        if (o.lower > o.upper) {
            return std::unexpected(fmt::format("\"{}\" ({}) must not exceed \"{}\" ({})",
                                               o.lower_key, o.lower, o.upper_key, o.upper));
        }
    }
    // Policy-specific rules (fixed needs one share) come from the library itself.
    if (!redpacket::validate_split(c.send.policy, redpacket::Cents{c.send.min_total},
                                   c.send.shares)) {
        return std::unexpected(
            fmt::format("\"send.policy\": {} cannot split a packet into {} shares",
                        redpacket::to_string(c.send.policy), c.send.shares));
    }
    return {};
}

Stored check_store(const Config& c) {
    if (c.store != "memory" && c.store != "redis-cluster") {
        return std::unexpected(fmt::format(
            "\"store\" must be memory or redis-cluster, got \"{}\"", c.store));
    }
    if (c.store == "redis-cluster") {
        if (auto nodes = redpacket::parse_host_port_list(c.redis_nodes); !nodes) {
            return std::unexpected("\"redis_nodes\": " + nodes.error());
        }
        if (!c.redis_source_address.empty() &&
            !redpacket::parse_ipv4_host(c.redis_source_address)) {
            return std::unexpected(fmt::format(
                "\"redis_source_address\" must be an IPv4 address, got \"{}\"",
                c.redis_source_address));
        }
        if (2 * std::uint64_t{c.redis_wait_timeout_ms} >= c.redis_lease_ttl_ms) {
            return std::unexpected(fmt::format(
                "\"redis_wait_timeout_ms\" ({}) must be less than half of \"redis_lease_ttl_ms\" "
                "({}): a lease renewal counts only once its WAIT is done, and must be done well "
                "before the lease it renews runs out",
                c.redis_wait_timeout_ms, c.redis_lease_ttl_ms));
        }
        if (!c.journal_dir.empty()) {
            return std::unexpected("\"journal_dir\" must be empty with store redis-cluster: "
                                   "the daemon then keeps no packet state of its own");
        }
    }
    return {};
}

Stored check_modes(const Config& c) {
    if (!redpacket::parse_fsync_policy(c.journal_fsync)) {
        return std::unexpected(fmt::format(
            "\"journal_fsync\" must be one of always, batch, off, got \"{}\"", c.journal_fsync));
    }
    if (std::ranges::find(kLogLevels, c.log_level) == kLogLevels.end()) {
        return std::unexpected(fmt::format(
            "\"log_level\" must be one of debug, info, warn, error, got \"{}\"", c.log_level));
    }
    if (c.log_format != "text" && c.log_format != "json") {
        return std::unexpected(
            fmt::format("\"log_format\" must be text or json, got \"{}\"", c.log_format));
    }
    if (auto cpus = parse_cpu_list(c.cpu_affinity); !c.cpu_affinity.empty() && !cpus) {
        return std::unexpected(cpus.error());
    }
    if (!redpacket::parse_ipv4_host(c.host)) {
        return std::unexpected(fmt::format(
            "\"host\" must be an IPv4 address or localhost (the client listeners are IPv4), "
            "got \"{}\"",
            c.host));
    }
    if (c.compat_mode && !c.allow_compat_on_public && !redpacket::is_loopback_host(c.host)) {
        return std::unexpected(fmt::format(
            "\"compat_mode\" accepts unauthenticated logins, but \"host\" ({}) is not a loopback "
            "address; set \"allow_compat_on_public\" to true to allow it",
            c.host));
    }
    if (!c.compat_mode && c.auth_secret.empty()) {
        return std::unexpected(
            "\"auth_secret\" must be set when \"compat_mode\" is false: logins need a token "
            "made with it (give --auth-secret-file or $REDPACKETD_AUTH_SECRET), or set "
            "\"compat_mode\" to true to accept the 2017 protocol's login without a token");
    }
    if (auto store = check_store(c); !store) {
        return store;
    }
    if (c.admin_token.empty() && !redpacket::is_loopback_host(c.admin_host)) {
        return std::unexpected(fmt::format(
            "\"admin_token\" must be set when \"admin_host\" ({}) is not a loopback address: "
            "the admin API starts and stops campaigns",
            c.admin_host));
    }
    return {};
}

// ---- command line ----

/// A flag's text as the JSON value `store` expects: text settings take it verbatim, the others
/// read it as a JSON scalar (so `--port 70000` and `"port": 70000` fail alike).
Json flag_value(FieldRef ref, const std::string& text) {
    if (std::holds_alternative<std::string*>(ref) || std::holds_alternative<SplitPolicy*>(ref)) {
        return text;
    }
    Json value = Json::parse(text, nullptr, false);
    return value.is_discarded() ? Json(text) : value;
}

std::string flag_type(const Json& value) {
    if (value.is_boolean()) {
        return "BOOL";
    }
    return value.is_string() ? "TEXT" : "INT";
}

/// The flag's help: the row's, then what else the row says (" [reloadable]", " [env NAME]").
std::string flag_help(const Field& field) {
    std::string help(field.help);
    if (field.reload == Reload::runtime) {
        help += " [reloadable]";
    }
    if (!field.env.empty()) {
        help += fmt::format(" [env {}]", field.env);
    }
    return help;
}

constexpr std::string_view kHelpFooter =
    "[reloadable]: a SIGHUP reloads the settings (the config file, the environment, the same "
    "flags) and applies a change of this one while running; a change of any other is logged as "
    "needing a restart. [env NAME]: the environment variable NAME, when set and not empty, sets "
    "it over the config file and under the flags.";

struct FlagSlot {
    const Field* field;
    CLI::Option* option;
    std::string text;
};

void add_setting_flags(CLI::App& app, std::vector<FlagSlot>& slots) {
    const Config defaults;
    slots.reserve(kFields.size());  // options keep references into the slots
    for (const Field& field : kFields) {
        FlagSlot& slot = slots.emplace_back(FlagSlot{&field, nullptr, {}});
        const Json shown = json_value(field.access.view(defaults));
        const auto dot = field.key.find('.');
        const std::string group = dot == std::string_view::npos
                                      ? "Settings"
                                      : fmt::format("{} campaign", field.key.substr(0, dot));
        slot.option = app.add_option(flag_name(field.key), slot.text, flag_help(field))
                          ->type_name(flag_type(shown))
                          ->default_str(shown.is_string() ? shown.get<std::string>() : shown.dump())
                          ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                          ->group(group);
    }
}

Stored apply_flags(const std::vector<FlagSlot>& slots, Config& config) {
    for (const FlagSlot& slot : slots) {
        if (slot.option->count() == 0) {
            continue;  // not given: the file's (or default) value stays
        }
        const FieldRef ref = slot.field->access.ref(config);
        if (auto stored = store(ref, flag_value(ref, slot.text)); !stored) {
            return std::unexpected(
                fmt::format("{}: {}", flag_name(slot.field->key), stored.error()));
        }
    }
    return {};
}

}  // namespace

std::expected<Config, std::string> parse_config(const std::string& json_text, Config base) {
    try {
        const Json document = Json::parse(json_text, nullptr, true, /*ignore_comments=*/true);
        if (!document.is_object()) {
            return std::unexpected(
                fmt::format("the configuration must be a JSON object, got {}", describe(document)));
        }
        if (auto loaded = load_object(document, "", base); !loaded) {
            return std::unexpected(loaded.error());
        }
        return base;
    } catch (const Json::parse_error& e) {
        return std::unexpected(fmt::format("invalid JSON: {}", e.what()));
    } catch (const std::exception& e) {
        return std::unexpected(fmt::format("cannot load the configuration: {}", e.what()));
    }
}

std::expected<void, std::string> validate(const Config& config) {
    for (const Field& field : kFields) {
        if (auto problem = range_problem(field, config)) {
            return std::unexpected(std::move(*problem));
        }
    }
    if (auto ordered = check_orderings(config); !ordered) {
        return ordered;
    }
    auto secrets = check_secrets(config);
    return secrets ? check_modes(config) : secrets;
}

std::string to_json(const Config& config, Secrets secrets) {
    Json document = Json::object();
    for (const Field& field : kFields) {
        Json* node = &document;
        std::string_view key = field.key;
        for (auto dot = key.find('.'); dot != std::string_view::npos; dot = key.find('.')) {
            node = &(*node)[std::string(key.substr(0, dot))];
            key.remove_prefix(dot + 1);
        }
        const Json value = json_value(field.access.view(config));
        const bool hide = field.secret && secrets == Secrets::redacted && value != "";
        (*node)[std::string(key)] = hide ? Json(kRedacted) : value;
    }
    return document.dump(2, ' ', false, Json::error_handler_t::replace);
}

std::vector<std::string> changed_settings(const Config& a, const Config& b) {
    std::vector<std::string> changed;
    for (const Field& field : kFields) {
        if (json_value(field.access.view(a)) != json_value(field.access.view(b))) {
            changed.emplace_back(field.key);
        }
    }
    return changed;
}

bool reloadable(std::string_view key) {
    const Field* field = find_field(key);
    return field != nullptr && field->reload == Reload::runtime;
}

std::vector<EnvironmentSetting> environment_settings() {
    std::vector<EnvironmentSetting> settings;
    for (const Field& field : kFields) {
        if (!field.env.empty()) {
            settings.push_back({field.env, field.key});
        }
    }
    return settings;
}

std::expected<CommandLine, CommandLineExit> parse_command_line(int argc, char** argv) {
    CLI::App app{"redpacketd: the red packet reference daemon", "redpacketd"};
    app.set_version_flag("--version", redpacket::build_info::version_line("redpacketd"));
    std::string config_path;
    CommandLine result;
    std::vector<FlagSlot> slots;
    app.add_option("--config", config_path, "JSON file loaded before the flags")->type_name("FILE");
    app.add_flag("--print-config", result.print_config,
                 "print the effective configuration as JSON and exit");
    add_setting_flags(app, slots);
    app.footer(std::string(kHelpFooter));
    bool repair = false;
    app.add_flag("--repair", repair, "same as --journal-repair true");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        std::ostringstream out;
        std::ostringstream err;
        const int code = app.exit(e, out, err);
        std::string text = code == 0 ? out.str() : err.str();
        text.erase(text.find_last_not_of('\n') + 1);  // main adds its own newline
        return std::unexpected(CommandLineExit{code == 0 ? 0 : 2, std::move(text)});
    }
    if (!config_path.empty()) {
        auto loaded = load_config_file(config_path);
        if (!loaded) {
            return std::unexpected(CommandLineExit{2, loaded.error()});
        }
        result.config = std::move(*loaded);
    }
    apply_secret_environment(result.config);
    if (auto applied = apply_flags(slots, result.config); !applied) {
        return std::unexpected(CommandLineExit{2, applied.error()});
    }
    if (auto secrets = load_secret_files(result.config); !secrets) {
        return std::unexpected(CommandLineExit{2, secrets.error()});
    }
    if (repair) {
        result.config.journal_repair = true;
    }
    if (auto valid = validate(result.config); !valid) {
        return std::unexpected(CommandLineExit{2, valid.error()});
    }
    return result;
}

}  // namespace redpacketd
