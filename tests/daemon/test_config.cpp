// Tests of redpacketd's configuration: JSON loading and printing, validation, command line.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config.hpp"
#include "config_table.hpp"
#include "config_test_support.hpp"
#include "shared_state.hpp"

namespace {

using redpacketd::Config;
using redpacketd::testing::error_of;
using redpacketd::testing::run;
using redpacketd::testing::TempFile;

/// A config where every setting differs from its default, and which still validates — but for
/// the secret files, which parse_command_line reads (tested on their own below).
Config every_setting_changed() {
    Config c;
    c.host = "127.0.0.2";
    c.port = 2000;
    c.admin_host = "::1";
    c.admin_port = 9000;
    c.admin_token = "token \"quoted\"";
    c.workers = 4;
    c.sets = 64;
    c.backlog = 128;
    c.compat_mode = false;
    c.allow_compat_on_public = true;
    c.auth_secret = "secret";
    c.max_connections = 500;
    c.login_timeout_ms = 1000;
    c.idle_timeout_ms = 30000;
    c.max_frame = 2048;
    c.output_cap = 8192;
    c.rate_limit = 50;
    c.mailbox_capacity = 1024;
    c.max_packets_per_set = 100;
    c.shake_capacity_per_set = 10;
    c.max_shares = 50;
    c.max_packet_total = 5000;
    c.max_ttl_seconds = 600;
    c.retention_seconds = 5;
    c.seed = 18'446'744'073'709'551'615ULL;
    c.shake = {true, 10, 7, 5, 50, 30};
    c.send = {true, 20, 9, 10, 90, 2, redpacket::SplitPolicy::line_cut, 40};
    c.log_level = "debug";
    return c;
}

std::string parse_error(const std::string& json) {
    auto config = redpacketd::parse_config(json);
    REQUIRE_FALSE(config);
    return config.error();
}

/// A change to the default config, and the exact error validate() must give for it.
struct Rule {
    std::function<void(Config&)> change;
    std::string message;
};

void check_rules(const std::vector<Rule>& rules) {
    for (const Rule& rule : rules) {
        Config config;
        rule.change(config);
        CHECK(error_of(redpacketd::validate(config)) == rule.message);
    }
}

}  // namespace

TEST_CASE("the defaults need a way to log in: an auth secret, or compat mode asked for",
          "[config]") {
    const auto refused = redpacketd::validate(Config{});
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error(), Catch::Contains("\"auth_secret\" must be set") &&
                                    Catch::Contains("\"compat_mode\" to true"));
    Config secret;
    secret.auth_secret = "s";
    CHECK(redpacketd::validate(secret));
    Config compat;
    compat.compat_mode = true;
    CHECK(redpacketd::validate(compat));
    // The same from the command line: exit 2 with that message.
    const auto bare = redpacketd::testing::run_as_given({});
    REQUIRE_FALSE(bare);
    CHECK(bare.error().code == 2);
    CHECK_THAT(bare.error().text, Catch::Contains("\"auth_secret\" must be set"));
}

TEST_CASE("a configuration file round-trips through to_json and load_config_file", "[config]") {
    const Config original = every_setting_changed();
    REQUIRE(error_of(redpacketd::validate(original)) == "");
    const std::string json = redpacketd::to_json(original, redpacketd::Secrets::shown);
    TempFile file(json);

    auto loaded = redpacketd::load_config_file(file.path());
    REQUIRE(error_of(loaded) == "");
    CHECK(redpacketd::to_json(*loaded, redpacketd::Secrets::shown) == json);
    CHECK(loaded->admin_token == "token \"quoted\"");
    CHECK(loaded->seed == 18'446'744'073'709'551'615ULL);
    CHECK(loaded->shake.max_amount == 50);
    CHECK(loaded->send.policy == redpacket::SplitPolicy::line_cut);
    CHECK(redpacketd::to_json(Config{}) != json);
}

TEST_CASE("to_json prints every setting as indented JSON with campaign objects", "[config]") {
    const std::string json = redpacketd::to_json(Config{});
    CHECK(json.starts_with("{\n  \"host\": \"127.0.0.1\","));
    CHECK(json.find("\n  \"shake\": {\n    \"enabled\": false,") != std::string::npos);
    CHECK(json.find("\"policy\": \"double_mean\"") != std::string::npos);
    CHECK(json.find("\"log_level\": \"info\"") != std::string::npos);
}

