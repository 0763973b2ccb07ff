// Worker: the per-request path — frame in, reply frames appended to the pending output.
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "auth.hpp"
#include "log.hpp"
#include "worker.hpp"

namespace redpacketd {
namespace {

template <class... Ts>
struct Overloaded : Ts... {
    using Ts::operator()...;
};

std::uint32_t to_u32_amount(redpacket::Cents c) noexcept {
    return static_cast<std::uint32_t>(
        std::clamp<std::int64_t>(c.value, 0, std::numeric_limits<std::uint32_t>::max()));
}

}  // namespace

void Worker::reply(const protocol::Message& m) {
    protocol::append(out_, m, static_cast<std::uint64_t>(now_ms_ / 1000));
}

void Worker::reply_error(Connection& conn, std::uint64_t request_id, protocol::ErrorCode code,
                         bool close) {
    // The original client knows no error frame: it only ever sees the connection close.
    if (conn.extended || !config_.compat_mode) {
        reply(protocol::ErrorReply{request_id, code});
    }
    if (close && journal_ && !out_.empty() && conn.attached && !conn.closing &&
        (conn.held > 0 || journal_->last_sequence() > journal_->durable_sequence())) {
        // Earlier replies of this read may report money not yet durable: hold everything and
        // close once it has gone out; read nothing more meanwhile.
        (void)uv_read_stop(reinterpret_cast<uv_stream_t*>(&conn.tcp));
        hold(conn, true);
        return;
    }
    flush(conn);
    if (close) {
        close_connection(conn, Event::closed);
    }
}

void Worker::handle_frame(Connection& conn, const protocol::Frame& frame) {
    const auto need_login = [&]() {
        if (conn.logged_in) {
            return true;
        }
        count(Event::protocol_errors);
        reply_error(conn, 0, protocol::ErrorCode::not_logged_in, true);
        return false;
    };
    std::visit(
        Overloaded{
            [&](const protocol::LoginRequest& m) {
                if (!config_.compat_mode) {
                    count(Event::login_failures);
                    reply_error(conn, 0, protocol::ErrorCode::auth_failed, true);
                    return;
                }
                handle_login(conn, m.user, false);
            },
            [&](const protocol::AuthLogin& m) {
                const auto now_s = static_cast<std::uint64_t>(now_ms_ / 1000);
                if (config_.auth_secret.empty() ||
                    !verify_token(config_.auth_secret, m.user, m.expiry, m.token, now_s)) {
                    count(Event::login_failures);
                    conn.extended = true;
                    reply(protocol::AuthLoginResponse{
                        m.user, static_cast<std::uint32_t>(protocol::ErrorCode::auth_failed)});
                    reply_error(conn, 0, protocol::ErrorCode::auth_failed, true);
                    return;
                }
                handle_login(conn, m.user, true);
            },
            [&](const protocol::ShakeRequest&) {
                if (need_login()) {
                    handle_shake(conn);
                }
            },
            [&](const protocol::GrabRequest& m) {
                if (need_login()) {
                    handle_grab(conn, m.packet);
                }
            },
            [&](const protocol::CreatePacket& m) {
                if (need_login()) {
                    handle_create(conn, m);
                }
            },
            [&](const protocol::Claim& m) {
                if (need_login()) {
                    handle_claim(conn, m);
                }
            },
            [&](const protocol::Query& m) {
                if (need_login()) {
                    handle_query(conn, m);
                }
            },
            [&](const protocol::Heartbeat& m) {
                count(Event::heartbeats);
                if (rate_limited(conn)) {
                    reply(protocol::ErrorReply{0, protocol::ErrorCode::overloaded});
                    return;
                }
                reply(protocol::HeartbeatResponse{m.nonce});
            },
            [&](const auto&) {
                // A server-to-client frame sent by a client.
                count(Event::protocol_errors);
                reply_error(conn, 0, protocol::ErrorCode::unknown_command, true);
            },
        },
        frame.message);
}

void Worker::handle_login(Connection& conn, redpacket::UserId user, bool extended) {
    if (conn.logged_in) {
        count(Event::protocol_errors);
        reply_error(conn, 0, protocol::ErrorCode::already_logged_in, true);
        return;
    }
    conn.user = user;
    conn.extended = extended;
    const redpacket::ShardId shard = shared_.sets->shard_of(user);
    if (shared_.sets->worker_of(shard) != index_ && conn.attached) {
        conn.migrating = true;  // on_read hands the socket to the owner after this read
        conn.migrate_pending = new std::vector<protocol::Frame>();
        return;
    }
    const std::uint64_t me =
        conn.attached ? (std::uint64_t{conn.slot} << 32) | generations_[conn.slot] : 0;
    if (conn.attached) {
        const auto previous = shared_.sets->shard(shard).upsert(user, me);
        if (previous && *previous != me) {
            // The same user logged in again: the newest connection wins.
            Connection* old = find(ConnAddress{index_, static_cast<std::uint32_t>(*previous >> 32),
                                               static_cast<std::uint32_t>(*previous)});
            if (old != nullptr) {
                old->logged_in = false;  // its table entry now belongs to `conn`
                close_connection(*old, Event::closed);
            }
        }
    }
    conn.logged_in = true;
    conn.deadline_ms = now_ms_ + config_.idle_timeout_ms;
    count(Event::logins);
    const auto u32 = static_cast<std::uint32_t>(user);
    if (extended) {
        reply(protocol::AuthLoginResponse{u32, protocol::kResultOk});
    } else {
        reply(protocol::LoginResponse{u32, protocol::kResultOk});
    }
}

bool Worker::rate_limited(Connection& conn) {
    const std::int64_t second = now_ms_ / 1000;
    if (second != conn.window_second) {
        conn.window_second = second;
        conn.window_requests = 0;
    }
    if (++conn.window_requests > config_.rate_limit) {
        count(Event::rate_limited);
        return true;
    }
    return false;
}

void Worker::handle_shake(Connection& conn) {
    count(Event::shake_requests);
    const auto user = static_cast<std::uint32_t>(conn.user);
    if (rate_limited(conn)) {
        count(Event::shake_overloaded);
        reply(protocol::ShakeResponse{user, protocol::kShakeOverloaded, 0, 0});
        return;
    }
    if (!journal_ready()) {
        count(Event::shake_overloaded);
        reply(protocol::ShakeResponse{user, protocol::kShakeOverloaded, 0, 0});
        return;
    }
    redpacket::RedPacketPool* p = pools_[shared_.sets->shard_of(conn.user)].get();
    const auto hit = p != nullptr ? p->take(conn.user, redpacket::Time{now_ms_}) : std::nullopt;
    if (!hit) {
        count(Event::shake_misses);
        reply(protocol::ShakeResponse{user, protocol::kShakeNoPacket, 0, 0});
        return;
    }
    count(Event::shake_hits);
    money_out_ = true;
    reply(protocol::ShakeResponse{user, protocol::kShakeGotPacket,
                                  static_cast<std::uint32_t>(hit->packet.value),
                                  to_u32_amount(hit->amount)});
}

void Worker::handle_grab(Connection& conn, std::uint32_t compact_packet) {
    count(Event::grabs);
    if (rate_limited(conn)) {
        reply(protocol::GrabResponse{compact_packet, 0});
        return;
    }
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{compact_packet});
    if (shard >= config_.sets) {
        count(Event::grab_misses);
        count(Event::claim_not_found);
        reply(protocol::GrabResponse{compact_packet, 0});
        return;
    }
    if (shared_.sets->worker_of(shard) == index_) {
        reply(local_claim(WorkerMessage::Kind::grab, conn.user, compact_packet, 0));
    } else {
        forward(WorkerMessage::Kind::grab, conn, compact_packet, 0);
    }
}

