// Crash recovery, short form: claims run against a journaling daemon, the daemon is killed
// with SIGKILL at a random moment, restarted on the same journal, and every claim it had
// acknowledged must come back with the same amount; at the end redpacket-audit must pass.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "redpacket/auth.hpp"
#include "daemon_process.hpp"
#include "redpacket/red_packet_pool.hpp"
#include "test_support.hpp"

namespace protocol = redpacket::protocol;
using redpacket::ClaimStatus;
using redpacketd::testing::as;
using redpacketd::testing::DaemonProcess;
using redpacketd::testing::expect;
using redpacketd::testing::must;
using redpacketd::testing::BlockingClient;
using namespace std::chrono_literals;

namespace {

constexpr const char* kSecret = "crash-secret";

void auth_login(BlockingClient& c, std::uint32_t user) {
    redpacketd::testing::auth_login(c, kSecret, user);
}

std::vector<std::string> daemon_args(const std::string& dir) {
    return {"--workers", "2", "--sets", "4", "--auth-secret", kSecret, "--journal-dir", dir,
            "--journal-fsync", "batch", "--snapshot-interval-s", "1",
            // A long group-commit window: a reply sent before its record is written would be
            // lost by the kill far more often than with the default 2 ms.
            "--journal-max-delay-us", "50000"};
}

struct Acked {
    std::uint64_t amount;
    std::uint32_t share_index;
};

}  // namespace