TEST_CASE("parse_config overrides only the keys present", "[config]") {
    Config base;
    base.port = 7;
    auto config = redpacketd::parse_config(R"({"sets": 8, "send": {"shares": 2}})", base);
    REQUIRE(error_of(config) == "");
    CHECK(config->sets == 8);
    CHECK(config->send.shares == 2);
    CHECK(config->port == 7);
    CHECK(config->send.total == Config{}.send.total);
}

TEST_CASE("parse_config accepts comments in the file", "[config]") {
    auto config = redpacketd::parse_config("{\n  // listen everywhere\n  \"port\": 99 /* x */\n}");
    REQUIRE(error_of(config) == "");
    CHECK(config->port == 99);
}

TEST_CASE("an unknown key is an error that names it", "[config]") {
    CHECK(parse_error(R"({"sendd": {}})") == R"(unknown key "sendd")");
    CHECK(parse_error(R"({"send": {"ratee": 5}})") == R"(unknown key "send.ratee")");
    CHECK(parse_error(R"({"shake": {"shares": 1}})") == R"(unknown key "shake.shares")");
    CHECK(parse_error(R"({"rate": 1})") == R"(unknown key "rate")");
}

TEST_CASE("a value of the wrong type or out of range is an error that names the key", "[config]") {
    CHECK(parse_error(R"({"port": 70000})") ==
          R"("port": expected an integer in [0, 65535], got number 70000)");
    CHECK(parse_error(R"({"workers": -1})") ==
          R"("workers": expected an integer in [0, 4294967295], got number -1)");
    CHECK(parse_error(R"({"seed": -1})").starts_with(R"("seed": expected an integer)"));
    CHECK(parse_error(R"({"seed": 18446744073709551616})").starts_with(R"("seed": )"));
    CHECK(parse_error(R"({"sets": 2.5})") ==
          R"("sets": expected an integer in [0, 4294967295], got number 2.5)");
    CHECK(parse_error(R"({"shake": {"min_amount": "5"}})")
              .starts_with(R"("shake.min_amount": expected an integer)"));
    CHECK(parse_error(R"({"host": 5})") == R"("host": expected a string, got number 5)");
    CHECK(parse_error(R"({"compat_mode": "yes"})") ==
          R"("compat_mode": expected true or false, got string "yes")");
    CHECK(parse_error(R"({"send": {"policy": "random"}})") ==
          R"("send.policy": expected one of double_mean, line_cut, equal, fixed, )"
          R"(got string "random")");
    CHECK(parse_error(R"({"send": 3})") == R"("send": expected an object, got number 3)");
    CHECK(parse_error(R"({"log_level": null})") == R"("log_level": expected a string, got null)");
}

TEST_CASE("a JSON syntax error reports the parser's message", "[config]") {
    const std::string error = parse_error(R"({"port": 1,})");
    CHECK(error.starts_with("invalid JSON: "));
    CHECK(error.find("parse error at line 1") != std::string::npos);
    CHECK(parse_error("").starts_with("invalid JSON: "));
}

TEST_CASE("a configuration that is not a JSON object is refused", "[config]") {
    CHECK(parse_error("[1, 2]") == "the configuration must be a JSON object, got array");
}

TEST_CASE("a missing configuration file is an error that names it", "[config]") {
    auto config = redpacketd::load_config_file("/nonexistent/redpacketd.json");
    REQUIRE_FALSE(config);
    CHECK(config.error().find("/nonexistent/redpacketd.json") != std::string::npos);
}

TEST_CASE("an error in a configuration file names the file and the key", "[config]") {
    TempFile file(R"({"send": {"ratee": 1}})");
    auto config = redpacketd::load_config_file(file.path());
    REQUIRE_FALSE(config);
    CHECK(config.error() == file.path() + R"(: unknown key "send.ratee")");
}

