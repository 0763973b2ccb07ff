// RequestService: the tick — the campaigns (shake offers, send packets and their notices) and
// expiry — and the completions of campaign operations a store finished later.
#include <algorithm>

#include "redpacket/assert.hpp"
#include "redpacket/request_service.hpp"

namespace redpacket {

// --- the tick --------------------------------------------------------------------------------

void RequestService::set_shake_campaign(const ShakeCampaign& campaign, CampaignChange change) {
    shake_campaign_ = campaign;
    if (change == CampaignChange::retune) {
        shake_pacer_.retune(campaign.rate, campaign.total, share());
        return;  // the same campaign: its pending offers still count
    }
    shake_pacer_.start(campaign.rate, campaign.total, share());
    ++shake_epoch_;
}

void RequestService::set_send_campaign(const SendCampaign& campaign, CampaignChange change) {
    send_campaign_ = campaign;
    if (change == CampaignChange::retune) {
        send_pacer_.retune(campaign.rate, campaign.total, share());
        return;
    }
    send_pacer_.start(campaign.rate, campaign.total, share());
    ++send_epoch_;
}

CampaignShare RequestService::share() const noexcept {
    return CampaignShare{owned_.size(), registry_.shard_count(), registry_.worker_count(), self_};
}

void RequestService::on_tick(const Tick& in, Effects& out) {
    if (in.campaigns && store_.runs_campaigns()) {
        run_shake_campaign(now_, in.elapsed_ms);
        run_send_campaign(in.elapsed_ms, out);
    }
    for (const ShardId s : owned_) {
        const StoreTicket ticket = next_ticket();
        auto result = store_.expire(ticket, ExpireOp{s, now_});
        if (!result.ready()) {
            park(ticket, AwaitExpire{});
        } else if (result.get().result) {
            count(ServiceEvent::refunds, result.get().result->refunds);
        }
    }
}

void RequestService::run_shake_campaign(Time now, std::int64_t elapsed_ms) {
    if (!shake_campaign_.enabled || !shake_pacer_.refill(elapsed_ms)) {
        return;
    }
    if (!store_.has_room(256)) {
        return;  // nothing new while the store cannot take it; the tokens wait
    }
    const ShakeCampaign& c = shake_campaign_;
    while (shake_pacer_.try_spend()) {
        const ShardId s = owned_[next_shake_set_++ % owned_.size()];
        const Cents amount{rng_.between(c.min_amount, c.max_amount)};
        const StoreTicket ticket = next_ticket();
        auto result =
            store_.offer(ticket, OfferOp{s, amount, now + std::chrono::seconds{c.ttl_seconds}});
        shake_pacer_.made();  // counted now so the quota holds while offers are pending
        if (result.ready()) {
            count_offer(result.get());
        } else {
            park(ticket, AwaitOffer{shake_epoch_});
        }
    }
}

void RequestService::count_offer(const Completion<PacketId>& done) {
    if (done.result) {
        count(ServiceEvent::shake_offered);
    } else {
        shake_pacer_.unmade();
        count(ServiceEvent::shake_offer_refused);
    }
}

void RequestService::run_send_campaign(std::int64_t elapsed_ms, Effects& out) {
    if (!send_campaign_.enabled || !send_pacer_.refill(elapsed_ms)) {
        return;
    }
    if (!store_.has_room(256)) {
        return;
    }
    while (send_pacer_.try_spend()) {
        if (send_one_packet(out) == SendOutcome::nobody) {
            send_pacer_.give_back();  // nobody to send to yet: keep the tokens
            return;
        }
        // A refused create spends its token but is not a packet sent.
    }
}

// Distinct recipients for a send packet by probing random slots of the SET's table.
void RequestService::pick_recipients(const ConnectionTable& table, AwaitSend& sent) {
    const std::size_t want = std::min<std::size_t>(send_campaign_.shares, table.size());
    for (int probe = 0; probe < 256 && sent.recipients < want; ++probe) {
        const auto e = table.at_slot(rng_.below(table.capacity()));
        const auto chosen = sent.users.begin() + sent.recipients;
        if (!e ||
            std::find(sent.users.begin(), chosen, static_cast<std::uint32_t>(e->first)) != chosen) {
            continue;
        }
        sent.users[sent.recipients] = static_cast<std::uint32_t>(e->first);
        sent.conns[sent.recipients] = e->second;
        ++sent.recipients;
    }
}

// The create of a send packet for `sent`'s recipients in SET `set`, at a random total: only
// they may claim it (`allowed`, which must outlive the call); the restriction is stored with
// the packet, so it holds after a restart too.
CreateOp RequestService::send_create(ShardId set, AwaitSend& sent,
                                     std::array<UserId, protocol::kNoticeUserSlots>& allowed) {
    REDPACKET_ASSERT(sent.recipients > 0 && sent.recipients <= sent.users.size());
    const auto have = static_cast<std::int64_t>(sent.recipients);
    sent.total = Cents{rng_.between(std::max<std::int64_t>(send_campaign_.min_total, have),
                                    std::max<std::int64_t>(send_campaign_.max_total, have))};
    std::copy(sent.users.begin(), sent.users.end(), allowed.begin());
    CreateOp create;
    create.set = set;
    create.total = sent.total;
    create.count = sent.recipients;
    create.policy = send_campaign_.policy;
    create.expires_at = now_ + std::chrono::seconds{send_campaign_.ttl_seconds};
    create.allowed = std::span<const UserId>{allowed.data(), sent.recipients};
    return create;
}

RequestService::SendOutcome RequestService::send_one_packet(Effects& out) {
    if (store_.tracks_presence()) {
        // Recipients may be online in any process: ask the store, which answers later.
        const ShardId s = owned_[next_send_set_++ % owned_.size()];
        const StoreTicket ticket = next_ticket();
        auto result = store_.recipients(ticket, s, send_campaign_.shares);
        send_pacer_.made();  // counted now so the quota holds while the store answers
        const AwaitRecipients op{s, send_epoch_};
        if (result.ready()) {
            on_recipients(op, result.get(), out);
        } else {
            park(ticket, op);
        }
        return SendOutcome::sent;
    }
    for (std::size_t tries = 0; tries < owned_.size(); ++tries) {
        const ShardId s = owned_[next_send_set_++ % owned_.size()];
        const ConnectionTable& table = registry_.shard(s);
        if (table.size() == 0) {
            continue;
        }
        AwaitSend sent{send_epoch_};
        pick_recipients(table, sent);
        if (sent.recipients == 0) {
            continue;
        }
        std::array<UserId, protocol::kNoticeUserSlots> allowed{};
        const CreateOp create = send_create(s, sent, allowed);
        const StoreTicket ticket = next_ticket();
        auto result = store_.create(ticket, create);
        send_pacer_.made();  // counted now so the quota holds while creates are pending
        if (!result.ready()) {
            park(ticket, sent);
            return SendOutcome::sent;
        }
        if (!result.get().result) {
            send_pacer_.unmade();
            count(ServiceEvent::create_failures);
            return SendOutcome::refused;
        }
        send_notices(sent, result.get().result->packet, result.get().durable_at, out);
        return SendOutcome::sent;
    }
    return SendOutcome::nobody;
}

void RequestService::on_recipients(const AwaitRecipients& op,
                                   const Completion<std::vector<UserId>>& done, Effects& out) {
    if (!done.result || done.result->empty()) {
        if (op.epoch == send_epoch_) {
            send_pacer_.unmade();  // nobody online there (or the store failed): no packet
        }
        return;
    }
    send_to(op.set, *done.result, op.epoch, out);
}

void RequestService::send_to(ShardId set, const std::vector<UserId>& recipients,
                             std::uint32_t epoch, Effects& out) {
    AwaitSend sent{epoch};
    for (const UserId u : recipients) {
        if (sent.recipients < sent.users.size()) {
            sent.users[sent.recipients++] = static_cast<std::uint32_t>(u);
        }
    }
    std::array<UserId, protocol::kNoticeUserSlots> allowed{};
    const CreateOp create = send_create(set, sent, allowed);
    const StoreTicket ticket = next_ticket();
    auto result = store_.create(ticket, create);
    if (!result.ready()) {
        park(ticket, sent);
    } else {
        on_created_send(sent, result.get(), out);
    }
}

void RequestService::on_created_send(const AwaitSend& op, const Completion<Created>& done,
                                     Effects& out) {
    if (!done.result) {
        if (op.epoch == send_epoch_) {
            send_pacer_.unmade();
        }
        count(ServiceEvent::create_failures);
        return;
    }
    send_notices(op, done.result->packet, done.durable_at, out);
}

void RequestService::on_offered(const AwaitOffer& op, const Completion<PacketId>& done) {
    if (done.result || op.epoch == shake_epoch_) {
        count_offer(done);
    } else {
        count(ServiceEvent::shake_offer_refused);  // of a campaign since replaced
    }
}

void RequestService::on_announcement(const Announced& in, Effects& out) {
    // Another process's (or this one's) send campaign: tell the recipients connected here.
    const ShardId set = in.set;
    const Announcement& a = in.announcement;
    if (set >= registry_.shard_count() || registry_.worker_of(set) != self_) {
        return;
    }
    std::array<std::uint32_t, protocol::kNoticeUserSlots> users{};
    for (std::size_t i = 0; i < users.size(); ++i) {
        users[i] = static_cast<std::uint32_t>(a.users[i]);
    }
    const protocol::PacketNotice notice{static_cast<std::uint32_t>(a.packet.value),
                                        static_cast<std::uint32_t>(a.total.value), a.shares, users};
    for (std::size_t i = 0; i < a.shares && i < users.size(); ++i) {
        if (const auto conn = registry_.shard(set).find(a.users[i])) {
            out.push_back(Notify{*conn, notice});
            count(ServiceEvent::notices);
        }
    }
}

void RequestService::send_notices(const AwaitSend& op, PacketId packet, std::uint64_t durable_at,
                                  Effects& out) {
    count(ServiceEvent::packets_sent);
    if (store_.tracks_presence()) {
        // Recipients may be connected to any process: announce it on the SET's channel.
        Announcement a;
        a.packet = packet;
        a.total = op.total;
        a.shares = op.recipients;
        for (std::size_t i = 0; i < a.users.size(); ++i) {
            a.users[i] = op.users[i];
        }
        store_.announce(packet_shard(packet), a);
        return;
    }
    const protocol::PacketNotice notice{static_cast<std::uint32_t>(packet.value),
                                        static_cast<std::uint32_t>(op.total.value), op.recipients,
                                        op.users};
    // On each recipient's own connection, picked from the registry when the packet was made
    // (the caller skips one that has left since).
    for (std::size_t i = 0; i < op.recipients; ++i) {
        out.push_back(Notify{op.conns[i], notice, durable_at});
        count(ServiceEvent::notices);
    }
}

}  // namespace redpacket
