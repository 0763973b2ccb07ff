// LoadGenerator, connection side: bind + connect, login, frame handling and writes.
#include <netinet/in.h>
#include <sys/socket.h>

#include <fmt/format.h>

#include <ctime>
#include <variant>

#include "redpacket/auth.hpp"
#include "load_generator.hpp"
#include "redpacket/detail/uv_write.hpp"

namespace redpacket::load {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;

std::uint64_t unix_now() { return static_cast<std::uint64_t>(std::time(nullptr)); }

}  // namespace

void LoadGenerator::open_connection(std::uint32_t index) {
    if (!read_buffer_) {
        read_buffer_ = std::make_unique<std::byte[]>(kReadBufferSize);
    }
    Conn& c = *conns_[index];
    c.gen = this;
    c.index = index;
    c.user = options_.user_base + index;
    c.tcp.data = &c;
    c.connect.data = &c;
    // init_ex creates the socket now, so IP_BIND_ADDRESS_NO_PORT can defer the port choice to
    // connect(): many connections per source address then share the ephemeral range.
    if (const int rc = uv_tcp_init_ex(&loop_, &c.tcp, AF_INET); rc != 0) {
        c.dead = true;
        ++login_failures_;
        fmt::print(stderr, "connection {}: uv_tcp_init_ex: {}\n", index, uv_err_name(rc));
        return;
    }
    c.open = true;
    uv_os_fd_t fd = -1;
    if (uv_fileno(reinterpret_cast<uv_handle_t*>(&c.tcp), &fd) == 0) {
        const int one = 1;
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    }
    sockaddr_in src{};
    const std::string src_ip = fmt::format("127.0.0.{}", 2 + index % options_.sources);
    uv_ip4_addr(src_ip.c_str(), 0, &src);
    sockaddr_in dst{};
    uv_ip4_addr(options_.target.c_str(), options_.port, &dst);
    int rc = uv_tcp_bind(&c.tcp, reinterpret_cast<sockaddr*>(&src), 0);
    if (rc == 0) {
        rc = uv_tcp_connect(&c.connect, &c.tcp, reinterpret_cast<sockaddr*>(&dst), &on_connect);
    }
    if (rc != 0) {
        fmt::print(stderr, "connection {} from {}: {}\n", index, src_ip, uv_err_name(rc));
        fail_connection(c, "connect");
    }
}

void LoadGenerator::on_connect(uv_connect_t* req, int status) {
    Conn& c = *static_cast<Conn*>(req->data);
    LoadGenerator& g = *c.gen;
    if (c.dead) {
        return;
    }
    if (status != 0) {
        if (g.login_failures_ < 5) {
            fmt::print(stderr, "connection {}: connect: {}\n", c.index, uv_err_name(status));
        }
        g.fail_connection(c, "connect");
        return;
    }
    (void)uv_tcp_nodelay(&c.tcp, 1);
    if (const int rc = uv_read_start(reinterpret_cast<uv_stream_t*>(&c.tcp), &on_alloc, &on_read);
        rc != 0) {
        fmt::print(stderr, "connection {}: uv_read_start: {}\n", c.index, uv_err_name(rc));
        g.fail_connection(c, "read");
        return;
    }
    g.send_login(c);
    g.flush(c);
}

void LoadGenerator::send_login(Conn& c) {
    if (options_.auth_secret.empty()) {
        queue(c, protocol::LoginRequest{c.user});
        return;
    }
    protocol::AuthLogin login;
    login.user = c.user;
    login.expiry = unix_now() + 3600;
    login.token = redpacket::make_login_token(options_.auth_secret, c.user, login.expiry);
    queue(c, login);
}

void LoadGenerator::on_alloc(uv_handle_t* handle, std::size_t /*suggested*/, uv_buf_t* buf) {
    LoadGenerator& g = *static_cast<Conn*>(handle->data)->gen;
    *buf = uv_buf_init(reinterpret_cast<char*>(g.read_buffer_.get()), kReadBufferSize);
}

void LoadGenerator::on_read(uv_stream_t* stream, ssize_t nread, const uv_buf_t* buf) {
    Conn& c = *static_cast<Conn*>(stream->data);
    LoadGenerator& g = *c.gen;
    if (nread < 0) {
        if (!g.stopped_) {
            ++g.closed_by_server_;
        }
        g.fail_connection(c, "closed by the daemon");
        return;
    }
    if (nread == 0 || c.dead) {
        return;
    }
    const std::uint64_t now = uv_hrtime();
    const auto fed = c.session.feed(
        std::span<const std::byte>{reinterpret_cast<const std::byte*>(buf->base),
                                   static_cast<std::size_t>(nread)},
        [&](Pending&& p, const protocol::Message& reply, const auto& pending) {
            g.on_reply(c, std::move(p), pending.key.kind, reply, now);
        },
        [&](const protocol::Message& m) { g.on_other(c, m, now); });
    if (!fed) {
        fmt::print(stderr, "connection {}: bad frame from the daemon: {}\n", c.index,
                   protocol::to_string(fed.error()));
        g.fail_connection(c, "bad frame");
        return;
    }
    g.flush_dirty();
}

