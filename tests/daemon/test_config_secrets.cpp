// Tests of redpacketd's secrets: redaction, secret files, the environment, the placeholder.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fmt/format.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "config.hpp"
#include "config_test_support.hpp"

using redpacketd::Config;
using redpacketd::testing::error_of;
using redpacketd::testing::run;
using redpacketd::testing::TempFile;

TEST_CASE("to_json redacts the secrets that are set unless asked to show them", "[config]") {
    Config config;
    config.auth_secret = "hmac-key-123";
    const std::string redacted = redpacketd::to_json(config);
    CHECK(redacted.find("hmac-key-123") == std::string::npos);
    CHECK(redacted.find("\"auth_secret\": \"<redacted>\"") != std::string::npos);
    CHECK(redacted.find("\"admin_token\": \"\"") != std::string::npos);  // unset stays visible
    CHECK(redpacketd::to_json(config, redpacketd::Secrets::shown).find("hmac-key-123") !=
          std::string::npos);
}

namespace {

/// Sets an environment variable for one test and restores its absence afterwards.
class ScopedEnv {
public:
    ScopedEnv(const char* name, const char* value) : name_{name} {
        if (const char* outer = std::getenv(name)) {
            outer_ = outer;
        }
        ::setenv(name, value, 1);
    }
    ScopedEnv(const ScopedEnv&) = delete;
    ScopedEnv& operator=(const ScopedEnv&) = delete;
    ~ScopedEnv() {
        if (outer_) {
            ::setenv(name_, outer_->c_str(), 1);
        } else {
            ::unsetenv(name_);
        }
    }

private:
    const char* name_;
    std::optional<std::string> outer_;
};

}  // namespace

TEST_CASE("secrets come from files with one trailing newline dropped", "[config]") {
    TempFile secret("key with spaces\n");
    auto line = run({"--auth-secret-file", secret.path(), "--compat-mode=false"});
    REQUIRE(error_of(line) == "");
    CHECK(line->config.auth_secret == "key with spaces");
    CHECK(line->config.auth_secret_file == secret.path());

    TempFile token("tok\r\n\n");  // only the last newline goes
    line = run({"--admin-token-file", token.path()});
    REQUIRE(error_of(line) == "");
    CHECK(line->config.admin_token == "tok\r\n");
}

TEST_CASE("a secret file that is missing, empty or doubled by another source is an error",
          "[config]") {
    auto line = run({"--admin-token-file", "/nonexistent/token"});
    REQUIRE_FALSE(line);
    CHECK(line.error().code == 2);
    CHECK(line.error().text == R"("admin_token_file": cannot read "/nonexistent/token")");

    TempFile empty("\n");
    line = run({"--auth-secret-file", empty.path()});
    REQUIRE_FALSE(line);
    CHECK(line.error().text == fmt::format(R"("auth_secret_file": "{}" is empty)", empty.path()));

    TempFile token("tok\n");
    line = run({"--admin-token-file", token.path(), "--admin-token", "other"});
    REQUIRE_FALSE(line);
    CHECK(line.error().text.starts_with(R"("admin_token" is given twice)"));
}

TEST_CASE("a secret file group or others may read is refused unless allowed", "[config]") {
    namespace fs = std::filesystem;
    TempFile token("tok\n");
    for (const fs::perms extra : {fs::perms::group_read, fs::perms::others_read}) {
        fs::permissions(token.path(), fs::perms::owner_read | fs::perms::owner_write | extra);
        for (const char* flag : {"--admin-token-file", "--auth-secret-file"}) {
            INFO(flag);
            auto line = run({flag, token.path()});
            REQUIRE_FALSE(line);
            CHECK(line.error().code == 2);
            CHECK_THAT(line.error().text,
                       Catch::Contains(fmt::format("\"{}\" has mode 06", token.path())) &&
                           Catch::Contains("make it 0600"));
            line = run({flag, token.path(), "--allow-readable-secret-files", "true"});
            CHECK(error_of(line) == "");
        }
    }
    fs::permissions(token.path(), fs::perms::owner_read);  // 0400 is private too
    CHECK(error_of(run({"--admin-token-file", token.path()})) == "");
}

TEST_CASE("a directory given as a secret or config file is an error, not an abort", "[config]") {
    const std::string dir = std::filesystem::temp_directory_path().string();
    for (const char* flag : {"--auth-secret-file", "--admin-token-file", "--config"}) {
        INFO(flag);
        const auto line = run({flag, dir});
        REQUIRE_FALSE(line);
        CHECK(line.error().code == 2);
        CHECK_THAT(line.error().text, Catch::Contains(fmt::format(R"("{}" is not a regular file)", dir)));
    }
}

TEST_CASE("the placeholder --print-config prints is refused as a secret", "[config]") {
    Config config;
    config.admin_token = "<redacted>";
    CHECK(error_of(redpacketd::validate(config)) ==
          R"("admin_token" is "<redacted>", the placeholder --print-config prints; give the )"
          R"(secret itself)");
    config.admin_token.clear();
    config.auth_secret = "<redacted>";
    CHECK(error_of(redpacketd::validate(config)).starts_with(R"("auth_secret" is "<redacted>")"));
}

TEST_CASE("secrets come from the environment, under the flags", "[config]") {
    ScopedEnv secret(redpacketd::kAuthSecretEnv, "from-env");
    ScopedEnv token(redpacketd::kAdminTokenEnv, "token-env");
    auto line = run({});
    REQUIRE(error_of(line) == "");
    CHECK(line->config.auth_secret == "from-env");
    CHECK(line->config.admin_token == "token-env");

    line = run({"--admin-token", "token-flag"});
    REQUIRE(error_of(line) == "");
    CHECK(line->config.admin_token == "token-flag");
    CHECK(line->config.auth_secret == "from-env");
}

