// Worker: the 10 ms tick — campaigns (token buckets over the owned SETs), expiry and refunds,
// published statistics, and retries of replies a full mailbox refused.
#include <algorithm>

#include "log.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

constexpr std::int64_t kMilli = 1000;  // millitokens per packet
constexpr std::int64_t kPublishEveryMs = 100;

// This worker's share of a campaign-wide quantity: proportional to its SETs; worker 0 takes
// the remainder so the shares add up exactly.
std::uint64_t share_of(std::uint64_t total, std::size_t owned, std::uint32_t sets,
                       std::uint32_t workers, std::uint32_t index) {
    const std::uint64_t base = total * owned / sets;
    if (index != 0) {
        return base;
    }
    std::uint64_t others = 0;
    for (std::uint32_t w = 1; w < workers; ++w) {
        const std::uint64_t owned_w = (sets - w + workers - 1) / workers;  // SETs s ≡ w mod W
        others += total * owned_w / sets;
    }
    return total - others;
}

}  // namespace

void Worker::on_tick(uv_timer_t* timer) {
    Worker& w = *static_cast<Worker*>(timer->data);
    w.refresh_clock();
    const std::int64_t elapsed = std::clamp<std::int64_t>(w.now_ms_ - w.last_tick_ms_, 0, 1000);
    w.last_tick_ms_ = w.now_ms_;
    w.shared_.rates->writer(w.index_).advance(w.now_ms_ / 1000);
    w.retry_posts();
    if (!w.draining_) {
        w.run_shake_campaign(elapsed);
        w.run_send_campaign(elapsed);
    }
    w.expire_packets();
    if (!w.draining_) {
        w.maybe_snapshot();
    }
    if (w.now_ms_ / kPublishEveryMs != (w.now_ms_ - elapsed) / kPublishEveryMs || elapsed == 0) {
        w.publish();
    }
    w.check_drain();
}

// Token bucket: a campaign rate of R packets/s is R/1000 packets per ms over all SETs, of which
// this worker gets owned/sets. Counting in units of 1/(1000 · sets) packet keeps that exact
// (no rounding to zero for small rates); the bucket holds at most 100 ms of tokens, or one
// packet if that is more.
std::int64_t Worker::token_cost() const noexcept {
    return kMilli * static_cast<std::int64_t>(config_.sets);
}

std::int64_t Worker::refill(std::int64_t tokens, std::uint32_t rate,
                            std::int64_t elapsed_ms) const noexcept {
    const auto owned = static_cast<std::int64_t>(owned_sets_.size());
    const std::int64_t gained = std::int64_t{rate} * owned * elapsed_ms;
    const std::int64_t cap = std::max<std::int64_t>(std::int64_t{rate} * owned * 100, token_cost());
    return std::min(tokens + gained, cap);
}

// Picks up new settings if the admin thread published a generation, then refills the bucket.
// False when the campaign has nothing to do on this worker.
template <class Settings>
bool Worker::prepare_campaign(CampaignRun<Settings>& run,
                              const std::atomic<std::uint64_t>& generation,
                              const Settings& published, std::int64_t elapsed_ms) {
    if (generation.load(std::memory_order_acquire) != run.generation) {
        // Settings and generation are read together under the lock the admin thread writes
        // them under, so a run never takes new settings with an old generation number.
        CampaignLock lock{shared_.campaign_lock};
        run = CampaignRun<Settings>{published, generation.load(std::memory_order_relaxed),
                                    std::nullopt, 0, 0, 0};
        if (run.settings.total != 0) {
            run.quota = share_of(run.settings.total, owned_sets_.size(), config_.sets,
                                 shared_.sets->worker_count(), index_);
        }
    }
    if (!run.settings.enabled || owned_sets_.empty() || !run.quota_left()) {
        return false;
    }
    run.tokens = refill(run.tokens, run.settings.rate, elapsed_ms);
    return true;
}

void Worker::run_shake_campaign(std::int64_t elapsed_ms) {
    if (!prepare_campaign(shake_, shared_.shake_generation, shared_.shake, elapsed_ms)) {
        return;
    }
    if (journal_ && (journal_->failed() || !journal_->has_room(256))) {
        return;  // nothing new while the journal cannot take it; the tokens wait
    }
    const ShakeCampaignConfig& c = shake_.settings;
    while (shake_.tokens >= token_cost() && shake_.quota_left()) {
        shake_.tokens -= token_cost();
        const redpacket::ShardId s = owned_sets_[shake_.next_set++ % owned_sets_.size()];
        const redpacket::Cents amount{rng_.between(c.min_amount, c.max_amount)};
        const auto expires = redpacket::Time{now_ms_ + std::int64_t{c.ttl_seconds} * 1000};
        if (pools_[s]->offer(amount, expires).has_value()) {
            ++shake_.done;
            count(Event::shake_offered);
        } else {
            count(Event::shake_offer_refused);
        }
    }
}

void Worker::run_send_campaign(std::int64_t elapsed_ms) {
    if (!prepare_campaign(send_, shared_.send_generation, shared_.send, elapsed_ms)) {
        return;
    }
    if (journal_ && (journal_->failed() || !journal_->has_room(256))) {
        return;
    }
    while (send_.tokens >= token_cost() && send_.quota_left()) {
        const SendOutcome outcome = send_one_packet();
        if (outcome == SendOutcome::nobody) {
            return;  // nobody to send to yet: keep the tokens
        }
        send_.tokens -= token_cost();  // a refused create spends its token but is not "sent"
        if (outcome == SendOutcome::sent) {
            ++send_.done;
        }
    }
}