void Worker::handle_claim(Connection& conn, const protocol::Claim& req) {
    count(Event::claims);
    if (rate_limited(conn)) {
        reply(protocol::ErrorReply{req.request_id, protocol::ErrorCode::overloaded});
        return;
    }
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{req.packet});
    if (shard >= config_.sets) {
        count(Event::claim_not_found);
        reply(protocol::ClaimResponse{req.request_id, req.packet,
                                      protocol::to_wire(redpacket::ClaimStatus::not_found), 0, 0});
        return;
    }
    if (shared_.sets->worker_of(shard) == index_) {
        reply(local_claim(WorkerMessage::Kind::claim, conn.user, req.packet, req.request_id));
    } else {
        forward(WorkerMessage::Kind::claim, conn, req.packet, req.request_id);
    }
}

void Worker::handle_query(Connection& conn, const protocol::Query& req) {
    count(Event::queries);
    if (rate_limited(conn)) {
        reply(protocol::ErrorReply{req.request_id, protocol::ErrorCode::overloaded});
        return;
    }
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{req.packet});
    if (shard >= config_.sets) {
        reply(protocol::ErrorReply{req.request_id, protocol::ErrorCode::not_found});
    } else if (shared_.sets->worker_of(shard) == index_) {
        reply(local_query(req.packet, req.request_id));
    } else {
        forward(WorkerMessage::Kind::query, conn, req.packet, req.request_id);
    }
}

