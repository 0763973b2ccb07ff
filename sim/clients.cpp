// The simulated clients: each a real ClientSession that logs in, then creates, claims, grabs,
// shakes, queries, asks for proofs, sends heartbeats, resends answered requests under their
// request ids, and now and then loses its connection mid-request (reconnecting, logging in
// again and resending what was cut off). Every reply goes to the oracle.
#include <string>

#include "redpacket/auth.hpp"
#include "redpacket/detail/overloaded.hpp"
#include "redpacket/proof.hpp"
#include "world.hpp"

namespace redpacket::sim {
namespace {

/// A request on a live connection must be answered by then.
constexpr Time kAnswerBound{3000};
constexpr std::size_t kAnswered = 16;

std::string kind_of(const protocol::Message& m) {
    return std::string(to_string(request_key(m).kind));
}

}  // namespace

void World::client_wake(std::uint32_t c) {
    SimClient& client = clients_[c];
    if (draining_) {
        return;
    }
    check_answered(client);
    if (client.state == SimClient::State::offline) {
        client.link = connect(c);
        client.state = SimClient::State::logging_in;
        client.login_sent = now_;
        if (scenario_.auth) {
            const std::uint64_t expiry = now_s() + 600;
            const auto u = static_cast<std::uint32_t>(client.user);
            client.session.send(
                protocol::AuthLogin{u, expiry, make_login_token(kSecret, u, expiry)},
                Tag{now_, false}, now_s());
        } else {
            client.session.send(protocol::LoginRequest{static_cast<std::uint32_t>(client.user)},
                                Tag{now_, false}, now_s());
        }
        ++result_.requests;
        write(client);
    } else if (client.state == SimClient::State::ready) {
        client_act(client);
        write(client);
    }
    const Time pause = Time{1} + up_to(scenario_.think_max_ms - 1);
    at(now_ + pause, ClientWake{c});
}

void World::check_answered(const SimClient& client) const {
    if (client.link == 0) {
        return;
    }
    if (client.garbage_sent && now_ - *client.garbage_sent > kAnswerBound) {
        const Link& l = *links_[client.link - 1];
        throw Broken("client " + std::to_string(client.user) +
                     "'s malformed frame did not close its connection (link " +
                     std::to_string(l.id) + (l.alive ? ", open" : ", closed") +
                     (l.outbox.closing() ? ", closing" : "") +
                     (l.outbox.waiting() ? ", waiting for the journal" : "") + ")");
    }
    if (!links_[client.link - 1]->alive) {
        return;
    }
    for (const auto& p : client.session.pending_requests()) {
        if (now_ - p.tag.sent > kAnswerBound) {
            throw Broken("client " + std::to_string(client.user) + "'s " + kind_of(p.request) +
                         " on a live connection was not answered in " +
                         std::to_string(kAnswerBound.count()) + " ms");
        }
    }
}

void World::client_act(SimClient& client) {
    if (client.garbage_sent) {
        return;  // waiting for the worker to close the connection
    }
    if (chance(scenario_.garbage_permille)) {
        // A length no frame has and a command no protocol knows, whatever the byte order.
        static constexpr std::array<std::uint8_t, protocol::kHeaderSize> kBad{0x0c, 0x0c, 0x77,
                                                                              0x77};
        note("client " + std::to_string(client.user) + " sends a malformed frame");
        client.session.send_raw(std::as_bytes(std::span{kBad}));
        client.garbage_sent = now_;
        return;
    }
    if (chance(scenario_.drop_permille)) {
        drop(client.link);  // cut off mid-request
        client_lost(client);
        return;
    }
    if (!client.answered.empty() && chance(scenario_.retry_permille)) {
        const protocol::Message& again = client.answered[rng_.below(client.answered.size())];
        note("client " + std::to_string(client.user) + " resends a " + kind_of(again));
        client.session.send(again, Tag{now_, true}, now_s());
        ++result_.requests;
        return;
    }
    const protocol::Message m = client_request(client);
    note("client " + std::to_string(client.user) + " sends a " + kind_of(m));
    client.session.send(m, Tag{now_, false}, now_s());
    ++result_.requests;
}

void World::client_lost(SimClient& client) {
    // The retryable requests go again, under their request ids, after the next login.
    client.link = 0;
    client.state = SimClient::State::offline;
    client.session.reset([&](ClientSession<Tag>::Pending&& p) {
        if (is_retryable(p.key.kind) && p.key.kind != RequestKind::heartbeat) {
            client.resend.push_back(p.request);
        }
    });
}

protocol::Message World::client_request(SimClient& client) {
    const auto u = static_cast<std::uint32_t>(client.user);
    const std::uint64_t rid = client.next_request_id++;
    const auto& known = known_;
    const std::uint64_t roll = rng_.below(100);
    protocol::Message m;
    if (roll < 15 || known.empty()) {
        const auto count = static_cast<std::uint32_t>(1 + rng_.below(12));
        const auto policy = static_cast<std::uint32_t>(rng_.below(4));
        std::uint64_t total = count + rng_.below(5000);
        if (policy == 3) {
            total = count * (1 + rng_.below(100));  // fixed: equal shares
        }
        m = protocol::CreatePacket{rid, total, count, policy,
                                   static_cast<std::uint32_t>(1 + rng_.below(4))};
    } else {
        const PacketId packet =
            known[known.size() - 1 - rng_.below(std::min<std::size_t>(known.size(), 32))];
        if (roll < 45) {
            m = protocol::Claim{rid, packet.value};
        } else if (roll < 60) {
            m = protocol::GrabRequest{u, static_cast<std::uint32_t>(packet.value)};
        } else if (roll < 70) {
            m = protocol::ShakeRequest{u};
        } else if (roll < 80) {
            m = protocol::Query{rid, packet.value};
        } else if (roll < 95) {
            m = protocol::Proof{rid, packet.value,
                                roll < 87 ? protocol::kProofCommitment : protocol::kProofSeed};
        } else {
            m = protocol::Heartbeat{rid};
        }
    }
    return m;
}

void World::client_read(Link& link, const ToClient& in) {
    SimClient& client = clients_[link.client];
    if (client.link != link.id) {
        return;  // the client has left this connection
    }
    const auto fed = client.session.feed(
        in.bytes,
        [&](Tag&& tag, const protocol::Message& reply, const ClientSession<Tag>::Pending& p) {
            client_reply(client, tag, reply, p);
        },
        [&](const protocol::Message& other) {
            if (const auto* n = std::get_if<protocol::PacketNotice>(&other)) {
                if (const auto full = resolve_compact(n->packet)) {
                    learn(*full);
                }
            }
        });
    if (!fed) {
        throw Broken("client " + std::to_string(client.user) +
                     " could not decode what the worker sent: " +
                     std::string(protocol::to_string(fed.error())));
    }
    if (in.close && client.link == link.id) {
        note("link " + std::to_string(link.id) + " closed by the worker");
        if (client.garbage_sent) {
            ++result_.garbage_closes;
            client.garbage_sent.reset();
        }
        client_lost(client);
    }
    write(client);
}

void World::client_logged_in(SimClient& client) {
    client.state = SimClient::State::ready;
    for (const protocol::Message& m : client.resend) {
        note("client " + std::to_string(client.user) + " resends a cut-off " + kind_of(m));
        client.session.send(m, Tag{now_, true}, now_s());
        ++result_.requests;
    }
    client.resend.clear();
}

void World::client_reply(SimClient& client, const Tag& tag, const protocol::Message& reply,
                         const ClientSession<Tag>::Pending& pending) {
    ++result_.replies;
    const UserId user = client.user;
    const auto remember = [&] {
        if (!tag.retry) {
            client.answered.push_back(pending.request);
            if (client.answered.size() > kAnswered) {
                client.answered.pop_front();
            }
        }
    };
    const auto logged_in = [&](std::uint32_t result) {
        if (result != protocol::kResultOk) {
            throw Broken("a valid login was refused: " + std::to_string(result));
        }
        client_logged_in(client);
    };
    std::visit(
        detail::Overloaded{
            [&](const protocol::LoginResponse& r) { logged_in(r.result); },
            [&](const protocol::AuthLoginResponse& r) { logged_in(r.result); },
            [&](const protocol::CreateResponse& r) {
                on_created(user, std::get<protocol::CreatePacket>(pending.request), r, tag);
                remember();
            },
            [&](const protocol::ClaimResponse& r) {
                on_claimed(user, std::get<protocol::Claim>(pending.request), r);
                const auto status = protocol::claim_status_from_wire(r.status);
                if (status == ClaimStatus::claimed || status == ClaimStatus::already_claimed) {
                    remember();
                }
            },
            [&](const protocol::ShakeResponse& r) {
                if (r.result == protocol::kShakeGotPacket) {
                    oracle_.shook(r.packet, user);
                }
            },
            [&](const protocol::GrabResponse& r) {
                const auto full = resolve_compact(r.packet);
                if (r.amount != 0 && full) {
                    oracle_.told_share(*full, user, Cents{static_cast<std::int64_t>(r.amount)},
                                       std::nullopt);
                    keep_packet(*full);
                }
            },
            [&](const protocol::ProofResponse& r) {
                on_proof(PacketId{std::get<protocol::Proof>(pending.request).packet}, r);
            },
            [](const auto&) {},
        },
        reply);
}

void World::on_created(UserId user, const protocol::CreatePacket& asked,
                       const protocol::CreateResponse& r, const Tag& tag) {
    const PacketId packet{r.packet};
    oracle_.created(user, r.request_id, packet);
    // Its deadline is at least the request's send time + ttl, and it is kept for the retention
    // after its refund: until then it must be found. (A resent create may have made the packet
    // at the first sending, earlier: no bound from it.)
    if (!tag.retry) {
        oracle_.keep(packet, tag.sent + Time{std::int64_t{asked.ttl_seconds} * 1000} + kRetention);
    }
    const auto info = read(packet);
    if (info && (info->total.value != static_cast<std::int64_t>(asked.total) ||
                 info->count != asked.count || info->sender != user)) {
        throw Broken("packet " + std::to_string(packet.value) +
                     " is not the one its create asked for");
    }
    if (!tag.retry) {
        ++result_.creates;
    }
    keep_packet(packet);
    learn(packet);
}

void World::on_claimed(UserId user, const protocol::Claim& asked,
                       const protocol::ClaimResponse& r) {
    const auto status = protocol::claim_status_from_wire(r.status);
    if (status == ClaimStatus::claimed || status == ClaimStatus::already_claimed) {
        const PacketId packet{r.packet};
        const Cents amount{static_cast<std::int64_t>(r.amount)};
        oracle_.told_share(packet, user, amount, r.share_index);
        oracle_.claim_answer(user, r.request_id, packet, amount, r.share_index);
        keep_packet(packet);
        return;
    }
    // A user who holds a share gets it again (already_claimed) until the packet retires.
    const PacketId packet{asked.packet};
    if (oracle_.holds(packet, user) && oracle_.keep_until(packet) > now_ + Time{kTickMs}) {
        throw Broken("user " + std::to_string(user) + " holds a share of packet " +
                     std::to_string(packet.value) + ", but a claim of it was answered " +
                     std::string(status ? to_string(*status) : "with an unknown status"));
    }
}

void World::on_proof(PacketId packet, const protocol::ProofResponse& r) {
    if (r.status != protocol::kProofOk) {
        return;
    }
    if (r.part == protocol::kProofCommitment) {
        oracle_.commitment(packet, r.value);
        return;
    }
    const auto info = read(packet);
    if (!info) {
        return;  // retired: nothing left here to prove it against
    }
    const auto policy = protocol::split_policy_from_wire(r.policy);
    if (!policy) {
        throw Broken("a proof names an unknown policy");
    }
    oracle_.seed(SplitTerms{packet, info->total, info->count, *policy,
                            Cents{static_cast<std::int64_t>(r.min_share)}},
                 r.value);
}

}  // namespace redpacket::sim
