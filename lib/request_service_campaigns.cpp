// RequestService: the tick (campaigns and expiry) and the completions of operations that a
// store finished later.
#include <algorithm>

#include "redpacket/request_service.hpp"

namespace redpacket {

// --- the tick --------------------------------------------------------------------------------

void RequestService::set_shake_campaign(const ShakeCampaign& campaign) {
    shake_campaign_ = campaign;
    shake_pacer_.start(campaign.rate, campaign.total, share());
    ++shake_epoch_;
}

void RequestService::set_send_campaign(const SendCampaign& campaign) {
    send_campaign_ = campaign;
    send_pacer_.start(campaign.rate, campaign.total, share());
    ++send_epoch_;
}

CampaignShare RequestService::share() const noexcept {
    return CampaignShare{owned_.size(), registry_.shard_count(), registry_.worker_count(), self_};
}

void RequestService::presence(UserId user, bool online) {
    if (store_.tracks_presence()) {
        store_.presence(registry_.shard_of(user), user, online);
    }
}

void RequestService::tick(Time now, std::int64_t elapsed_ms, bool campaigns) {
    second_ = now.count() / 1000;
    now_ = now;
    if (campaigns && store_.runs_campaigns()) {
        run_shake_campaign(now, elapsed_ms);
        run_send_campaign(now, elapsed_ms);
    }
    for (const ShardId s : owned_) {
        const StoreTicket ticket = next_ticket();
        auto result = store_.expire(ticket, ExpireOp{s, now});
        if (!result.ready()) {
            park(ticket, pending_op(OpKind::expire));
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
        auto result = store_.offer(ticket, OfferOp{s, amount, now + std::chrono::seconds{c.ttl_seconds}});
        shake_pacer_.made();  // counted now so the quota holds while offers are pending
        if (result.ready()) {
            count_offer(result.get());
        } else {
            PendingOp offer = pending_op(OpKind::offer);
            offer.epoch = shake_epoch_;
            park(ticket, offer);
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

void RequestService::run_send_campaign(Time now, std::int64_t elapsed_ms) {
    if (!send_campaign_.enabled || !send_pacer_.refill(elapsed_ms)) {
        return;
    }
    if (!store_.has_room(256)) {
        return;
    }
    while (send_pacer_.try_spend()) {
        if (send_one_packet(now) == SendOutcome::nobody) {
            send_pacer_.give_back();  // nobody to send to yet: keep the tokens
            return;
        }
        // A refused create spends its token but is not a packet sent.
    }
}

// Distinct recipients for a send packet by probing random slots of the SET's table.
void RequestService::pick_recipients(const ConnectionTable& table, PendingOp& sent) {
    const std::size_t want = std::min<std::size_t>(send_campaign_.shares, table.size());
    for (int probe = 0; probe < 256 && sent.recipients < want; ++probe) {
        const auto e = table.at_slot(rng_.below(table.capacity()));
        const auto chosen = sent.users.begin() + sent.recipients;
        if (!e || std::find(sent.users.begin(), chosen, static_cast<std::uint32_t>(e->first)) !=
                      chosen) {
            continue;
        }
        sent.users[sent.recipients] = static_cast<std::uint32_t>(e->first);
        sent.conns[sent.recipients] = e->second;
        ++sent.recipients;
    }
}

RequestService::SendOutcome RequestService::send_one_packet(Time now) {
    if (store_.tracks_presence()) {
        // Recipients may be online in any process: ask the store, which answers later.
        const ShardId s = owned_[next_send_set_++ % owned_.size()];
        const StoreTicket ticket = next_ticket();
        auto result = store_.recipients(ticket, s, send_campaign_.shares);
        send_pacer_.made();  // counted now so the quota holds while the store answers
        PendingOp op = pending_op(OpKind::recipients);
        op.packet = s;
        op.epoch = send_epoch_;
        if (result.ready()) {
            on_recipients_now(op, result.get());
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
        PendingOp sent = pending_op(OpKind::send);
        sent.epoch = send_epoch_;
        pick_recipients(table, sent);
        if (sent.recipients == 0) {
            continue;
        }
        const auto have = static_cast<std::int64_t>(sent.recipients);
        sent.total = Cents{rng_.between(std::max<std::int64_t>(send_campaign_.min_total, have),
                                      std::max<std::int64_t>(send_campaign_.max_total, have))};
        // Only the recipients may claim it; the restriction is stored with the packet, so it
        // holds after a restart too.
        std::array<UserId, protocol::kNoticeUserSlots> allowed{};
        std::copy(sent.users.begin(), sent.users.end(), allowed.begin());
        CreateOp create;
        create.set = s;
        create.total = sent.total;
        create.count = sent.recipients;
        create.policy = send_campaign_.policy;
        create.expires_at = now + std::chrono::seconds{send_campaign_.ttl_seconds};
        create.allowed = std::span<const UserId>{allowed.data(), sent.recipients};
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
        send_notices(sent, result.get().result->packet);
        return SendOutcome::sent;
    }
    return SendOutcome::nobody;
}

void RequestService::on_recipients(StoreTicket ticket, Completion<std::vector<UserId>> done) {
    if (const auto op = unpark(ticket)) {
        on_recipients_now(*op, done);
    }
}

void RequestService::on_recipients_now(const PendingOp& op, Completion<std::vector<UserId>>& done) {
    if (!done.result || done.result->empty()) {
        if (op.epoch == send_epoch_) {
            send_pacer_.unmade();  // nobody online there (or the store failed): no packet
        }
        return;
    }
    send_to(static_cast<ShardId>(op.packet), *done.result, op.epoch, now_);
}

void RequestService::send_to(ShardId set, const std::vector<UserId>& recipients,
                             std::uint32_t epoch, Time now) {
    PendingOp sent = pending_op(OpKind::send);
    sent.epoch = epoch;
    sent.packet = set;
    for (const UserId u : recipients) {
        if (sent.recipients < sent.users.size()) {
            sent.users[sent.recipients++] = static_cast<std::uint32_t>(u);
        }
    }
    const auto have = static_cast<std::int64_t>(sent.recipients);
    sent.total = Cents{rng_.between(std::max<std::int64_t>(send_campaign_.min_total, have),
                                    std::max<std::int64_t>(send_campaign_.max_total, have))};
    std::array<UserId, protocol::kNoticeUserSlots> allowed{};
    std::copy(sent.users.begin(), sent.users.end(), allowed.begin());
    CreateOp create;
    create.set = set;
    create.total = sent.total;
    create.count = sent.recipients;
    create.policy = send_campaign_.policy;
    create.expires_at = now + std::chrono::seconds{send_campaign_.ttl_seconds};
    create.allowed = std::span<const UserId>{allowed.data(), sent.recipients};
    const StoreTicket ticket = next_ticket();
    auto result = store_.create(ticket, create);
    if (!result.ready()) {
        park(ticket, sent);
    } else if (!result.get().result) {
        if (epoch == send_epoch_) {
            send_pacer_.unmade();
        }
        count(ServiceEvent::create_failures);
    } else {
        send_notices(sent, result.get().result->packet);
    }
}

void RequestService::on_announcement(ShardId set, const Announcement& a) {
    // Another process's (or this one's) send campaign: tell the recipients connected here.
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
        const auto conn = registry_.shard(set).find(a.users[i]);
        if (conn && output_.notify(*conn, notice)) {
            count(ServiceEvent::notices);
        }
    }
}

void RequestService::send_notices(const PendingOp& op, PacketId packet) {
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
                                        static_cast<std::uint32_t>(op.total.value),
                                        op.recipients, op.users};
    for (std::size_t i = 0; i < op.recipients; ++i) {
        if (output_.notify(op.conns[i], notice)) {  // on the recipient's own connection
            count(ServiceEvent::notices);
        }
    }
}

// --- pending operations ----------------------------------------------------------------------

StoreTicket RequestService::next_ticket() {
    // A number, nothing else: an operation that completes at once never touches the table of
    // pending ones.
    return current_ticket_ = ++last_ticket_;
}

void RequestService::park(StoreTicket ticket, const PendingOp& op) {
    pending_ops_.emplace(ticket, op);
}

std::optional<RequestService::PendingOp> RequestService::unpark(StoreTicket ticket) {
    const auto it = pending_ops_.find(ticket);
    if (it == pending_ops_.end()) {
        return std::nullopt;  // not ours, or completed twice: a store bug, ignored
    }
    PendingOp op = it->second;
    pending_ops_.erase(it);
    return op;
}

void RequestService::on_created(StoreTicket ticket, Completion<Created> done) {
    const auto op = unpark(ticket);
    if (!op) {
        return;
    }
    if (op->kind == OpKind::create) {
        output_.deliver(op->asker, std::get<Reply>(create_reply(op->request_id, done)));
        return;
    }
    if (!done.result) {  // a send campaign's packet
        if (op->epoch == send_epoch_) {
            send_pacer_.unmade();
        }
        count(ServiceEvent::create_failures);
        return;
    }
    send_notices(*op, done.result->packet);
}

void RequestService::on_claimed(StoreTicket ticket, Completion<Claimed> done) {
    if (const auto op = unpark(ticket)) {
        output_.deliver(op->asker,
                        std::get<Reply>(claim_reply(op->kind, op->request_id, op->packet, done)));
    }
}

void RequestService::on_queried(StoreTicket ticket, Completion<PacketInfo> done) {
    if (answer_read(ticket, done.result)) {
        return;
    }
    if (const auto op = unpark(ticket)) {
        output_.deliver(op->asker,
                        std::get<Reply>(op->kind == OpKind::proof
                                            ? proof_reply(op->request_id, op->recipients, done)
                                            : query_reply(op->request_id, op->packet, done)));
    }
}

void RequestService::on_taken(StoreTicket ticket, Completion<std::optional<ShakeHit>> done) {
    if (const auto op = unpark(ticket)) {
        output_.deliver(op->asker, std::get<Reply>(shake_reply(op->user, done)));
    }
}

void RequestService::on_offered(StoreTicket ticket, Completion<PacketId> done) {
    if (const auto op = unpark(ticket)) {
        if (done.result || op->epoch == shake_epoch_) {
            count_offer(done);
        } else {
            count(ServiceEvent::shake_offer_refused);  // of a campaign since replaced
        }
    }
}

void RequestService::on_expired(StoreTicket ticket, Completion<Expired> done) {
    if (unpark(ticket) && done.result) {
        count(ServiceEvent::refunds, done.result->refunds);
    }
}

}  // namespace redpacket
