// The simulated world: the event loop, and the worker side carried out as redpacketd's Worker
// does — decode what a connection sent, step the service, carry out its effects (replies into
// the connection's outbox, forwards into a peer's mailbox, registrations that may move the
// connection to its owner), then write what the outbox lets leave.
#include "world.hpp"

#include <algorithm>
#include <cstdio>

#include "redpacket/assert.hpp"
#include "redpacket/detail/overloaded.hpp"

namespace redpacket::sim {
namespace {

constexpr Time kEpoch{1'700'000'000'000};
constexpr std::uint64_t kOutputCap = 1U << 20;

}  // namespace

World::World(const Scenario& scenario, std::size_t history)
    : scenario_{scenario},
      rng_{scenario.seed},
      now_{kEpoch},
      start_{kEpoch},
      disk_{rng_},
      oracle_{result_},
      history_size_{history} {
    result_.seed = scenario.seed;
    result_.hash = 0xcbf29ce484222325ULL;
    disk_.sync_fail_permille = scenario.sync_fail_permille;
    disk_.write_fail_permille = scenario.write_fail_permille;
    start_process();
    for (std::uint32_t c = 0; c < scenario.crashes; ++c) {
        at(now_ + up_to(scenario.duration_ms), CrashDue{});
    }
    clients_.resize(scenario.clients);
    for (std::uint32_t c = 0; c < scenario.clients; ++c) {
        clients_[c].user = 1000 + c * 7 + static_cast<UserId>(rng_.below(7));
        at(now_ + up_to(49), ClientWake{c});
    }
}

void World::at(Time when, Event e) { queue_.emplace(std::pair{when, sequence_++}, std::move(e)); }

void World::note(std::string line) {
    if (history_size_ == 0) {
        return;
    }
    char stamp[32];
    std::snprintf(stamp, sizeof stamp, "%8lld ms  ",
                  static_cast<long long>((now_ - start_).count()));
    history_.push_back(stamp + line);
    if (history_.size() > history_size_) {
        history_.pop_front();
    }
}

void World::hash(std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
        result_.hash ^= (v >> (8 * i)) & 0xff;
        result_.hash *= 0x100000001b3ULL;
    }
}

bool World::next(Time end) {
    if (queue_.empty() || queue_.begin()->first.first >= end) {
        return false;
    }
    auto node = queue_.extract(queue_.begin());
    now_ = node.key().first;
    ++result_.events;
    handle(node.mapped());
    if (disk_.tripped()) {
        crash();  // the process died inside a disk operation of this event
    }
    schedule_pumps();
    check_pools();
    return true;
}

Result World::run() {
    try {
        const Time end = start_ + Time{scenario_.duration_ms};
        while ((scenario_.max_steps == 0 || result_.events < scenario_.max_steps) && next(end)) {
            if (result_.events % 4096 == 0) {
                check_packets();
            }
        }
        // Cut short by max_steps: a crash that was due later happens now, while work is in
        // flight, rather than in the quiet of the drain.
        const auto due = std::erase_if(
            queue_, [](const auto& kv) { return std::holds_alternative<CrashDue>(kv.second); });
        if (due > 0 && now_ < end) {
            crash();
        }
        drain();
    } catch (const Broken& e) {
        result_.ok = false;
        result_.failure = std::string(e.what()) + " (event " + std::to_string(result_.events) +
                          ", " + std::to_string((now_ - start_).count()) + " ms)";
    }
    result_.simulated_ms = (now_ - start_).count();
    result_.sync_failures = disk_.stats().sync_failures;
    result_.write_failures = disk_.stats().write_failures;
    result_.torn_bytes = disk_.stats().torn_bytes;
    result_.history.assign(history_.begin(), history_.end());
    return std::move(result_);
}

