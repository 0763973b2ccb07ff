// redpacketd configuration, the parts that read files: the JSON config file and the secret
// files, the environment variables (the option table's `env` column), and the check that a secret
// is not the placeholder --print-config prints.
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "config.hpp"
#include "config_table.hpp"

namespace redpacketd {

std::expected<Config, std::string> load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::unexpected(fmt::format("cannot open config file \"{}\"", path));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return std::unexpected(fmt::format("cannot read config file \"{}\"", path));
    }
    auto config = parse_config(text.str());
    if (!config) {
        return std::unexpected(fmt::format("{}: {}", path, config.error()));
    }
    return config;
}

namespace {

/// One secret from its file: the whole file, one trailing newline (\n or \r\n) dropped.
std::expected<void, std::string> load_secret_file(std::string& secret, const std::string& path,
                                                  std::string_view key, std::string_view flag) {
    if (path.empty()) {
        return {};
    }
    if (!secret.empty()) {
        return std::unexpected(fmt::format(
            "\"{0}\" is given twice: by \"{0}_file\" and by the config file, ${1} or --{2}; "
            "give one",
            key, config_table::find_field(key)->env, flag));
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::unexpected(fmt::format("\"{}_file\": cannot read \"{}\"", key, path));
    }
    // Not `text << in.rdbuf()`: that sets failbit on an empty file, which is reported below.
    secret.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) {
        return std::unexpected(fmt::format("\"{}_file\": cannot read \"{}\"", key, path));
    }
    if (secret.ends_with('\n')) {
        secret.pop_back();
        if (secret.ends_with('\r')) {
            secret.pop_back();
        }
    }
    if (secret.empty()) {
        return std::unexpected(fmt::format("\"{}_file\": \"{}\" is empty", key, path));
    }
    return {};
}

}  // namespace

std::expected<void, std::string> check_secrets(const Config& c) {
    for (const auto& [key, secret] : {std::pair{"admin_token", &c.admin_token},
                                      std::pair{"auth_secret", &c.auth_secret}}) {
        if (*secret == kRedacted) {
            return std::unexpected(fmt::format(
                "\"{}\" is \"{}\", the placeholder --print-config prints; give the secret itself",
                key, kRedacted));
        }
    }
    return {};
}

void apply_secret_environment(Config& config) {
    for (const config_table::Field& field : config_table::kFields) {
        if (field.env.empty()) {
            continue;
        }
        const char* value = std::getenv(std::string(field.env).c_str());
        if (value != nullptr && *value != 0) {
            // A text setting: config_table.hpp's static_assert checks it.
            *std::get<std::string*>(field.access.ref(config)) = value;
        }
    }
}

std::expected<void, std::string> load_secret_files(Config& config) {
    if (auto loaded = load_secret_file(config.auth_secret, config.auth_secret_file, "auth_secret",
                                        "auth-secret");
        !loaded) {
        return loaded;
    }
    return load_secret_file(config.admin_token, config.admin_token_file, "admin_token",
                            "admin-token");
}

}  // namespace redpacketd
