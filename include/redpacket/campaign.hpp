// Campaigns: packets a service mints on its own at a steady rate — the seed's shake-packet
// generator (single-share packets offered to the SETs' shake supplies) and its send service
// (group packets made for a few online users of a SET, who get a notice).
//
// A campaign's rate and total are campaign-wide; each worker runs its part over the SETs it
// owns. CampaignPacer is that part: the worker's share of the total, proportional to its SETs
// (worker 0 takes the remainder, so the shares add up exactly, given the registry's rule that
// worker w owns the SETs s ≡ w mod W), and a token bucket counted in units of 1/(1000 · sets)
// packet, so that any rate accumulates exactly however small and however spread over workers.
// The bucket holds at most 100 ms of tokens, or one packet if that is more.
//
// Plain values; single owner; not thread-safe.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "redpacket/split.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// The shake campaign: single-share packets offered to the SETs' shake supplies.
struct ShakeCampaign {
    bool enabled{false};
    std::uint32_t rate{200};       ///< packets per second, over all SETs
    std::uint64_t total{0};        ///< packets to offer in all; 0 = no limit
    std::int64_t min_amount{1};    ///< cents
    std::int64_t max_amount{100};  ///< cents
    std::uint32_t ttl_seconds{60};
    friend bool operator==(const ShakeCampaign&, const ShakeCampaign&) = default;
};

/// The send campaign: group packets created for chosen online users and announced to them.
struct SendCampaign {
    bool enabled{false};
    std::uint32_t rate{200};      ///< packets per second, over all SETs
    std::uint64_t total{20000};   ///< packets to create in all; 0 = no limit
    std::int64_t min_total{3};    ///< cents per packet
    std::int64_t max_total{300};  ///< cents per packet
    std::uint32_t shares{3};      ///< recipients per packet (1..3: the notice has 3 slots)
    SplitPolicy policy{SplitPolicy::double_mean};
    std::uint32_t ttl_seconds{60};
    friend bool operator==(const SendCampaign&, const SendCampaign&) = default;
};

/// Which part of a campaign a worker runs.
struct CampaignShare {
    std::size_t owned_sets{0};  ///< SETs this worker owns
    std::uint32_t sets{1};      ///< SETs in all
    std::uint32_t workers{1};
    WorkerId index{0};
};

/// What setting a campaign does to the one running: `restart` starts its count (and so its
/// total) again — POST /campaigns/<kind>; `retune` keeps the packets made so far counting
/// against the new total — a reload of the settings.
enum class CampaignChange : std::uint8_t { restart, retune };

/// One worker's progress through a campaign: quota, packets made, token bucket.
class CampaignPacer {
public:
    /// Starts (or restarts) a campaign of `rate` packets/s and `total` packets (0: no limit).
    void start(std::uint32_t rate, std::uint64_t total, const CampaignShare& share) noexcept;
    /// Changes the rate and total of the running campaign: the packets made so far count
    /// against the new total and the tokens saved stay (up to the new rate's cap).
    void retune(std::uint32_t rate, std::uint64_t total, const CampaignShare& share) noexcept;
    /// Adds the tokens of `elapsed_ms`. False when there is nothing to do on this worker (no
    /// SETs, rate 0, or its quota is made).
    [[nodiscard]] bool refill(std::int64_t elapsed_ms) noexcept;
    /// True, spending one packet's tokens, if a packet may be made now.
    [[nodiscard]] bool try_spend() noexcept;
    /// Gives back the tokens of one `try_spend` (nothing could be made after all).
    void give_back() noexcept { tokens_ += cost(); }
    /// Counts one packet made.
    void made() noexcept { ++done_; }
    /// Takes back one `made` (a packet counted before its store refused it).
    void unmade() noexcept { done_ -= done_ > 0 ? 1 : 0; }
    [[nodiscard]] bool quota_left() const noexcept { return !quota_ || done_ < *quota_; }
    /// Packets made since `start`.
    [[nodiscard]] std::uint64_t done() const noexcept { return done_; }
    /// This worker's part of the total; nothing without a limit.
    [[nodiscard]] std::optional<std::uint64_t> quota() const noexcept { return quota_; }

private:
    [[nodiscard]] std::int64_t cap() const noexcept;
    [[nodiscard]] std::int64_t cost() const noexcept {
        return 1000 * static_cast<std::int64_t>(share_.sets);
    }
    std::uint32_t rate_{0};
    CampaignShare share_;
    std::optional<std::uint64_t> quota_;
    std::uint64_t done_{0};
    std::int64_t tokens_{0};
};

/// Worker `share.index`'s part of `total`: proportional to its SETs, worker 0 taking the
/// remainder so that the parts of all workers add up to `total`.
[[nodiscard]] std::uint64_t campaign_quota(std::uint64_t total, const CampaignShare& share) noexcept;

}  // namespace redpacket
