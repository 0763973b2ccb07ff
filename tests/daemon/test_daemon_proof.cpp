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
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "proof_support.hpp"

#if defined(REDPACKET_VERIFY_BINARY) && defined(REDPACKET_VERIFY_PY)

using namespace redpacketd::testing::proofs;

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

namespace {
// docs/fairness.md §7's first vector without its packet id (and the opening brace).
constexpr const char* kVector1 =
    R"("policy":"double_mean","total":1000,"count":5,"min_share":1,"seed":)"
    R"("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","commitment":)"
    R"("1b4e5ee7a0115db3e8ee435042dc9ec91917a3e8c9c05e73edcbc4dc288f66dc"})";
}  // namespace

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
                                             R"("count":2,"commitment":"00","seed":"00"})")},
          // The first test vector, valid but for a key given twice or one unknown.
          std::pair{"twice", std::string(R"({"packet":4294967297,"packet":4294967297,)") + kVector1},
          std::pair{"unknown", std::string(R"({"packet":4294967297,"note":1,)") + kVector1}}) {
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
    // The same vector with its packet once and its hex in upper case: valid for both.
    const std::string upper =
        R"({"packet":4294967297,"policy":"double_mean","total":1000,"count":5,"min_share":1,)"
        R"("seed":"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",)"
        R"("commitment":"1B4E5EE7A0115DB3E8EE435042DC9EC91917A3E8C9C05E73EDCBC4DC288F66DC"})";
    const std::string file = (dir / "redpacket-proof-upper").string();
    std::ofstream(file) << upper;
    const auto cpp = run_command(std::string(REDPACKET_VERIFY_BINARY) + " packet " + file);
    const auto py = run_command("python3 " + std::string(REDPACKET_VERIFY_PY) + " " + file);
    std::filesystem::remove(file);
    INFO(upper << "\nC++: " << cpp.second << "Python: " << py.second);
    CHECK(cpp.first == 0);
    CHECK(py.first == 0);
}

