// ClusterClient: requests, their routing and retries, and hiredis connections (the slot map:
// cluster_slot_map.cpp).
#include "redpacket/redis/cluster_client.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
// The libuv adapter is a header of static functions: included here only.
#include <hiredis/adapters/libuv.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "cluster_client_state.hpp"
#include "reply.hpp"

namespace redpacket::redis {

// --- replies ---------------------------------------------------------------------------------

namespace {

/// What a hiredis callback needs to find its request again.
struct Tag {
    ClusterClient* client;
    std::uint64_t id;
    std::uint64_t attempt;
};

/// A WAIT's callback data: the commands (id, attempt) it covers and the replicas it asked for.
struct WaitTag {
    ClusterClient* client;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> covered;
    std::uint32_t wanted;
};

}  // namespace

std::optional<std::int64_t> Value::as_int() const noexcept {
    if (type == Type::integer) {
        return integer;
    }
    if (type != Type::string) {
        return std::nullopt;
    }
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), n);
    if (ec != std::errc{} || end != str.data() + str.size()) {
        return std::nullopt;
    }
    return n;
}

std::string describe(const ClusterError& e) {
    switch (e.kind) {
        case ClusterError::Kind::timed_out: return "timed out" + (e.message.empty() ? "" : ": " + e.message);
        case ClusterError::Kind::unavailable: return "cluster unavailable: " + e.message;
        case ClusterError::Kind::redis: return "redis error: " + e.message;
        case ClusterError::Kind::closed: return "closed";
    }
    return e.message;
}

// --- state -----------------------------------------------------------------------------------

ClusterClient::ClusterClient(uv_loop_t* loop, ClusterOptions options)
    : loop_{loop}, options_{std::move(options)}, slot_owner_(kSlots, -1) {
    uv_timer_init(loop_, &timer_);
    timer_.data = this;
    timer_open_ = true;
    uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<ClusterClient*>(t->data)->tick(); },
                   5, 5);
    uv_check_init(loop_, &check_);
    check_.data = this;
    uv_check_start(&check_, [](uv_check_t* h) {
        static_cast<ClusterClient*>(h->data)->send_due_waits();
    });
    uv_unref(reinterpret_cast<uv_handle_t*>(&check_));  // keeps no loop alive by itself
}

ClusterClient::~ClusterClient() {
    for (auto& [at, n] : nodes_) {
        if (n->ctx != nullptr) {
            redisAsyncFree(n->ctx);
        }
    }
}

void ClusterClient::send_due_waits() {
    for (const NodeAddress& at : std::exchange(wait_due_, {})) {
        if (const auto it = nodes_.find(at); it != nodes_.end()) {
            send_wait(*it->second);
        }
    }
}

std::int64_t ClusterClient::now_ms() const noexcept {
    return static_cast<std::int64_t>(uv_hrtime() / 1'000'000);
}

std::vector<NodeAddress> ClusterClient::masters() const { return owners_; }

std::optional<NodeAddress> ClusterClient::master_of(std::uint16_t slot) const {
    const std::int32_t i = slot_owner_[slot % kSlots];
    return i >= 0 ? std::optional{owners_[static_cast<std::size_t>(i)]} : std::nullopt;
}

void ClusterClient::start(std::function<void(std::expected<void, std::string>)> done) {
    on_started_ = std::move(done);
    refresh_map();
}

void ClusterClient::close(std::function<void()> done) {
    on_closed_ = std::move(done);
    if (closing_) {
        return;
    }
    closing_ = true;
    std::vector<std::uint64_t> ids;
    for (const auto& [id, r] : requests_) {
        ids.push_back(id);
    }
    for (const std::uint64_t id : ids) {
        finish(id, std::unexpected(ClusterError{ClusterError::Kind::closed, {}}));
    }
    for (auto& [at, n] : nodes_) {
        if (n->ctx != nullptr) {
            redisAsyncContext* ctx = std::exchange(n->ctx, nullptr);
            redisAsyncFree(ctx);  // callbacks run with no reply; their requests are gone
        }
    }
    if (timer_open_) {
        timer_open_ = false;
        closing_handles_ = 2;
        const auto closed = [](uv_handle_t* h) {
            auto& c = *static_cast<ClusterClient*>(h->data);
            if (--c.closing_handles_ == 0 && c.on_closed_) {
                std::exchange(c.on_closed_, nullptr)();
            }
        };
        uv_close(reinterpret_cast<uv_handle_t*>(&timer_), closed);
        uv_close(reinterpret_cast<uv_handle_t*>(&check_), closed);
    }
}

// --- commands --------------------------------------------------------------------------------

namespace {

std::string encode(const std::vector<std::string>& argv) {
    Resp r{argv.size()};
    for (const std::string& a : argv) {
        r.arg(a);
    }
    return std::move(r).take();
}

}  // namespace

