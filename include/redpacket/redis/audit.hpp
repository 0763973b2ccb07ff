// Audit of a RedisStore's state: every money rule checked against what one SET's keys hold.
//
// Per packet: its shares add up to its total, each at least one cent; claims fill shares 0..n-1
// in order, one share per user, each claimer one the packet is restricted to (if it is); a
// refunded packet's refund is exactly its unclaimed shares and it is marked refunded where
// claims look (a claim after the refund would show as money counted twice). Per SET: the
// counters' created - claimed - refunded equals the unclaimed shares of the packets not refunded
// (the counters are checked against the packets, not against each other), and the shake
// counters' offered - issued - expired equals what the supply list holds. `audit_cluster` reads
// every SET through a ClusterClient (HGETALL of each hash and the supply, on the loop you run)
// and reports all violations.
//
// Pure functions over the dumped hashes, plus one driver; thread-safety: the client's loop.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "redpacket/redis/cluster_client.hpp"

namespace redpacket::redis {

/// One SET's hashes as the audit reads them (field -> value; keys as in lib/redis/keys.hpp)
/// and its shake supply (entries "id:amount:expires").
struct SetDump {
    std::uint32_t set{0};
    std::map<std::string, std::string> p, sh, cl, al, rf, tot;
    std::vector<std::string> sq;
};

struct AuditViolation {
    std::uint32_t set{0};
    std::string packet;  ///< empty for a SET-wide rule
    std::string what;
};

struct ClusterAuditReport {
    std::uint64_t sets{0};
    std::uint64_t packets{0};
    std::uint64_t claims{0};
    std::int64_t created{0}, claimed{0}, refunded{0}, outstanding{0};
    std::vector<AuditViolation> violations;
};

/// Checks one SET; adds to `report`.
void audit_set(const SetDump& dump, ClusterAuditReport& report);

/// Reads SETs 0..sets-1 under `prefix` and audits them; `done` gets the report, or what made
/// the cluster unreadable.
void audit_cluster(ClusterClient& client, const std::string& prefix, std::uint32_t sets,
                   std::function<void(std::expected<ClusterAuditReport, std::string>)> done);

}  // namespace redpacket::redis
