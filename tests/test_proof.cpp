// Verifiable splits: the test vectors of docs/fairness.md, the verifiers' verdicts, pools that
// draw a seed per packet, the journal carrying it, and the audit recomputing it.
#include <catch2/catch.hpp>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "journal_support.hpp"
#include "redpacket/audit.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/proof.hpp"
#include "redpacket/red_packet_pool.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::TempDir;

namespace {

struct Vector {
    SplitTerms terms;
    Seed seed{};
    Digest commitment{};
    std::vector<Cents> shares;
};

std::vector<Vector> vectors() {
    std::ifstream in(REDPACKET_SPLIT_VECTORS);
    REQUIRE(in.good());
    const auto j = nlohmann::json::parse(in);
    std::vector<Vector> out;
    for (const auto& v : j) {
        Vector x;
        x.terms.packet = PacketId{v.at("packet").get<std::uint64_t>()};
        x.terms.policy = *parse_split_policy(v.at("policy").get<std::string>());
        x.terms.total = Cents{v.at("total").get<std::int64_t>()};
        x.terms.count = v.at("count").get<std::uint32_t>();
        x.terms.min_share = Cents{v.at("min_share").get<std::int64_t>()};
        x.seed = *parse_hex32(v.at("seed").get<std::string>());
        x.commitment = *parse_hex32(v.at("commitment").get<std::string>());
        for (const auto& s : v.at("shares")) {
            x.shares.push_back(Cents{s.get<std::int64_t>()});
        }
        out.push_back(std::move(x));
    }
    return out;
}

Seed counting_seed() {
    Seed s{};
    for (std::size_t i = 0; i < s.size(); ++i) {
        s[i] = static_cast<std::uint8_t>(i);
    }
    return s;
}

}  // namespace

TEST_CASE("the test vectors: fixed seeds give exactly the published shares and commitments",
          "[proof]") {
    const auto all = vectors();
    REQUIRE(all.size() == 11);
    std::set<SplitPolicy> policies;
    for (const Vector& v : all) {
        INFO(to_string(v.terms.policy) << " total " << v.terms.total.value << " count "
                                       << v.terms.count);
        const auto shares = shares_from_seed(v.terms, v.seed);
        REQUIRE(shares.has_value());
        CHECK(*shares == v.shares);
        CHECK(to_hex(commitment(v.terms, v.seed)) == to_hex(v.commitment));
        CHECK(verify_packet(v.terms, v.commitment, v.seed, v.shares).ok);
        policies.insert(v.terms.policy);
    }
    CHECK(policies.size() == 4);
}

TEST_CASE("the generator's state is the seed's little-endian words", "[proof]") {
    const Rng r = rng_from_seed(counting_seed());
    Rng same = Rng::from_state(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL,
                               0x1716151413121110ULL, 0x1f1e1d1c1b1a1918ULL);
    Rng copy = r;
    for (int i = 0; i < 8; ++i) {
        CHECK(copy() == same());
    }
    CHECK_FALSE(valid_seed(Seed{}));
    CHECK(shares_from_seed(SplitTerms{PacketId{1}, Cents{10}, 2, SplitPolicy::line_cut, Cents{1}},
                           Seed{})
              .error() == Error::invalid_argument);
}

TEST_CASE("the commitment binds every term and the seed", "[proof]") {
    const SplitTerms base{PacketId{42}, Cents{1000}, 5, SplitPolicy::double_mean, Cents{1}};
    const Seed seed = counting_seed();
    const Digest c = commitment(base, seed);
    std::set<std::string> seen{to_hex(c)};
    SplitTerms t = base;
    t.packet = PacketId{43};
    seen.insert(to_hex(commitment(t, seed)));
    t = base;
    t.total = Cents{1001};
    seen.insert(to_hex(commitment(t, seed)));
    t = base;
    t.count = 6;
    seen.insert(to_hex(commitment(t, seed)));
    t = base;
    t.policy = SplitPolicy::line_cut;
    seen.insert(to_hex(commitment(t, seed)));
    t = base;
    t.min_share = Cents{2};
    seen.insert(to_hex(commitment(t, seed)));
    Seed other = seed;
    other[31] ^= 1;
    seen.insert(to_hex(commitment(base, other)));
    CHECK(seen.size() == 7);
}

