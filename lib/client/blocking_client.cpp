#include "redpacket/blocking_client.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace redpacket {

struct BlockingClient::Impl {
    uv_loop_t loop{};
    std::unique_ptr<Client> client;
    std::deque<protocol::Message> frames;  // arrived, not yet read
    std::deque<protocol::PacketNotice> notices;
    bool garbage{false};
    bool lost{false};  // the connection is gone
    std::string reason;  // what the client last gave as the reason for a state change

    explicit Impl(ClientOptions options) {
        uv_loop_init(&loop);
        client = std::make_unique<Client>(&loop, std::move(options));
        client->on_frame([this](const protocol::Message& m) { frames.push_back(m); });
        client->on_notice([this](const protocol::PacketNotice& n) { frames.emplace_back(n); });
        client->on_state([this](ClientState s, const ClientError* why) {
            if (why != nullptr && why->kind == ClientErrc::protocol_error) {
                garbage = true;
            }
            if (why != nullptr) {
                reason = describe(*why);
            }
            if (s == ClientState::waiting || s == ClientState::closing ||
                s == ClientState::closed) {
                lost = true;
            }
        });
    }
    ~Impl() {
        bool done = false;
        client->close([&] { done = true; });
        while (!done && uv_run(&loop, UV_RUN_ONCE) != 0) {
        }
        client.reset();
        uv_run(&loop, UV_RUN_NOWAIT);
        (void)uv_loop_close(&loop);
    }
};

namespace {

ClientOptions loopback(std::uint16_t port, int receive_buffer) {
    ClientOptions o;
    o.port = port;
    o.reconnect = false;
    o.receive_buffer = receive_buffer;
    o.request_timeout = kBlockingTimeout;
    return o;
}

}  // namespace

std::string describe(const ReadResult& r) {
    switch (r.status) {
        case ReadStatus::frame: return protocol::describe(r.message);
        case ReadStatus::closed: return "the connection closed";
        case ReadStatus::timeout: return "nothing (timeout)";
        case ReadStatus::garbage: return "bytes that do not decode";
    }
    return "?";
}

BlockingClient::BlockingClient(std::uint16_t port, int receive_buffer)
    : BlockingClient(loopback(port, receive_buffer)) {}

BlockingClient::BlockingClient(ClientOptions options) {
    const auto timeout = options.request_timeout;
    const std::string where = options.host + ":" + std::to_string(options.port);
    impl_ = std::make_unique<Impl>(std::move(options));
    Client& c = *impl_->client;
    c.start();
    const bool ready = run_until(
        [&] { return c.state() == ClientState::ready || impl_->lost; }, timeout, true);
    if (!ready || c.state() != ClientState::ready) {
        // Name the daemon and what went wrong, not the client's state.
        std::string why = impl_->reason;
        if (why.empty()) {
            why = ready ? "the connection closed before the login was answered"
                        : "no answer within " + std::to_string(timeout.count()) + " ms";
        }
        throw std::runtime_error("cannot connect and log in to " + where + ": " + why);
    }
    c.pause_reading();
}

BlockingClient::~BlockingClient() = default;
BlockingClient::BlockingClient(BlockingClient&&) noexcept = default;
BlockingClient& BlockingClient::operator=(BlockingClient&&) noexcept = default;

Client& BlockingClient::client() noexcept { return *impl_->client; }
std::deque<protocol::PacketNotice>& BlockingClient::notices() noexcept { return impl_->notices; }
bool BlockingClient::closed() const noexcept { return impl_->lost; }

template <class Pred>
bool BlockingClient::run_until(Pred&& done, std::chrono::milliseconds timeout, bool read) {
    Client& c = *impl_->client;
    if (read) {
        c.resume_reading();
    }
    uv_update_time(&impl_->loop);
    const std::uint64_t deadline =
        uv_now(&impl_->loop) + static_cast<std::uint64_t>(std::max<std::int64_t>(timeout.count(), 0));
    bool ok = done();
    while (!ok) {
        // At least one look at the socket, even with no time left (a zero timeout polls).
        const bool time_left = uv_now(&impl_->loop) < deadline;
        const int alive = uv_run(&impl_->loop, time_left ? UV_RUN_ONCE : UV_RUN_NOWAIT);
        uv_update_time(&impl_->loop);
        ok = done();
        if (!time_left || alive == 0 || uv_now(&impl_->loop) >= deadline) {
            break;
        }
    }
    if (read) {
        c.pause_reading();
    }
    return ok;
}

// --- requests --------------------------------------------------------------------------------

std::expected<protocol::Message, ClientError> BlockingClient::request(const protocol::Message& m,
                                                                      std::chrono::milliseconds timeout) {
    std::optional<std::expected<protocol::Message, ClientError>> answer;
    impl_->client->send(m, [&](std::expected<protocol::Message, ClientError> r) { answer = std::move(r); });
    run_until([&] { return answer.has_value(); }, timeout + std::chrono::milliseconds{100}, true);
    if (!answer) {
        return std::unexpected(ClientError{ClientErrc::timed_out, protocol::ErrorCode::internal, {}});
    }
    return std::move(*answer);
}

