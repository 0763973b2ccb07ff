// What the Redis Cluster tests share: where the test cluster is (ctest starts it as a fixture:
// cmake/redis-cluster.sh, REDPACKET_REDIS_CLUSTER="<dir>@<base port>"), redis-cli, a libuv loop
// to run a ClusterClient on, and a key prefix of its own for each test.
#pragma once

#include <uv.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "test_support.hpp"

namespace redpacket::testing {

struct TestCluster {
    std::string dir;
    int base_port{0};
    /// Node i listens on this address's last byte + i (cmake/redis-cluster.sh's
    /// REDPACKET_REDIS_HOST), or every node on 127.0.0.1.
    std::string first_host{"127.0.0.1"};
    bool spread{false};
    int nodes{9};  ///< cmake/redis-cluster.sh's default: 3 masters with 2 replicas each

    /// The cluster ctest started, "<dir>@<base port>" or "<dir>@<first host>:<base port>" in
    /// the environment variable `name`; throws if it is not set.
    static TestCluster from_env(const char* name = "REDPACKET_REDIS_CLUSTER") {
        const char* env = std::getenv(name);
        if (env == nullptr) {
            throw std::runtime_error(std::string(name) + " is not set: run through ctest");
        }
        const std::string s = env;
        const auto at = s.rfind('@');
        const auto colon = s.rfind(':');
        if (colon != std::string::npos && colon > at) {
            return TestCluster{s.substr(0, at), std::stoi(s.substr(colon + 1)),
                               s.substr(at + 1, colon - at - 1), true};
        }
        return TestCluster{s.substr(0, at), std::stoi(s.substr(at + 1))};
    }
    /// The address of the node on `port`.
    [[nodiscard]] std::string host_of(int port) const {
        if (!spread) {
            return first_host;
        }
        const auto dot = first_host.rfind('.');
        return first_host.substr(0, dot + 1) +
               std::to_string(std::stoi(first_host.substr(dot + 1)) + port - base_port);
    }
    /// "host:port,...", the first six nodes.
    [[nodiscard]] std::string seeds() const {
        std::string out;
        for (int i = 0; i < 6; ++i) {
            out += (i ? "," : "") + host_of(base_port + i) + ":" + std::to_string(base_port + i);
        }
        return out;
    }
    /// redis-cli against the node on `port`.
    [[nodiscard]] std::string cli(int port, const std::string& args) const;
};

/// Runs a shell command; its exit status and its output, stderr joined.
inline std::pair<int, std::string> shell(const std::string& command) {
    return redpacketd::testing::run_command(command);
}

/// redis-cli against one node of the cluster.
inline std::string redis_cli(int port, const std::string& args) {
    return shell("redis-cli -p " + std::to_string(port) + " " + args).second;
}

inline std::string TestCluster::cli(int port, const std::string& args) const {
    return shell("redis-cli -h " + host_of(port) + " -p " + std::to_string(port) + " " + args).second;
}

/// A unique key prefix for one test run.
inline std::string test_prefix(const std::string& name) {
    return "t-" + name + "-" + std::to_string(::getpid());
}

/// A libuv loop run until a condition holds.
struct UvLoop {
    uv_loop_t loop{};
    UvLoop() { uv_loop_init(&loop); }
    ~UvLoop() {
        uv_run(&loop, UV_RUN_NOWAIT);
        (void)uv_loop_close(&loop);
    }
    template <class Pred>
    bool run_until(Pred&& done, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!done() && std::chrono::steady_clock::now() < deadline) {
            if (uv_run(&loop, UV_RUN_ONCE) == 0) {
                break;
            }
        }
        return done();
    }
};

}  // namespace redpacket::testing
