// Identity: every binary's --version names the version, the commit it was built from and the
// build type; the daemon says the same in /stats, /metrics (build_info) and its start-up log.
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "daemon_process.hpp"
#include "redpacket_build_info.hpp"
#include "test_support.hpp"

#if defined(REDPACKET_AUDIT_BINARY) && defined(REDPACKET_SOURCE_DIR)

using redpacketd::testing::DaemonProcess;
using redpacketd::testing::run_command;
namespace build_info = redpacket::build_info;

TEST_CASE("every daemon-side binary prints its version, commit and build type", "[version]") {
    for (const auto& [name, binary] : {std::pair{"redpacketd", REDPACKETD_BINARY},
                                       std::pair{"redpacket-audit", REDPACKET_AUDIT_BINARY},
                                       std::pair{"redpacket-verify", REDPACKET_VERIFY_BINARY}}) {
        INFO(name);
        const auto [status, out] = run_command(std::string(binary) + " --version 2>&1");
        CHECK(status == 0);
        CHECK(out == build_info::version_line(name) + "\n");
    }
    // The commit is the checkout's (CMake configures again when HEAD moves).
    if (!std::filesystem::exists(std::filesystem::path(REDPACKET_SOURCE_DIR) / ".git")) {
        WARN("not a git checkout: the commit is \"unknown\"");
        CHECK(build_info::kCommit == "unknown");
        return;
    }
    const auto [git_status, head] = run_command(
        "git -C '" + std::string(REDPACKET_SOURCE_DIR) + "' rev-parse --short=12 HEAD 2>&1");
    if (git_status != 0) {
        WARN("git cannot read the checkout: " << head);
        return;
    }
    CHECK(std::string(build_info::kCommit) + "\n" == head);
}

TEST_CASE("the daemon reports its build in /stats, /metrics and its start-up log",
          "[version][integration]") {
    DaemonProcess d({"--workers", "1"});
    const auto stats = redpacketd::testing::get_json(d.admin_port(), "/stats");
    CHECK(stats["build"]["version"] == build_info::kVersion);
    CHECK(stats["build"]["commit"] == build_info::kCommit);
    CHECK(stats["build"]["build_type"] == build_info::kBuildType);
    const auto metrics = redpacketd::testing::http_request(d.admin_port(), "GET", "/metrics").body;
    CHECK_THAT(metrics, Catch::Contains("# TYPE redpacketd_build_info gauge\n"
                                        "redpacketd_build_info{version=\"" +
                                        std::string(build_info::kVersion) + "\",commit=\"" +
                                        std::string(build_info::kCommit) + "\",build_type=\"" +
                                        std::string(build_info::kBuildType) + "\"} 1\n"));
    CHECK_THAT(d.log_tail(), Catch::Contains(build_info::version_line("redpacketd") + ": listening"));
}

#endif