void LoadGenerator::on_reply(Conn& c, Pending&& p, RequestKind kind,
                             const protocol::Message& reply, std::uint64_t now) {
    if (const auto* s = std::get_if<protocol::ShakeResponse>(&reply)) {
        on_answer(c, p,
                  s->result == protocol::kShakeGotPacket    ? Outcome::got
                  : s->result == protocol::kShakeNoPacket   ? Outcome::none
                  : s->result == protocol::kShakeOverloaded ? Outcome::overloaded
                                                            : Outcome::error,
                  s->amount, now);
    } else if (const auto* cl = std::get_if<protocol::ClaimResponse>(&reply)) {
        const bool won = cl->status == protocol::to_wire(ClaimStatus::claimed);
        on_answer(c, p, won ? Outcome::got : Outcome::none, static_cast<std::uint32_t>(cl->amount),
                  now);
    } else if (const auto* gr = std::get_if<protocol::GrabResponse>(&reply)) {
        ++window_.grabs;
        window_.grab_cents += gr->amount;
        if (phase_ < phases_.size()) {
            ++phases_[phase_].counts.grabs;
            phases_[phase_].counts.grab_cents += gr->amount;
        }
    } else if (kind == RequestKind::create && options_.workload == Workload::cycle) {
        on_cycle_create(c, p, reply, now);
    } else if (kind == RequestKind::create) {
        on_create_reply(c, reply);
    } else if (const auto* l = std::get_if<protocol::LoginResponse>(&reply)) {
        logged_in(c, l->result);
    } else if (const auto* a = std::get_if<protocol::AuthLoginResponse>(&reply)) {
        logged_in(c, a->result);
    } else if (const auto* e = std::get_if<protocol::ErrorReply>(&reply); e && kind == RequestKind::claim) {
        on_answer(c, p, e->code == protocol::ErrorCode::overloaded ? Outcome::overloaded : Outcome::error,
                  0, now);
    } else if (std::holds_alternative<protocol::ErrorReply>(reply)) {
        logged_in(c, 1);  // a login refused with an error frame
    }
}

void LoadGenerator::on_other(Conn& c, const protocol::Message& m, std::uint64_t now) {
    if (const auto* n = std::get_if<protocol::PacketNotice>(&m)) {
        ++window_.notices;
        if (phase_ < phases_.size()) {
            ++phases_[phase_].counts.notices;
        }
        queue(c, protocol::GrabRequest{0, n->packet});  // like the original client: user 0
    } else if (std::holds_alternative<protocol::ErrorReply>(m)) {
        // An error frame answers the oldest shake, if any (and ends the connection).
        if (auto p = c.session.take_first(RequestKind::shake)) {
            on_answer(c, *p, Outcome::error, 0, now);
        }
    } else if (options_.echo && std::holds_alternative<protocol::ShakeRequest>(m)) {
        if (auto p = c.session.take_first(RequestKind::shake)) {  // an echo server's "reply"
            on_answer(c, *p, Outcome::none, 0, now);
        }
    } else if (options_.echo && std::holds_alternative<protocol::LoginRequest>(m)) {
        (void)c.session.take_first(RequestKind::login);
        logged_in(c, protocol::kResultOk);
    }
}

void LoadGenerator::logged_in(Conn& c, std::uint32_t result) {
    if (result != protocol::kResultOk) {
        fail_connection(c, "login refused");
        return;
    }
    if (options_.workload == Workload::claim && c.packet == 0 &&
        (options_.claim_packets == 0 || c.index < options_.claim_packets)) {
        // A packet with a share for every other connection of the plan; logged in once made.
        const std::uint32_t n = options_.plan.connections();
        queue(c, protocol::CreatePacket{1, std::uint64_t{n} * 100, std::max<std::uint32_t>(n, 1),
                                        0, 3600});
        return;
    }
    if (!c.logged_in) {
        c.logged_in = true;
        ++logged_in_;
    }
}

void LoadGenerator::on_create_reply(Conn& c, const protocol::Message& reply) {
    const auto* made = std::get_if<protocol::CreateResponse>(&reply);
    if (made == nullptr) {
        if (login_failures_ < 5) {
            fmt::print(stderr, "connection {}: create refused: {}\n", c.index,
                       protocol::describe(reply));
        }
        fail_connection(c, "create refused");
        return;
    }
    c.packet = made->packet;
    logged_in(c, protocol::kResultOk);
}

