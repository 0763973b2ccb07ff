// Client: connection life cycle (connect, login, lose, reconnect), requests and their
// callbacks, deadlines and heartbeats — all on the caller's libuv loop.
#include "redpacket/client.hpp"
#include "redpacket/assert.hpp"

#include <sys/socket.h>

#include <csignal>
#include <mutex>

#include <algorithm>
#include <ctime>
#include <random>

#include "redpacket/address.hpp"
#include "redpacket/detail/uv_write.hpp"

namespace redpacket {
namespace {

constexpr std::size_t kReadBufferSize = 64 * 1024;
constexpr std::uint64_t kTickMs = 10;

ClientError error(ClientErrc kind, std::string detail = {}) {
    return ClientError{kind, protocol::ErrorCode::internal, std::move(detail)};
}

std::uint64_t random_start() {
    std::random_device rd;
    const std::uint64_t r = (std::uint64_t{rd()} << 32) ^ rd();
    return (r >> 2) + 1;  // far from wrapping, never 0
}

std::uint64_t unix_seconds() { return static_cast<std::uint64_t>(std::time(nullptr)); }

// libuv writes with write(2): a write to a connection the daemon closed raises SIGPIPE, whose
// default action ends the process. A client turns it into an error value instead — but only
// where nobody chose a disposition for SIGPIPE already.
void ignore_default_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction current {};
        if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
            std::signal(SIGPIPE, SIG_IGN);
        }
    });
}

}  // namespace

// --- vocabulary ------------------------------------------------------------------------------

std::string_view to_string(ClientErrc e) noexcept {
    switch (e) {
        case ClientErrc::closed: return "closed";
        case ClientErrc::timed_out: return "timed out";
        case ClientErrc::refused: return "refused";
        case ClientErrc::connect_failed: return "connect failed";
        case ClientErrc::login_refused: return "login refused";
        case ClientErrc::protocol_error: return "protocol error";
    }
    return "unknown";
}

std::string describe(const ClientError& e) {
    std::string out(to_string(e.kind));
    if (e.kind == ClientErrc::refused) {
        out += ": " + std::string(protocol::to_string(e.code)) + " (" +
               std::to_string(static_cast<std::uint32_t>(e.code)) + ")";
    }
    if (!e.detail.empty()) {
        out += ": " + e.detail;
    }
    return out;
}

std::string_view to_string(ClientState s) noexcept {
    switch (s) {
        case ClientState::idle: return "idle";
        case ClientState::connecting: return "connecting";
        case ClientState::logging_in: return "logging in";
        case ClientState::ready: return "ready";
        case ClientState::waiting: return "waiting to reconnect";
        case ClientState::closing: return "closing";
        case ClientState::closed: return "closed";
    }
    return "unknown";
}

Credentials Credentials::compat(UserId user) { return Credentials{user, {}}; }

Credentials Credentials::with_secret(UserId user, std::string secret,
                                     std::chrono::seconds validity) {
    return Credentials{user, [user, secret = std::move(secret), validity] {
                           const std::uint64_t expiry =
                               unix_seconds() + static_cast<std::uint64_t>(validity.count());
                           return std::pair{expiry, make_login_token(
                                                        secret, static_cast<std::uint32_t>(user),
                                                        expiry)};
                       }};
}

Credentials Credentials::with_token(UserId user, std::uint64_t expiry, const LoginToken& token) {
    return Credentials{user, [expiry, token] { return std::pair{expiry, token}; }};
}

// --- life cycle ------------------------------------------------------------------------------

Client::Client(uv_loop_t* loop, ClientOptions options)
    : loop_{loop},
      options_{std::move(options)},
      next_request_id_{random_start()},
      next_nonce_{random_start()},
      session_{options_.max_frame},
      read_buffer_{std::make_unique<std::byte[]>(kReadBufferSize)} {}

Client::~Client() {
    // Handles must be closed (close() and a loop run) before their memory goes away.
    REDPACKET_ASSERT(state_ == ClientState::closed || state_ == ClientState::idle);
}