TEST_CASE("claims acknowledged before a kill -9 survive the restart with the same amounts",
          "[integration][crash]") {
    const std::filesystem::path dir = redpacketd::testing::fresh_temp_dir("crash");
    std::mt19937 rng{static_cast<std::uint32_t>(::getpid())};

    constexpr std::uint32_t kCreator = 1;
    constexpr std::uint32_t kClaimers = 24;    // users 100..123, on both workers
    constexpr std::uint32_t kPerCycle = 4;     // packets created per cycle
    std::vector<std::uint64_t> packets;
    std::map<std::pair<std::uint64_t, std::uint32_t>, Acked> acked;  // (packet, user)
    std::set<std::pair<std::uint64_t, std::uint32_t>> in_flight;  // sent, no answer seen
    std::uint64_t total_acked = 0;
    std::uint64_t lost = 0;
    std::uint64_t inconsistent = 0;

    // Short form here; bench/experiments/crash_cycles.sh runs the long form (20 cycles).
    std::uint32_t cycles = 3;
    if (const char* env = std::getenv("REDPACKET_CRASH_CYCLES"); env != nullptr) {
        cycles = static_cast<std::uint32_t>(std::clamp(std::atoi(env), 1, 1000));
    }
    for (std::uint32_t cycle = 0; cycle < cycles; ++cycle) {
        INFO("cycle " << cycle);
        DaemonProcess d(daemon_args(dir.string()), 10s);

        // Everything acknowledged before the crashes is still there: a retry with the same
        // request id answers already_claimed with the very same amount and share.
        {
            std::map<std::uint32_t, BlockingClient> clients;
            for (const auto& [key, a] : acked) {
                auto it = clients.find(key.second);
                if (it == clients.end()) {
                    it = clients.emplace(key.second, BlockingClient(d.port())).first;
                    auth_login(it->second, key.second);
                }
                const auto r = as<protocol::ClaimResponse>(
                    must(it->second.request(protocol::Claim{key.first * 1000 + key.second, key.first})));
                if (r.status != protocol::to_wire(ClaimStatus::already_claimed) ||
                    r.amount != a.amount || r.share_index != a.share_index) {
                    ++lost;
                }
            }
        }
        CHECK(lost == 0);

        // Claims that were in flight at the kill: a retry gets a consistent answer (claimed
        // now, or already claimed before the kill, or sold out), and a second retry the same.
        {
            std::map<std::uint32_t, BlockingClient> clients;
            for (const auto& key : in_flight) {
                auto it = clients.find(key.second);
                if (it == clients.end()) {
                    it = clients.emplace(key.second, BlockingClient(d.port())).first;
                    auth_login(it->second, key.second);
                }
                const std::uint64_t request = key.first * 1000 + key.second;
                const auto first = as<protocol::ClaimResponse>(must(it->second.request(protocol::Claim{request, key.first})));
                const auto again = as<protocol::ClaimResponse>(must(it->second.request(protocol::Claim{request, key.first})));
                const bool got = first.status == protocol::to_wire(ClaimStatus::claimed) ||
                                 first.status == protocol::to_wire(ClaimStatus::already_claimed);
                if (got) {
                    acked[key] = Acked{first.amount, first.share_index};
                    ++total_acked;
                    if (again.status != protocol::to_wire(ClaimStatus::already_claimed) ||
                        again.amount != first.amount || again.share_index != first.share_index) {
                        ++inconsistent;
                    }
                } else if (first.status != protocol::to_wire(ClaimStatus::sold_out) ||
                           again.status != first.status) {
                    ++inconsistent;
                }
            }
            in_flight.clear();
        }
        CHECK(inconsistent == 0);

        // Creates acknowledged before a kill are found again by their request ids.
        BlockingClient creator(d.port());
        auth_login(creator, kCreator);
        for (std::uint32_t earlier = 0; earlier < cycle; ++earlier) {
            for (std::uint32_t k = 0; k < kPerCycle; ++k) {
                const protocol::CreatePacket req{
                    earlier * 100 + k + 1, 10'000, kClaimers / 2,
                    protocol::to_wire(redpacket::SplitPolicy::double_mean), 3600};
                CHECK(as<protocol::CreateResponse>(must(creator.request(req))).packet ==
                      packets[earlier * kPerCycle + k]);
            }
        }

        // New packets for this cycle (idempotent creates: request id = cycle * 100 + k + 1).
        for (std::uint32_t k = 0; k < kPerCycle; ++k) {
            const protocol::CreatePacket req{cycle * 100 + k + 1, 10'000, kClaimers / 2,
                                             protocol::to_wire(redpacket::SplitPolicy::double_mean),
                                             3600};
            packets.push_back(as<protocol::CreateResponse>(must(creator.request(req))).packet);
        }
        // Claimers claim every packet of this cycle while the daemon is killed at random.
        std::mutex mutex;
        std::map<std::pair<std::uint64_t, std::uint32_t>, Acked> cycle_acked;
        std::set<std::pair<std::uint64_t, std::uint32_t>> cycle_in_flight;
        std::atomic<bool> stop{false};
        std::vector<std::thread> threads;
        for (std::uint32_t t = 0; t < 2; ++t) {
            threads.emplace_back([&, t] {
                try {
                    for (std::uint32_t u = t; u < kClaimers && !stop; u += 2) {
                        const std::uint32_t user = 100 + u;
                        BlockingClient c(d.port());
                        const std::uint64_t expiry =
                            static_cast<std::uint64_t>(std::time(nullptr)) + 3600;
                        (void)must(c.auth_login(user, expiry,
                                           redpacket::make_login_token(kSecret, user, expiry)));
                        for (std::size_t p = packets.size() - kPerCycle; p < packets.size(); ++p) {
                            {
                                const std::lock_guard lock(mutex);
                                cycle_in_flight.insert({packets[p], user});
                            }
                            const auto m = must(c.request(protocol::Claim{packets[p] * 1000 + user, packets[p]}));
                            {
                                const std::lock_guard lock(mutex);
                                cycle_in_flight.erase({packets[p], user});
                            }
                            const auto* r = std::get_if<protocol::ClaimResponse>(&m);
                            if (r != nullptr &&
                                (r->status == protocol::to_wire(ClaimStatus::claimed) ||
                                 r->status == protocol::to_wire(ClaimStatus::already_claimed))) {
                                const std::lock_guard lock(mutex);
                                cycle_acked[{packets[p], user}] = Acked{r->amount, r->share_index};
                            }
                        }
                    }
                } catch (const std::exception&) {
                    // the daemon was killed under us: what was acknowledged is recorded
                }
            });
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(60 + rng() % 300));
        CHECK(d.kill_hard() == 128 + SIGKILL);
        stop = true;
        for (auto& t : threads) {
            t.join();
        }
        for (const auto& [key, a] : cycle_acked) {
            acked[key] = a;
        }
        total_acked += cycle_acked.size();
        in_flight = std::move(cycle_in_flight);
    }

    // Last restart: the books balance, every acknowledged claim is there, the audit passes.
    {
        DaemonProcess d(daemon_args(dir.string()), 10s);
        BlockingClient q(d.port());
        auth_login(q, 2);
        for (const std::uint64_t packet : packets) {
            const auto info = as<protocol::QueryResponse>(must(q.request(protocol::Query{1, packet})));
            std::uint64_t acked_here = 0;
            std::uint64_t acked_amount = 0;
            for (const auto& [key, a] : acked) {
                if (key.first == packet) {
                    ++acked_here;
                    acked_amount += a.amount;
                }
            }
            CHECK(info.total == 10'000);
            CHECK(info.claimed_count >= acked_here);
            CHECK(10'000 - info.remaining >= acked_amount);
        }
        CHECK(d.stop() == 0);
    }
    INFO("claims acknowledged over " << cycles << " kills: " << total_acked);
    CHECK(total_acked > 0);
    CHECK(lost == 0);
    CHECK(inconsistent == 0);
    std::printf("crash test: %u kill -9 cycles, %llu claims acknowledged, %llu lost, %llu "
                "inconsistent retries\n",
                cycles, static_cast<unsigned long long>(total_acked),
                static_cast<unsigned long long>(lost), static_cast<unsigned long long>(inconsistent));

    const std::string audit = std::string(REDPACKET_AUDIT_BINARY) + " " + (dir / "worker-0").string() +
                              " > /dev/null && " + REDPACKET_AUDIT_BINARY + " " +
                              (dir / "worker-1").string() + " > /dev/null";
    const int rc = std::system(audit.c_str());
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a send campaign's packet is still only its recipient's after a kill -9",
          "[integration][crash]") {
    const std::filesystem::path dir = redpacketd::testing::fresh_temp_dir("crash-recipients");
    const std::vector<std::string> args{"--workers", "1", "--sets", "1", "--journal-dir",
                                        dir.string(), "--journal-fsync", "batch"};
    protocol::PacketNotice notice{};
    {
        DaemonProcess d(args, 10s);
        BlockingClient a(d.port());
        REQUIRE(must(a.login(1)).result == protocol::kResultOk);
        BlockingClient b(d.port());
        REQUIRE(must(b.login(2)).result == protocol::kResultOk);
        const auto started = redpacketd::testing::http_request(
            d.admin_port(), "POST", "/campaigns/send",
            R"({"rate": 50, "total": 1, "shares": 1, "min_total": 100, "max_total": 100})");
        REQUIRE(started.status == 200);
        REQUIRE(redpacketd::testing::eventually(
            [&] {
                for (BlockingClient* c : {&a, &b}) {
                    (void)c->drain(20ms);
                    if (!c->notices().empty()) {
                        notice = c->notices().front();
                        return true;
                    }
                }
                return false;
            },
            5s));
        // The packet's created record is durable before the kill.
        REQUIRE(redpacketd::testing::eventually(
            [&] {
                const auto s = redpacketd::testing::get_json(d.admin_port(), "/stats");
                return s["journal"]["records"].get<std::uint64_t>() >= 1 &&
                       s["journal"]["pending"] == 0;
            },
            5s));
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }
    REQUIRE(notice.share_count == 1);
    const std::uint32_t recipient = notice.users[0];
    const std::uint32_t other = recipient == 1 ? 2 : 1;

    DaemonProcess d(args, 10s);
    BlockingClient outsider(d.port());
    REQUIRE(must(outsider.login(other)).result == protocol::kResultOk);
    CHECK(must(outsider.grab(notice.packet)) == protocol::GrabResponse{notice.packet, 0});
    BlockingClient owner(d.port());
    REQUIRE(must(owner.login(recipient)).result == protocol::kResultOk);
    CHECK(must(owner.grab(notice.packet)) == protocol::GrabResponse{notice.packet, 100});
    CHECK(must(outsider.grab(notice.packet)) == protocol::GrabResponse{notice.packet, 0});
    CHECK(d.stop() == 0);

    const std::string audit =
        std::string(REDPACKET_AUDIT_BINARY) + " " + (dir / "worker-0").string() + " > /dev/null";
    const int rc = std::system(audit.c_str());
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("a journal that cannot grow refuses money, loses nothing acknowledged, recovers",
          "[integration][crash]") {
    // The disk "fills" through RLIMIT_FSIZE set on the running daemon: a journal write past
    // 64 KiB fails with EFBIG, as it would with ENOSPC. Nothing here needs privileges.
    const std::filesystem::path dir = redpacketd::testing::fresh_temp_dir("full");
    const std::vector<std::string> args{
        "--workers", "1", "--sets", "1", "--auth-secret", kSecret, "--journal-dir", dir.string(),
        "--journal-fsync", "batch", "--journal-segment-bytes", "16777216", "--rate-limit",
        "1000000"};
    std::map<std::uint64_t, std::pair<std::uint64_t, std::uint64_t>> acked;  // packet → id, cents
    {
        DaemonProcess d(args, 10s);
        rlimit limit{};
        REQUIRE(::prlimit(d.pid(), RLIMIT_FSIZE, nullptr, &limit) == 0);
        const rlim_t hard = limit.rlim_max;
        limit.rlim_cur = 64 * 1024;
        REQUIRE(::prlimit(d.pid(), RLIMIT_FSIZE, &limit, nullptr) == 0);

        BlockingClient c(d.port());
        auth_login(c, 7);
        // Create a one-share packet and claim it, again and again, until a reply does not come:
        // its record could not be written, so the reply waits for the journal.
        std::optional<std::uint64_t> pending_claim;  // request id of a claim still unanswered
        bool stalled = false;
        for (std::uint64_t i = 1; i <= 3000 && !stalled; ++i) {
            c.send(protocol::CreatePacket{2 * i, 100 + i % 50, 1,
                                          protocol::to_wire(redpacket::SplitPolicy::fixed), 600});
            const auto created = c.read_reply(2s);
            if (created.status == redpacketd::testing::ReadStatus::timeout) {
                stalled = true;
                break;
            }
            REQUIRE(created.status == redpacketd::testing::ReadStatus::frame);
            const auto packet = std::get<protocol::CreateResponse>(created.message).packet;
            c.send(protocol::Claim{2 * i + 1, packet});
            const auto claimed = c.read_reply(2s);
            if (claimed.status == redpacketd::testing::ReadStatus::timeout) {
                stalled = true;
                pending_claim = packet;
                break;
            }
            REQUIRE(claimed.status == redpacketd::testing::ReadStatus::frame);
            const auto r = std::get<protocol::ClaimResponse>(claimed.message);
            REQUIRE(r.status == protocol::to_wire(ClaimStatus::claimed));
            acked[packet] = {2 * i + 1, r.amount};
        }
        REQUIRE(stalled);  // 64 KiB holds a few hundred create + claim pairs
        INFO(acked.size() << " claims acknowledged before the journal stopped growing");
        CHECK(acked.size() > 10);

        // While it fails: money requests are refused with "unavailable", the rest is served.
        REQUIRE(redpacketd::testing::eventually(
            [&] {
                return redpacketd::testing::get_json(d.admin_port(), "/stats")["journal"]
                           ["failing_workers"] == 1;
            },
            5s));
        BlockingClient other(d.port());
        auth_login(other, 8);
        CHECK(as<protocol::ErrorReply>(must(other.request(protocol::CreatePacket{1, 100, 1, protocol::to_wire(redpacket::SplitPolicy::fixed), 600}))) ==
              protocol::ErrorReply{1, protocol::ErrorCode::unavailable});
        CHECK(must(other.heartbeat(5)).nonce == 5);
        CHECK(redpacketd::testing::get_json(d.admin_port(), "/stats")["totals"]["journal_refusals"]
                  .get<std::uint64_t>() >= 1);
        const auto not_ready = redpacketd::testing::http_request(d.admin_port(), "GET", "/readyz");
        CHECK(not_ready.status == 503);
        CHECK_THAT(not_ready.body, Catch::StartsWith("not ready: journal failing on 1 of "));

        // Room again: the writer's retry succeeds and the held reply arrives.
        limit.rlim_cur = hard;
        REQUIRE(::prlimit(d.pid(), RLIMIT_FSIZE, &limit, nullptr) == 0);
        const auto late = c.read_reply(10s);
        REQUIRE(late.status == redpacketd::testing::ReadStatus::frame);
        if (pending_claim) {
            const auto r = std::get<protocol::ClaimResponse>(late.message);
            CHECK(r.status == protocol::to_wire(ClaimStatus::claimed));
            acked[*pending_claim] = {r.request_id, r.amount};
        } else {
            CHECK(std::holds_alternative<protocol::CreateResponse>(late.message));
        }
        CHECK(redpacketd::testing::eventually(
            [&] {
                return redpacketd::testing::get_json(d.admin_port(), "/stats")["journal"]
                           ["failing_workers"] == 0;
            },
            5s));
        CHECK(redpacketd::testing::http_request(d.admin_port(), "GET", "/readyz").body ==
              "ready\n");
        const auto after = as<protocol::CreateResponse>(
            must(other.request(protocol::CreatePacket{2, 100, 1, protocol::to_wire(redpacket::SplitPolicy::fixed), 600})));
        CHECK(after.packet != 0);
        CHECK(d.kill_hard() == 128 + SIGKILL);
    }

    // Every acknowledged claim is there after a crash and a restart.
    DaemonProcess d(args, 10s);
    BlockingClient c(d.port());
    auth_login(c, 7);
    std::size_t same = 0;
    for (const auto& [packet, claim] : acked) {
        const auto r = as<protocol::ClaimResponse>(must(c.request(protocol::Claim{claim.first, packet})));
        if (r.status == protocol::to_wire(ClaimStatus::already_claimed) &&
            r.amount == claim.second) {
            ++same;
        }
    }
    CHECK(same == acked.size());
    CHECK(d.stop() == 0);
    const std::string audit =
        std::string(REDPACKET_AUDIT_BINARY) + " " + (dir / "worker-0").string() + " > /dev/null";
    const int rc = std::system(audit.c_str());
    CHECK(WIFEXITED(rc));
    CHECK(WEXITSTATUS(rc) == 0);
    std::filesystem::remove_all(dir);
}

TEST_CASE("SIGTERM still answers what was read: a forwarded claim waiting for the journal",
          "[integration][crash]") {
    const std::filesystem::path dir = redpacketd::testing::fresh_temp_dir("drain");
    // A one-second group commit holds every reply that reports money that long.
    const std::vector<std::string> args{
        "--workers", "2", "--sets", "4", "--auth-secret", kSecret, "--journal-dir", dir.string(),
        "--journal-fsync", "batch", "--journal-max-delay-us", "1000000", "--journal-max-batch",
        "100000"};
    std::uint64_t packet = 0;
    {
        DaemonProcess d(args);
        BlockingClient creator(d.port());  // user 1: SET 1, worker 1
        auth_login(creator, 1);
        const auto created = as<protocol::CreateResponse>(must(creator.request(protocol::CreatePacket{
            1, 300, 3, protocol::to_wire(redpacket::SplitPolicy::equal), 60})));
        packet = created.packet;
        REQUIRE(packet != 0);
        BlockingClient claimer(d.port());  // user 2: SET 2, worker 0; the claim goes to worker 1
        auth_login(claimer, 2);
        const std::vector<protocol::Message> claim{protocol::Claim{7, packet}};
        claimer.send_all(claim);
        // The owner has claimed the share; its record now waits up to a second for the
        // journal, and the reply with it. With --shutdown-grace-ms 0 the reply is lost.
        REQUIRE(redpacketd::testing::eventually(
            [&] {
                return redpacketd::testing::get_json(d.admin_port(),
                                                     "/stats")["totals"]["claim_claimed"] == 1;
            },
            2s));
        CHECK(d.stop(5s) == 0);
        const auto frames = claimer.frames_until_close(2s);
        REQUIRE(frames.has_value());
        REQUIRE(frames->size() == 1);
        const auto r = as<protocol::ClaimResponse>(frames->front());
        CHECK(r.request_id == 7);
        CHECK(r.status == protocol::to_wire(ClaimStatus::claimed));
        CHECK(r.amount == 100);
    }
    // What the reply reported is durable: the retry after a restart is the same share.
    DaemonProcess d(args);
    BlockingClient claimer(d.port());
    auth_login(claimer, 2);
    const auto again = as<protocol::ClaimResponse>(must(claimer.request(protocol::Claim{7, packet})));
    CHECK(again.status == protocol::to_wire(ClaimStatus::already_claimed));
    CHECK(again.amount == 100);
    d.stop();
    std::filesystem::remove_all(dir);
}