TEST_CASE("the verifiers name what differs: a permutation, an amount, a seed", "[proof]") {
    const Vector v = vectors().front();
    std::vector<Cents> swapped = v.shares;
    std::swap(swapped[1], swapped[3]);
    const Verdict permuted = verify_packet(v.terms, v.commitment, v.seed, swapped);
    CHECK_FALSE(permuted.ok);
    CHECK(permuted.position == 1U);
    CHECK(permuted.what == "share 1 is " + std::to_string(swapped[1].value) +
                               " cents, the seed gives " + std::to_string(v.shares[1].value));

    CHECK(verify_claim(v.terms, v.commitment, v.seed, 3, v.shares[3]).ok);
    const Verdict amount = verify_claim(v.terms, v.commitment, v.seed, 3, v.shares[3] + Cents{1});
    CHECK_FALSE(amount.ok);
    CHECK(amount.position == 3U);
    CHECK_FALSE(verify_claim(v.terms, v.commitment, v.seed, 5, Cents{1}).ok);

    Seed wrong = v.seed;
    wrong[0] ^= 0x80;
    const Verdict seed = verify_packet(v.terms, v.commitment, wrong, v.shares);
    CHECK_FALSE(seed.ok);
    CHECK(seed.what == "the seed does not match the commitment");
    CHECK_FALSE(seed.position.has_value());

    std::vector<Cents> too_many = v.shares;
    too_many.push_back(Cents{1});
    CHECK_FALSE(verify_packet(v.terms, v.commitment, v.seed, too_many).ok);
    // A prefix (the shares claimed so far) is checked as far as it goes.
    CHECK(verify_packet(v.terms, v.commitment, v.seed,
                        std::span<const Cents>{v.shares}.first(2)).ok);
}

TEST_CASE("seeds come from the CSPRNG, distinct and never all zero", "[proof]") {
    SeedSource source;
    std::set<Seed> seeds;
    for (int i = 0; i < 200; ++i) {  // more than one buffer of 64
        const auto s = source.next();
        REQUIRE(s.has_value());
        CHECK(valid_seed(*s));
        seeds.insert(*s);
    }
    CHECK(seeds.size() == 200);
}