void Client::set_state(ClientState s, const ClientError* why) {
    state_ = s;
    if (on_state_) {
        on_state_(s, why);
    }
}

std::chrono::nanoseconds Client::now() noexcept {
    // Not uv_now(): the loop's cached time lags while the caller works between iterations, and
    // a deadline counted from it would come early. Nor whole milliseconds: a deadline counted
    // from a truncated start came up to 1 ms early (a 200 ms timeout after 199.89 ms).
    return std::chrono::nanoseconds{uv_hrtime()};
}

std::size_t Client::in_flight() const noexcept { return session_.pending() + waiting_.size(); }

void Client::start() {
    if (state_ != ClientState::idle) {
        return;
    }
    ignore_default_sigpipe();
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<Client*>(t->data)->tick(); }, kTickMs,
                   kTickMs);
    connect();
}

void Client::connect() {
    set_state(ClientState::connecting);
    const auto ip = parse_ipv4_host(options_.host);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(options_.port);
    addr.sin_addr.s_addr = ip.value_or(0);
    if (!ip) {
        fail_all(error(ClientErrc::connect_failed, "not an IPv4 address: " + options_.host));
        close();
        return;
    }
    uv_tcp_init_ex(loop_, &tcp_, AF_INET);
    tcp_.data = this;
    tcp_open_ = true;
    if (options_.receive_buffer > 0) {
        uv_os_fd_t fd = -1;
        if (uv_fileno(reinterpret_cast<uv_handle_t*>(&tcp_), &fd) == 0) {
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &options_.receive_buffer,
                             sizeof options_.receive_buffer);
        }
    }
    connect_req_.data = this;
    const int rc = uv_tcp_connect(
        &connect_req_, &tcp_, reinterpret_cast<const sockaddr*>(&addr),
        [](uv_connect_t* req, int status) {
            auto& c = *static_cast<Client*>(req->data);
            if (status == UV_ECANCELED || !c.tcp_open_) {
                return;  // we closed it meanwhile
            }
            if (status != 0) {
                c.lose_connection(error(ClientErrc::connect_failed, uv_strerror(status)));
                return;
            }
            c.connected();
        });
    if (rc != 0) {
        lose_connection(error(ClientErrc::connect_failed, uv_strerror(rc)));
    }
}

void Client::connected() {
    connected_ = true;
    (void)uv_tcp_nodelay(&tcp_, 1);
    if (reading_wanted_) {
        resume_reading();
    }
    if (options_.login) {
        send_login();
    } else {
        logged_in();
    }
}

namespace {

/// Why a login failed, for people: a login response's result is an error code, named.
std::string login_refusal(const std::expected<protocol::Message, ClientError>& r,
                          std::uint32_t result) {
    if (!r) {
        return describe(r.error());
    }
    if (const auto* e = std::get_if<protocol::ErrorReply>(&*r)) {
        result = static_cast<std::uint32_t>(e->code);
    } else if (!std::holds_alternative<protocol::LoginResponse>(*r) &&
               !std::holds_alternative<protocol::AuthLoginResponse>(*r)) {
        return protocol::describe(*r);
    }
    return "the daemon answered " +
           std::string(protocol::to_string(static_cast<protocol::ErrorCode>(result))) + " (" +
           std::to_string(result) + ")";
}

}  // namespace

void Client::send_login() {
    set_state(ClientState::logging_in);
    const Credentials& who = *options_.login;
    protocol::Message login = protocol::LoginRequest{static_cast<std::uint32_t>(who.user)};
    if (who.token) {
        const auto [expiry, token] = who.token();
        login = protocol::AuthLogin{static_cast<std::uint32_t>(who.user), expiry, token};
    }
    login_id_ = next_id_++;
    callbacks_[login_id_] = [this](std::expected<protocol::Message, ClientError> r) {
        login_id_ = 0;
        std::uint32_t result = 1;
        if (r) {
            if (const auto* l = std::get_if<protocol::LoginResponse>(&*r)) {
                result = l->result;
            } else if (const auto* a = std::get_if<protocol::AuthLoginResponse>(&*r)) {
                result = a->result;
            }
        }
        if (r && result == protocol::kResultOk) {
            logged_in();
            return;
        }
        if (!r && r.error().kind != ClientErrc::refused) {
            return;  // the connection went: reconnecting logs in again
        }
        // Wrong credentials do not get better by retrying.
        const ClientError refused = error(ClientErrc::login_refused, login_refusal(r, result));
        fail_all(refused);
        close_because(&refused);
    };
    send_now(login, Tag{login_id_, now() + options_.request_timeout});
}