void ClusterClient::command(std::uint16_t slot, const std::vector<std::string>& argv,
                            Callback done, CommandOptions how) {
    command_resp(slot, encode(argv), std::move(done), how);
}

void ClusterClient::command_resp(std::uint16_t slot, std::string resp, Callback done,
                                 CommandOptions how) {
    if (closing_) {
        done(std::unexpected(ClusterError{ClusterError::Kind::closed, {}}));
        return;
    }
    auto r = std::make_unique<Request>();
    r->slot = slot;
    r->resp = std::move(resp);
    r->done = std::move(done);
    r->how = how;
    submit(std::move(r));
}

void ClusterClient::submit(std::unique_ptr<Request> r) {
    r->id = next_id_++;
    if (r->deadline_ms == 0) {
        r->deadline_ms = now_ms() + options_.timeout.count();
    }
    r->started_ns = uv_hrtime();
    const std::uint64_t id = r->id;
    deadlines_.emplace(r->deadline_ms, id);
    requests_.emplace(id, std::move(r));
    dispatch(id);
}

void ClusterClient::on_every_master(
    std::vector<std::string> argv,
    std::function<void(std::vector<std::pair<NodeAddress, std::expected<CommandResult, ClusterError>>>)>
        done) {
    using Results = std::vector<std::pair<NodeAddress, std::expected<CommandResult, ClusterError>>>;
    auto results = std::make_shared<Results>();
    auto left = std::make_shared<std::size_t>(owners_.size());
    auto finished = std::make_shared<decltype(done)>(std::move(done));
    if (owners_.empty()) {
        (*finished)({});
        return;
    }
    const std::string resp = encode(argv);
    for (const NodeAddress& at : owners_) {
        auto r = std::make_unique<Request>();
        r->resp = resp;
        r->target = at;
        r->done = [results, left, finished, at](std::expected<CommandResult, ClusterError> res) {
            results->emplace_back(at, std::move(res));
            if (--*left == 0) {
                (*finished)(std::move(*results));
            }
        };
        submit(std::move(r));
    }
}

void ClusterClient::dispatch(std::uint64_t id) {
    const auto it = requests_.find(id);
    if (it == requests_.end()) {
        return;
    }
    Request& r = *it->second;
    if (now_ms() >= r.deadline_ms) {
        finish(id, std::unexpected(ClusterError{
                       r.failures > 0 ? ClusterError::Kind::unavailable : ClusterError::Kind::timed_out,
                       r.last_error}));
        return;
    }
    std::optional<NodeAddress> at = r.ask ? r.ask : r.target;
    if (!at && slot_owner_[r.slot] >= 0) {
        at = owners_[static_cast<std::size_t>(slot_owner_[r.slot])];
    }
    if (!at) {
        r.last_error = "no node serves slot " + std::to_string(r.slot);
        retry_later(r, true);
        return;
    }
    Node& n = node(*at);
    if (n.ctx == nullptr) {
        r.last_error = "cannot connect to " + at->to_string();
        retry_later(r, true);
        return;
    }
    send(r, n);
}

void ClusterClient::send(Request& r, Node& n) {
    ++r.attempt;
    ++stats_.round_trips;
    r.reply.reset();
    const auto callback = [](redisAsyncContext* ctx, void* reply, void* privdata) {
        std::unique_ptr<Tag> tag{static_cast<Tag*>(privdata)};
        if (ctx != nullptr && ctx->data != nullptr) {
            auto& sent = static_cast<Node*>(ctx->data)->sent_at;
            if (!sent.empty()) {
                sent.pop_front();
            }
        }
        tag->client->on_reply(tag->id, tag->attempt, reply);
    };
    if (r.ask) {
        (void)redisAsyncCommand(n.ctx, nullptr, nullptr, "ASKING");
        r.ask.reset();
    }
    auto* tag = new Tag{this, r.id, r.attempt};
    if (redisAsyncFormattedCommand(n.ctx, callback, tag, r.resp.data(), r.resp.size()) !=
        REDIS_OK) {
        delete tag;
        r.last_error = "connection to " + n.at.to_string() + " is closing";
        retry_later(r, true);
        return;
    }
    n.sent_at.push_back(now_ms());
    if (r.how.wait_replicas > 0 || r.how.wait_all) {
        if (n.unwaited.empty()) {
            wait_due_.push_back(n.at);
            n.wait_replicas = 0;
            n.wait_timeout_ms = 0;
        }
        n.unwaited.emplace_back(r.id, r.attempt);
        n.wait_replicas = std::max({n.wait_replicas, r.how.wait_replicas,
                                    r.how.wait_all ? replicas_of(n.at) : 0U});
        n.wait_timeout_ms = std::max<std::int64_t>(n.wait_timeout_ms, r.how.wait_timeout.count());
    }
}