template <class T>
std::expected<T, ClientError> BlockingClient::ask(const protocol::Message& m) {
    return reply_as<T>(request(m));
}

std::expected<protocol::LoginResponse, ClientError> BlockingClient::login(std::uint32_t user) {
    return ask<protocol::LoginResponse>(protocol::LoginRequest{user});
}

std::expected<protocol::AuthLoginResponse, ClientError> BlockingClient::auth_login(
    std::uint32_t user, std::uint64_t expiry, const LoginToken& token) {
    return ask<protocol::AuthLoginResponse>(protocol::AuthLogin{user, expiry, token});
}

std::expected<protocol::ShakeResponse, ClientError> BlockingClient::shake(std::uint32_t user) {
    return ask<protocol::ShakeResponse>(protocol::ShakeRequest{user});
}

std::expected<protocol::GrabResponse, ClientError> BlockingClient::grab(std::uint32_t packet) {
    return ask<protocol::GrabResponse>(protocol::GrabRequest{0, packet});  // as the original
}

std::expected<protocol::HeartbeatResponse, ClientError> BlockingClient::heartbeat(
    std::uint64_t nonce) {
    return ask<protocol::HeartbeatResponse>(protocol::Heartbeat{nonce});
}

std::expected<protocol::CreateResponse, ClientError> BlockingClient::create(
    const protocol::CreatePacket& req) {
    return ask<protocol::CreateResponse>(req);
}

std::expected<protocol::ClaimResponse, ClientError> BlockingClient::claim(std::uint64_t packet,
                                                                          std::uint64_t request_id) {
    return ask<protocol::ClaimResponse>(protocol::Claim{request_id, packet});
}

std::expected<protocol::QueryResponse, ClientError> BlockingClient::query(std::uint64_t packet,
                                                                          std::uint64_t request_id) {
    return ask<protocol::QueryResponse>(protocol::Query{request_id, packet});
}

std::expected<protocol::ProofResponse, ClientError> BlockingClient::proof(std::uint64_t packet,
                                                                          std::uint32_t part,
                                                                          std::uint64_t request_id) {
    return ask<protocol::ProofResponse>(protocol::Proof{request_id, packet, part});
}

// --- frames ----------------------------------------------------------------------------------

void BlockingClient::send(const protocol::Message& m) { send_all(std::span{&m, 1}); }

void BlockingClient::send_all(std::span<const protocol::Message> ms) {
    Client& c = *impl_->client;
    c.cork();
    for (const protocol::Message& m : ms) {
        c.send(m, [impl = impl_.get()](std::expected<protocol::Message, ClientError> r) {
            if (r) {
                impl->frames.push_back(*r);  // in arrival order, like every other frame
            }
        });
    }
    c.uncork();
    run_until([&] { return c.write_queue_size() == 0 || impl_->lost; }, kBlockingTimeout, false);
}

bool BlockingClient::send_raw(std::span<const std::byte> bytes) {
    Client& c = *impl_->client;
    if (impl_->lost) {
        return false;
    }
    c.send_raw(bytes);
    run_until([&] { return c.write_queue_size() == 0 || impl_->lost; }, kBlockingTimeout, false);
    return !impl_->lost && c.write_queue_size() == 0;
}

ReadResult BlockingClient::read(std::chrono::milliseconds timeout) {
    Impl& i = *impl_;
    run_until([&] { return !i.frames.empty() || i.lost; }, timeout, true);
    if (!i.frames.empty()) {
        ReadResult r{ReadStatus::frame, i.frames.front()};
        i.frames.pop_front();
        return r;
    }
    if (i.lost) {
        return {i.garbage ? ReadStatus::garbage : ReadStatus::closed, {}};
    }
    return {ReadStatus::timeout, {}};
}

ReadResult BlockingClient::read_reply(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        ReadResult r = read(std::max(left, std::chrono::milliseconds{0}));
        if (r.status != ReadStatus::frame) {
            return r;
        }
        if (const auto* notice = std::get_if<protocol::PacketNotice>(&r.message)) {
            impl_->notices.push_back(*notice);
            continue;
        }
        return r;
    }
}

std::optional<std::vector<protocol::Message>> BlockingClient::frames_until_close(
    std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::vector<protocol::Message> frames;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const ReadResult r = read(std::max(left, std::chrono::milliseconds{0}));
        switch (r.status) {
            case ReadStatus::frame:
                frames.push_back(r.message);
                break;
            case ReadStatus::closed:
            case ReadStatus::garbage:
                return frames;
            case ReadStatus::timeout:
                return std::nullopt;
        }
    }
}

std::vector<protocol::Message> BlockingClient::drain(std::chrono::milliseconds duration) {
    const auto deadline = std::chrono::steady_clock::now() + duration;
    std::vector<protocol::Message> frames;
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        const ReadResult r = read_reply(std::max(left, std::chrono::milliseconds{0}));
        if (r.status != ReadStatus::frame) {
            return frames;
        }
        frames.push_back(r.message);
    }
}

}  // namespace redpacket