Worker::SendOutcome Worker::send_one_packet() {
    for (std::size_t tries = 0; tries < owned_sets_.size(); ++tries) {
        const redpacket::ShardId s = owned_sets_[send_.next_set++ % owned_sets_.size()];
        const redpacket::ConnectionTable& table = shared_.sets->shard(s);
        if (table.size() == 0) {
            continue;
        }
        // Distinct recipients by probing random slots of the SET's table.
        std::array<std::uint32_t, protocol::kNoticeUserSlots> users{};
        std::array<redpacket::ConnectionRef, protocol::kNoticeUserSlots> conns{};
        const std::size_t want = std::min<std::size_t>(send_.settings.shares, table.size());
        std::size_t have = 0;
        for (int probe = 0; probe < 256 && have < want; ++probe) {
            const auto e = table.at_slot(rng_.below(table.capacity()));
            if (!e || std::find(users.begin(), users.begin() + static_cast<std::ptrdiff_t>(have),
                                static_cast<std::uint32_t>(e->first)) !=
                          users.begin() + static_cast<std::ptrdiff_t>(have)) {
                continue;
            }
            users[have] = static_cast<std::uint32_t>(e->first);
            conns[have] = e->second;
            ++have;
        }
        if (have == 0) {
            continue;
        }
        const redpacket::Cents total{rng_.between(std::max<std::int64_t>(send_.settings.min_total, static_cast<std::int64_t>(have)),
                                                  std::max<std::int64_t>(send_.settings.max_total, static_cast<std::int64_t>(have)))};
        // Only the recipients may claim it; the restriction is journaled with the packet, so it
        // holds after a restart too.
        std::array<redpacket::UserId, protocol::kNoticeUserSlots> allowed{};
        std::copy(users.begin(), users.end(), allowed.begin());
        const auto id = pools_[s]->create(
            0, total, static_cast<std::uint32_t>(have), send_.settings.policy,
            redpacket::Time{now_ms_ + std::int64_t{send_.settings.ttl_seconds} * 1000},
            std::span<const redpacket::UserId>{allowed.data(), have});
        if (!id) {
            count(Event::create_failures);
            return SendOutcome::refused;
        }
        count(Event::packets_sent);
        const protocol::PacketNotice notice{static_cast<std::uint32_t>(id->value),
                                            static_cast<std::uint32_t>(total.value),
                                            static_cast<std::uint32_t>(have), users};
        for (std::size_t i = 0; i < have; ++i) {
            Connection* c = find(ConnAddress{index_, static_cast<std::uint32_t>(conns[i] >> 32),
                                             static_cast<std::uint32_t>(conns[i])});
            if (c != nullptr) {
                send_now(*c, notice);  // on the recipient's own connection
                count(Event::notices);
            }
        }
        return SendOutcome::sent;
    }
    return SendOutcome::nobody;
}

void Worker::expire_packets() {
    for (const redpacket::ShardId s : owned_sets_) {
        count(Event::refunds, pools_[s]->expire(redpacket::Time{now_ms_}).size());
    }
}

void Worker::publish() {
    std::int64_t created = 0, claimed = 0, refunded = 0, outstanding = 0;
    std::int64_t shake_offered = 0, shake_issued = 0, shake_expired = 0;
    std::uint64_t live = 0, queued = 0, connections = 0, violations = 0;
    for (const redpacket::ShardId s : owned_sets_) {
        const redpacket::PoolStats& st = pools_[s]->stats();
        created += st.amount_created.value;
        claimed += st.amount_claimed.value;
        refunded += st.amount_refunded.value;
        outstanding += st.amount_outstanding.value;
        shake_offered += st.shake_amount_offered.value;
        shake_issued += st.shake_amount_issued.value;
        shake_expired += st.shake_amount_expired.value;
        live += st.packets_live;
        queued += pools_[s]->shake_size();
        if (st.amount_created != st.amount_claimed + st.amount_refunded + st.amount_outstanding ||
            st.shake_amount_offered != st.shake_amount_issued + st.shake_amount_expired +
                                           st.shake_amount_queued) {
            ++violations;
        }
        const std::size_t size = shared_.sets->shard(s).size();
        connections += size;
        set_sizes_[s].store(size, std::memory_order_relaxed);
    }
    const auto rel = std::memory_order_relaxed;
    published_.amount_created.store(created, rel);
    published_.amount_claimed.store(claimed, rel);
    published_.amount_refunded.store(refunded, rel);
    published_.amount_outstanding.store(outstanding, rel);
    published_.shake_amount_offered.store(shake_offered, rel);
    published_.shake_amount_issued.store(shake_issued, rel);
    published_.shake_amount_expired.store(shake_expired, rel);
    published_.packets_live.store(live, rel);
    published_.shake_queued.store(queued, rel);
    published_.connections.store(connections, rel);
    published_.invariant_violations.store(violations, rel);
    published_.shake_campaign_done.store(shake_.done, rel);
    published_.send_campaign_done.store(send_.done, rel);
    published_.output_queued_bytes.store(output_queued_, rel);
    published_.output_queued_peak.store(output_queued_peak_, rel);
    published_.forwarded_in_flight.store(forwarded_in_flight_, rel);
    published_.forwarded_peak.store(forwarded_peak_, rel);
    published_.reply_retry_queued.store(retry_.size(), rel);
    published_.reply_retry_peak.store(retry_peak_, rel);
    published_.held_bytes.store(held_bytes_, rel);
    published_.held_bytes_peak.store(held_bytes_peak_, rel);
    published_.publishes.fetch_add(1, std::memory_order_release);
}

}  // namespace redpacketd
