// A fake AdminBackend for the admin API tests: records every call, may refuse or throw.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "admin_http.hpp"

namespace admin_test {

using nlohmann::json;
using redpacketd::AdminBackend;
using redpacketd::AdminLimits;
using redpacketd::AdminServer;
using redpacketd::HttpRequest;
using redpacketd::HttpResponse;
using redpacketd::SendCampaignConfig;
using redpacketd::ShakeCampaignConfig;

/// Records every campaign it is given; may be told to refuse or to throw.
class FakeBackend final : public AdminBackend {
public:
    json stats() const override {
        count_call();
        if (throw_) {
            throw std::runtime_error("backend exploded");
        }
        return {{"connections", 7}};
    }
    std::string metrics() const override {
        count_call();
        return "# TYPE redpacketd_connections gauge\nredpacketd_connections 7\n";
    }
    std::expected<json, std::pair<int, std::string>> packet_proof(std::uint64_t packet) override {
        const std::lock_guard lock(mutex_);
        ++calls_;
        proofs_.push_back(packet);
        if (packet == 404) {
            return std::unexpected(std::pair{404, std::string("no packet 404")});
        }
        return json{{"packet", packet}};
    }
    std::vector<std::uint64_t> proofs() const {
        const std::lock_guard lock(mutex_);
        return proofs_;
    }
    json campaigns() const override {
        count_call();
        return {{"shake", {{"enabled", false}}}};
    }
    std::expected<json, std::string> start_shake(const ShakeCampaignConfig& c) override {
        const std::lock_guard lock(mutex_);
        ++calls_;
        shakes_.push_back(c);
        if (!refusal_.empty()) {
            return std::unexpected(refusal_);
        }
        return json{{"started", "shake"}, {"rate", c.rate}};
    }
    std::expected<json, std::string> start_send(const SendCampaignConfig& c) override {
        const std::lock_guard lock(mutex_);
        ++calls_;
        sends_.push_back(c);
        if (!refusal_.empty()) {
            return std::unexpected(refusal_);
        }
        return json{{"started", "send"}};
    }

    int calls() const {
        const std::lock_guard lock(mutex_);
        return calls_;
    }
    std::vector<ShakeCampaignConfig> shakes() const {
        const std::lock_guard lock(mutex_);
        return shakes_;
    }
    std::vector<SendCampaignConfig> sends() const {
        const std::lock_guard lock(mutex_);
        return sends_;
    }
    std::expected<void, std::string> readiness() const override {
        count_call();
        return not_ready_.empty() ? std::expected<void, std::string>{}
                                  : std::unexpected(not_ready_);
    }

    std::string refusal_;
    std::string not_ready_;  ///< non-empty: readiness() gives this reason
    bool throw_{false};

private:
    void count_call() const {
        const std::lock_guard lock(mutex_);
        ++calls_;
    }
    mutable std::mutex mutex_;
    mutable int calls_{0};
    std::vector<ShakeCampaignConfig> shakes_;
    std::vector<SendCampaignConfig> sends_;
    std::vector<std::uint64_t> proofs_;
};

const std::string kToken = "s3cret-token";

inline HttpResponse call(FakeBackend& backend, std::string method, std::string url, std::string body = {},
                  std::string authorization = "Bearer " + kToken,
                  const std::string& token = kToken) {
    return redpacketd::route(
        HttpRequest{std::move(method), std::move(url), std::move(body), std::move(authorization)},
        backend, token);
}

/// The "error" string of a JSON error body; fails the test if the body is not one.
inline std::string error_of(const HttpResponse& r) {
    CHECK(r.content_type == "application/json");
    const json body = json::parse(r.body, nullptr, false);
    REQUIRE(body.is_object());
    REQUIRE(body.contains("error"));
    REQUIRE(body["error"].is_string());
    return body["error"].get<std::string>();
}

}  // namespace admin_test