void World::handle(Event& e) {
    const auto live = [&](std::uint32_t incarnation) { return incarnation == incarnation_; };
    std::visit(detail::Overloaded{
                   [&](ClientWake& w) { client_wake(w.client); },
                   [&](ToServer& t) {
                       Link& link = *links_[t.link - 1];
                       if (link.alive) {
                           on_bytes(link, t.bytes);
                       }
                   },
                   [&](ToClient& t) { client_read(*links_[t.link - 1], t); },
                   [&](PeerArrive& p) {
                       if (live(p.incarnation)) {  // else sent by a process that died
                           --workers_[p.worker].peer_in_flight;
                           step(p.worker, p.request, nullptr);
                       }
                   },
                   [&](PeerReply& r) {
                       Link* link = live(r.incarnation) ? find(r.send.to) : nullptr;
                       if (link != nullptr) {
                           // Durable on the worker that sent it (as redpacketd posts only the
                           // frame): nothing here to wait for.
                           r.send.reply.hold_until = 0;
                           link->outbox.add(r.send.reply, now_s());
                           flush(*link);
                       }
                   },
                   [&](TickDue& t) {
                       if (live(t.incarnation)) {
                           step(t.worker, Tick{kTickMs, !draining_}, nullptr);
                           at(now_ + Time{kTickMs}, TickDue{incarnation_, t.worker});
                       }
                   },
                   [&](JournalPump& j) {
                       if (live(j.incarnation)) {
                           pump(j.worker);
                       }
                   },
                   [&](SnapshotDue& d) {
                       if (live(d.incarnation)) {
                           snapshot(d.worker);
                       }
                   },
                   [&](SnapshotWrite& d) {
                       if (live(d.incarnation)) {
                           write_snapshot(d.worker, d.tries);
                       }
                   },
                   [&](CrashDue& c) {
                       if (!c.armed && rng_.below(2) == 0) {
                           disk_.arm(static_cast<std::uint32_t>(rng_.below(8)));
                           at(now_ + Time{100}, CrashDue{true, incarnation_});
                       } else if (!c.armed || live(c.incarnation)) {
                           crash();
                       }
                   },
               },
               e);
}

std::uint64_t World::connect(std::uint32_t client) {
    auto link = std::make_unique<Link>();
    link->id = links_.size() + 1;
    link->client = client;
    link->worker = static_cast<WorkerId>(rng_.below(scenario_.workers));
    link->to_server_last = now_;
    link->to_client_last = now_;
    links_.push_back(std::move(link));
    note("client " + std::to_string(client) + " connects: link " + std::to_string(links_.size()) +
         " on worker " + std::to_string(links_.back()->worker));
    return links_.size();
}

void World::drop(std::uint64_t id) {
    Link& link = *links_[id - 1];
    note("link " + std::to_string(id) + " drops");
    ++result_.drops;
    close(link);
}

void World::write(SimClient& client) {
    std::vector<std::byte>& out = client.session.output();
    if (out.empty() || client.link == 0) {
        return;
    }
    Link& link = *links_[client.link - 1];
    // Cut into pieces that arrive in order, each after its own delay: half-read frames.
    std::size_t from = 0;
    while (from < out.size()) {
        std::size_t n = out.size() - from;
        if (n > 1 && chance(scenario_.split_permille)) {
            n = 1 + static_cast<std::size_t>(rng_.below(n - 1));
        }
        const Time when = std::max(link.to_server_last, now_ + up_to(scenario_.net_delay_max_ms));
        link.to_server_last = when;
        at(when,
           ToServer{link.id, std::vector<std::byte>(out.begin() + static_cast<long>(from),
                                                    out.begin() + static_cast<long>(from + n))});
        from += n;
    }
    out.clear();
}

void World::send_to_client(Link& link, std::vector<std::byte> bytes, bool close) {
    const Time when = std::max(link.to_client_last, now_ + up_to(scenario_.net_delay_max_ms));
    link.to_client_last = when;
    hash(link.id);
    hash(static_cast<std::uint64_t>((when - start_).count()));
    for (const std::byte b : bytes) {
        result_.hash ^= static_cast<std::uint8_t>(b);
        result_.hash *= 0x100000001b3ULL;
    }
    at(when, ToClient{link.id, std::move(bytes), close});
}

// --- the worker side -------------------------------------------------------------------------