void Client::logged_in() {
    failed_connects_ = 0;
    backoff_ = std::chrono::milliseconds{0};
    next_heartbeat_ = now() + options_.heartbeat_interval;
    set_state(ClientState::ready);
    std::deque<Waiting> waiting;
    waiting.swap(waiting_);
    for (Waiting& w : waiting) {
        send_now(w.request, w.tag);
    }
}

void Client::lose_connection(ClientError why) {
    if (state_ == ClientState::closing || state_ == ClientState::closed) {
        return;
    }
    close_tcp();
    ++failed_connects_;
    const bool retry = options_.reconnect && failed_connects_ <= options_.reconnect_attempts;
    // What was sent and may safely be sent again waits for the next connection, in order,
    // ahead of what was never sent; the rest fails now.
    std::deque<Waiting> again;
    session_.reset([&](ClientSession<Tag>::Pending&& p) {
        if (p.tag.id == login_id_ || p.tag.id == heartbeat_id_) {
            callbacks_.erase(p.tag.id);
        } else if (retry && is_retryable(p.key.kind)) {
            again.push_back(Waiting{p.request, p.tag});
        } else {
            complete(p.tag.id, std::unexpected(ClientError{ClientErrc::closed, why.code, why.detail}));
        }
    });
    login_id_ = heartbeat_id_ = 0;
    waiting_.insert(waiting_.begin(), std::make_move_iterator(again.begin()),
                    std::make_move_iterator(again.end()));
    if (!retry) {
        const ClientError gone = options_.reconnect ? error(ClientErrc::connect_failed, why.detail) : why;
        fail_all(gone);
        close_because(&gone);
        return;
    }
    backoff_ = std::clamp(backoff_ * 2, options_.reconnect_min, options_.reconnect_max);
    reconnect_at_ = now() + backoff_;
    set_state(ClientState::waiting, &why);
}

void Client::fail_all(const ClientError& why) {
    session_.reset([&](ClientSession<Tag>::Pending&& p) { complete(p.tag.id, std::unexpected(why)); });
    std::deque<Waiting> waiting;
    waiting.swap(waiting_);
    for (const Waiting& w : waiting) {
        complete(w.tag.id, std::unexpected(why));
    }
    login_id_ = heartbeat_id_ = 0;
}

void Client::close(std::function<void()> on_closed) { close_because(nullptr, std::move(on_closed)); }

void Client::close_because(const ClientError* why, std::function<void()> on_closed) {
    if (on_closed) {
        on_closed_ = std::move(on_closed);
    }
    if (state_ == ClientState::closed) {
        if (on_closed_) {
            std::exchange(on_closed_, nullptr)();
        }
        return;
    }
    if (state_ == ClientState::closing) {
        return;
    }
    set_state(ClientState::closing, why);
    fail_all(error(ClientErrc::closed, "the client was closed"));
    close_tcp();
    if (timer_open_) {
        timer_open_ = false;
        ++closing_handles_;
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), &Client::on_handle_closed);
    }
    if (closing_handles_ == 0) {  // never started: nothing to wait for
        set_state(ClientState::closed);
        if (on_closed_) {
            std::exchange(on_closed_, nullptr)();
        }
    }
}

void Client::close_tcp() {
    if (!tcp_open_) {
        return;
    }
    tcp_open_ = false;
    connected_ = false;
    reading_ = false;
    ++closing_handles_;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), &Client::on_handle_closed);
}