TEST_CASE("a verifiable pool's packets are what their seeds give, claimed in order", "[proof]") {
    PoolConfig config;
    config.min_share = Cents{3};
    RedPacketPool pool{config};
    const Time now{};
    for (const auto& [policy, count] :
         {std::pair{SplitPolicy::double_mean, 20U}, std::pair{SplitPolicy::line_cut, 20U},
          std::pair{SplitPolicy::equal, 7U}, std::pair{SplitPolicy::fixed, 1U}}) {
        const auto id = pool.create(UserId{1}, Cents{10'000}, count, policy, now + 60s);
        REQUIRE(id.has_value());
        const auto before = pool.query(*id);
        REQUIRE(before.has_value());
        REQUIRE(before->seed.has_value());
        CHECK(before->min_share == Cents{3});
        const SplitTerms terms{*id, Cents{10'000}, count, policy, Cents{3}};
        const Digest committed = commitment(terms, *before->seed);
        std::vector<Cents> handed;
        for (std::uint32_t u = 0; u < count; ++u) {
            const ClaimResult r = pool.claim(*id, UserId{100 + u}, now);
            REQUIRE(r.status == ClaimStatus::claimed);
            CHECK(r.share_index == u);
            CHECK(verify_claim(terms, committed, *before->seed, r.share_index, r.amount).ok);
            handed.push_back(r.amount);
        }
        CHECK(verify_packet(terms, committed, *before->seed, handed).ok);
    }
}

TEST_CASE("a store that swaps shares is caught at the swapped position", "[proof]") {
    PoolConfig config;
    config.fault_swap_shares = true;
    RedPacketPool pool{config};
    const auto id = pool.create(UserId{1}, Cents{10'000}, 10, SplitPolicy::line_cut, Time{} + 60s);
    REQUIRE(id.has_value());
    const auto info = pool.query(*id);
    REQUIRE(info->seed.has_value());
    const SplitTerms terms{*id, Cents{10'000}, 10, SplitPolicy::line_cut, Cents{1}};
    std::vector<Cents> handed;
    for (std::uint32_t u = 0; u < 10; ++u) {
        handed.push_back(pool.claim(*id, UserId{100 + u}, Time{}).amount);
    }
    const auto expected = shares_from_seed(terms, *info->seed);
    REQUIRE(expected.has_value());
    REQUIRE((*expected)[0] != (*expected)[1]);  // line_cut's 10 shares of 10,000: distinct
    const Verdict v = verify_packet(terms, commitment(terms, *info->seed), *info->seed, handed);
    CHECK_FALSE(v.ok);
    CHECK(v.position == 0U);
}

TEST_CASE("a pool with verifiable off draws no seed and its packets have no proof", "[proof]") {
    PoolConfig config;
    config.verifiable = false;
    RedPacketPool pool{config};
    const auto id = pool.create(UserId{1}, Cents{100}, 3, SplitPolicy::double_mean, Time{} + 60s);
    REQUIRE(id.has_value());
    CHECK_FALSE(pool.query(*id)->seed.has_value());
}

TEST_CASE("seed and minimum share survive the journal record and replay", "[proof][journal]") {
    JournalRecord r;
    r.sequence = 9;
    r.kind = PoolEventKind::created;
    r.policy = SplitPolicy::line_cut;
    r.packet = PacketId{77};
    r.amount = Cents{100};
    r.index = 3;
    r.shares = {Cents{30}, Cents{30}, Cents{40}};
    r.seed = counting_seed();
    r.min_share = Cents{5};
    std::vector<std::byte> bytes(record_size(r));
    REQUIRE(encode_record(r, bytes) == bytes.size());
    CHECK(bytes.size() == record_size(3, 0) + kRecordProofSize);
    JournalRecord back;
    REQUIRE(decode_record(bytes, back).has_value());
    CHECK(back == r);
    // A record without a seed keeps the old size and decodes without one.
    r.seed.reset();
    r.min_share = Cents{0};
    bytes.assign(record_size(r), std::byte{0});
    REQUIRE(encode_record(r, bytes) == record_size(3, 0));
    REQUIRE(decode_record(bytes, back).has_value());
    CHECK_FALSE(back.seed.has_value());
}

TEST_CASE("the audit recomputes every verifiable split from its seed", "[proof][audit]") {
    for (const bool fault : {false, true}) {
        TempDir dir;
        JournalWriterOptions o;
        o.fsync = FsyncPolicy::off;
        auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, o);
        REQUIRE(w.has_value());
        PoolConfig config;
        config.fault_swap_shares = fault;
        RedPacketPool pool{config};
        PoolJournal journal{**w, 1};
        pool.set_observer(PoolObserver::bind(journal));
        for (int i = 0; i < 5; ++i) {
            REQUIRE(pool.create(UserId{1}, Cents{5'000}, 8, SplitPolicy::line_cut, Time{} + 60s));
        }
        REQUIRE((*w)->close().has_value());
        const auto report = audit_journal(posix_file_system(), dir.path());
        REQUIRE(report.has_value());
        INFO("fault injected: " << fault);
        CHECK(report->ok() == !fault);
        if (fault) {
            REQUIRE(report->violation_count == 5);
            CHECK(report->violations[0].kind == ViolationKind::split_not_from_seed);
            CHECK(report->violations[0].detail.find("share 0 is") == 0);
        }
    }
}

TEST_CASE("a pool restored from its journal gives the same proofs", "[proof][journal]") {
    test_support::EventLog log;
    PoolConfig config;
    RedPacketPool pool{config};
    pool.set_observer(PoolObserver::bind(log));
    const auto id = pool.create(UserId{1}, Cents{999}, 9, SplitPolicy::double_mean, Time{} + 60s);
    REQUIRE(id.has_value());
    (void)pool.claim(*id, UserId{5}, Time{});
    RedPacketPool restored{config};
    for (const JournalRecord& r : log.records) {
        REQUIRE(restored.replay(to_event(r)).has_value());
    }
    const auto a = pool.query(*id);
    const auto b = restored.query(*id);
    REQUIRE(a->seed.has_value());
    REQUIRE(b->seed.has_value());
    CHECK(*a->seed == *b->seed);
    CHECK(a->min_share == b->min_share);
}

TEST_CASE("a simulated SeedSource repeats its seeds, and the CSPRNG one does not", "[proof]") {
    SeedSource a{42};
    SeedSource b{42};
    SeedSource c{43};
    SeedSource real1;
    SeedSource real2;
    bool all_same = true;
    bool any_same_as_other_seed = false;
    for (int i = 0; i < 300; ++i) {  // past one buffer of 256
        const auto sa = a.next();
        const auto sb = b.next();
        const auto sc = c.next();
        REQUIRE(sa);
        REQUIRE(valid_seed(*sa));
        all_same = all_same && *sa == *sb;
        any_same_as_other_seed = any_same_as_other_seed || *sa == *sc;
    }
    CHECK(all_same);
    CHECK_FALSE(any_same_as_other_seed);
    CHECK(*real1.next() != *real2.next());
}
