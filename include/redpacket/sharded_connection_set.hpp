// ConnectionRegistry and ShardedConnectionSet: users split into S shards (the seed's SETs) owned
// by W workers; the set adds cross-worker dispatch by shard.
//
// `shard_of(user)` is `user % S` (the seed's rule) and `worker_of(shard)` is `shard % W`, so
// consecutive shards spread evenly over workers. Each shard has its own ConnectionTable, cache-
// line aligned so two workers never share a line. Each worker has one bounded Mailbox of
// `Message`s; `post(shard, message)` from any thread enqueues into the owner's mailbox without
// a lock, and the owner `drain`s it in batches from its event loop (plug `uv_async_send` in as
// the wake-up: it coalesces, so drain everything on each wake).
//
// Thread-safety: the shard tables (`shard(s)`, add/remove/find on users of that shard) belong
// to the owning worker's thread; `post` is safe from any thread; `drain` only on the owner.
// No global lock anywhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "redpacket/connection_table.hpp"
#include "redpacket/error.hpp"
#include "redpacket/mailbox.hpp"
#include "redpacket/worker_mailboxes.hpp"
#include "redpacket/types.hpp"

namespace redpacket {

/// Shape of a ShardedConnectionSet.
struct ShardingConfig {
    std::uint32_t shards{256};                ///< S, the number of SETs
    std::uint32_t workers{1};                 ///< W, the number of owning workers
    std::size_t mailbox_capacity{1U << 16};   ///< messages per worker mailbox
};

/// Users in S shards (SETs) over W workers: the SET → worker rule and one ConnectionTable per
/// SET. No mailboxes: pair it with WorkerMailboxes, or use ShardedConnectionSet for both.
class ConnectionRegistry {
public:
    /// Throws std::invalid_argument if shards or workers is 0, or workers > shards.
    explicit ConnectionRegistry(const ShardingConfig& config) : config_{config} {
        if (config.shards == 0 || config.workers == 0 || config.workers > config.shards) {
            throw std::invalid_argument("need 0 < workers <= shards");
        }
        shards_ = std::make_unique<AlignedShard[]>(config.shards);
    }

    [[nodiscard]] const ShardingConfig& config() const noexcept { return config_; }
    [[nodiscard]] std::uint32_t shard_count() const noexcept { return config_.shards; }
    [[nodiscard]] std::uint32_t worker_count() const noexcept { return config_.workers; }
    /// The seed's rule: user % S.
    [[nodiscard]] ShardId shard_of(UserId user) const noexcept {
        return static_cast<ShardId>(user % config_.shards);
    }
    /// The worker that owns `shard`: shard % W.
    [[nodiscard]] WorkerId worker_of(ShardId shard) const noexcept {
        return shard % config_.workers;
    }
    /// The SETs `worker` owns, ascending.
    [[nodiscard]] std::vector<ShardId> shards_of(WorkerId worker) const {
        std::vector<ShardId> owned;
        for (ShardId s = worker; s < config_.shards; s += config_.workers) {
            owned.push_back(s);
        }
        return owned;
    }

    /// The table of one shard. Thread-safety: the owning worker only.
    [[nodiscard]] ConnectionTable& shard(ShardId s) noexcept { return shards_[s].table; }
    [[nodiscard]] const ConnectionTable& shard(ShardId s) const noexcept {
        return shards_[s].table;
    }

    /// Registers `user` in its shard. Errors: already_exists.
    [[nodiscard]] std::expected<void, Error> add(UserId user, ConnectionRef conn) {
        return shard(shard_of(user)).add(user, conn);
    }
    /// Unregisters `user`, returning its connection if it was present.
    std::optional<ConnectionRef> remove(UserId user) noexcept {
        return shard(shard_of(user)).remove(user);
    }
    /// The connection of `user`, if registered.
    [[nodiscard]] std::optional<ConnectionRef> find(UserId user) const noexcept {
        return shard(shard_of(user)).find(user);
    }
    /// Calls `fn(UserId, ConnectionRef)` for every connection of `s`.
    template <class Fn>
    void for_each(ShardId s, Fn&& fn) const {
        shard(s).for_each(std::forward<Fn>(fn));
    }
    /// Connections registered in `s`.
    [[nodiscard]] std::size_t size(ShardId s) const noexcept { return shard(s).size(); }
    /// Connections in every shard. Thread-safety: only when no worker is modifying tables.
    [[nodiscard]] std::size_t total_size() const noexcept {
        std::size_t n = 0;
        for (std::uint32_t s = 0; s < config_.shards; ++s) {
            n += shards_[s].table.size();
        }
        return n;
    }
    /// Heap bytes held by the shard tables.
    [[nodiscard]] std::size_t table_memory_bytes() const noexcept {
        std::size_t n = config_.shards * sizeof(AlignedShard);
        for (std::uint32_t s = 0; s < config_.shards; ++s) {
            n += shards_[s].table.memory_bytes();
        }
        return n;
    }

private:
    struct alignas(kCacheLine) AlignedShard {
        ConnectionTable table;
    };

    ShardingConfig config_;
    std::unique_ptr<AlignedShard[]> shards_;
};

/// A ConnectionRegistry plus one mailbox of `Message` per worker, with `post(shard, m)` to
/// the shard's owner.
template <class Message>
class ShardedConnectionSet : public ConnectionRegistry {
public:
    /// A message with the shard it was posted to.
    struct Envelope {
        ShardId shard{0};
        Message message{};
    };

    /// Throws std::invalid_argument if shards or workers is 0, or workers > shards.
    explicit ShardedConnectionSet(const ShardingConfig& config)
        : ConnectionRegistry{config}, mailboxes_{config.workers, config.mailbox_capacity} {}

    /// Sets the wake-up of `worker`'s mailbox (e.g. a uv_async_send thunk). Call before
    /// producers start.
    void set_wake(WorkerId worker, void* context, typename Mailbox<Envelope>::WakeFn fn) noexcept {
        mailboxes_.set_wake(worker, context, fn);
    }

    /// Sends `message` to the worker owning `s`. Errors: mailbox_full (counted, nothing
    /// blocks), invalid_argument for an unknown shard; on an error `message` is handed back
    /// unchanged, so the caller can keep it and retry. Thread-safety: any thread.
    [[nodiscard]] std::expected<void, Error> post(ShardId s, Message&& message) noexcept {
        if (s >= shard_count()) {
            return std::unexpected(Error::invalid_argument);
        }
        Envelope envelope{s, std::move(message)};
        if (auto posted = mailboxes_.post_to(worker_of(s), std::move(envelope)); !posted) {
            message = std::move(envelope.message);
            return posted;
        }
        return {};
    }

    /// Pops up to `max` messages of `worker` into `fn(ShardId, Message&&)`; returns how many.
    /// Thread-safety: the owning worker only.
    template <class Fn>
    std::size_t drain(WorkerId worker, std::size_t max, Fn&& fn) {
        return mailboxes_.drain(worker, max,
                                [&fn](Envelope&& e) { fn(e.shard, std::move(e.message)); });
    }

    /// Posts refused because `worker`'s mailbox was full.
    [[nodiscard]] std::uint64_t rejected(WorkerId worker) const noexcept {
        return mailboxes_.rejected(worker);
    }

private:
    WorkerMailboxes<Envelope> mailboxes_;
};

}  // namespace redpacket
