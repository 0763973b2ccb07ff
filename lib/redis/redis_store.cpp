#include "redpacket/redis/redis_store.hpp"

#include <algorithm>
#include <charconv>
#include <ctime>
#include <utility>

#include "keys.hpp"
#include "packet_record.hpp"
#include "redpacket/split.hpp"

namespace redpacket::redis {
namespace {

static_assert(kSetKeyCount == 11, "RedisStore::keys_ holds every key of a SET");
constexpr std::size_t kExpireBatch = 256;

std::int64_t int_at(const Value& v, std::size_t i) {
    return i < v.elements.size() ? v.elements[i].as_int().value_or(0) : 0;
}

/// Wall-clock milliseconds: what packets' deadlines are written in (the same in every process).
std::int64_t wall_ms() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return static_cast<std::int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

}  // namespace

// --- construction ----------------------------------------------------------------------------

RedisStore::RedisStore(uv_loop_t* loop, ClusterClient& client, ShardedSubscriber* subscriber,
                       RedisStoreOptions options)
    : loop_{loop},
      client_{client},
      subscriber_{subscriber},
      options_{std::move(options)},
      rng_{options_.seed},
      alive_{std::make_shared<bool>(true)} {
    for (ShardId s = 0; s < options_.sets; ++s) {
        const std::string tag = set_tag(options_.prefix, s);
        std::array<std::string, kSetKeyCount> k;
        for (std::size_t i = 0; i < kSetKeyNames.size(); ++i) {
            k[i] = tag + std::string(kSetKeyNames[i]);
        }
        Resp encoded{kSetKeyCount};
        for (const std::string& key : k) {
            encoded.arg(key);
        }
        std::string bytes = std::move(encoded).take();
        encoded_keys_.push_back(bytes.substr(bytes.find('\n') + 1));  // without the "*N" header
        keys_.push_back(std::move(k));
        online_keys_.push_back(tag + "on");
        channels_.push_back(tag + "ev");
        slots_.push_back(key_slot(channels_.back()));
    }
    empty_until_ms_.assign(options_.sets, 0);
    swept_at_ms_.assign(options_.sets, 0);
    queued_claims_.resize(options_.sets);
    uv_check_init(loop_, &flush_);
    flush_.data = this;
    ++open_handles_;
    uv_check_start(&flush_, [](uv_check_t* h) {
        auto& st = *static_cast<RedisStore*>(h->data);
        for (const ShardId set : std::exchange(st.queued_sets_, {})) {
            st.send_claims(set);
        }
        st.client_.send_due_waits();  // in this iteration, whichever check handle runs first
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(&flush_));  // keeps no loop alive by itself
    if (subscriber_ != nullptr) {
        for (const ShardId s : options_.swept) {
            subscriber_->subscribe(channels_[s]);
        }
    }
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    ++open_handles_;
    uv_timer_start(&timer_, [](uv_timer_t* t) {
        auto& st = *static_cast<RedisStore*>(t->data);
        const std::int64_t now = st.now_ms();
        if (now >= st.next_stats_ms_) {
            st.next_stats_ms_ = now + st.options_.stats_interval.count();
            st.refresh_stats();
        }
        if (!st.options_.lease_owner.empty() && now >= st.next_lease_ms_) {
            st.next_lease_ms_ = now + st.options_.lease_ttl.count() / 3;
            st.renew_lease();
        }
    }, 50, 50);
}

RedisStore::~RedisStore() { *alive_ = false; }

void RedisStore::close(std::function<void()> done) {
    *alive_ = false;  // claims still queued are dropped, like commands in flight
    on_closed_ = std::move(done);
    uv_timer_stop(&timer_);
    uv_check_stop(&flush_);
    const auto closed = [](uv_handle_t* h) {
        auto& st = *static_cast<RedisStore*>(h->data);
        if (--st.open_handles_ == 0 && st.on_closed_) {
            std::exchange(st.on_closed_, nullptr)();
        }
    };
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
    uv_close(reinterpret_cast<uv_handle_t*>(&flush_), closed);
}

std::int64_t RedisStore::now_ms() const noexcept {
    return static_cast<std::int64_t>(uv_hrtime() / 1'000'000);
}

Resp RedisStore::fcall(std::string_view function, ShardId set, std::size_t args) {
    if (!queued_claims_[set].empty()) {
        send_claims(set);
    }
    Resp r{3 + kSetKeyCount + args};
    r.arg("FCALL").arg(function).arg(static_cast<std::int64_t>(kSetKeyCount));
    r.encoded(encoded_keys_[set]);
    return r;
}

bool RedisStore::has_room(std::size_t /*operations*/) const noexcept {
    return client_.in_flight() + pending_claims_ < 65536;  // a batch holds many claims
}

CommandOptions RedisStore::money_wait(bool retry_after_send) const noexcept {
    return CommandOptions{options_.wait_replicas, options_.wait_timeout, retry_after_send,
                          options_.wait_all_replicas};
}

bool RedisStore::short_of_replicas(const CommandResult& r) const noexcept {
    if (options_.wait_replicas == 0 && !options_.wait_all_replicas) {
        return false;  // no WAIT was asked for
    }
    return r.replicas < std::int64_t{options_.wait_replicas} || r.short_wait();
}

Error RedisStore::refuse(const std::expected<CommandResult, ClusterError>& r, bool money) {
    if (r && money && r->replicas >= 0 && short_of_replicas(*r)) {
        ++short_waits_;
        ++refusals_;
        return Error::unavailable;
    }
    if (!r && r.error().kind == ClusterError::Kind::redis &&
        r.error().message.rfind("QUEUEFULL", 0) == 0) {
        return Error::queue_full;
    }
    ++refusals_;
    return Error::unavailable;
}

// --- operations ------------------------------------------------------------------------------

// Splits `op` into `shares`: from a fresh CSPRNG seed when verifiable (the record's proof
// field is returned), else from the store's engine ("0").
std::expected<std::string, Error> RedisStore::split_packet(const CreateOp& op,
                                                           std::span<Cents> shares) {
    std::optional<Seed> seed;
    if (options_.verifiable) {
        auto drawn = seeds_.next();
        if (!drawn) {
            return std::unexpected(drawn.error());
        }
        seed = *drawn;
    }
    Rng packet_rng = seed ? rng_from_seed(*seed) : Rng{};
    if (auto ok = split_into(op.policy, op.total, shares, options_.min_share,
                             seed ? packet_rng : rng_);
        !ok) {
        return std::unexpected(ok.error());
    }
    if (options_.fault_swap_shares && shares.size() >= 2) {
        std::swap(shares[0], shares[1]);
    }
    return proof_field(seed, options_.min_share);
}

StoreResult<Created> RedisStore::create(StoreTicket ticket, const CreateOp& op) {
    const auto refused = [](Error e) { return Completion<Created>{std::unexpected(e), 0}; };
    if (op.count == 0 || op.count > options_.max_shares) {
        return refused(Error::invalid_count);
    }
    if (op.total > options_.max_total) {
        return refused(Error::invalid_amount);
    }
    std::vector<UserId> allowed(op.allowed.begin(), op.allowed.end());
    std::ranges::sort(allowed);
    if (allowed.size() > kMaxAllowedClaimers ||
        std::adjacent_find(allowed.begin(), allowed.end()) != allowed.end()) {
        return refused(Error::invalid_argument);
    }
    std::vector<Cents> shares(op.count);
    const auto proof = split_packet(op, shares);
    if (!proof) {
        return refused(proof.error());
    }
    Resp argv = fcall("rp_create", op.set, 9 + allowed.size() + shares.size());
    for (const auto v : {std::int64_t{op.set}, static_cast<std::int64_t>(op.sender),
                         static_cast<std::int64_t>(op.request_id), op.total.value,
                         std::int64_t{op.count}, static_cast<std::int64_t>(op.policy),
                         op.expires_at.count()}) {
        argv.arg(v);
    }
    argv.arg(*proof);  // the packet record's 8th field
    argv.arg(static_cast<std::int64_t>(allowed.size()));
    for (const UserId u : allowed) {
        argv.arg(static_cast<std::int64_t>(u));
    }
    for (const Cents c : shares) {
        argv.arg(c.value);
    }
    client_.command_resp(
        slot(op.set), std::move(argv).take(),
        [this, alive = alive_, ticket](std::expected<CommandResult, ClusterError> r) {
            if (!*alive || !sink_) {
                return;
            }
            const bool ok = r && r->reply.type == Value::Type::array &&
                            r->reply.elements.size() == 2 && !short_of_replicas(*r);
            if (!ok) {
                complete(ticket, Completion<Created>{std::unexpected(refuse(r, true)), 0});
                return;
            }
            const Created c{PacketId{static_cast<std::uint64_t>(int_at(r->reply, 0))},
                            int_at(r->reply, 1) != 0};
            complete(ticket, Completion<Created>{c, 0});
        },
        money_wait(true));
    return StoreResult<Created>::pending();
}

StoreResult<Claimed> RedisStore::claim(StoreTicket ticket, const ClaimOp& op) {
    const ShardId set = packet_shard(op.packet);
    if (!serves(set)) {
        return Completion<Claimed>{std::unexpected(Error::not_found), 0};
    }
    auto& queue = queued_claims_[set];
    if (queue.empty()) {
        queued_sets_.push_back(set);
    }
    queue.emplace_back(ticket, op);
    ++pending_claims_;
    if (queue.size() >= std::max<std::size_t>(options_.max_claim_batch, 1)) {
        send_claims(set);
    }
    return StoreResult<Claimed>::pending();
}

void RedisStore::send_claims(ShardId set) {
    auto claims = std::exchange(queued_claims_[set], {});
    if (claims.empty()) {
        return;
    }
    const bool one = claims.size() == 1;
    Resp argv = fcall(one ? "rp_claim" : "rp_claim_batch", set, (one ? 0 : 1) + 4 * claims.size());
    if (!one) {
        argv.arg(static_cast<std::int64_t>(claims.size()));
    }
    for (const auto& [ticket, op] : claims) {
        argv.arg(static_cast<std::int64_t>(op.packet.value))
            .arg(op.compact ? "1" : "0")
            .arg(static_cast<std::int64_t>(op.user))
            .arg(op.now.count());
    }
    ++claim_calls_;
    client_.command_resp(
        slot(set), std::move(argv).take(),
        [this, alive = alive_, claims = std::move(claims)](
            std::expected<CommandResult, ClusterError> r) {
            if (*alive) {
                pending_claims_ -= claims.size();
                if (sink_) {
                    finish_claims(claims, r);
                }
            }
        },
        money_wait(true));
}

void RedisStore::finish_claims(std::span<const std::pair<StoreTicket, ClaimOp>> claims,
                               const std::expected<CommandResult, ClusterError>& r) {
    const bool whole = r && r->reply.type == Value::Type::array &&
                       r->reply.elements.size() >= 4 * claims.size();
    for (std::size_t i = 0; i < claims.size(); ++i) {
        const StoreTicket ticket = claims[i].first;
        if (!whole) {
            complete(ticket, Completion<Claimed>{std::unexpected(refuse(r, false)), 0});
            continue;
        }
        const std::int64_t code = int_at(r->reply, 4 * i);
        if (code < 0) {  // this claim raised an error in Redis: refused, the others stand
            complete(ticket, Completion<Claimed>{std::unexpected(refuse(r, false)), 0});
            continue;
        }
        const auto status = static_cast<ClaimStatus>(code);
        const bool money = status == ClaimStatus::claimed || status == ClaimStatus::already_claimed;
        if (money && short_of_replicas(*r)) {
            complete(ticket, Completion<Claimed>{std::unexpected(refuse(r, true)), 0});
            continue;
        }
        const Claimed c{PacketId{static_cast<std::uint64_t>(int_at(r->reply, 4 * i + 3))},
                        ClaimResult{status, Cents{int_at(r->reply, 4 * i + 2)},
                                    static_cast<std::uint32_t>(int_at(r->reply, 4 * i + 1))}};
        complete(ticket, Completion<Claimed>{c, 0});
    }
}

StoreResult<PacketInfo> RedisStore::query(StoreTicket ticket, PacketId packet) {
    const ShardId set = packet_shard(packet);
    if (!serves(set)) {
        return Completion<PacketInfo>{std::unexpected(Error::not_found), 0};
    }
    Resp argv = fcall("rp_query", set, 1);
    argv.arg(static_cast<std::int64_t>(packet.value));
    client_.command_resp(
        slot(set), std::move(argv).take(), [this, alive = alive_, ticket, packet](auto r) {
            if (!*alive || !sink_) {
                return;
            }
            if (!r) {
                complete(ticket, Completion<PacketInfo>{std::unexpected(refuse(r, false)), 0});
                return;
            }
            complete(ticket, Completion<PacketInfo>{packet_info(packet, r->reply, wall_ms()), 0});
        });
    return StoreResult<PacketInfo>::pending();
}

StoreResult<std::optional<ShakeHit>> RedisStore::take(StoreTicket ticket, const TakeOp& op) {
    const std::int64_t now = now_ms();
    if (!serves(op.set) || now < empty_until_ms_[op.set]) {
        ++known_empty_;
        return StoreResult<std::optional<ShakeHit>>{std::in_place};
    }
    Resp argv = fcall("rp_take", op.set, 3);
    argv.arg(static_cast<std::int64_t>(op.user))
        .arg(op.now.count())
        .arg(static_cast<std::int64_t>(options_.retention.count()));  // an issued one's proof
    const ShardId set = op.set;
    client_.command_resp(
        slot(set), std::move(argv).take(),
        [this, alive = alive_, ticket, set](std::expected<CommandResult, ClusterError> r) {
            if (!*alive || !sink_) {
                return;
            }
            if (!r || r->reply.type != Value::Type::array) {
                complete(ticket,
                         Completion<std::optional<ShakeHit>>{std::unexpected(refuse(r, false)), 0});
                return;
            }
            if (r->reply.elements.size() < 2) {
                empty_until_ms_[set] = now_ms() + options_.shake_empty_ttl.count();
                complete(ticket, Completion<std::optional<ShakeHit>>{std::optional<ShakeHit>{}, 0});
                return;
            }
            if (short_of_replicas(*r)) {
                complete(ticket,
                         Completion<std::optional<ShakeHit>>{std::unexpected(refuse(r, true)), 0});
                return;
            }
            const ShakeHit hit{PacketId{static_cast<std::uint64_t>(int_at(r->reply, 0))},
                               Cents{int_at(r->reply, 1)}};
            complete(ticket, Completion<std::optional<ShakeHit>>{std::optional<ShakeHit>{hit}, 0});
        },
        // A take is not idempotent: lost with its connection, it is refused, not resent.
        money_wait(false));
    return StoreResult<std::optional<ShakeHit>>::pending();
}

StoreResult<PacketId> RedisStore::offer(StoreTicket ticket, const OfferOp& op) {
    // A single-share packet's seed, committed now (docs/fairness.md §5a): its share is its
    // amount, so the seed is drawn only to be committed.
    std::string seed = "0";
    if (options_.verifiable) {
        auto drawn = seeds_.next();
        if (!drawn) {
            return Completion<PacketId>{std::unexpected(drawn.error()), 0};
        }
        seed = to_hex(*drawn);
    }
    Resp argv = fcall("rp_offer", op.set, 5);
    for (const auto v : {std::int64_t{op.set}, op.amount.value, op.expires_at.count(),
                         std::int64_t{options_.shake_capacity}}) {
        argv.arg(v);
    }
    argv.arg(seed);
    const ShardId set = op.set;
    client_.command_resp(
        slot(set), std::move(argv).take(),
        [this, alive = alive_, ticket, set](std::expected<CommandResult, ClusterError> r) {
            if (!*alive || !sink_) {
                return;
            }
            if (!r || r->reply.elements.empty()) {
                complete(ticket, Completion<PacketId>{std::unexpected(refuse(r, false)), 0});
                return;
            }
            empty_until_ms_[set] = 0;
            // Everyone else learns it from the SET's shard channel.
            client_.command(slot(set), {"SPUBLISH", channels_[set], "offer"}, [](auto) {});
            complete(ticket, Completion<PacketId>{
                                 PacketId{static_cast<std::uint64_t>(int_at(r->reply, 0))}, 0});
        });
    return StoreResult<PacketId>::pending();
}

StoreResult<Expired> RedisStore::expire(StoreTicket ticket, const ExpireOp& op) {
    const std::int64_t now = now_ms();
    // One sweeper for the cluster: the daemon holding the campaign lease (a sweep on every
    // daemon would multiply the calls by the daemons; two at a lease change are still safe —
    // a refund is one atomic call).
    if (!serves(op.set) || !runs_campaigns() ||
        now - swept_at_ms_[op.set] < options_.sweep_interval.count()) {
        return Completion<Expired>{Expired{}, 0};  // not ours, or swept recently enough
    }
    swept_at_ms_[op.set] = now;
    Resp argv = fcall("rp_expire", op.set, 3);
    argv.arg(op.now.count())
        .arg(static_cast<std::int64_t>(options_.retention.count()))
        .arg(static_cast<std::int64_t>(kExpireBatch));
    client_.command_resp(
        slot(op.set), std::move(argv).take(),
        [this, alive = alive_, ticket](std::expected<CommandResult, ClusterError> r) {
            if (!*alive || !sink_) {
                return;
            }
            if (!r || r->reply.elements.size() < 2) {
                complete(ticket, Completion<Expired>{std::unexpected(refuse(r, false)), 0});
                return;
            }
            complete(ticket,
                     Completion<Expired>{Expired{static_cast<std::uint64_t>(int_at(r->reply, 0)),
                                                 Cents{int_at(r->reply, 1)}},
                                         0});
        });
    return StoreResult<Expired>::pending();
}

// --- presence, announcements, campaigns ------------------------------------------------------

void RedisStore::presence(ShardId set, UserId user, bool online) {
    if (!serves(set)) {
        return;
    }
    client_.command(slot(set), {online ? "SADD" : "SREM", online_keys_[set], std::to_string(user)},
                    [this, alive = alive_](auto r) {
                        if (*alive && !r) {
                            ++refusals_;
                        }
                    });
}

StoreResult<std::vector<UserId>> RedisStore::recipients(StoreTicket ticket, ShardId set,
                                                        std::uint32_t want) {
    client_.command(slot(set), {"SRANDMEMBER", online_keys_[set], std::to_string(want)},
                    [this, alive = alive_, ticket](std::expected<CommandResult, ClusterError> r) {
                        if (!*alive || !sink_) {
                            return;
                        }
                        if (!r) {
                            complete(ticket, Completion<std::vector<UserId>>{
                                                 std::unexpected(refuse(r, false)), 0});
                            return;
                        }
                        std::vector<UserId> users;
                        for (const Value& e : r->reply.elements) {
                            users.push_back(static_cast<UserId>(e.as_int().value_or(0)));
                        }
                        complete(ticket, Completion<std::vector<UserId>>{std::move(users), 0});
                    });
    return StoreResult<std::vector<UserId>>::pending();
}

void RedisStore::announce(ShardId set, const Announcement& a) {
    std::string message = "notice," + std::to_string(a.packet.value) + "," +
                          std::to_string(a.total.value) + "," + std::to_string(a.shares);
    for (const UserId u : a.users) {
        message += "," + std::to_string(u);
    }
    client_.command(slot(set), {"SPUBLISH", channels_[set], std::move(message)},
                    [this, alive = alive_](auto r) {
                        if (*alive && !r) {
                            ++refusals_;
                        }
                    });
}

void RedisStore::on_channel_message(std::string_view channel, std::string_view message) {
    // "{<prefix>:s:<set>}:ev"
    const auto colon = channel.find(":s:");
    const auto close = channel.find('}');
    if (colon == std::string_view::npos || close == std::string_view::npos || close < colon) {
        return;
    }
    const auto set = to_int(channel.substr(colon + 3, close - colon - 3));
    if (!set || *set < 0 || *set >= static_cast<std::int64_t>(options_.sets)) {
        return;
    }
    if (message == "offer") {
        empty_until_ms_[static_cast<std::size_t>(*set)] = 0;
        return;
    }
    const auto f = split_on(message, ',');
    if (f.size() != 7 || f[0] != "notice" || !sink_) {
        return;
    }
    Announcement a;
    a.packet = PacketId{static_cast<std::uint64_t>(to_int(f[1]).value_or(0))};
    a.total = Cents{to_int(f[2]).value_or(0)};
    a.shares = static_cast<std::uint32_t>(to_int(f[3]).value_or(0));
    for (std::size_t i = 0; i < 3; ++i) {
        a.users[i] = static_cast<UserId>(to_int(f[4 + i]).value_or(0));
    }
    if (sink_) {
        sink_(StoreCompletion{0, Announced{static_cast<ShardId>(*set), a}});
    }
}

bool RedisStore::runs_campaigns() const noexcept {
    return !options_.lease || options_.lease->held(now_ms());
}

void RedisStore::renew_lease() {
    const std::string key = "{" + options_.prefix + "}:lease";
    client_.command(key_slot(key),
                    {"FCALL", "rp_lease", "1", key, options_.lease_owner,
                     std::to_string(options_.lease_ttl.count())},
                    [this, alive = alive_, sent = now_ms()](std::expected<CommandResult, ClusterError> r) {
                        if (!*alive || !options_.lease) {
                            return;
                        }
                        if (r && r->reply.as_int() == 0) {
                            options_.lease->refused();
                        } else if (r && r->reply.as_int() == 1 && !r->short_wait()) {
                            options_.lease->granted(sent, options_.lease_ttl);
                        }  // no answer, or a grant not yet on the replicas: it runs out by itself
                    },
                    money_wait(true));
}

void RedisStore::refresh_stats() {
    struct Sum {
        StoreStats stats;
        std::size_t left;
    };
    if (options_.swept.empty()) {
        return;
    }
    auto sum = std::make_shared<Sum>(Sum{{}, options_.swept.size()});
    for (const ShardId s : options_.swept) {
        client_.command(
            slot(s),
            {"HMGET", keys_[s][kTot], "created", "claimed", "refunded", "shake_offered",
             "shake_issued", "shake_expired", "live"},
            [this, alive = alive_, sum](std::expected<CommandResult, ClusterError> r) {
                if (!*alive) {
                    return;
                }
                if (r && r->reply.elements.size() == 7) {
                    StoreStats& t = sum->stats;
                    const auto at = [&](std::size_t i) { return Cents{int_at(r->reply, i)}; };
                    // Outstanding and queued are what the counters leave: never negative.
                    const Cents outstanding = at(0) - at(1) - at(2);
                    const Cents queued = at(3) - at(4) - at(5);
                    t.created += at(0);
                    t.claimed += at(1);
                    t.refunded += at(2);
                    t.outstanding += outstanding;
                    t.shake_offered += at(3);
                    t.shake_issued += at(4);
                    t.shake_expired += at(5);
                    t.packets_live += static_cast<std::uint64_t>(std::max<std::int64_t>(0, at(6).value));
                    if (outstanding < Cents{0} || queued < Cents{0}) {
                        ++t.invariant_violations;
                    }
                }
                if (--sum->left == 0) {
                    cached_ = sum->stats;
                }
            });
    }
}

}  // namespace redpacket::redis
