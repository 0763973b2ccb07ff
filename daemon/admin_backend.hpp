// What the admin HTTP API needs from the server: read-only views and campaign control.
//
// Implemented by the server; called on the admin thread. Implementations must be safe to call
// from that thread while workers run (they read atomics / RateCounter, and hand campaign
// changes to the workers).
#pragma once

#include <expected>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "config.hpp"

namespace redpacketd {

class AdminBackend {
public:
    virtual ~AdminBackend() = default;
    /// GET /stats: connections, per-second rates for the last 60 s, campaigns, packets open,
    /// money issued/claimed/refunded, per-SET sizes.
    [[nodiscard]] virtual nlohmann::json stats() const = 0;
    /// GET /metrics: Prometheus text exposition format (HELP/TYPE lines).
    [[nodiscard]] virtual std::string metrics() const = 0;
    /// GET /packets/<id>/proof: a finished verifiable packet's proof, as redpacket-verify and
    /// tools/verify_split.py read it. Error: the HTTP status and a message (404 unknown, 409
    /// not finished or not verifiable, 503 the store or its worker did not answer in time).
    [[nodiscard]] virtual std::expected<nlohmann::json, std::pair<int, std::string>> packet_proof(
        std::uint64_t packet) = 0;
    /// GET /readyz: whether this daemon should get traffic; error: why not ("draining: ...",
    /// "journal failing ...").
    [[nodiscard]] virtual std::expected<void, std::string> readiness() const = 0;
    /// GET /campaigns.
    [[nodiscard]] virtual nlohmann::json campaigns() const = 0;
    /// Starts or replaces the shake campaign. Error: a message naming the bad field.
    virtual std::expected<nlohmann::json, std::string> start_shake(
        const ShakeCampaignConfig& campaign) = 0;
    /// Starts or replaces the send campaign. Error: a message naming the bad field.
    virtual std::expected<nlohmann::json, std::string> start_send(
        const SendCampaignConfig& campaign) = 0;
};

}  // namespace redpacketd