std::uint32_t ClusterClient::replicas_of(const NodeAddress& master) const noexcept {
    const auto at = static_cast<std::size_t>(std::find(owners_.begin(), owners_.end(), master) -
                                             owners_.begin());
    return at < owner_replicas_.size() ? owner_replicas_[at] : 0U;
}

void ClusterClient::send_wait(Node& n) {
    if (n.unwaited.empty()) {
        return;
    }
    auto* tag = new WaitTag{this, std::exchange(n.unwaited, {}), n.wait_replicas};
    ++stats_.waits;
    const auto callback = [](redisAsyncContext*, void* reply, void* privdata) {
        std::unique_ptr<WaitTag> t{static_cast<WaitTag*>(privdata)};
        t->client->on_wait(std::move(t->covered), t->wanted, reply);
    };
    if (n.ctx == nullptr ||
        redisAsyncCommand(n.ctx, callback, tag, "WAIT %u %lld", n.wait_replicas,
                          static_cast<long long>(n.wait_timeout_ms)) != REDIS_OK) {
        std::unique_ptr<WaitTag> t{tag};
        on_wait(std::move(t->covered), t->wanted, nullptr);  // as if the connection went
    }
}

void ClusterClient::on_wait(std::vector<std::pair<std::uint64_t, std::uint64_t>> covered,
                            std::uint32_t wanted, const void* raw) {
    if (closing_) {
        return;
    }
    const std::optional<std::int64_t> replicas =
        raw != nullptr ? to_value(static_cast<const redisReply*>(raw)).as_int() : std::nullopt;
    if (replicas && *replicas < wanted && now_ms() - last_refresh_ms_ >= 500) {
        refresh_map();  // a replica may have failed: the map drops it once the cluster agrees
    }
    for (const auto& [id, attempt] : covered) {
        const auto it = requests_.find(id);
        if (it == requests_.end() || it->second->attempt != attempt || !it->second->reply) {
            continue;  // finished, resent, or its own reply failed (handled there)
        }
        Request& r = *it->second;
        if (!replicas) {  // the connection went after the command's reply: its WAIT is lost
            r.last_error = "connection lost before WAIT answered";
            lost(r);
            continue;
        }
        finish(id, CommandResult{std::move(*r.reply), *replicas, wanted});
    }
}

void ClusterClient::lost(Request& r) {
    if (!r.how.retry_after_send) {
        // It may have run: sending it again could run it twice.
        finish(r.id, std::unexpected(ClusterError{ClusterError::Kind::unavailable, r.last_error}));
        return;
    }
    ++stats_.retries;
    retry_later(r, true);
}

void ClusterClient::on_reply(std::uint64_t id, std::uint64_t attempt, const void* raw) {
    const auto it = requests_.find(id);
    if (it == requests_.end() || it->second->attempt != attempt || closing_) {
        return;  // finished, or answered by a later attempt
    }
    Request& r = *it->second;
    if (raw == nullptr) {  // the connection went (or was closed for a stuck command)
        r.last_error = "connection lost";
        lost(r);
        return;
    }
    Value v = to_value(static_cast<const redisReply*>(raw));
    if (!v.is_error()) {
        if (r.how.wait_replicas > 0 || r.how.wait_all) {
            r.reply = std::move(v);  // the WAIT behind it completes the request
            return;
        }
        finish(id, CommandResult{std::move(v), -1});
        return;
    }
    if (const auto redirect = parse_redirect(v.str); redirect && !r.target) {
        if (++r.redirects > options_.max_redirects) {
            finish(id, std::unexpected(ClusterError{ClusterError::Kind::unavailable,
                                                    "too many redirects: " + v.str}));
            return;
        }
        if (redirect->kind == Redirect::Kind::moved) {
            ++stats_.moved;
            auto owner = std::find(owners_.begin(), owners_.end(), redirect->node);
            if (owner == owners_.end()) {
                // Its replicas are unknown until the refresh below: assume as many as the most
                // any master has (a WAIT for every replica errs on the safe side meanwhile).
                const auto most = std::max_element(owner_replicas_.begin(), owner_replicas_.end());
                owner_replicas_.push_back(most == owner_replicas_.end() ? 0U : *most);
                owners_.push_back(redirect->node);
                owner = owners_.end() - 1;
            }
            slot_owner_[redirect->slot] = static_cast<std::int32_t>(owner - owners_.begin());
            refresh_map();  // more slots have probably moved with it
        } else {
            ++stats_.ask;
            r.ask = redirect->node;
        }
        dispatch(id);
        return;
    }
    if (is_transient_error(v.str)) {
        r.last_error = v.str;
        ++stats_.retries;
        retry_later(r, v.str.rfind("CLUSTERDOWN", 0) == 0 || v.str.rfind("READONLY", 0) == 0);
        return;
    }
    finish(id, std::unexpected(ClusterError{ClusterError::Kind::redis, v.str}));
}