void Worker::handle_create(Connection& conn, const protocol::CreatePacket& req) {
    count(Event::creates);
    if (rate_limited(conn)) {
        reply(protocol::ErrorReply{req.request_id, protocol::ErrorCode::overloaded});
        return;
    }
    // Request id 0 means "no retry protection": the journal records 0 as "no request id", so
    // remembering it here would make a retry behave differently before and after a restart.
    const RequestKey key{conn.user, req.request_id};
    if (const auto it = req.request_id == 0 ? created_by_request_.end()
                                            : created_by_request_.find(key);
        it != created_by_request_.end()) {
        money_out_ = true;
        reply(protocol::CreateResponse{req.request_id, it->second});  // a retry
        return;
    }
    const auto fail = [&](protocol::ErrorCode code) {
        count(Event::create_failures);
        reply(protocol::ErrorReply{req.request_id, code});
    };
    const auto policy = protocol::split_policy_from_wire(req.policy);
    if (!policy) {
        return fail(protocol::ErrorCode::malformed_frame);
    }
    if (req.ttl_seconds == 0 || req.ttl_seconds > config_.max_ttl_seconds) {
        return fail(protocol::ErrorCode::invalid_argument);
    }
    if (req.total > static_cast<std::uint64_t>(config_.max_packet_total)) {
        return fail(protocol::ErrorCode::invalid_amount);
    }
    const redpacket::ShardId shard = shared_.sets->shard_of(conn.user);
    redpacket::RedPacketPool* p = pools_[shard].get();
    if (p == nullptr || !journal_ready()) {
        return fail(protocol::ErrorCode::unavailable);
    }
    journal_request(shard, req.request_id);
    const auto id = p->create(conn.user, redpacket::Cents{static_cast<std::int64_t>(req.total)},
                              req.count, *policy,
                              redpacket::Time{now_ms_ + std::int64_t{req.ttl_seconds} * 1000});
    journal_request(shard, 0);
    if (!id) {
        return fail(protocol::to_error_code(id.error()));
    }
    if (req.request_id != 0) {
        remember_create(key, id->value);
    }
    reply(protocol::CreateResponse{req.request_id, id->value});
}

void Worker::remember_create(const RequestKey& key, std::uint64_t packet) {
    constexpr std::size_t kRemembered = 65536;
    if (created_by_request_.contains(key)) {
        return;
    }
    if (created_order_.size() < kRemembered) {
        created_order_.push_back(key);
    } else {
        created_by_request_.erase(created_order_[created_next_]);
        created_order_[created_next_] = key;
        created_next_ = (created_next_ + 1) % kRemembered;
    }
    created_by_request_.emplace(key, packet);
}

protocol::Message Worker::local_claim(WorkerMessage::Kind kind, redpacket::UserId user,
                                      std::uint64_t packet, std::uint64_t request_id) {
    const bool grab = kind == WorkerMessage::Kind::grab;
    const auto miss = [&](redpacket::ClaimStatus status) -> protocol::Message {
        count(claim_event(status));
        if (grab) {
            count(Event::grab_misses);
            return protocol::GrabResponse{static_cast<std::uint32_t>(packet), 0};
        }
        return protocol::ClaimResponse{request_id, packet, protocol::to_wire(status), 0, 0};
    };
    // A compact id is the low 32 bits of the full one: the shard bits are the same.
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{packet});
    redpacket::RedPacketPool* p = shard < pools_.size() ? pools_[shard].get() : nullptr;
    if (p == nullptr) {
        return miss(redpacket::ClaimStatus::not_found);
    }
    std::optional<redpacket::PacketId> id = redpacket::PacketId{packet};
    if (grab) {
        id = p->resolve_compact(static_cast<std::uint32_t>(packet));
        if (!id) {
            return miss(redpacket::ClaimStatus::not_found);
        }
    }
    if (!journal_ready()) {
        if (grab) {
            count(Event::grab_misses);
            return protocol::GrabResponse{static_cast<std::uint32_t>(packet), 0};
        }
        return protocol::ErrorReply{request_id, protocol::ErrorCode::unavailable};
    }
    journal_request(shard, request_id);
    const redpacket::ClaimResult r = p->claim(*id, user, redpacket::Time{now_ms_});
    journal_request(shard, 0);
    count(claim_event(r.status));
    const bool got = r.status == redpacket::ClaimStatus::claimed ||
                     r.status == redpacket::ClaimStatus::already_claimed;
    money_out_ = money_out_ || got;
    if (grab) {
        count(got ? Event::grab_hits : Event::grab_misses);
        return protocol::GrabResponse{static_cast<std::uint32_t>(packet),
                                      got ? to_u32_amount(r.amount) : 0U};
    }
    return protocol::ClaimResponse{request_id, packet, protocol::to_wire(r.status), r.share_index,
                                   static_cast<std::uint64_t>(got ? r.amount.value : 0)};
}

