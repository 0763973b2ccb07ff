// Tests of the option table (config_table.hpp) and what is derived from it: the SIGHUP rule,
// the environment variables, --help's markers, and the annotated example configuration and
// the unit, whose comments must say what a SIGHUP applies.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "config_table.hpp"
#include "config_test_support.hpp"
#include "shared_state.hpp"

using redpacketd::Config;
using redpacketd::testing::error_of;
using redpacketd::testing::run;

namespace {

/// Every setting's key ("port", "shake.rate"), from what --print-config prints.
std::vector<std::string> every_key() {
    std::vector<std::string> keys;
    const auto document = nlohmann::json::parse(redpacketd::to_json(Config{}));
    for (const auto& [key, value] : document.items()) {
        if (!value.is_object()) {
            keys.push_back(key);
            continue;
        }
        for (const auto& item : value.items()) {
            keys.push_back(key + "." + item.key());
        }
    }
    return keys;
}

/// Sets an environment variable for one scope, then unsets it.
class EnvVariable {
public:
    EnvVariable(std::string name, const std::string& value) : name_(std::move(name)) {
        ::setenv(name_.c_str(), value.c_str(), 1);
    }
    EnvVariable(const EnvVariable&) = delete;
    EnvVariable& operator=(const EnvVariable&) = delete;
    ~EnvVariable() { ::unsetenv(name_.c_str()); }

private:
    std::string name_;
};

/// The --help entry of `key`'s flag: from "--flag " to the next flag or the end of the group.
std::string help_entry(const std::string& help, std::string key) {
    std::ranges::replace(key, '.', '-');
    std::ranges::replace(key, '_', '-');
    const auto start = help.find("\n  --" + key + " ");
    if (start == std::string::npos) {
        return {};
    }
    const auto end = std::min(help.find("\n  -", start + 1), help.find("\n\n", start + 1));
    return help.substr(start + 1, end - start - 1);
}

}  // namespace

TEST_CASE("the option table marks what SIGHUP applies while running", "[config][reload]") {
    for (const char* key : {"log_level", "log_format", "shake.rate", "shake.enabled", "send.policy",
                            "max_connections", "shutdown_grace_ms"}) {
        INFO(key);
        CHECK(redpacketd::reloadable(key));
    }
    for (const char* key : {"port", "host", "workers", "auth_secret", "admin_token", "journal_dir",
                            "max_frame", "rate_limit", "store", "no_such_key", "shake", ""}) {
        INFO(key);
        CHECK_FALSE(redpacketd::reloadable(key));
    }
    // Every limit SIGHUP stores into RuntimeLimits is a reloadable setting...
    CHECK(redpacketd::RuntimeLimits::kFields.size() == 6);
    for (const auto& limit : redpacketd::RuntimeLimits::kFields) {
        INFO(limit.key);
        CHECK(redpacketd::reloadable(limit.key));
    }
    // ... and every reloadable setting is one that Server::reload applies: the log settings, a
    // campaign's or a limit.
    const auto keys = every_key();
    CHECK(keys.size() > 60);
    for (const std::string& key : keys) {
        INFO(key);
        const bool applied = key == "log_level" || key == "log_format" ||
                             key.starts_with("shake.") || key.starts_with("send.") ||
                             redpacketd::RuntimeLimits::has(key);
        CHECK(redpacketd::reloadable(key) == applied);
    }
}

TEST_CASE("the option table names the environment variables and each sets its setting",
          "[config][environment]") {
    const auto settings = redpacketd::environment_settings();
    CHECK(redpacketd::config_table::environment_sets_text());  // each variable sets text
    REQUIRE(settings.size() == 2);
    CHECK(settings[0].variable == "REDPACKETD_ADMIN_TOKEN");
    CHECK(settings[0].key == "admin_token");
    CHECK(settings[1].variable == "REDPACKETD_AUTH_SECRET");
    CHECK(settings[1].key == "auth_secret");
    for (const auto& setting : settings) {
        const std::string key(setting.key);
        INFO(key);
        const auto printed = [&key](const Config& config) {
            return nlohmann::json::parse(to_json(config, redpacketd::Secrets::shown))[key];
        };
        EnvVariable variable(std::string(setting.variable), "value-from-env");
        auto line = run({});
        REQUIRE(error_of(line) == "");
        CHECK(printed(line->config) == "value-from-env");
        EnvVariable empty(std::string(setting.variable), "");  // empty: not applied
        line = run({});
        REQUIRE(error_of(line) == "");
        CHECK(printed(line->config) == "");
    }
}