void World::on_bytes(Link& link, std::vector<std::byte>& bytes) {
    std::vector<protocol::Message> frames;
    const auto fed =
        link.assembler.feed(bytes, [&](const protocol::Frame& f) { frames.push_back(f.message); });
    for (const protocol::Message& m : frames) {
        if (!link.alive || link.outbox.closing()) {
            break;
        }
        step(link.worker, input_of(link.session, address(link), m), &link);
    }
    if (!fed && link.alive) {
        note("link " + std::to_string(link.id) + " sent a frame the decoder refused");
        step(link.worker,
             ConnectionFailed{link.session, address(link), protocol::to_error_code(fed.error()),
                              true},
             &link);
    }
    if (link.move_to) {
        move(link);
    }
    flush(link);
}

void World::step(WorkerId w, const Input& in, Link* current) {
    Effects effects;
    workers_[w].service->step(in, now_, effects);
    std::vector<Link*> touched;
    for (Effect& e : effects) {
        carry_out(w, e, current, touched);
    }
    for (Link* link : touched) {
        flush(*link);
    }
}

void World::carry_out(WorkerId w, Effect& effect, Link* current, std::vector<Link*>& touched) {
    const auto to_link = [&](Link& link, const Reply& reply) {
        link.outbox.add(reply, now_s());
        if (&link != current) {
            touched.push_back(&link);  // a read's replies leave together, after the read
        }
    };
    const auto send = [&](Send& s) {
        if (s.to.worker != w && scenario_.plant != Plant::early_replies &&
            s.reply.hold_until > workers_[w].store->durable_sequence()) {
            ++result_.held_batches;
            workers_[w].held.push_back(std::move(s));  // until this worker's journal has it
        } else if (s.to.worker != w) {
            const Time delay = Time{1} + up_to(scenario_.peer_delay_max_ms - 1);
            at(now_ + delay, PeerReply{incarnation_, std::move(s)});
        } else if (Link* link = find(s.to); link != nullptr) {
            to_link(*link, s.reply);
        }
    };
    std::visit(detail::Overloaded{
                   [&](Send& s) { send(s); },
                   [&](Forward& f) {
                       ++result_.forwards;
                       if (workers_[f.worker].peer_in_flight >= scenario_.peer_capacity) {
                           ++result_.forwards_refused;
                           Send refused{f.request.reply_to, f.refused};
                           send(refused);
                           return;
                       }
                       ++workers_[f.worker].peer_in_flight;
                       const Time delay = Time{1} + up_to(scenario_.peer_delay_max_ms - 1);
                       at(now_ + delay, PeerArrive{incarnation_, f.worker, std::move(f.request)});
                   },
                   [&](Register& r) {
                       if (Link* link = find(r.conn); link != nullptr) {
                           enter(*link, r.user);
                       }
                   },
                   [&](Notify& n) {
                       Link& link = *links_[n.conn - 1];
                       if (link.alive && link.worker == w) {
                           ++result_.notices;
                           to_link(link, Reply{n.notice, n.hold_until});
                       }
                   },
                   [&](PacketRead&) {},
               },
               effect);
}

void World::enter(Link& link, UserId user) {
    const WorkerId owner = registry_->worker_of(registry_->shard_of(user));
    if (owner != link.worker) {
        link.move_to = owner;  // after this read, as redpacketd hands the socket over
        return;
    }
    const auto previous = registry_->shard(registry_->shard_of(user)).upsert(user, link.id);
    if (previous && *previous != link.id) {
        Link& old = *links_[*previous - 1];
        old.session.logged_in = false;  // its entry now belongs to `link`
        close(old);
    }
    step(link.worker, Presence{user, true}, nullptr);
}

void World::move(Link& link) {
    const WorkerId to = *link.move_to;
    link.move_to.reset();
    note("link " + std::to_string(link.id) + " moves to worker " + std::to_string(to));
    link.worker = to;
    ++link.generation;
    enter(link, link.session.user);
}