protocol::Message Worker::local_query(std::uint64_t packet, std::uint64_t request_id) {
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{packet});
    redpacket::RedPacketPool* p = shard < pools_.size() ? pools_[shard].get() : nullptr;
    const auto info = p != nullptr ? p->query(redpacket::PacketId{packet})
                                   : std::expected<redpacket::PacketInfo, redpacket::Error>{
                                         std::unexpected(redpacket::Error::not_found)};
    if (!info) {
        return protocol::ErrorReply{request_id, protocol::ErrorCode::not_found};
    }
    protocol::QueryResponse q;
    q.request_id = request_id;
    q.packet = packet;
    q.total = static_cast<std::uint64_t>(info->total.value);
    q.count = info->count;
    q.claimed_count = info->claimed_count;
    q.remaining = static_cast<std::uint64_t>(info->remaining.value);
    if (info->best_luck) {
        const redpacket::ClaimRecord& best = info->claims[*info->best_luck];
        q.best_user = best.user;
        q.best_amount = static_cast<std::uint64_t>(best.amount.value);
    }
    q.state = protocol::to_wire(info->state);
    return q;
}

void Worker::forward(WorkerMessage::Kind kind, Connection& conn, std::uint64_t packet,
                     std::uint64_t request_id) {
    WorkerMessage m;
    m.kind = kind;
    m.user = conn.user;
    m.packet = packet;
    m.request_id = request_id;
    m.reply_to = address_of(conn);
    const redpacket::ShardId shard = redpacket::packet_shard(redpacket::PacketId{packet});
    const bool limited = forwarded_in_flight_ >= config_.max_forwarded;
    if (limited || !shared_.sets->post(shard, std::move(m)).has_value()) {
        count(limited ? Event::forward_limited : Event::mailbox_full);
        if (kind == WorkerMessage::Kind::grab) {
            reply(protocol::GrabResponse{static_cast<std::uint32_t>(packet), 0});
        } else {
            reply(protocol::ErrorReply{request_id, protocol::ErrorCode::overloaded});
        }
        return;
    }
    ++forwarded_in_flight_;
    forwarded_peak_ = std::max(forwarded_peak_, forwarded_in_flight_);
    count(Event::forwarded);
}

void Worker::on_message(WorkerMessage&& m) {
    switch (m.kind) {
        case WorkerMessage::Kind::migrate:
            if (stopping_) {
                ::close(m.fd);
                shared_.connections.fetch_sub(1);
                return;
            }
            adopt_migrated(std::move(m));
            return;
        case WorkerMessage::Kind::claim:
        case WorkerMessage::Kind::grab:
        case WorkerMessage::Kind::query: {
            WorkerMessage r;
            r.kind = WorkerMessage::Kind::reply;
            r.reply_to = m.reply_to;
            const std::uint64_t mark = journal_mark();
            r.reply = m.kind == WorkerMessage::Kind::query
                          ? local_query(m.packet, m.request_id)
                          : local_claim(m.kind, m.user, m.packet, m.request_id);
            // Worker w owns shard w (shard % W == w), so that shard addresses the asker. A
            // claim's reply waits for its record to be durable.
            post_after(m.reply_to.worker, std::move(r), mark);
            return;
        }
        case WorkerMessage::Kind::reply:
            --forwarded_in_flight_;  // every forwarded request gets exactly one reply
            if (Connection* conn = find(m.reply_to); conn != nullptr) {
                send_now(*conn, m.reply);
            }
            return;
        case WorkerMessage::Kind::none:
            return;
    }
}

}  // namespace redpacketd
