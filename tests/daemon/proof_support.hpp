// Helpers of the daemon proof tests: packets played to the end over the protocol, their proofs
// as docs/fairness.md's JSON, both verifiers on them, and the admin API's proof. Needs
// REDPACKET_VERIFY_BINARY and REDPACKET_VERIFY_PY.
#pragma once

#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <unistd.h>
#include <utility>
#include <vector>

#include "daemon_process.hpp"
#include "redpacket/proof.hpp"
#include "test_support.hpp"

namespace redpacketd::testing::proofs {

namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::eventually;
using redpacketd::testing::get_json;
using redpacketd::testing::http_request;
using redpacketd::testing::must;
using redpacketd::testing::run_command;
using namespace std::chrono_literals;

struct Claimed {
    std::uint32_t index;
    std::uint64_t amount;
};

/// A packet created by user 1 and claimed to the end by users 100…; the claims as answered.
struct Played {
    std::uint64_t packet{0};
    std::vector<Claimed> claims;
};

inline BlockingClient logged_in(std::uint16_t port, std::uint32_t user) {
    BlockingClient c(port);
    REQUIRE(must(c.login(user)).result == protocol::kResultOk);
    return c;
}

inline Played create(BlockingClient& creator, redpacket::SplitPolicy policy, std::uint32_t count,
              std::uint64_t total) {
    Played p;
    p.packet = must(creator.create(protocol::CreatePacket{
                        0, total, count, protocol::to_wire(policy), 600}))
                   .packet;
    return p;
}

inline void claim_all(std::uint16_t port, Played& p, std::uint32_t count, std::uint32_t first_user) {
    for (std::uint32_t u = 0; u < count; ++u) {
        BlockingClient c = logged_in(port, first_user + u);
        const auto r = must(c.claim(p.packet, 1));
        REQUIRE(r.status == protocol::to_wire(ClaimStatus::claimed));
        p.claims.push_back({r.share_index, r.amount});
    }
}

/// The proof as docs/fairness.md's JSON, with the claims as the daemon answered them.
inline nlohmann::json proof_json(BlockingClient& c, const Played& p) {
    const auto q = must(c.query(p.packet, 7));
    const auto commit = must(c.proof(p.packet, protocol::kProofCommitment, 8));
    const auto seed = must(c.proof(p.packet, protocol::kProofSeed, 9));
    REQUIRE(commit.status == protocol::kProofOk);
    REQUIRE(seed.status == protocol::kProofOk);
    nlohmann::json j{{"packet", p.packet},
                     {"policy", std::string(redpacket::to_string(
                                    static_cast<redpacket::SplitPolicy>(commit.policy)))},
                     {"total", q.total},
                     {"count", q.count},
                     {"min_share", commit.min_share},
                     {"commitment", redpacket::to_hex(commit.value)},
                     {"seed", redpacket::to_hex(seed.value)},
                     {"claims", nlohmann::json::array()}};
    std::vector<std::uint64_t> shares(p.claims.size());
    for (const Claimed& k : p.claims) {
        j["claims"].push_back({{"index", k.index}, {"amount", k.amount}});
        shares.at(k.index) = k.amount;
    }
    j["shares"] = shares;
    return j;
}

/// Both verifiers on `proof`: their exit statuses and outputs.
struct Verdicts {
    std::pair<int, std::string> cpp;
    std::pair<int, std::string> python;
};

inline Verdicts verify(const nlohmann::json& proof, const std::string& name) {
    const std::string file =
        (std::filesystem::temp_directory_path() /
         ("redpacket-proof-" + name + "-" + std::to_string(::getpid()) + ".json"))
            .string();  // the process's own: ctest -j runs other tests' verifies at once
    std::ofstream(file) << proof.dump();
    Verdicts v{run_command(std::string(REDPACKET_VERIFY_BINARY) + " packet " + file),
               run_command("python3 " + std::string(REDPACKET_VERIFY_PY) + " " + file)};
    std::filesystem::remove(file);
    return v;
}

/// GET /packets/<id>/proof on the admin API: the status and the body (JSON when 200).
inline std::pair<int, nlohmann::json> admin_proof(const DaemonProcess& d, std::uint64_t packet) {
    const auto r = http_request(d.admin_port(), "GET",
                                "/packets/" + std::to_string(packet) + "/proof");
    return {r.status, nlohmann::json::parse(r.body, nullptr, false)};
}

}  // namespace redpacketd::testing::proofs