TEST_CASE("validate refuses each setting outside its range, naming the key", "[config]") {
    const std::vector<Rule> rules{
        {[](Config& c) { c.workers = 1025; }, R"("workers" must be in [0, 1024], got 1025)"},
        {[](Config& c) { c.sets = 0; }, R"("sets" must be in [1, 4096], got 0)"},
        {[](Config& c) { c.sets = 4097; }, R"("sets" must be in [1, 4096], got 4097)"},
        {[](Config& c) { c.max_frame = 71; }, R"("max_frame" must be in [72, 65535], got 71)"},
        {[](Config& c) { c.max_frame = 65536; },
         R"("max_frame" must be in [72, 65535], got 65536)"},
        {[](Config& c) { c.login_timeout_ms = 0; },
         R"("login_timeout_ms" must be at least 1, got 0)"},
        {[](Config& c) { c.idle_timeout_ms = 0; },
         R"("idle_timeout_ms" must be at least 1, got 0)"},
        {[](Config& c) { c.output_cap = 4095; }, R"("output_cap" must be at least 4096, got 4095)"},
        {[](Config& c) { c.rate_limit = 0; }, R"("rate_limit" must be at least 1, got 0)"},
        {[](Config& c) { c.mailbox_capacity = 15; },
         R"("mailbox_capacity" must be in [16, 1073741824], got 15)"},
        {[](Config& c) { c.mailbox_capacity = (1u << 30) + 1; },
         R"("mailbox_capacity" must be in [16, 1073741824], got 1073741825)"},
        {[](Config& c) { c.max_packets_per_set = 0; },
         R"("max_packets_per_set" must be in [1, 524288], got 0)"},
        {[](Config& c) { c.max_packets_per_set = (1u << 19) + 1; },
         R"("max_packets_per_set" must be in [1, 524288], got 524289)"},
        {[](Config& c) { c.shake_capacity_per_set = 0; },
         R"("shake_capacity_per_set" must be at least 1, got 0)"},
        {[](Config& c) { c.max_shares = 100'001; },
         R"("max_shares" must be in [1, 100000], got 100001)"},
        {[](Config& c) { c.max_packet_total = 0; },
         R"("max_packet_total" must be in [1, 1000000000000], got 0)"},
        {[](Config& c) { c.max_packet_total = 1'000'000'000'001; },
         R"("max_packet_total" must be in [1, 1000000000000], got 1000000000001)"},
        {[](Config& c) { c.shake.min_amount = 0; },
         R"("shake.min_amount" must be at least 1, got 0)"},
        {[](Config& c) { c.send.shares = 4; }, R"("send.shares" must be in [1, 3], got 4)"},
        {[](Config& c) { c.send.shares = 0; }, R"("send.shares" must be in [1, 3], got 0)"},
        {[](Config& c) { c.shake.ttl_seconds = 0; },
         R"("shake.ttl_seconds" must be at least 1, got 0)"},
        {[](Config& c) { c.send.ttl_seconds = 0; },
         R"("send.ttl_seconds" must be at least 1, got 0)"},
    };
    check_rules(rules);
}

TEST_CASE("validate refuses settings out of order with each other, naming both keys", "[config]") {
    const std::vector<Rule> rules{
        {[](Config& c) { c.workers = 9, c.sets = 8; },
         R"("workers" (9) must not exceed "sets" (8))"},
        {[](Config& c) { c.shake.min_amount = 101; },
         R"("shake.min_amount" (101) must not exceed "shake.max_amount" (100))"},
        {[](Config& c) { c.shake.max_amount = 100'000'001; },
         R"("shake.max_amount" (100000001) must not exceed "max_packet_total" (100000000))"},
        {[](Config& c) { c.send.min_total = 2; },
         R"("send.shares" (3) must not exceed "send.min_total" (2))"},
        {[](Config& c) { c.max_shares = 2; },
         R"("send.shares" (3) must not exceed "max_shares" (2))"},
        {[](Config& c) { c.send.min_total = 301; },
         R"("send.min_total" (301) must not exceed "send.max_total" (300))"},
        {[](Config& c) { c.max_packet_total = 299; },
         R"("send.max_total" (300) must not exceed "max_packet_total" (299))"},
        {[](Config& c) { c.max_ttl_seconds = 59; },
         R"("shake.ttl_seconds" (60) must not exceed "max_ttl_seconds" (59))"},
        {[](Config& c) { c.send.ttl_seconds = 86'401; },
         R"("send.ttl_seconds" (86401) must not exceed "max_ttl_seconds" (86400))"},
        {[](Config& c) { c.send.policy = redpacket::SplitPolicy::fixed; },
         R"("send.policy": fixed cannot split a packet into 3 shares)"},
        {[](Config& c) { c.log_level = "verbose"; },
         R"("log_level" must be one of debug, info, warn, error, got "verbose")"},
        {[](Config& c) {
             c.compat_mode = true, c.store = "redis-cluster", c.redis_nodes = "127.0.0.1:7100";
             c.redis_source_address = "lo";
         },
         R"("redis_source_address" must be an IPv4 address, got "lo")"},
        {[](Config& c) {
             c.compat_mode = true, c.store = "redis-cluster", c.redis_nodes = "127.0.0.1:7100";
             c.redis_wait_timeout_ms = 1500;
         },
         R"("redis_wait_timeout_ms" (1500) must be less than half of "redis_lease_ttl_ms" (3000): )"
         R"(a lease renewal counts only once its WAIT is done, and must be done well before the )"
         R"(lease it renews runs out)"},
    };
    check_rules(rules);
}

TEST_CASE("validate accepts the edges of each range", "[config]") {
    Config c;
    c.auth_secret = "s";
    c.workers = 0;
    c.sets = 1;
    c.max_frame = 72;
    c.mailbox_capacity = 1u << 30;
    c.max_packets_per_set = 1u << 19;
    c.max_shares = 100'000;
    c.max_packet_total = 1'000'000'000'000;
    c.send = {false, 1, 0, 1, 1, 1, redpacket::SplitPolicy::fixed, 86'400};
    c.shake.min_amount = c.shake.max_amount;
    CHECK(redpacketd::validate(c));
    c.workers = 1;
    CHECK(redpacketd::validate(c));
}

TEST_CASE("an admin API on a public address needs a token", "[config]") {
    Config c;
    c.auth_secret = "s";
    c.admin_host = "0.0.0.0";
    auto valid = redpacketd::validate(c);
    REQUIRE_FALSE(valid);
    CHECK(valid.error().find("\"admin_token\"") != std::string::npos);
    c.admin_token = "t";
    CHECK(redpacketd::validate(c));
    c.admin_token.clear();
    c.admin_host = "127.0.0.1";
    CHECK(redpacketd::validate(c));
}

TEST_CASE("compat mode on a public address is refused unless allowed", "[config]") {
    for (const char* host : {"0.0.0.0", "10.0.0.1", "128.0.0.1", "126.255.255.255"}) {
        Config c;
        c.compat_mode = true;
        c.host = host;
        auto valid = redpacketd::validate(c);
        REQUIRE_FALSE(valid);
        CHECK(valid.error().find("\"compat_mode\"") != std::string::npos);
        CHECK(valid.error().find("\"allow_compat_on_public\"") != std::string::npos);
        c.allow_compat_on_public = true;
        CHECK(redpacketd::validate(c));
        c.allow_compat_on_public = false;
        c.compat_mode = false;
        c.auth_secret = "s";
        CHECK(redpacketd::validate(c));
    }
    for (const char* host : {"127.0.0.1", "127.255.0.9", "localhost"}) {
        Config c;
        c.compat_mode = true;
        c.host = host;
        CHECK(redpacketd::validate(c));
    }
}

TEST_CASE("the client listeners' host must be IPv4", "[config]") {
    for (const char* host : {"::1", "::", "0:0:0:0:0:0:0:1", "example.com", "127.1", ""}) {
        INFO(host);
        Config c;
        c.host = host;
        c.allow_compat_on_public = true;
        const auto valid = redpacketd::validate(c);
        REQUIRE_FALSE(valid);
        CHECK(valid.error() == fmt::format("\"host\" must be an IPv4 address or localhost (the "
                                           "client listeners are IPv4), got \"{}\"",
                                           host));
    }
}

TEST_CASE("an auth secret is required when compat mode is off", "[config]") {
    Config c;
    c.compat_mode = false;
    auto valid = redpacketd::validate(c);
    REQUIRE_FALSE(valid);
    CHECK(valid.error().starts_with(R"("auth_secret" must be set when "compat_mode" is false: )"));
    c.auth_secret = "k";
    CHECK(redpacketd::validate(c));
}

TEST_CASE("no command-line arguments give the defaults", "[config]") {
    auto line = run({});  // and --compat-mode true: the defaults alone cannot log anyone in
    REQUIRE(error_of(line) == "");
    Config defaults;
    defaults.compat_mode = true;
    CHECK(redpacketd::to_json(line->config) == redpacketd::to_json(defaults));
    CHECK_FALSE(line->print_config);
}

TEST_CASE("command-line flags override the file, and only the flags given", "[config]") {
    TempFile file(R"({"port": 3000, "sets": 32, "shake": {"rate": 5, "max_amount": 70},
                      "send": {"policy": "equal"}, "log_level": "warn"})");
    auto line = run({"--config", file.path(), "--port", "4000", "--shake-rate=6", "--send-policy",
                     "line_cut", "--compat-mode", "false", "--auth-secret", "k", "--seed",
                     "18446744073709551615"});
    REQUIRE(error_of(line) == "");
    const Config& c = line->config;
    CHECK(c.port == 4000);
    CHECK(c.shake.rate == 6);
    CHECK(c.send.policy == redpacket::SplitPolicy::line_cut);
    CHECK_FALSE(c.compat_mode);
    CHECK(c.auth_secret == "k");
    CHECK(c.seed == 18'446'744'073'709'551'615ULL);
    CHECK(c.sets == 32);
    CHECK(c.shake.max_amount == 70);
    CHECK(c.log_level == "warn");
    CHECK(c.admin_port == Config{}.admin_port);
}

TEST_CASE("a repeated flag takes its last value", "[config]") {
    auto line = run({"--sets", "8", "--sets", "16"});
    REQUIRE(error_of(line) == "");
    CHECK(line->config.sets == 16);
}

TEST_CASE("every setting has a flag named after its key", "[config]") {
    const Config wanted = every_setting_changed();
    auto line = run({"--host=127.0.0.2",
                     "--port=2000",
                     "--admin-host=::1",
                     "--admin-port=9000",
                     "--admin-token=token \"quoted\"",
                     "--workers=4",
                     "--sets=64",
                     "--backlog=128",
                     "--compat-mode=false",
                     "--allow-compat-on-public=true",
                     "--auth-secret=secret",
                     "--max-connections=500",
                     "--login-timeout-ms=1000",
                     "--idle-timeout-ms=30000",
                     "--max-frame=2048",
                     "--output-cap=8192",
                     "--rate-limit=50",
                     "--mailbox-capacity=1024",
                     "--max-packets-per-set=100",
                     "--shake-capacity-per-set=10",
                     "--max-shares=50",
                     "--max-packet-total=5000",
                     "--max-ttl-seconds=600",
                     "--retention-seconds=5",
                     "--seed=18446744073709551615",
                     "--shake-enabled=true",
                     "--shake-rate=10",
                     "--shake-total=7",
                     "--shake-min-amount=5",
                     "--shake-max-amount=50",
                     "--shake-ttl-seconds=30",
                     "--send-enabled=true",
                     "--send-rate=20",
                     "--send-total=9",
                     "--send-min-total=10",
                     "--send-max-total=90",
                     "--send-shares=2",
                     "--send-policy=line_cut",
                     "--send-ttl-seconds=40",
                     "--log-level=debug"});
    REQUIRE(error_of(line) == "");
    CHECK(redpacketd::to_json(line->config, redpacketd::Secrets::shown) ==
          redpacketd::to_json(wanted, redpacketd::Secrets::shown));
}

TEST_CASE("the print-config flag sets print_config", "[config]") {
    auto line = run({"--print-config"});
    REQUIRE(error_of(line) == "");
    CHECK(line->print_config);
}

TEST_CASE("the help flag returns code 0 and the help text", "[config]") {
    auto line = run({"--help", "--port", "nonsense"});
    REQUIRE_FALSE(line);
    CHECK(line.error().code == 0);
    CHECK(line.error().text.find("redpacketd") != std::string::npos);
    CHECK(line.error().text.find("--shake-min-amount") != std::string::npos);
    CHECK(line.error().text.find("--print-config") != std::string::npos);
}

TEST_CASE("a bad flag value returns code 2 with a message naming the flag", "[config]") {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--port", "abc"}, R"(--port: expected an integer in [0, 65535], got string "abc")"},
        {{"--port", "70000"}, "--port: expected an integer in [0, 65535], got number 70000"},
        {{"--workers=-1"}, "--workers: expected an integer in [0, 4294967295], got number -1"},
        {{"--compat-mode", "yes"}, R"(--compat-mode: expected true or false, got string "yes")"},
        {{"--send-policy", "best"}, "--send-policy: expected one of"},
        {{"--sets", "0"}, R"("sets" must be in [1, 4096], got 0)"},
        {{"--no-such-flag"}, "--no-such-flag"},
        {{"--port"}, "--port"},
        {{"--config", "/nonexistent/redpacketd.json"}, "/nonexistent/redpacketd.json"},
    };
    for (const auto& [args, message] : cases) {
        auto line = run(args);
        REQUIRE_FALSE(line);
        CHECK(line.error().code == 2);
        CHECK(line.error().text.find(message) != std::string::npos);
    }
}


TEST_CASE("log_format is text or json", "[config]") {
    Config config;
    config.compat_mode = true;
    config.log_format = "xml";
    CHECK(error_of(redpacketd::validate(config)) ==
          R"("log_format" must be text or json, got "xml")");
    config.log_format = "json";
    CHECK(error_of(redpacketd::validate(config)) == "");
}
