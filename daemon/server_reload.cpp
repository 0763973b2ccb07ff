// Server, part 4: SIGHUP. The settings are read again the way they were at start-up (the
// config file, the environment, the same flags); what the option table marks `runtime` — the
// log level and format, the campaigns and the connection limits (RuntimeLimits) — is applied,
// and every other change is logged as needing a restart. A changed campaign that runs as the file
// had it goes on with its new settings: the packets it made so far count against its total; one
// that was disabled, or replaced through POST /campaigns/<kind>, starts a new count. A
// configuration that does not
// load or validate changes nothing, and says why.
#include <fmt/ranges.h>

#include <algorithm>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "config_table.hpp"
#include "log.hpp"
#include "server.hpp"
#include "service_manager.hpp"

namespace redpacketd {

namespace {

/// The keys reload() below applies while running: the log settings, the campaigns (each posted
/// whole when any of its keys changed) and the limits.
constexpr bool applied_by_reload(std::string_view key) {
    return key == "log_level" || key == "log_format" || key.starts_with("shake.") ||
           key.starts_with("send.") || RuntimeLimits::has(key);
}

// What reload() applies is exactly what the table marks reloadable...
static_assert(std::ranges::all_of(config_table::kFields,
                                  [](const config_table::Field& field) {
                                      return (field.reload == Reload::runtime) ==
                                             applied_by_reload(field.key);
                                  }),
              "a `runtime` row of config_table.hpp that reload() does not apply, or the reverse");
// ... and every limit is a setting of the table (so a runtime one, by the above).
static_assert(std::ranges::all_of(RuntimeLimits::kFields,
                                  [](const RuntimeLimits::Field& limit) {
                                      // Keys compared, not find_field's pointer: under ASan a
                                      // pointer into the table is no constant expression.
                                      return std::ranges::any_of(
                                          config_table::kFields,
                                          [&](const config_table::Field& field) {
                                              return field.key == limit.key;
                                          });
                                  }),
              "a RuntimeLimits key that is not a setting of config_table.hpp");

/// What a reload that changed a campaign's settings (validate() passed on the whole
/// configuration) does to the one running: the file's campaign, running as loaded, goes on —
/// what it made so far counts against its (new) total; another one running (posted through
/// the admin API) or none (it was disabled) is replaced, with a new count.
template <class Campaign>
CampaignBoard::Change campaign_change(const Campaign& running, const Campaign& loaded) {
    return running == loaded && loaded.enabled ? CampaignBoard::Change::retune
                                               : CampaignBoard::Change::restart;
}

}  // namespace

void Server::reload() {
    if (draining_) {
        log(LogLevel::info, "SIGHUP while shutting down: ignored");
        return;
    }
    if (!reload_source_) {
        log(LogLevel::warn, "SIGHUP: no configuration source to reload; ignored");
        return;
    }
    notify_reloading();
    // Loading may fail in any way a start-up may (a file that cannot be read, a value out of
    // range, out of memory): every failure is a refused reload, never the end of the daemon.
    std::expected<Config, std::string> next = std::unexpected(std::string{"not loaded"});
    try {
        next = reload_source_();
    } catch (const std::exception& e) {
        next = std::unexpected(fmt::format("loading failed: {}", e.what()));
    }
    if (!next) {
        ++reloads_.failed;
        log(LogLevel::error, "SIGHUP: settings not reloaded, the running ones stay: {}",
            next.error());
        notify_ready("serving (the last reload failed)");
        return;
    }
    std::vector<std::string> applied, restart;
    for (std::string& key : changed_settings(loaded_, *next)) {
        (reloadable(key) ? applied : restart).push_back(std::move(key));
    }
    const auto changed = [&](std::string_view section) {
        return std::ranges::any_of(applied,
                                   [&](const std::string& k) { return k.starts_with(section); });
    };
    if (changed("log_")) {
        set_log_settings(next->log_level, next->log_format);
    }
    if (changed("shake.")) {
        shared_.campaigns->post(next->shake,
                                campaign_change(shared_.campaigns->shake(), loaded_.shake));
    }
    if (changed("send.")) {
        shared_.campaigns->post(next->send,
                                campaign_change(shared_.campaigns->send(), loaded_.send));
    }
    shared_.limits.store(*next);  // the limits' keys are all runtime ones
    ++reloads_.ok;
    log(LogLevel::info, "SIGHUP: settings reloaded; applied: {}; changed but need a restart: {}",
        applied.empty() ? "nothing" : fmt::format("{}", fmt::join(applied, ", ")),
        restart.empty() ? "nothing" : fmt::format("{}", fmt::join(restart, ", ")));
    // What runs now: the applied keys new, the others as before (still reported next time).
    loaded_.log_level = next->log_level;
    loaded_.log_format = next->log_format;
    loaded_.shake = next->shake;
    loaded_.send = next->send;
    RuntimeLimits::copy(*next, loaded_);
    notify_ready("serving");
}

}  // namespace redpacketd
