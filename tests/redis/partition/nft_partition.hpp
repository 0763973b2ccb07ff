// Network partitions on loopback for the partition tests: nftables rules, in a table of their
// own, that drop the TCP packets to or from the test cluster's ports between two sets of
// 127.0.0.x addresses (both ways) and nothing else (another build's cluster on the same
// addresses has other ports). The table is deleted on heal, in the destructor (a failed REQUIRE
// unwinds through it) and by the test cluster's ctest cleanup (a test killed by its timeout).
#pragma once

#include <string>
#include <vector>

#include "cluster_support.hpp"

namespace redpacket::testing {

class NftPartition {
public:
    /// Rules go in table `inet <table>` and match TCP ports in `ports` (an nft set body, such as
    /// "7100-7108, 17100-17108"); a table left by an earlier run is deleted first.
    NftPartition(std::string table, std::string ports)
        : table_{std::move(table)}, ports_{std::move(ports)} {
        heal();
    }
    ~NftPartition() { heal(); }
    NftPartition(const NftPartition&) = delete;
    NftPartition& operator=(const NftPartition&) = delete;

    /// Empty if rules can be set here; otherwise why not (no nft, no CAP_NET_ADMIN, ...).
    [[nodiscard]] std::string unavailable() {
        const auto [rc, out] = shell("nft add table inet " + table_);
        heal();
        return rc == 0 ? std::string{} : "nft add table: " + out;
    }

    /// Drops the cluster's TCP traffic from an address of `a` to one of `b` and back. Each must be
    /// a 127.0.0.x other than 127.0.0.1 (the tests' own traffic stays untouched). True if the
    /// rules are in place.
    bool cut(const std::vector<std::string>& a, const std::vector<std::string>& b) {
        for (const auto& side : {a, b}) {
            for (const std::string& host : side) {
                if (host.rfind("127.0.0.", 0) != 0 || host == "127.0.0.1") {
                    return false;
                }
            }
        }
        const auto set = [](const std::vector<std::string>& hosts) {
            std::string out = "{ ";
            for (std::size_t i = 0; i < hosts.size(); ++i) {
                out += (i ? ", " : "") + hosts[i];
            }
            return out + " }";
        };
        // Each direction twice: to a cluster port (a request) and from one (its answer).
        std::string script = "nft add table inet " + table_ + " && nft add chain inet " + table_ +
                             " out '{ type filter hook output priority 0; policy accept; }'";
        for (const auto& [from, to] : {std::pair{set(a), set(b)}, std::pair{set(b), set(a)}}) {
            for (const char* port : {"dport", "sport"}) {
                script += " && nft add rule inet " + table_ + " out ip saddr '" + from +
                          "' ip daddr '" + to + "' tcp " + port + " '{ " + ports_ + " }' drop";
            }
        }
        return shell(script).first == 0;
    }

    /// Removes every rule of the table (idempotent).
    void heal() { (void)shell("nft delete table inet " + table_ + " 2>/dev/null"); }

private:
    std::string table_;
    std::string ports_;
};

}  // namespace redpacket::testing