void Client::on_handle_closed(uv_handle_t* handle) {
    auto& c = *static_cast<Client*>(handle->data);
    --c.closing_handles_;
    if (c.state_ == ClientState::closing && c.closing_handles_ == 0 && !c.timer_open_) {
        c.set_state(ClientState::closed);
        if (c.on_closed_) {
            std::exchange(c.on_closed_, nullptr)();
        }
    }
}

// --- requests --------------------------------------------------------------------------------

template <class T>
Client::Done Client::typed(Callback<T> done) {
    return [done = std::move(done)](std::expected<protocol::Message, ClientError> r) {
        done(reply_as<T>(std::move(r)));
    };
}

std::uint64_t Client::create(protocol::CreatePacket req, Callback<protocol::CreateResponse> done) {
    if (req.request_id == 0) {
        req.request_id = next_request_id_++;
    }
    submit(req, typed(std::move(done)));
    return req.request_id;
}

std::uint64_t Client::claim(std::uint64_t packet, Callback<protocol::ClaimResponse> done,
                            std::uint64_t request_id) {
    if (request_id == 0) {
        request_id = next_request_id_++;
    }
    submit(protocol::Claim{request_id, packet}, typed(std::move(done)));
    return request_id;
}

std::uint64_t Client::query(std::uint64_t packet, Callback<protocol::QueryResponse> done,
                            std::uint64_t request_id) {
    if (request_id == 0) {
        request_id = next_request_id_++;
    }
    submit(protocol::Query{request_id, packet}, typed(std::move(done)));
    return request_id;
}

std::uint64_t Client::proof(std::uint64_t packet, std::uint32_t part,
                            Callback<protocol::ProofResponse> done, std::uint64_t request_id) {
    if (request_id == 0) {
        request_id = next_request_id_++;
    }
    submit(protocol::Proof{request_id, packet, part}, typed(std::move(done)));
    return request_id;
}

void Client::heartbeat(Callback<protocol::HeartbeatResponse> done) {
    submit(protocol::Heartbeat{next_nonce_++}, typed(std::move(done)));
}

void Client::shake(Callback<protocol::ShakeResponse> done) {
    const auto user = static_cast<std::uint32_t>(options_.login ? options_.login->user : 0);
    submit(protocol::ShakeRequest{user}, typed(std::move(done)));
}

void Client::grab(std::uint32_t packet, Callback<protocol::GrabResponse> done) {
    submit(protocol::GrabRequest{0, packet}, typed(std::move(done)));  // the original sends 0
}

void Client::send(const protocol::Message& request, Callback<protocol::Message> done) {
    submit(request, std::move(done));
}

void Client::send_raw(std::span<const std::byte> bytes) {
    session_.send_raw(bytes);
    flush();
}

void Client::submit(const protocol::Message& request, Done done) {
    const std::uint64_t id = next_id_++;
    const Tag tag{id, now() + options_.request_timeout};
    if (request_key(request).kind == RequestKind::other) {
        session_.send(request, tag, unix_seconds());  // nothing answers it
        flush();
        done(std::unexpected(error(ClientErrc::protocol_error, "this frame gets no reply")));
        return;
    }
    if (state_ == ClientState::closing || state_ == ClientState::closed) {
        done(std::unexpected(error(ClientErrc::closed, "the client was closed")));
        return;
    }
    callbacks_.emplace(id, std::move(done));
    if (state_ == ClientState::ready) {
        send_now(request, tag);
    } else {
        waiting_.push_back(Waiting{request, tag});
    }
}

void Client::send_now(const protocol::Message& request, Tag tag) {
    session_.send(request, tag, unix_seconds());
    flush();
}

void Client::complete(std::uint64_t id, std::expected<protocol::Message, ClientError> result) {
    const auto it = callbacks_.find(id);
    if (it == callbacks_.end()) {
        return;
    }
    Done done = std::move(it->second);
    callbacks_.erase(it);
    done(std::move(result));
}

// --- bytes in and out ------------------------------------------------------------------------

void Client::uncork() {
    corked_ = false;
    flush();
}