void World::flush(Link& link) {
    if (!link.alive) {
        return;
    }
    const std::uint64_t durable = scenario_.plant == Plant::early_replies
                                      ? UINT64_MAX  // the planted bug: hold nothing
                                      : workers_[link.worker].store->durable_sequence();
    switch (link.outbox.seal(durable, kOutputCap)) {
        case Outbox::Sealed::refused:
            close(link);
            return;
        case Outbox::Sealed::waiting:
            ++result_.held_batches;
            break;
        default:
            break;
    }
    std::vector<std::byte> out;
    const bool closing = link.outbox.take_ready(durable, out);
    if (!out.empty() || closing) {
        send_to_client(link, std::move(out), closing);
    }
    if (closing) {
        close(link);
    }
}

void World::close(Link& link) {
    if (!link.alive) {
        return;
    }
    link.alive = false;
    if (!link.outbox.closing()) {
        send_to_client(link, {}, true);  // the client sees the end of the connection
    }
    if (link.session.logged_in) {
        const UserId user = link.session.user;
        ConnectionTable& table = registry_->shard(registry_->shard_of(user));
        if (const auto ref = table.find(user); ref && *ref == link.id) {
            table.remove(user);
            step(link.worker, Presence{user, false}, nullptr);
        }
    }
}

Link* World::find(const ReplyAddress& a) {
    if (a.slot == 0 || a.slot > links_.size()) {
        return nullptr;
    }
    Link& link = *links_[a.slot - 1];
    return link.alive && link.worker == a.worker && link.generation == a.generation ? &link
                                                                                    : nullptr;
}

void World::learn(PacketId packet) {
    PacketId& slot = compact_[static_cast<std::uint32_t>(packet.value)];
    if (slot != packet) {
        slot = packet;  // the newest packet of that compact id
        known_.push_back(packet);
        if (known_.size() > 256) {
            known_.erase(known_.begin(), known_.begin() + 64);  // clients favour recent ones
        }
    }
}

std::optional<PacketId> World::resolve_compact(std::uint32_t compact) {
    // A live packet first (as the store resolves a grab), else the newest learned.
    const ShardId set = compact & kMaxShard;
    if (set < scenario_.sets) {
        if (RedPacketPool* pool = workers_[registry_->worker_of(set)].store->pool(set)) {
            if (const auto live = pool->resolve_compact(compact)) {
                return live;
            }
        }
    }
    const auto it = compact_.find(compact);
    return it == compact_.end() ? std::nullopt : std::optional{it->second};
}

std::optional<PacketInfo> World::read(PacketId packet) {
    const ShardId set = packet_shard(packet);
    if (set >= scenario_.sets) {
        return std::nullopt;
    }
    SimWorker& w = workers_[registry_->worker_of(set)];
    const RedPacketPool* pool = w.store->pool(set);
    if (pool == nullptr) {
        return std::nullopt;
    }
    auto info = pool->query(packet);
    return info ? std::optional{std::move(*info)} : std::nullopt;
}

namespace {

const World* running = nullptr;  // for the assertion hook: the world whose step broke one

void report_assertion(const char*, const char*, int) noexcept {
    if (running != nullptr) {
        running->report_abort();
    }
}

}  // namespace

void World::report_abort() const noexcept {
    std::fprintf(stderr, "FAILED seed %llu: an assertion failed (event %llu, %lld ms)\n",
                 static_cast<unsigned long long>(scenario_.seed),
                 static_cast<unsigned long long>(result_.events),
                 static_cast<long long>((now_ - start_).count()));
    std::fprintf(stderr, "  the last events:\n");
    for (const std::string& line : history_) {
        std::fprintf(stderr, "    %s\n", line.c_str());
    }
    std::fprintf(stderr, "  replay: redpacket-sim --seed %llu%s\n",
                 static_cast<unsigned long long>(scenario_.seed),
                 scenario_.max_steps != 0
                     ? (" --steps " + std::to_string(scenario_.max_steps)).c_str()
                     : "");
}

Result run(const Scenario& scenario, std::size_t history) {
    World world{scenario, history};
    running = &world;
    detail::set_assertion_hook(&report_assertion);
    Result r = world.run();
    running = nullptr;
    return r;
}

}  // namespace redpacket::sim