void ClusterClient::retry_later(Request& r, bool refresh) {
    ++r.failures;
    const auto shift = std::min<std::uint32_t>(r.failures, 10);
    const std::int64_t delay =
        std::min<std::int64_t>(options_.retry_max.count(), options_.retry_min.count() << shift);
    r.not_before_ms = now_ms() + delay;
    waiting_.push_back(r.id);
    if (refresh) {
        refresh_map();
    }
}

void ClusterClient::finish(std::uint64_t id, std::expected<CommandResult, ClusterError> result) {
    const auto it = requests_.find(id);
    if (it == requests_.end()) {
        return;
    }
    std::unique_ptr<Request> r = std::move(it->second);
    requests_.erase(it);
    ++stats_.commands;
    if (!result) {
        ++stats_.failures;
        stats_.timeouts += result.error().kind == ClusterError::Kind::timed_out ? 1U : 0U;
    }
    stats_.latency.record(uv_hrtime() - r->started_ns);
    if (r->done) {
        r->done(std::move(result));
    }
}

// --- connections and the slot map ------------------------------------------------------------

ClusterClient::Node& ClusterClient::node(const NodeAddress& at) {
    std::unique_ptr<Node>& n = nodes_[at];
    if (n && n->ctx != nullptr) {
        return *n;
    }
    if (!n) {
        n = std::make_unique<Node>();
        n->client = this;
        n->at = at;
    }
    n->sent_at.clear();
    ++stats_.connects;
    redisAsyncContext* ctx =
        options_.source_address.empty()
            ? redisAsyncConnect(at.host.c_str(), at.port)
            : redisAsyncConnectBind(at.host.c_str(), at.port, options_.source_address.c_str());
    if (ctx == nullptr || ctx->err != 0 || redisLibuvAttach(ctx, loop_) != REDIS_OK) {
        if (ctx != nullptr) {
            redisAsyncFree(ctx);
        }
        return *n;
    }
    ctx->data = n.get();
    redisAsyncSetConnectCallback(ctx, [](const redisAsyncContext* c, int status) {
        if (status != REDIS_OK && c->data != nullptr) {
            // hiredis frees the context after this callback; its commands get no reply.
            static_cast<Node*>(c->data)->ctx = nullptr;
        }
    });
    redisAsyncSetDisconnectCallback(ctx, [](const redisAsyncContext* c, int /*status*/) {
        if (c->data != nullptr) {
            static_cast<Node*>(c->data)->ctx = nullptr;
        }
    });
    n->ctx = ctx;
    return *n;
}

void ClusterClient::drop_node(const NodeAddress& at) {
    const auto it = nodes_.find(at);
    if (it != nodes_.end() && it->second->ctx != nullptr) {
        redisAsyncContext* ctx = std::exchange(it->second->ctx, nullptr);
        ctx->data = nullptr;
        redisAsyncFree(ctx);  // its commands come back without a reply and are retried
    }
}

void ClusterClient::tick() {
    if (closing_) {
        return;
    }
    const std::int64_t now = now_ms();
    if (options_.map_refresh.count() > 0 && now - last_refresh_ms_ >= options_.map_refresh.count()) {
        refresh_map();  // replicas come and go without any command failing
    }
    // A connection whose oldest command outlived the deadline is stuck: drop it, so that its
    // commands come back and go elsewhere (hiredis 0.14 cannot time one command out).
    for (auto& [at, n] : nodes_) {
        if (n->ctx != nullptr && !n->sent_at.empty() &&
            now - n->sent_at.front() > options_.timeout.count()) {
            drop_node(at);
        }
    }
    while (!deadlines_.empty() && deadlines_.top().first <= now) {
        const std::uint64_t id = deadlines_.top().second;
        deadlines_.pop();
        const auto it = requests_.find(id);
        if (it == requests_.end()) {
            continue;  // finished in time
        }
        const bool failing = it->second->failures > 0;
        finish(id, std::unexpected(ClusterError{
                       failing ? ClusterError::Kind::unavailable : ClusterError::Kind::timed_out,
                       it->second->last_error}));
    }
    std::deque<std::uint64_t> later;
    while (!waiting_.empty()) {
        const std::uint64_t id = waiting_.front();
        waiting_.pop_front();
        const auto it = requests_.find(id);
        if (it == requests_.end()) {
            continue;
        }
        if (it->second->not_before_ms > now) {
            later.push_back(id);
            continue;
        }
        dispatch(id);
    }
    waiting_.insert(waiting_.end(), later.begin(), later.end());
}

}  // namespace redpacket::redis
