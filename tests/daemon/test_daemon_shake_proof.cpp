// Shake-campaign packets are provable through a live daemon: a winner holding only the shake
// response (compact id, amount) fetches the proof over the wire and from the admin API, both
// verifiers accept it, at once and after a kill -9 and a restart (the proof archive), and
// without a journal from memory until the deadline plus the retention.
#include "proof_support.hpp"

#if defined(REDPACKET_VERIFY_BINARY) && defined(REDPACKET_VERIFY_PY)

using namespace redpacketd::testing::proofs;
using redpacketd::testing::shake_until_hit;

namespace {

/// The proof of a shake packet won by a holder of (compact id, amount): the query names the full
/// id; the packet is one share, and it must be the holder's.
nlohmann::json shake_proof(BlockingClient& asker, std::uint32_t compact, std::uint32_t amount) {
    const auto q = must(asker.query(compact, 3));
    CHECK((q.packet & 0xFFFFFFFFULL) == compact);
    CHECK(q.total == amount);
    CHECK(q.count == 1);
    CHECK(q.claimed_count == 1);
    Played p{q.packet, {Claimed{0, amount}}};
    const nlohmann::json proof = proof_json(asker, p);
    CHECK(proof["policy"] == "fixed");
    CHECK(proof["min_share"] == 1);
    return proof;
}

void check_valid(const DaemonProcess& d, BlockingClient& asker, std::uint32_t compact,
                 std::uint32_t amount) {
    INFO("shake packet, compact id " << compact << ", amount " << amount);
    const nlohmann::json proof = shake_proof(asker, compact, amount);
    const Verdicts v = verify(proof, "shake");
    INFO(proof.dump() << "\nC++: " << v.cpp.second << "Python: " << v.python.second);
    CHECK(v.cpp == std::pair<int, std::string>{0, "valid\n"});
    CHECK(v.python == std::pair<int, std::string>{0, "valid\n"});
    // Another amount is not what the commitment says.
    nlohmann::json lie = proof;
    lie["claims"][0]["amount"] = amount + 1;
    lie["shares"][0] = amount + 1;
    CHECK(verify(lie, "shake-lie").cpp.first == 1);
    for (const std::uint64_t id : {std::uint64_t{compact}, proof["packet"].get<std::uint64_t>()}) {
        const auto [status, served] = admin_proof(d, id);
        REQUIRE(status == 200);
        CHECK(served["packet"] == proof["packet"]);
        CHECK(served["seed"] == proof["seed"]);
        CHECK(verify(served, "shake-served").cpp == std::pair<int, std::string>{0, "valid\n"});
    }
    const auto [status, out] = run_command(
        std::string(REDPACKET_VERIFY_BINARY) + " fetch --port " + std::to_string(d.port()) +
        " --packet " + std::to_string(compact) + " --index 0 --amount " + std::to_string(amount));
    CHECK(status == 0);
    CHECK(out == "valid\n");
}

}  // namespace

TEST_CASE("shake-campaign packets are provable by the compact id a shake returns, at once and "
          "after a kill -9 and a restart",
          "[proof][integration][verifiable][archive]") {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("redpacket-proof-shake-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    const std::vector<std::string> args = {
        "--workers", "2", "--sets", "4", "--journal-dir", dir.string(), "--journal-fsync", "batch",
        "--shake-enabled", "true", "--shake-rate", "200", "--shake-min-amount", "5",
        "--shake-max-amount", "500"};
    std::vector<std::pair<std::uint32_t, std::uint32_t>> won;  // compact id, amount
    {
        DaemonProcess d(args);
        for (std::uint32_t user = 1; user <= 4; ++user) {  // users of different SETs
            BlockingClient c = logged_in(d.port(), user);
            const auto hit = shake_until_hit(c, user, 5s);
            REQUIRE(hit);
            won.emplace_back(hit->packet, hit->amount);
        }
        BlockingClient asker = logged_in(d.port(), 50);
        for (const auto& [compact, amount] : won) {
            check_valid(d, asker, compact, amount);
        }
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }
    DaemonProcess d(args);
    BlockingClient asker = logged_in(d.port(), 50);
    for (const auto& [compact, amount] : won) {
        check_valid(d, asker, compact, amount);
    }
    CHECK(get_json(d.admin_port(), "/stats")["journal"]["proof_archive"]["errors"] == 0);
    d.stop();
    std::filesystem::remove_all(dir);
}

TEST_CASE("without a journal (no archive) a shake-campaign packet is provable by its compact id "
          "from memory",
          "[proof][integration][verifiable]") {
    DaemonProcess d({"--workers", "2", "--sets", "4", "--shake-enabled", "true", "--shake-rate",
                     "200", "--shake-min-amount", "5", "--shake-max-amount", "500"});
    BlockingClient asker = logged_in(d.port(), 50);
    for (std::uint32_t user = 1; user <= 2; ++user) {
        BlockingClient c = logged_in(d.port(), user);
        const auto hit = shake_until_hit(c, user, 5s);
        REQUIRE(hit);
        check_valid(d, asker, hit->packet, hit->amount);
    }
    const auto archive = get_json(d.admin_port(), "/stats")["journal"]["proof_archive"];
    CHECK(archive["enabled"] == false);
    CHECK(archive["shakes_in_memory"].get<std::uint64_t>() >= 2);
    CHECK(archive["shakes_forgotten_early"] == 0);
    d.stop();
}

#endif