void Client::flush() {
    std::vector<std::byte>& out = session_.output();
    if (out.empty() || corked_ || !connected_) {
        return;
    }
    const int rc = detail::write_or_queue(
        reinterpret_cast<uv_stream_t*>(&tcp_), out, SIZE_MAX, nullptr,
        [](uv_stream_t* s, int status) {
            static_cast<Client*>(s->data)->lose_connection(error(ClientErrc::closed, uv_strerror(status)));
        });
    if (rc != 0) {
        lose_connection(error(ClientErrc::closed, uv_strerror(rc)));
    }
}

std::size_t Client::write_queue_size() const noexcept {
    const std::size_t queued =
        tcp_open_ ? uv_stream_get_write_queue_size(reinterpret_cast<const uv_stream_t*>(&tcp_)) : 0;
    return queued + session_.output().size();
}

void Client::pause_reading() {
    reading_wanted_ = false;
    if (reading_ && tcp_open_) {
        uv_read_stop(reinterpret_cast<uv_stream_t*>(&tcp_));
    }
    reading_ = false;
}

void Client::resume_reading() {
    reading_wanted_ = true;
    if (reading_ || !connected_) {
        return;
    }
    reading_ = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&tcp_),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
            auto& c = *static_cast<Client*>(h->data);
            *buf = uv_buf_init(reinterpret_cast<char*>(c.read_buffer_.get()), kReadBufferSize);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            auto& c = *static_cast<Client*>(s->data);
            if (n < 0) {
                c.lose_connection(error(ClientErrc::closed, n == UV_EOF
                                                                ? "the daemon closed the connection"
                                                                : uv_strerror(static_cast<int>(n))));
            } else if (n > 0) {
                c.read_bytes({reinterpret_cast<const std::byte*>(buf->base),
                              static_cast<std::size_t>(n)});
            }
        });
}

void Client::read_bytes(std::span<const std::byte> bytes) {
    const auto fed = session_.feed(
        bytes,
        [this](Tag&& tag, const protocol::Message& reply, const ClientSession<Tag>::Pending&) {
            complete(tag.id, reply);
        },
        [this](const protocol::Message& m) {
            if (const auto* n = std::get_if<protocol::PacketNotice>(&m)) {
                if (on_notice_) {
                    on_notice_(*n);
                }
            } else if (on_frame_) {
                on_frame_(m);
            }
        });
    if (!fed && tcp_open_) {
        lose_connection(error(ClientErrc::protocol_error,
                              "undecodable bytes: " + std::string(protocol::to_string(fed.error()))));
    }
}

// --- time ------------------------------------------------------------------------------------

void Client::tick() {
    const std::chrono::nanoseconds now = Client::now();
    bool probe_lost = false;
    session_.take_if([&](const ClientSession<Tag>::Pending& p) { return p.tag.deadline <= now; },
                     [&](ClientSession<Tag>::Pending&& p) {
                         if (p.tag.id == heartbeat_id_ && heartbeat_id_ != 0) {
                             probe_lost = true;
                         }
                         complete(p.tag.id, std::unexpected(error(ClientErrc::timed_out)));
                     });
    while (!waiting_.empty() && waiting_.front().tag.deadline <= now) {
        const std::uint64_t id = waiting_.front().tag.id;
        waiting_.pop_front();
        complete(id, std::unexpected(error(ClientErrc::timed_out)));
    }
    if (probe_lost) {
        lose_connection(error(ClientErrc::timed_out, "heartbeat unanswered"));
        return;
    }
    if (state_ == ClientState::ready && options_.heartbeat_interval.count() > 0 &&
        heartbeat_id_ == 0 && now >= next_heartbeat_) {
        next_heartbeat_ = now + options_.heartbeat_interval;
        heartbeat_id_ = next_id_++;
        callbacks_[heartbeat_id_] = [this](std::expected<protocol::Message, ClientError>) {
            heartbeat_id_ = 0;
        };
        send_now(protocol::Heartbeat{next_nonce_++},
                 Tag{heartbeat_id_, now + options_.request_timeout});
    }
    if (state_ == ClientState::waiting && closing_handles_ == 0 && now >= reconnect_at_) {
        connect();
    }
}

}  // namespace redpacket
