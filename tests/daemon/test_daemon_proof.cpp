// Verifiable splits through a live daemon: packets of every policy claimed to the end over the
// protocol, their proofs fetched, and both verifiers — redpacket-verify (C++) and
// tools/verify_split.py (written from docs/fairness.md alone) — agreeing on them; a daemon whose
// store rearranges shares (test-only fault) caught by both at the swapped position; the seed
// withheld until a packet is finished; the commitment unchanged across a kill -9 and a restart.
#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon_process.hpp"
#include "redpacket/proof.hpp"
#include "test_support.hpp"

#if defined(REDPACKET_VERIFY_BINARY) && defined(REDPACKET_VERIFY_PY)

namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;
using redpacketd::testing::BlockingClient;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::http_request;
using redpacketd::testing::must;
using redpacketd::testing::run_command;
using namespace std::chrono_literals;

namespace {

struct Claimed {
    std::uint32_t index;
    std::uint64_t amount;
};

/// A packet created by user 1 and claimed to the end by users 100…; the claims as answered.
struct Played {
    std::uint64_t packet{0};
    std::vector<Claimed> claims;
};

BlockingClient logged_in(std::uint16_t port, std::uint32_t user) {
    BlockingClient c(port);
    REQUIRE(must(c.login(user)).result == protocol::kResultOk);
    return c;
}

Played create(BlockingClient& creator, redpacket::SplitPolicy policy, std::uint32_t count,
              std::uint64_t total) {
    Played p;
    p.packet = must(creator.create(protocol::CreatePacket{
                        0, total, count, protocol::to_wire(policy), 600}))
                   .packet;
    return p;
}

void claim_all(std::uint16_t port, Played& p, std::uint32_t count, std::uint32_t first_user) {
    for (std::uint32_t u = 0; u < count; ++u) {
        BlockingClient c = logged_in(port, first_user + u);
        const auto r = must(c.claim(p.packet, 1));
        REQUIRE(r.status == protocol::to_wire(ClaimStatus::claimed));
        p.claims.push_back({r.share_index, r.amount});
    }
}

/// The proof as docs/fairness.md's JSON, with the claims as the daemon answered them.
nlohmann::json proof_json(BlockingClient& c, const Played& p) {
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

Verdicts verify(const nlohmann::json& proof, const std::string& name) {
    const std::string file =
        (std::filesystem::temp_directory_path() / ("redpacket-proof-" + name + ".json")).string();
    std::ofstream(file) << proof.dump();
    Verdicts v{run_command(std::string(REDPACKET_VERIFY_BINARY) + " packet " + file),
               run_command("python3 " + std::string(REDPACKET_VERIFY_PY) + " " + file)};
    std::filesystem::remove(file);
    return v;
}

/// GET /packets/<id>/proof on the admin API: the status and the body (JSON when 200).
std::pair<int, nlohmann::json> admin_proof(const DaemonProcess& d, std::uint64_t packet) {
    const auto r = http_request(d.admin_port(), "GET",
                                "/packets/" + std::to_string(packet) + "/proof");
    return {r.status, nlohmann::json::parse(r.body, nullptr, false)};
}

}  // namespace

TEST_CASE("verifiable splits: every policy claimed to the end through a daemon, both verifiers "
          "accept its proofs",
          "[proof][integration][verifiable]") {
    DaemonProcess d({"--workers", "2", "--sets", "4"});
    BlockingClient creator = logged_in(d.port(), 1);
    std::uint32_t next_user = 100;
    for (const auto& [policy, count] :
         {std::pair{redpacket::SplitPolicy::double_mean, 12U},
          std::pair{redpacket::SplitPolicy::line_cut, 12U},
          std::pair{redpacket::SplitPolicy::equal, 7U}, std::pair{redpacket::SplitPolicy::fixed, 1U}}) {
        INFO(redpacket::to_string(policy));
        Played p = create(creator, policy, count, 10'003);
        // Before the packet is finished: the commitment, never the seed.
        const auto early = must(creator.proof(p.packet, protocol::kProofCommitment, 2));
        CHECK(early.status == protocol::kProofOk);
        if (count > 1) {
            claim_all(d.port(), p, count - 1, next_user);
            const auto withheld = must(creator.proof(p.packet, protocol::kProofSeed, 3));
            CHECK(withheld.status == protocol::kProofWithheld);
            CHECK(withheld.value == std::array<std::uint8_t, 32>{});
            const auto [status, body] = admin_proof(d, p.packet);  // the admin API withholds it too
            CHECK(status == 409);
            CHECK_THAT(body.value("error", ""), Catch::Contains("withheld") &&
                                                    Catch::Contains(redpacket::to_hex(early.value)));
            Played last{p.packet, {}};
            claim_all(d.port(), last, 1, next_user + count);
            p.claims.push_back(last.claims.front());
        } else {
            claim_all(d.port(), p, 1, next_user);
        }
        next_user += 1000;
        const nlohmann::json proof = proof_json(creator, p);
        CHECK(proof["commitment"] == redpacket::to_hex(early.value));
        const Verdicts v = verify(proof, std::string(redpacket::to_string(policy)));
        INFO(proof.dump() << "\nC++: " << v.cpp.second << "Python: " << v.python.second);
        CHECK(v.cpp == std::pair<int, std::string>{0, "valid\n"});
        CHECK(v.python == std::pair<int, std::string>{0, "valid\n"});
        // The admin API's proof: the same commitment, seed and shares, each claim's user, and
        // both verifiers accept it as served.
        const auto [status, served] = admin_proof(d, p.packet);
        REQUIRE(status == 200);
        CHECK(served["commitment"] == proof["commitment"]);
        CHECK(served["seed"] == proof["seed"]);
        CHECK(served["shares"] == proof["shares"]);
        REQUIRE(served["claims"].size() == count);
        for (const auto& claim : served["claims"]) {
            CHECK(claim["user"].get<std::uint64_t>() >= next_user - 1000);
            CHECK(claim["amount"] == proof["shares"][claim["index"].get<std::size_t>()]);
        }
        const Verdicts a = verify(served, "served");
        INFO("served: " << served.dump() << "\nC++: " << a.cpp.second << "Python: " << a.python.second);
        CHECK(a.cpp == std::pair<int, std::string>{0, "valid\n"});
        CHECK(a.python == std::pair<int, std::string>{0, "valid\n"});
        // A claim reported with another amount: both name its position.
        nlohmann::json lied = proof;
        lied.erase("shares");
        lied["claims"][0]["amount"] = p.claims[0].amount + 1;
        const Verdicts w = verify(lied, "lied");
        const std::string where = "share " + std::to_string(p.claims[0].index) + " is";
        CHECK(w.cpp.first == 1);
        CHECK(w.cpp.second.find(where) != std::string::npos);
        CHECK(w.python.first == 1);
        CHECK(w.python.second.find(where) != std::string::npos);
    }
    // The C++ verifier also checks one claim straight from the daemon.
    Played p = create(creator, redpacket::SplitPolicy::line_cut, 3, 999);
    claim_all(d.port(), p, 3, 50'000);
    const auto [status, out] = run_command(
        std::string(REDPACKET_VERIFY_BINARY) + " fetch --port " + std::to_string(d.port()) +
        " --packet " + std::to_string(p.packet) + " --index " +
        std::to_string(p.claims[1].index) + " --amount " + std::to_string(p.claims[1].amount));
    CHECK(status == 0);
    CHECK(out == "valid\n");
}

TEST_CASE("verifiable splits: a daemon whose store swaps shares is caught by both verifiers at "
          "the swapped position",
          "[proof][integration][verifiable]") {
    ::setenv("REDPACKETD_TEST_FAULT_SWAP_SHARES", "1", 1);
    DaemonProcess d({"--workers", "1", "--sets", "2"});
    ::unsetenv("REDPACKETD_TEST_FAULT_SWAP_SHARES");
    BlockingClient creator = logged_in(d.port(), 1);
    Played p = create(creator, redpacket::SplitPolicy::line_cut, 6, 100'000);
    claim_all(d.port(), p, 6, 100);
    const Verdicts v = verify(proof_json(creator, p), "swapped");
    INFO("C++: " << v.cpp.second << "Python: " << v.python.second);
    CHECK(v.cpp.first == 1);
    CHECK(v.cpp.second.rfind("invalid: share 0 is", 0) == 0);
    CHECK(v.python.first == 1);
    CHECK(v.python.second.rfind("invalid: share 0 is", 0) == 0);
    // The admin API serves the store's shares as handed out: the swap shows there too.
    const auto [status, served] = admin_proof(d, p.packet);
    REQUIRE(status == 200);
    const Verdicts a = verify(served, "swapped-served");
    INFO("served C++: " << a.cpp.second << "Python: " << a.python.second);
    CHECK(a.cpp.second.rfind("invalid: share 0 is", 0) == 0);
    CHECK(a.python.second.rfind("invalid: share 0 is", 0) == 0);
}

TEST_CASE("verifiable splits: the commitment survives a kill -9 and a restart on the journal",
          "[proof][integration][verifiable]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("redpacket-proof-journal-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const std::vector<std::string> args = {"--workers", "2", "--sets", "4", "--journal-dir",
                                           dir.string(), "--journal-fsync", "batch"};
    std::uint64_t packet = 0;
    std::array<std::uint8_t, 32> before{};
    {
        DaemonProcess d(args);
        BlockingClient creator = logged_in(d.port(), 1);
        Played p = create(creator, redpacket::SplitPolicy::double_mean, 5, 5'000);
        packet = p.packet;
        claim_all(d.port(), p, 2, 100);  // acknowledged, hence durable
        before = must(creator.proof(packet, protocol::kProofCommitment, 2)).value;
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }
    DaemonProcess d(args);
    BlockingClient c = logged_in(d.port(), 1);
    const auto after = must(c.proof(packet, protocol::kProofCommitment, 2));
    CHECK(after.status == protocol::kProofOk);
    CHECK(after.value == before);
    CHECK(must(c.proof(packet, protocol::kProofSeed, 3)).status == protocol::kProofWithheld);
    Played rest{packet, {}};
    claim_all(d.port(), rest, 3, 200);
    // The restored packet's seed gives the shares handed out before and after the crash.
    const auto seed = must(c.proof(packet, protocol::kProofSeed, 4));
    REQUIRE(seed.status == protocol::kProofOk);
    const redpacket::SplitTerms terms{redpacket::PacketId{packet}, redpacket::Cents{5'000}, 5,
                                      redpacket::SplitPolicy::double_mean,
                                      redpacket::Cents{seed.min_share}};
    CHECK(redpacket::commitment(terms, seed.value) == before);
    for (const Claimed& k : rest.claims) {
        CHECK(redpacket::verify_claim(terms, before, seed.value, k.index,
                                      redpacket::Cents{static_cast<std::int64_t>(k.amount)})
                  .ok);
    }
    d.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("proof requests: unknown packets, bad parts and garbage proofs get clear errors",
          "[proof][integration]") {
    DaemonProcess d({"--workers", "1", "--sets", "2"});
    BlockingClient c = logged_in(d.port(), 1);
    const auto unknown = c.proof(0x00DEAD0000000001ULL, protocol::kProofCommitment, 5);
    REQUIRE_FALSE(unknown.has_value());
    CHECK(unknown.error().code == protocol::ErrorCode::not_found);
    const auto bad_part = c.proof(1, 7, 6);
    REQUIRE_FALSE(bad_part.has_value());
    CHECK(bad_part.error().code == protocol::ErrorCode::malformed_frame);
    CHECK(must(c.heartbeat(9)).nonce == 9);  // the connection is still served
    const auto [status, body] = admin_proof(d, 0x00DEAD0000000001ULL);
    CHECK(status == 404);
    CHECK(body.value("error", "") == "no packet 62677660341370881");
    CHECK(http_request(d.admin_port(), "GET", "/packets/x/proof").status == 400);
    const auto stats = redpacketd::testing::get_json(d.admin_port(), "/stats");
    CHECK(stats["admin_proof_reads"]["asked"] == 1);  // the bad id never reached a worker
    CHECK(stats["admin_proof_reads"]["timed_out"] == 0);

    const auto dir = std::filesystem::temp_directory_path();
    for (const auto& [name, text] :
         {std::pair{"notjson", std::string("{not json")},
          std::pair{"array", std::string("[1,2]")},
          std::pair{"nofields", std::string("{}")},
          std::pair{"badhex", std::string(R"({"packet":1,"policy":"equal","total":10,"count":2,)"
                                          R"("commitment":"zz","seed":"00"})")},
          std::pair{"badpolicy", std::string(R"({"packet":1,"policy":"lucky","total":10,)"
                                             R"("count":2,"commitment":"00","seed":"00"})")}}) {
        const std::string file = (dir / ("redpacket-proof-bad-" + std::string(name))).string();
        std::ofstream(file) << text;
        const auto cpp = run_command(std::string(REDPACKET_VERIFY_BINARY) + " packet " + file);
        const auto py = run_command("python3 " + std::string(REDPACKET_VERIFY_PY) + " " + file);
        std::filesystem::remove(file);
        INFO(name << "\nC++: " << cpp.second << "Python: " << py.second);
        CHECK(cpp.first == 2);
        CHECK(py.first == 2);
        CHECK(cpp.second.find("redpacket-verify: ") == 0);
        CHECK(py.second.find("Traceback") == std::string::npos);
    }
}

#endif