TEST_CASE("send-campaign packets are provable: a grabber resolves its compact id with a query, "
          "learns its share index by claiming again, and both verifiers accept the proof, also "
          "after a kill -9 and a restart",
          "[proof][integration][verifiable]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("redpacket-proof-send-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    constexpr int kPackets = 3;
    const std::vector<std::string> args = {
        "--workers", "2", "--sets", "4", "--journal-dir", dir.string(), "--journal-fsync",
        "batch", "--send-enabled", "true", "--send-shares", "3", "--send-rate", "20",
        "--send-total", std::to_string(kPackets), "--send-min-total", "10", "--send-max-total",
        "500"};
    // Per packet's compact id: each recipient's grab, then what an extended claim told it.
    std::map<std::uint32_t, std::map<std::uint32_t, Claimed>> grabbed;
    std::map<std::uint32_t, std::uint64_t> full_id;
    {
        DaemonProcess d(args);
        std::map<std::uint32_t, BlockingClient> clients;
        for (std::uint32_t user = 1; user <= 12; ++user) {
            clients.emplace(user, logged_in(d.port(), user));
        }
        REQUIRE(eventually([&] { return get_json(d.admin_port(), "/campaigns")["send"]["sent"] == kPackets; },
                           5s));
        for (auto& [user, c] : clients) {
            (void)c.drain(50ms);
            for (const protocol::PacketNotice& n : c.notices()) {
                const protocol::GrabResponse g = must(c.grab(n.packet));
                REQUIRE(g.amount > 0);
                // The compact id resolves to the full id; claiming again names the share.
                const auto q = must(c.query(n.packet, 5));
                CHECK((q.packet & 0xFFFFFFFFULL) == n.packet);
                CHECK(q.count == n.share_count);
                CHECK(q.total == n.amount);
                const auto again = must(c.claim(q.packet, 6));
                CHECK(again.status == protocol::to_wire(ClaimStatus::already_claimed));
                CHECK(again.amount == g.amount);
                grabbed[n.packet][user] = Claimed{again.share_index, again.amount};
                full_id[n.packet] = q.packet;
            }
            c.notices().clear();
        }
        REQUIRE(grabbed.size() == kPackets);
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }
    DaemonProcess d(args);
    BlockingClient asker = logged_in(d.port(), 50);
    for (const auto& [compact, by_user] : grabbed) {
        INFO("packet " << full_id[compact] << " (compact " << compact << ")");
        Played p{full_id[compact], {}};
        for (const auto& [user, claimed] : by_user) {
            p.claims.push_back(claimed);
        }
        const nlohmann::json proof = proof_json(asker, p);
        REQUIRE(proof["count"] == by_user.size());  // every share was grabbed: finished
        const Verdicts v = verify(proof, "send");
        INFO(proof.dump() << "\nC++: " << v.cpp.second << "Python: " << v.python.second);
        CHECK(v.cpp == std::pair<int, std::string>{0, "valid\n"});
        CHECK(v.python == std::pair<int, std::string>{0, "valid\n"});
        // The admin API under either id serves the same proof, naming the full id.
        for (const std::uint64_t id : {std::uint64_t{compact}, full_id[compact]}) {
            const auto [status, served] = admin_proof(d, id);
            REQUIRE(status == 200);
            CHECK(served["packet"] == full_id[compact]);
            CHECK(served["seed"] == proof["seed"]);
            CHECK(verify(served, "send-served").cpp == std::pair<int, std::string>{0, "valid\n"});
        }
        // redpacket-verify fetch takes the compact id too.
        const Claimed& first = by_user.begin()->second;
        const auto [status, out] = run_command(
            std::string(REDPACKET_VERIFY_BINARY) + " fetch --port " + std::to_string(d.port()) +
            " --packet " + std::to_string(compact) + " --index " + std::to_string(first.index) +
            " --amount " + std::to_string(first.amount));
        CHECK(status == 0);
        CHECK(out == "valid\n");
    }
    d.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("redpacket-verify fetch logs in with the daemon's auth secret, and says why when it "
          "cannot",
          "[proof][integration]") {
    const std::string secret = "fetch-secret-of-this-test";
    const auto path = [](const char* name) {
        return (std::filesystem::temp_directory_path() /
                ("redpacket-verify-" + std::to_string(::getpid()) + "-" + name))
            .string();
    };
    const auto write = [](const std::string& file, const std::string& text, mode_t mode) {
        std::ofstream(file) << text;
        REQUIRE(::chmod(file.c_str(), mode) == 0);
    };
    const std::string good = path("good"), wrong = path("wrong"), readable = path("readable");
    write(good, secret + "\n", 0600);
    write(wrong, "not-the-secret\n", 0600);
    write(readable, secret, 0644);
    DaemonProcess d({"--workers", "2", "--sets", "4", "--compat-mode", "false",
                     "--auth-secret-file", good});
    BlockingClient creator(d.port());
    redpacketd::testing::auth_login(creator, secret, 1);
    Played p = create(creator, redpacket::SplitPolicy::double_mean, 2, 500);
    for (std::uint32_t u = 0; u < 2; ++u) {
        BlockingClient c(d.port());
        redpacketd::testing::auth_login(c, secret, 100 + u);
        const auto r = must(c.claim(p.packet, 1));
        p.claims.push_back({r.share_index, r.amount});
    }
    const std::string fetch = std::string(REDPACKET_VERIFY_BINARY) + " fetch --port " +
                              std::to_string(d.port()) + " --packet " + std::to_string(p.packet) +
                              " --user 7 --index " + std::to_string(p.claims[1].index) +
                              " --amount " + std::to_string(p.claims[1].amount);
    CHECK(run_command(fetch + " --auth-secret-file " + good) == std::pair<int, std::string>{0, "valid\n"});
    CHECK(run_command("REDPACKETD_AUTH_SECRET=" + secret + " " + fetch) ==
          std::pair<int, std::string>{0, "valid\n"});
    // A lie about the amount is still caught through the authenticated login.
    const auto lied = run_command(std::string(REDPACKET_VERIFY_BINARY) + " fetch --port " +
                                  std::to_string(d.port()) + " --packet " +
                                  std::to_string(p.packet) + " --auth-secret-file " + good +
                                  " --index " + std::to_string(p.claims[1].index) + " --amount " +
                                  std::to_string(p.claims[1].amount + 1));
    CHECK(lied.first == 1);
    // Without a secret: the 2017 login, refused by this daemon, and a message saying so.
    const auto compat = run_command("env -u REDPACKETD_AUTH_SECRET " + fetch);
    CHECK(compat.first == 2);
    CHECK_THAT(compat.second, Catch::StartsWith("redpacket-verify: cannot connect and log in to 127.0.0.1:" +
                                                std::to_string(d.port()) + ": ") &&
                                  Catch::Contains("compat mode") && Catch::Contains("--auth-secret-file"));
    const auto refused = run_command(fetch + " --auth-secret-file " + wrong);
    CHECK(refused.first == 2);
    CHECK_THAT(refused.second, Catch::Contains("login refused") && Catch::Contains("auth_failed"));
    const auto loose = run_command(fetch + " --auth-secret-file " + readable);
    CHECK(loose.first == 2);
    CHECK_THAT(loose.second, Catch::Contains("has mode 0644") &&
                                 Catch::Contains("--allow-readable-secret-file"));
    CHECK(run_command(fetch + " --auth-secret-file " + readable + " --allow-readable-secret-file") ==
          std::pair<int, std::string>{0, "valid\n"});
    const auto missing = run_command(fetch + " --auth-secret-file " + path("missing"));
    CHECK(missing.first == 2);
    CHECK_THAT(missing.second, Catch::Contains("cannot read"));
    // A daemon that is not there: the address and the reason.
    d.stop();
    const auto gone = run_command(fetch + " --auth-secret-file " + good);
    CHECK(gone.first == 2);
    CHECK_THAT(gone.second, Catch::Contains("127.0.0.1:" + std::to_string(d.port())) &&
                                Catch::Contains("connect failed"));
    for (const std::string& f : {good, wrong, readable}) {
        std::filesystem::remove(f);
    }
}

namespace {

/// Every packet of `played` answers its query as expired, and its proof — over the wire and from
/// the admin API — satisfies both verifiers.
void check_archived(const DaemonProcess& d, const std::vector<Played>& played) {
    BlockingClient asker = logged_in(d.port(), 50);
    for (const Played& p : played) {
        INFO("packet " << p.packet);
        const auto q = must(asker.query(p.packet, 4));
        CHECK(q.state == 2);  // expired
        CHECK(q.remaining == 0);
        CHECK(q.claimed_count == p.claims.size());
        const Verdicts v = verify(proof_json(asker, p), "archived");
        INFO("C++: " << v.cpp.second << "Python: " << v.python.second);
        CHECK(v.cpp == std::pair<int, std::string>{0, "valid\n"});
        CHECK(v.python == std::pair<int, std::string>{0, "valid\n"});
        const auto [status, served] = admin_proof(d, p.packet);
        REQUIRE(status == 200);
        CHECK(served["claims"].size() == p.claims.size());
        CHECK(verify(served, "archived-served").cpp == std::pair<int, std::string>{0, "valid\n"});
    }
    const auto stats = get_json(d.admin_port(), "/stats")["journal"]["proof_archive"];
    CHECK(stats["hits"] >= 2 * played.size());
    CHECK(stats["errors"] == 0);
}

}  // namespace

TEST_CASE("the proof archive serves extended and send-campaign packets after they left memory, "
          "also after a kill -9 and a restart",
          "[proof][integration][verifiable][archive]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("redpacket-proof-archive-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const std::vector<std::string> args = {
        "--workers", "2", "--sets", "4", "--journal-dir", dir.string(), "--journal-fsync",
        "batch", "--retention-seconds", "0", "--send-enabled", "true", "--send-shares", "3",
        "--send-rate", "20", "--send-total", "1", "--send-min-total", "10", "--send-max-total",
        "500", "--send-ttl-seconds", "1"};
    std::vector<Played> played;  // an extended packet and the send campaign's, as claimed
    {
        DaemonProcess d(args);
        std::map<std::uint32_t, BlockingClient> clients;
        for (std::uint32_t user = 1; user <= 12; ++user) {
            clients.emplace(user, logged_in(d.port(), user));
        }
        Played extended{must(clients.at(1).create(protocol::CreatePacket{0, 1'000, 4, 1, 1})).packet, {}};
        for (std::uint32_t user = 2; user <= 4; ++user) {  // 3 of 4 shares: the rest is refunded
            const auto r = must(clients.at(user).claim(extended.packet, 1));
            extended.claims.push_back({r.share_index, r.amount});
        }
        played.push_back(extended);
        REQUIRE(eventually([&] { return get_json(d.admin_port(), "/campaigns")["send"]["sent"] == 1; }, 5s));
        Played sent;
        for (auto& [user, c] : clients) {
            (void)c.drain(20ms);
            for (const protocol::PacketNotice& n : c.notices()) {
                const auto g = must(c.grab(n.packet));
                sent.packet = must(c.query(n.packet, 2)).packet;
                const auto again = must(c.claim(sent.packet, 3));
                CHECK(again.amount == g.amount);
                sent.claims.push_back({again.share_index, again.amount});
            }
            c.notices().clear();
        }
        REQUIRE_FALSE(sent.claims.empty());
        played.push_back(sent);
        // Past both deadlines (1 s) the packets are refunded, archived and retired at once.
        REQUIRE(eventually(
            [&] {
                const auto st = get_json(d.admin_port(), "/stats");
                return st["journal"]["proof_archive"]["archived"] >= 2 && st["packets_open"] == 0;
            },
            5s));
        check_archived(d, played);
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }
    DaemonProcess d(args);  // the archive, not the journal, holds them now
    CHECK(get_json(d.admin_port(), "/stats")["packets_open"] == 0);
    check_archived(d, played);
    const auto stats = get_json(d.admin_port(), "/stats")["journal"]["proof_archive"];
    CHECK(stats["hits"] >= 2 * played.size());
    CHECK(stats["errors"] == 0);
    d.stop();
    std::filesystem::remove_all(dir);
}

#endif
