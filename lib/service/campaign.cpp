#include "redpacket/campaign.hpp"

namespace redpacket {

std::uint64_t campaign_quota(std::uint64_t total, const CampaignShare& share) noexcept {
    const std::uint64_t base = total * share.owned_sets / share.sets;
    if (share.index != 0) {
        return base;
    }
    std::uint64_t others = 0;
    for (std::uint32_t w = 1; w < share.workers; ++w) {
        // Worker w owns the SETs s ≡ w (mod W).
        const std::uint64_t owned_w = (share.sets - w + share.workers - 1) / share.workers;
        others += total * owned_w / share.sets;
    }
    return total - others;
}

void CampaignPacer::start(std::uint32_t rate, std::uint64_t total,
                          const CampaignShare& share) noexcept {
    rate_ = rate;
    share_ = share;
    quota_ = total != 0 ? std::optional{campaign_quota(total, share)} : std::nullopt;
    done_ = 0;
    tokens_ = 0;
}

void CampaignPacer::retune(std::uint32_t rate, std::uint64_t total,
                           const CampaignShare& share) noexcept {
    const std::uint64_t done = done_;
    const std::int64_t tokens = tokens_;
    start(rate, total, share);
    done_ = done;
    tokens_ = std::min(tokens, cap());
}

bool CampaignPacer::refill(std::int64_t elapsed_ms) noexcept {
    if (share_.owned_sets == 0 || !quota_left()) {
        return false;
    }
    // R packets/s is R/1000 packets per ms over all SETs, of which this worker gets
    // owned/sets: R · owned · ms tokens of 1/(1000 · sets) packet.
    const auto owned = static_cast<std::int64_t>(share_.owned_sets);
    const std::int64_t gained = std::int64_t{rate_} * owned * elapsed_ms;
    tokens_ = std::min(tokens_ + gained, cap());
    return true;
}

std::int64_t CampaignPacer::cap() const noexcept {
    // At most 100 ms of tokens (and one packet's at least).
    const auto owned = static_cast<std::int64_t>(share_.owned_sets);
    return std::max<std::int64_t>(std::int64_t{rate_} * owned * 100, cost());
}

bool CampaignPacer::try_spend() noexcept {
    if (tokens_ < cost() || !quota_left()) {
        return false;
    }
    tokens_ -= cost();
    return true;
}

}  // namespace redpacket
