// What the failover and partition tests share: a claim load that records every acknowledged
// claim, the node of the shard that holds a SET, and the check that every acknowledged claim
// survived (a retry under its request id gets the same share) and the books balance.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "cluster_support.hpp"
#include "test_support.hpp"

namespace redpacket::testing {

namespace protocol = redpacket::protocol;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::must;

inline std::int64_t steady_ns() { return std::chrono::steady_clock::now().time_since_epoch().count(); }

inline BlockingClient logged_in(std::uint16_t port, std::uint32_t user) {
    BlockingClient c(port);
    REQUIRE(must(c.login(user)).result == protocol::kResultOk);
    return c;
}

/// Fresh users claiming every packet in turn, from a thread, until stopped; the first
/// `watched` packets are the ones a fault hits. Every claim acknowledged is kept; the first one
/// on a watched packet sent after `fault_at` and paid marks the resumption.
class ClaimLoad {
public:
    struct Ack {
        std::uint64_t packet;
        std::uint32_t user;
        std::uint64_t request;
        protocol::ClaimResponse reply;
        std::int64_t at;
    };

    ClaimLoad(std::uint16_t port, std::vector<std::uint64_t> packets, std::size_t watched)
        : port_{port}, packets_{std::move(packets)}, watched_{watched}, thread_{[this] { run(); }} {}
    ~ClaimLoad() { stop(); }

    void stop() {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }
    std::atomic<std::int64_t> fault_at{0};
    std::atomic<std::int64_t> resumed_at{0};
    std::atomic<std::size_t> refused{0};  // answered "unavailable": the store could not confirm
    std::atomic<std::size_t> wrong{0};    // any other answer: none is right for a fresh user
    std::atomic<std::int64_t> slowest_ns{0};  // the longest any claim waited for its answer

    /// The claims acknowledged so far (a copy: the load may still be running).
    [[nodiscard]] std::vector<Ack> acked() const {
        const std::lock_guard lock{mutex_};
        return acked_;
    }

private:
    void run() {
        for (std::uint32_t round = 0; !stop_; ++round) {
            const std::uint32_t user = 1000 + round;
            // No Catch2 assertion off the main thread (Catch2 v2 is not thread-safe): a failed
            // login counts as a wrong answer and is checked by the test.
            BlockingClient c(port_);
            const auto login = c.login(user);
            if (!login || login->result != protocol::kResultOk) {
                ++wrong;
                continue;
            }
            for (std::size_t i = 0; i < packets_.size() && !stop_; ++i) {
                const std::uint64_t request = (std::uint64_t{user} << 16) | i;
                const std::int64_t sent = steady_ns();
                const auto r = c.claim(packets_[i], request);
                const std::int64_t now = steady_ns();
                slowest_ns = std::max(slowest_ns.load(), now - sent);
                if (r && r->status == protocol::to_wire(ClaimStatus::claimed)) {
                    {
                        const std::lock_guard lock{mutex_};
                        acked_.push_back({packets_[i], user, request, *r, now});
                    }
                    if (i < watched_ && fault_at != 0 && resumed_at == 0 && sent > fault_at) {
                        resumed_at = now;
                    }
                } else if (!r && r.error().kind == redpacket::ClientErrc::refused &&
                           r.error().code == protocol::ErrorCode::unavailable) {
                    ++refused;
                } else {
                    ++wrong;
                }
            }
        }
    }