void LoadGenerator::on_cycle_create(Conn& c, const Pending& p, const protocol::Message& reply,
                                    std::uint64_t now) {
    Outcome outcome = Outcome::error;
    if (const auto* made = std::get_if<protocol::CreateResponse>(&reply)) {
        c.made.push_back(made->packet);  // a later request of the connection claims it
        outcome = Outcome::none;
    } else if (const auto* e = std::get_if<protocol::ErrorReply>(&reply);
               e != nullptr && e->code == protocol::ErrorCode::overloaded) {
        outcome = Outcome::overloaded;
    } else if (cycle_create_errors_++ < 5) {
        fmt::print(stderr, "connection {}: create refused: {}\n", c.index, protocol::describe(reply));
    }
    on_answer(c, p, outcome, 0, now);
}

void LoadGenerator::on_answer(Conn& c, const Pending& p, Outcome outcome, std::uint32_t amount,
                              std::uint64_t now) {
    PhaseState& ps = phases_[p.phase];
    ps.recorder.record(p.scheduled_ns, p.sent_ns, now);
    window_latency_.record(now > p.scheduled_ns ? now - p.scheduled_ns : 0);
    Counters delta;
    delta.responses = 1;
    switch (outcome) {
        case Outcome::got:
            delta.got = 1;
            delta.shake_cents = amount;
            break;
        case Outcome::none: delta.none = 1; break;
        case Outcome::overloaded: delta.overloaded = 1; break;
        case Outcome::error: delta.errors = 1; break;
    }
    ps.counts += delta;
    window_ += delta;
    // Closed loop: a reply frees a slot; refill it while the phase runs.
    if (options_.mode == Mode::closed && !draining_ && phase_ < options_.plan.phases.size() &&
        options_.plan.phases[phase_].kind == PhaseKind::qps && c.logged_in && !c.dead) {
        send_request(c, now, now);
    }
}

void LoadGenerator::send_request(Conn& c, std::uint64_t scheduled_ns, std::uint64_t now) {
    if (options_.workload == Workload::claim) {
        // The next connection's packet; after every other one, the same ones again (answered
        // already_claimed: counted as "none").
        const std::size_t n = options_.claim_packets == 0
                                  ? conns_.size()
                                  : std::min<std::size_t>(options_.claim_packets, conns_.size());
        const Conn* owner = conns_[(c.index + c.next_claim) % n].get();
        c.next_claim = c.next_claim + 1 < n ? c.next_claim + 1 : 1;
        queue(c, protocol::Claim{++c.requests_sent, owner->packet}, Pending{scheduled_ns, now, phase_});
    } else if (options_.workload == Workload::cycle && !c.made.empty()) {
        queue(c, protocol::Claim{++c.requests_sent, c.made.back()}, Pending{scheduled_ns, now, phase_});
        c.made.pop_back();
    } else if (options_.workload == Workload::cycle) {
        queue(c, protocol::CreatePacket{++c.requests_sent, 100, 1, 0, options_.cycle_ttl},
              Pending{scheduled_ns, now, phase_});
    } else {
        queue(c, protocol::ShakeRequest{c.user}, Pending{scheduled_ns, now, phase_});
    }
    ++window_.sent;
    ++phases_[phase_].counts.sent;
}

void LoadGenerator::queue(Conn& c, const protocol::Message& m) { queue(c, m, Pending{}); }

void LoadGenerator::queue(Conn& c, const protocol::Message& m, Pending tag) {
    c.session.send(m, tag, unix_now());
    if (!c.dirty) {
        c.dirty = true;
        dirty_.push_back(&c);
    }
}

void LoadGenerator::flush_dirty() {
    for (Conn* c : dirty_) {
        c->dirty = false;
        flush(*c);
    }
    dirty_.clear();
}

void LoadGenerator::flush(Conn& c) {
    std::vector<std::byte>& out = c.session.output();
    if (c.dead) {
        out.clear();
        return;
    }
    if (redpacket::detail::write_or_queue(reinterpret_cast<uv_stream_t*>(&c.tcp), out) != 0) {
        fail_connection(c, "write");
    }
}

void LoadGenerator::fail_connection(Conn& c, const char* why) {
    if (c.dead) {
        return;
    }
    c.dead = true;
    if (c.logged_in) {
        c.logged_in = false;
        --logged_in_;
        if (!stopped_ && closed_by_server_ <= 5) {
            fmt::print(stderr, "connection {} (user {}): {}\n", c.index, c.user, why);
        }
    } else if (!stopped_) {
        ++login_failures_;
    }
    // Shakes that will never be answered are errors of the phase that sent them.
    c.session.reset([&](ClientSession<Pending>::Pending&& p) {
        if (p.key.kind != RequestKind::shake && p.key.kind != RequestKind::claim) {
            return;
        }
        if (!stopped_) {
            ++phases_[p.tag.phase].counts.errors;
            ++window_.errors;
        } else {
            ++unanswered_;
        }
    });
    if (c.open) {
        c.open = false;
        uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), nullptr);
    }
}

}  // namespace redpacket::load
