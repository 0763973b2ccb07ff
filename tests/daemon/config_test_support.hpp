// Helpers shared by the configuration tests: a temporary file, the command line, errors.
#pragma once

#include <unistd.h>

#include <expected>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config.hpp"

namespace redpacketd::testing {

/// A file under the temp directory, one per object, removed when the test ends.
class TempFile {
public:
    explicit TempFile(const std::string& text)
        : path_(std::filesystem::temp_directory_path() /
                ("redpacketd_test_config_" + std::to_string(::getpid()) + "_" +
                 std::to_string(next_id()++) + ".json")) {
        std::ofstream(path_) << text;
        // Private, as the daemon wants a secret file (a config file may be either).
        std::filesystem::permissions(path_, std::filesystem::perms::owner_read |
                                                std::filesystem::perms::owner_write);
    }
    TempFile(const TempFile&) = delete;
    TempFile& operator=(const TempFile&) = delete;
    ~TempFile() { std::filesystem::remove(path_); }
    std::string path() const { return path_.string(); }

private:
    static int& next_id() {
        static int id = 0;
        return id;
    }
    std::filesystem::path path_;
};

/// Runs parse_command_line on exactly `args` (argv[0] added).
inline std::expected<redpacketd::CommandLine, redpacketd::CommandLineExit> run_as_given(
    std::vector<std::string> args) {
    std::string program = "redpacketd";
    std::vector<char*> argv{program.data()};
    for (std::string& arg : args) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    return redpacketd::parse_command_line(static_cast<int>(argv.size() - 1), argv.data());
}

/// Runs parse_command_line on `args` (argv[0] added), with `--compat-mode true` first unless
/// they set it: a configuration needs a way to log in (compat mode, off by default, or an auth
/// secret) and most tests are about something else.
inline std::expected<redpacketd::CommandLine, redpacketd::CommandLineExit> run(
    std::vector<std::string> args) {
    const bool sets_compat = std::ranges::any_of(
        args, [](const std::string& a) { return a.starts_with("--compat-mode"); });
    if (!sets_compat) {
        args.insert(args.begin(), {"--compat-mode", "true"});
    }
    return run_as_given(std::move(args));
}

/// The error of `result` ("" on success), so a failed REQUIRE shows why.
template <class T>
inline std::string error_of(const std::expected<T, std::string>& result) {
    return result ? std::string{} : result.error();
}
template <class T>
inline std::string error_of(const std::expected<T, redpacketd::CommandLineExit>& result) {
    return result ? std::string{} : result.error().text;
}

}  // namespace redpacketd::testing
