#include "redpacket/redis/subscriber.hpp"

#include <hiredis/hiredis.h>
#include <netinet/in.h>

#include <cstring>
#include <utility>

#include "redpacket/address.hpp"
#include "redpacket/detail/uv_write.hpp"
#include "reply.hpp"

namespace redpacket::redis {

struct ShardedSubscriber::Connection {
    ShardedSubscriber* owner{nullptr};
    NodeAddress at;
    uv_tcp_t tcp{};
    uv_connect_t connect{};
    redisReader* reader{nullptr};
    bool connected{false};
    bool dead{false};      // lost: its handle is closing or closed
    bool released{false};  // the handle's close callback has run
    std::vector<std::byte> out;  // commands written once connected
    std::unique_ptr<char[]> buffer{new char[16 * 1024]};

    ~Connection() {
        if (reader != nullptr) {
            redisReaderFree(reader);
        }
    }
    void write(const std::vector<std::string>& argv) {
        std::vector<const char*> args;
        std::vector<std::size_t> lengths;
        for (const std::string& a : argv) {
            args.push_back(a.data());
            lengths.push_back(a.size());
        }
        char* cmd = nullptr;
        const int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), args.data(),
                                               lengths.data());
        if (len > 0) {
            const auto* bytes = reinterpret_cast<const std::byte*>(cmd);
            out.insert(out.end(), bytes, bytes + len);
        }
        std::free(cmd);
        flush();
    }
    void flush() {
        if (connected && !dead && !out.empty() &&
            detail::write_or_queue(reinterpret_cast<uv_stream_t*>(&tcp), out) != 0) {
            owner->lost(*this);
        }
    }
};

ShardedSubscriber::ShardedSubscriber(uv_loop_t* loop, ClusterClient& cluster, OnMessage on_message,
                                     std::chrono::milliseconds retry)
    : loop_{loop}, cluster_{cluster}, on_message_{std::move(on_message)}, retry_{retry} {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    const auto every = static_cast<std::uint64_t>(retry_.count());
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<ShardedSubscriber*>(t->data)->tick(); },
                   every, every);
}

ShardedSubscriber::~ShardedSubscriber() = default;

std::size_t ShardedSubscriber::subscribed() const noexcept {
    std::size_t n = 0;
    for (const auto& [channel, c] : on_) {
        n += c != nullptr && c->connected ? 1 : 0;
    }
    return n;
}

void ShardedSubscriber::subscribe(const std::string& channel) {
    wanted_.insert(channel);
    attach(channel);
}

void ShardedSubscriber::connected(uv_connect_t* req, int status) {
    auto& conn = *static_cast<Connection*>(req->data);
    if (status != 0 || conn.dead) {
        if (status != UV_ECANCELED) {
            conn.owner->lost(conn);
        }
        return;
    }
    conn.connected = true;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(&conn.tcp),
        [](uv_handle_t* h, std::size_t, uv_buf_t* buf) {
            auto& x = *static_cast<Connection*>(h->data);
            *buf = uv_buf_init(x.buffer.get(), 16 * 1024);
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
            auto& x = *static_cast<Connection*>(s->data);
            if (n < 0) {
                x.owner->lost(x);
                return;
            }
            redisReaderFeed(x.reader, buf->base, static_cast<std::size_t>(n));
            void* reply = nullptr;
            while (!x.dead && redisReaderGetReply(x.reader, &reply) == REDIS_OK &&
                   reply != nullptr) {
                const Value v = to_value(static_cast<redisReply*>(reply));
                freeReplyObject(reply);
                x.owner->on_reply(x, v);
            }
        });
    conn.flush();
}

void ShardedSubscriber::attach(const std::string& channel) {
    if (closing_ || on_.contains(channel)) {
        return;
    }
    const auto master = cluster_.master_of(key_slot(channel));
    if (!master) {
        return;  // the next tick tries again
    }
    std::unique_ptr<Connection>& c = connections_[*master];
    if (!c || c->dead) {
        if (c && !c->released) {
            return;  // the lost connection's handle is still closing
        }
        c = std::make_unique<Connection>();
        c->owner = this;
        c->at = *master;
        c->reader = redisReaderCreate();
        uv_tcp_init(loop_, &c->tcp);
        c->tcp.data = c.get();
        c->connect.data = c.get();
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(master->port);
        addr.sin_addr.s_addr = parse_ipv4_host(master->host).value_or(0);
        const std::string& source = cluster_.options().source_address;
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = parse_ipv4_host(source).value_or(0);
        const int bound = source.empty()
                              ? 0
                              : uv_tcp_bind(&c->tcp, reinterpret_cast<const sockaddr*>(&from), 0);
        const int rc = bound != 0 ? bound : uv_tcp_connect(
            &c->connect, &c->tcp, reinterpret_cast<const sockaddr*>(&addr),
            &ShardedSubscriber::connected);
        if (rc != 0) {
            lost(*c);
            return;
        }
    }
    on_[channel] = c.get();
    c->write({"SSUBSCRIBE", channel});
}

void ShardedSubscriber::on_reply(Connection& c, const Value& v) {
    if (v.is_error()) {
        // A channel whose slot is elsewhere (MOVED): every channel of that slot on this
        // connection is sent again to the master the map names once it is refreshed.
        if (const auto r = parse_redirect(v.str)) {
            for (auto it = on_.begin(); it != on_.end();) {
                it = it->second == &c && key_slot(it->first) == r->slot ? on_.erase(it) : ++it;
            }
        }
        return;
    }
    if (v.type != Value::Type::array || v.elements.size() < 3) {
        return;
    }
    const std::string& kind = v.elements[0].str;
    const std::string& channel = v.elements[1].str;
    if (kind == "smessage") {
        ++messages_;
        on_message_(channel, v.elements[2].str);
    } else if (kind == "sunsubscribe") {
        on_.erase(channel);  // its slot moved: subscribe again where it is now
    }
}

void ShardedSubscriber::lost(Connection& c) {
    if (c.dead) {
        return;
    }
    c.dead = true;
    c.connected = false;
    for (auto it = on_.begin(); it != on_.end();) {
        it = it->second == &c ? on_.erase(it) : ++it;
    }
    ++closing_handles_;
    uv_close(reinterpret_cast<uv_handle_t*>(&c.tcp), [](uv_handle_t* h) {
        auto& x = *static_cast<Connection*>(h->data);
        x.released = true;
        ShardedSubscriber& s = *x.owner;
        if (--s.closing_handles_ == 0 && s.closing_ && s.on_closed_) {
            std::exchange(s.on_closed_, nullptr)();
        }
    });
}

void ShardedSubscriber::tick() {
    for (auto it = connections_.begin(); it != connections_.end();) {
        it = it->second->dead && it->second->released ? connections_.erase(it) : ++it;
    }
    for (const std::string& channel : wanted_) {
        attach(channel);
    }
}

void ShardedSubscriber::close(std::function<void()> done) {
    on_closed_ = std::move(done);
    closing_ = true;
    uv_timer_stop(&timer_);
    ++closing_handles_;
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), [](uv_handle_t* h) {
        ShardedSubscriber& s = *static_cast<ShardedSubscriber*>(h->data);
        if (--s.closing_handles_ == 0 && s.on_closed_) {
            std::exchange(s.on_closed_, nullptr)();
        }
    });
    for (auto& [at, c] : connections_) {
        lost(*c);
    }
}

}  // namespace redpacket::redis
