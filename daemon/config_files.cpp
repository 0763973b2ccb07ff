// redpacketd configuration, the parts that read files: the JSON config file and the secret
// files, the environment variables (the option table's `env` column), and the check that a secret
// is not the placeholder --print-config prints.
#include <fmt/format.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "config.hpp"
#include "config_table.hpp"
#include "redpacket/auth.hpp"

namespace redpacketd {
namespace {

/// The whole of the regular file `path`, or why it cannot be had: missing, not a regular file
/// (a directory, a device), unreadable. Never throws (libstdc++'s filebuf throws on a read
/// error such as EISDIR).
std::expected<std::string, std::string> read_regular_file(const std::string& path) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec) {
        return std::unexpected(fmt::format("cannot read \"{}\"", path));
    }
    if (!std::filesystem::is_regular_file(status)) {
        return std::unexpected(fmt::format("\"{}\" is not a regular file", path));
    }
    try {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            return std::unexpected(fmt::format("cannot read \"{}\"", path));
        }
        std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        if (in.bad()) {
            return std::unexpected(fmt::format("cannot read \"{}\"", path));
        }
        return text;
    } catch (const std::exception& e) {
        return std::unexpected(fmt::format("cannot read \"{}\": {}", path, e.what()));
    }
}

}  // namespace

std::expected<Config, std::string> load_config_file(const std::string& path) {
    auto text = read_regular_file(path);
    if (!text) {
        return std::unexpected(fmt::format("config file: {}", text.error()));
    }
    auto config = parse_config(*text);
    if (!config) {
        return std::unexpected(fmt::format("{}: {}", path, config.error()));
    }
    return config;
}

namespace {

/// One secret from its file (redpacket::read_secret_file), its errors naming the option.
std::expected<void, std::string> load_secret_file(std::string& secret, const std::string& path,
                                                  std::string_view key, std::string_view flag,
                                                  bool allow_readable) {
    if (path.empty()) {
        return {};
    }
    if (!secret.empty()) {
        return std::unexpected(fmt::format(
            "\"{0}\" is given twice: by \"{0}_file\" and by the config file, ${1} or --{2}; "
            "give one",
            key, config_table::find_field(key)->env, flag));
    }
    auto text = redpacket::read_secret_file(path, allow_readable);
    if (!text) {
        const bool mode = text.error().find(" has mode ") != std::string::npos;
        return std::unexpected(fmt::format("\"{}_file\": {}{}", key, text.error(),
                                           mode ? ", or set \"allow_readable_secret_files\"" : ""));
    }
    secret = std::move(*text);
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
            // A text setting: a test checks it (config_table::environment_sets_text).
            *std::get<std::string*>(field.access.ref(config)) = value;
        }
    }
}

std::expected<void, std::string> load_secret_files(Config& config) {
    const bool allow = config.allow_readable_secret_files;
    if (auto loaded = load_secret_file(config.auth_secret, config.auth_secret_file, "auth_secret",
                                        "auth-secret", allow);
        !loaded) {
        return loaded;
    }
    return load_secret_file(config.admin_token, config.admin_token_file, "admin_token",
                            "admin-token", allow);
}

}  // namespace redpacketd