TEST_CASE("--help marks each reloadable setting and each environment variable",
          "[config][reload][environment]") {
    auto line = run({"--help"});
    REQUIRE_FALSE(line);
    const std::string& help = line.error().text;
    for (const std::string& key : every_key()) {
        INFO(key);
        const std::string entry = help_entry(help, key);
        REQUIRE_FALSE(entry.empty());
        CHECK((entry.find("[reloadable]") != std::string::npos) == redpacketd::reloadable(key));
        CHECK((entry.find("[env ") != std::string::npos) ==
              (key == "admin_token" || key == "auth_secret"));
    }
    CHECK(help_entry(help, "auth_secret").ends_with(" [env REDPACKETD_AUTH_SECRET]"));
    CHECK(help_entry(help, "shake.rate").ends_with(" [reloadable]"));
    CHECK(help.find("[reloadable]: a SIGHUP") != std::string::npos);
}

#if defined(REDPACKET_SOURCE_DIR)
TEST_CASE("the annotated example configuration names every setting with its default",
          "[config]") {
    const std::string path = std::string(REDPACKET_SOURCE_DIR) + "/examples/redpacketd.json";
    std::ifstream in(path);
    REQUIRE(in);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    // The same keys and values as the defaults, nothing more, nothing less.
    const auto example = nlohmann::json::parse(text, nullptr, true, /*ignore_comments=*/true);
    CHECK(example ==
          nlohmann::json::parse(redpacketd::to_json(Config{}, redpacketd::Secrets::shown)));
    CHECK(error_of(redpacketd::load_config_file(path)) == "");
    // Every setting (a line `"key": value`, not a campaign's `{`) comes after its comment.
    std::istringstream lines(text);
    std::string line, previous;
    std::size_t settings = 0;
    while (std::getline(lines, line)) {
        const auto first = line.find_first_not_of(' ');
        if (first != std::string::npos && line[first] == '"' && !line.ends_with("{")) {
            ++settings;
            INFO(line);
            CHECK(previous.find_first_not_of(' ') == previous.find("//"));
        }
        previous = line;
    }
    CHECK(settings > 60);
}
#endif

#if defined(REDPACKET_SOURCE_DIR)
namespace {

std::string source_file(const std::string& relative) {
    std::ifstream in(std::string(REDPACKET_SOURCE_DIR) + "/" + relative);
    REQUIRE(in);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("the example configuration and the unit say what SIGHUP applies, limits included",
          "[config][reload]") {
    // The example's opening comment (before its '{') names every reloadable setting: the
    // campaigns as such, every other one by its key.
    const std::string example = source_file("examples/redpacketd.json");
    const std::string opening = example.substr(0, example.find("\n{"));
    CHECK_THAT(opening, Catch::Contains("SIGHUP") && Catch::Contains("the campaigns"));
    for (const std::string& key : every_key()) {
        if (!redpacketd::reloadable(key) || key.starts_with("shake.") || key.starts_with("send.")) {
            continue;
        }
        INFO(key);
        CHECK_THAT(opening, Catch::Contains(key));
    }
    // The unit's comment on `systemctl reload` names the limits too.
    const std::string unit = source_file("packaging/redpacketd.service");
    const auto reload = unit.find("systemctl reload redpacketd");
    REQUIRE(reload != std::string::npos);
    const std::string line = unit.substr(reload, unit.find('\n', reload) - reload);
    CHECK_THAT(line, Catch::Contains("campaigns") && Catch::Contains("logs") &&
                         Catch::Contains("limits"));
}
#endif