    std::uint16_t port_;
    std::vector<std::uint64_t> packets_;
    std::size_t watched_;
    mutable std::mutex mutex_;
    std::vector<Ack> acked_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

/// Two packets in each of 16 SETs (creators 0..15 own SETs 0..15): SET 0's come first.
inline std::vector<std::uint64_t> packets_in_every_set(std::uint16_t port) {
    std::vector<std::uint64_t> packets;
    for (std::uint32_t s = 0; s < 16; ++s) {
        BlockingClient c = logged_in(port, s);
        for (int i = 0; i < 2; ++i) {
            packets.push_back(must(c.create(protocol::CreatePacket{0, 100000, 1000, 0, 600})).packet);
        }
    }
    return packets;
}

/// The port of the master (`replica` false) of `key`'s slot, or of one of its replicas, from
/// CLUSTER NODES; 0 if none is found.
inline int node_of_key(const TestCluster& cluster, const std::string& key, bool replica) {
    const int slot = std::stoi(cluster.cli(cluster.base_port, "cluster keyslot '" + key + "'"));
    struct Line {
        std::string id, addr, flags, master;
        std::vector<std::string> ranges;
    };
    std::vector<Line> lines;
    std::istringstream in(cluster.cli(cluster.base_port, "cluster nodes"));
    for (std::string text; std::getline(in, text);) {
        std::istringstream f(text);
        Line l;
        std::string ping, pong, epoch, link, range;
        f >> l.id >> l.addr >> l.flags >> l.master >> ping >> pong >> epoch >> link;
        while (f >> range) {
            l.ranges.push_back(range);
        }
        lines.push_back(std::move(l));
    }
    const auto port = [](const std::string& addr) {
        return std::stoi(addr.substr(addr.find(':') + 1, addr.find('@') - addr.find(':') - 1));
    };
    for (const Line& m : lines) {
        const bool owns = m.flags.find("master") != std::string::npos &&
                          std::any_of(m.ranges.begin(), m.ranges.end(), [&](const std::string& r) {
                              const auto dash = r.find('-');
                              const int lo = std::stoi(r.substr(0, dash));
                              const int hi = dash == std::string::npos ? lo : std::stoi(r.substr(dash + 1));
                              return slot >= lo && slot <= hi;
                          });
        if (!owns) {
            continue;
        }
        if (!replica) {
            return port(m.addr);
        }
        for (const Line& r : lines) {
            if (r.master == m.id && r.flags.find("fail") == std::string::npos) {
                return port(r.addr);
            }
        }
    }
    return 0;
}

/// Every node up and linked, all slots served, every replica's link to its master up (a node
/// given back by an earlier test may still be syncing, and WAIT falls short until it is).
inline bool cluster_whole(const TestCluster& cluster) {
    const std::string nodes = cluster.cli(cluster.base_port, "cluster nodes");
    if (nodes.find("fail") != std::string::npos || nodes.find("disconnected") != std::string::npos ||
        cluster.cli(cluster.base_port, "cluster info").find("cluster_state:ok") == std::string::npos) {
        return false;
    }
    for (int port = cluster.base_port; port < cluster.base_port + cluster.nodes; ++port) {
        const std::string info = cluster.cli(port, "info replication");
        if (info.find("role:slave") != std::string::npos &&
            info.find("master_link_status:up") == std::string::npos) {
            return false;
        }
    }
    return true;
}

/// The acknowledged claims that did not survive, one line each: a retry under the request id
/// must answer already_claimed with the same amount and share. A retry refused `unavailable`
/// (a replica still syncing after a heal falls short of the WAIT) is asked again, for up to 30 s
/// in all.
inline std::vector<std::string> lost_claims(std::uint16_t port, const std::vector<ClaimLoad::Ack>& acked,
                                            std::int64_t fault_at) {
    std::map<std::uint32_t, BlockingClient> clients;
    std::vector<std::string> lost;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
    for (const ClaimLoad::Ack& a : acked) {
        auto it = clients.find(a.user);
        if (it == clients.end()) {
            it = clients.emplace(a.user, logged_in(port, a.user)).first;
        }
        auto got = it->second.claim(a.packet, a.request);
        while (!got && got.error().kind == redpacket::ClientErrc::refused &&
               got.error().code == protocol::ErrorCode::unavailable &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds{100});
            got = it->second.claim(a.packet, a.request);
        }
        std::ostringstream line;
        line << "packet " << a.packet << " user " << a.user << ": acknowledged "
             << (a.at - fault_at) / 1'000'000 << " ms after the fault as share "
             << a.reply.share_index << " (" << a.reply.amount << "), the retry ";
        if (!got) {
            line << "failed: " << redpacket::describe(got.error());
            lost.push_back(line.str());
        } else if (got->status != protocol::to_wire(ClaimStatus::already_claimed) ||
                   got->amount != a.reply.amount || got->share_index != a.reply.share_index) {
            line << "answered status " << got->status << " share " << got->share_index << " ("
                 << got->amount << ")";
            lost.push_back(line.str());
        }
    }
    return lost;
}

/// redpacket-audit over the keys under `prefix` (16 SETs): its exit status and report.
inline std::pair<int, std::string> audit_cluster(const TestCluster& cluster, const std::string& prefix) {
    return shell(std::string(REDPACKET_AUDIT_BINARY) + " --redis " + cluster.seeds() +
                 " --redis-prefix " + prefix + " --sets 16");
}

}  // namespace redpacket::testing
