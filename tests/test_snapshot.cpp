#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <map>
#include <thread>

#include "journal_support.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/recovery.hpp"
#include "redpacket/snapshot.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::TempDir;
using test_support::Workload;
using Op = FaultInjectingFileSystem::Op;

namespace {

JournalWriterOptions fast_options() {
    JournalWriterOptions o;
    o.fsync = FsyncPolicy::off;
    o.max_delay = std::chrono::microseconds{0};
    o.segment_bytes = 16 * 1024;  // several segments
    return o;
}

// A pool whose every event goes to a journal in `dir`.
struct JournaledPool {
    JournaledPool(const std::string& dir, const PoolConfig& config, std::uint64_t next = 1)
        : pool{config} {
        auto w = JournalWriter::open(posix_file_system(), dir, next, fast_options());
        REQUIRE(w.has_value());
        writer = std::move(*w);
        journal.emplace(*writer, config.shard);
        pool.set_observer(PoolObserver::bind(*journal));
    }
    RedPacketPool pool;
    std::unique_ptr<JournalWriter> writer;
    std::optional<PoolJournal> journal;
};

// Writes a snapshot of `jp` the way the daemon should: capture on the pool's thread, wait until
// the journal is durable up to the captured sequence, write.
std::string take_snapshot(const std::string& dir, JournaledPool& jp,
                          std::vector<CreateRequestEntry> requests = {}) {
    Snapshot s;
    s.sequence = jp.writer->last_sequence();
    s.pools.push_back(capture(jp.pool));
    s.create_requests = std::move(requests);
    REQUIRE(jp.writer->wait_durable(s.sequence, 20s));
    auto path = write_snapshot(posix_file_system(), dir, s);
    REQUIRE(path.has_value());
    return *path;
}

RecoveryReport recover_into(const std::string& dir, RedPacketPool& pool,
                            RecoveryOptions options = {}) {
    const ShardId shard = pool.config().shard;
    auto report = recover(
        posix_file_system(), dir, [&](ShardId s) { return s == shard ? &pool : nullptr; }, options);
    if (!report) {
        FAIL("recover failed: " << describe(report.error()));
    }
    return std::move(*report);
}

std::vector<JournalRecord> live_records(const RedPacketPool& pool) {
    std::vector<JournalRecord> out;
    pool.for_each_live([&](const PoolEvent& e) { out.push_back(to_record(e, 0, 0, 0)); });
    return out;
}

// Same packets, claims, refunds, shake supply (in order) and stats, once both pools have
// expired what is due at the workload's last step.
void check_equal(const RedPacketPool& original, const RedPacketPool& recovered,
                 const Workload& work) {
    test_support::check_same_packets(original, recovered, work.ids());
    CHECK(test_support::event_stats(recovered.stats()) ==
          test_support::event_stats(original.stats()));
    CHECK(live_records(original) == live_records(recovered));
}

void check_equal_after_expiry(RedPacketPool& original, RedPacketPool& recovered,
                              const Workload& work) {
    const Time end = work.now() + 1ms;
    CHECK(original.expire(end).size() == recovered.expire(end).size());
    test_support::check_same_packets(original, recovered, work.ids());
    CHECK(test_support::event_stats(recovered.stats()) ==
          test_support::event_stats(original.stats()));
    CHECK(live_records(original) == live_records(recovered));
}

}  // namespace

TEST_CASE("a snapshot round-trips through its file format", "[snapshot]") {
    RedPacketPool a{test_support::replay_config(3)};
    RedPacketPool b{test_support::replay_config(4)};
    Workload{a, 1}.run(800);
    Workload{b, 2}.run(800);
    Snapshot s;
    s.sequence = 12345;
    s.pools = {capture(a), capture(b)};
    s.create_requests = {{7, 99, PacketId{123}}, {8, 100, PacketId{456}}};
    const auto bytes = encode_snapshot(s);
    const auto back = decode_snapshot(bytes, "mem");
    REQUIRE(back.has_value());
    CHECK(*back == s);
}

TEST_CASE("encoding live pools gives the bytes of encoding their captures", "[snapshot]") {
    RedPacketPool a{test_support::replay_config(3)};
    RedPacketPool b{test_support::replay_config(4)};
    RedPacketPool empty{test_support::replay_config(5)};
    Workload{a, 11}.run(900);
    Workload{b, 12}.run(300);
    REQUIRE(a.stats().packets_live > 0);
    REQUIRE(a.shake_size() + b.shake_size() > 0);
    const std::vector<CreateRequestEntry> requests{{7, 99, PacketId{123}}, {8, 100, PacketId{456}}};
    Snapshot s;
    s.sequence = 777;
    s.pools = {capture(a), capture(empty), capture(b)};
    s.create_requests = requests;
    const std::vector<const RedPacketPool*> pools{&a, &empty, &b};
    const auto live = encode_snapshot(777, pools, requests);
    CHECK(live == encode_snapshot(s));
    const auto back = decode_snapshot(live, "mem");
    REQUIRE(back.has_value());
    CHECK(*back == s);
    // Nothing at all: header, no pools, no requests, CRC.
    CHECK(encode_snapshot(0, std::span<const RedPacketPool* const>{}, {}) ==
          encode_snapshot(Snapshot{}));
}

TEST_CASE("every single-bit flip of a snapshot is rejected", "[snapshot]") {
    RedPacketPool a{test_support::replay_config()};
    Workload{a, 3}.run(60);
    Snapshot s;
    s.sequence = 9;
    s.pools = {capture(a)};
    const auto good = encode_snapshot(s);
    for (std::size_t bit = 0; bit < good.size() * 8; ++bit) {
        auto bad = good;
        bad[bit / 8] ^= static_cast<std::byte>(1U << (bit % 8));
        const auto r = decode_snapshot(bad, "mem");
        INFO("bit " << bit);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().code == Error::corrupt);
    }
    for (std::size_t n = 0; n < good.size(); n += 7) {
        CHECK_FALSE(decode_snapshot(std::span{good}.first(n), "mem").has_value());
    }
}

TEST_CASE("a failed snapshot write leaves no snapshot behind", "[snapshot]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    Snapshot s;
    s.sequence = 5;
    SECTION("sync fails") { fs.fail(Op::sync, 1, EIO); }
    SECTION("rename fails") { fs.fail(Op::rename, 1, ENOSPC); }
    const auto path = write_snapshot(fs, dir.path(), s);
    REQUIRE_FALSE(path.has_value());
    CHECK(path.error().code == Error::io_error);
    const auto listed = list_snapshots(fs, dir.path());
    REQUIRE(listed.has_value());
    CHECK(listed->empty());
    CHECK(std::filesystem::is_empty(dir.path()));  // the temporary file is gone too
}

TEST_CASE("the newest valid snapshot is loaded and corrupt newer ones are skipped", "[snapshot]") {
    TempDir dir;
    Snapshot s;
    for (std::uint64_t seq : {10U, 20U, 30U}) {
        s.sequence = seq;
        REQUIRE(write_snapshot(posix_file_system(), dir.path(), s).has_value());
    }
    const std::string newest = dir.sub(snapshot_name(30));
    auto bytes = test_support::read_bytes(newest);
    bytes[20] ^= 0x02;
    test_support::write_bytes(newest, bytes);
    const auto choice = load_newest_snapshot(posix_file_system(), dir.path());
    REQUIRE(choice.has_value());
    REQUIRE(choice->snapshot.has_value());
    CHECK(choice->snapshot->sequence == 20);
    CHECK(choice->file == dir.sub(snapshot_name(20)));
    REQUIRE(choice->skipped.size() == 1);
    CHECK(choice->skipped[0].find(newest) != std::string::npos);
}

TEST_CASE("recovery from the journal alone rebuilds the pool", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload work{jp.pool, 21};
    // A segment rolls only between batches, and a writer thread that was not scheduled while
    // the workload ran writes it all as one batch (seen under ASan on this 2-vCPU host): wait
    // for each chunk to be written, so that batches start after the first segment is full.
    for (int chunk = 0; chunk < 16; ++chunk) {
        work.run(250);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{30};
        while (jp.writer->durable_sequence() < jp.writer->last_sequence() &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds{1});
        }
        REQUIRE(jp.writer->durable_sequence() == jp.writer->last_sequence());
    }
    REQUIRE(jp.writer->close().has_value());

    RedPacketPool recovered{config};
    const RecoveryReport report = recover_into(dir.path(), recovered);
    CHECK(report.snapshot_file.empty());
    CHECK(report.last_sequence == jp.writer->last_sequence());
    CHECK(report.records_replayed == jp.writer->last_sequence());
    CHECK(report.scan.segments.size() > 1);
    CHECK(report.warnings.empty());
    check_equal_after_expiry(jp.pool, recovered, work);
}

TEST_CASE("snapshot plus journal tail equals the full replay", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload work{jp.pool, 33};
    work.run(2000);
    const std::string snap = take_snapshot(dir.path(), jp, {{5, 1, PacketId{77}}});
    const std::uint64_t covered = *parse_snapshot_name(snap.substr(snap.rfind('/') + 1));
    work.run(2000);
    REQUIRE(jp.writer->close().has_value());

    RedPacketPool from_snapshot{config};
    const RecoveryReport report = recover_into(dir.path(), from_snapshot);
    CHECK(report.snapshot_file == snap);
    CHECK(report.snapshot_sequence == covered);
    CHECK(report.records_replayed == jp.writer->last_sequence() - covered);
    CHECK(report.last_sequence == jp.writer->last_sequence());
    REQUIRE_FALSE(report.create_requests.empty());
    CHECK(report.create_requests[0] == CreateRequestEntry{5, 1, PacketId{77}});

    std::filesystem::remove(snap);
    RedPacketPool from_journal{config};
    (void)recover_into(dir.path(), from_journal);
    // All three expire what is due at the end once, then compare.
    const Time end = work.now() + 1ms;
    const std::size_t due = jp.pool.expire(end).size();
    CHECK(from_snapshot.expire(end).size() == due);
    CHECK(from_journal.expire(end).size() == due);
    check_equal(from_snapshot, from_journal, work);
    check_equal(jp.pool, from_snapshot, work);
}

TEST_CASE("pruning keeps what the oldest kept snapshot needs", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload work{jp.pool, 44};
    std::vector<std::string> snaps;
    for (int round = 0; round < 3; ++round) {
        work.run(1500);
        snaps.push_back(take_snapshot(dir.path(), jp));
    }
    work.run(500);
    REQUIRE(jp.writer->close().has_value());
    const auto before = list_segments(posix_file_system(), dir.path());
    const auto pruned = prune_journal(posix_file_system(), dir.path(), 2);
    REQUIRE(pruned.has_value());
    REQUIRE(pruned->removed_snapshots.size() == 1);
    CHECK(pruned->removed_snapshots[0] == snaps[0]);
    CHECK_FALSE(pruned->removed_segments.empty());
    const auto after = list_segments(posix_file_system(), dir.path());
    CHECK(after->size() + pruned->removed_segments.size() == before->size());
    // Every record after the oldest kept snapshot is still there.
    const std::uint64_t oldest_kept =
        *parse_snapshot_name(snaps[1].substr(snaps[1].rfind('/') + 1));
    CHECK(after->front().first_sequence <= oldest_kept + 1);

    // Even with the newest snapshot corrupt, recovery still rebuilds the same state.
    auto bytes = test_support::read_bytes(snaps[2]);
    bytes[bytes.size() / 2] ^= 0x08;
    test_support::write_bytes(snaps[2], bytes);
    RedPacketPool recovered{config};
    const RecoveryReport report = recover_into(dir.path(), recovered);
    CHECK(report.snapshot_file == snaps[1]);
    REQUIRE(report.warnings.size() == 1);
    CHECK(report.warnings[0].find(snaps[2]) != std::string::npos);
    check_equal_after_expiry(jp.pool, recovered, work);
}

TEST_CASE("recovery refuses a journal whose start no snapshot covers", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload work{jp.pool, 55};
    work.run(3000);
    (void)take_snapshot(dir.path(), jp);
    work.run(500);
    REQUIRE(jp.writer->close().has_value());
    const auto snapshots = list_snapshots(posix_file_system(), dir.path());
    REQUIRE(snapshots.has_value());
    for (const SnapshotInfo& snap : *snapshots) {
        std::filesystem::remove(snap.file);  // no snapshot, but the journal is complete...
    }
    const auto segments = *list_segments(posix_file_system(), dir.path());
    std::filesystem::remove(segments.front().file);  // ...until its first segment is gone
    RedPacketPool pool{config};
    const auto report = recover(posix_file_system(), dir.path(), [&](ShardId) { return &pool; });
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error().code == Error::corrupt);
    CHECK(report.error().message.find("no snapshot covers") != std::string::npos);
}

TEST_CASE("recovery refuses a record numbered 0 instead of skipping it", "[snapshot][recovery]") {
    // Found by tests/fuzz/fuzz_journal_scan: with no snapshot, record 0 passed for one the
    // snapshot covers and its money was silently not restored.
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournalRecord offer;
    offer.sequence = 0;
    offer.kind = PoolEventKind::shake_offered;
    offer.shard = config.shard;
    offer.packet = PacketId{(std::uint64_t{1} << 13) | (std::uint64_t{1} << 12) | config.shard};
    offer.amount = Cents{25};
    offer.at = 10s;
    test_support::write_segment(dir.path(), 0, {offer});
    RedPacketPool pool{config};
    const auto report = recover(posix_file_system(), dir.path(), [&](ShardId) { return &pool; });
    REQUIRE_FALSE(report.has_value());
    CHECK(report.error().code == Error::corrupt);
    CHECK(report.error().message.find("sequence 0") != std::string::npos);
    CHECK(pool.stats().shake_offered == 0);
}

TEST_CASE("recovery syncs every segment it replays, and a failing sync fails it",
          "[snapshot][recovery]") {
    // Found by the simulator (sim/, seed 224): records a killed process wrote but never synced
    // are read back from the page cache; the restarted daemon builds on them, so they must be
    // made durable before it does.
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournalRecord offer;
    offer.sequence = 1;
    offer.kind = PoolEventKind::shake_offered;
    offer.shard = config.shard;
    offer.packet = PacketId{(std::uint64_t{1} << 13) | (std::uint64_t{1} << 12) | config.shard};
    offer.amount = Cents{25};
    offer.at = 10s;
    test_support::write_segment(dir.path(), 1, {offer});
    JournalRecord second = offer;
    second.sequence = 2;
    second.packet = PacketId{(std::uint64_t{2} << 13) | (std::uint64_t{1} << 12) | config.shard};
    test_support::write_segment(dir.path(), 2, {second});
    FaultInjectingFileSystem fs{posix_file_system()};
    {
        RedPacketPool pool{config};
        const auto report = recover(fs, dir.path(), [&](ShardId) { return &pool; });
        REQUIRE(report.has_value());
        CHECK(report->last_sequence == 2);
        CHECK(fs.calls(FaultInjectingFileSystem::Op::sync) == 2);  // one per segment
        CHECK(fs.calls(FaultInjectingFileSystem::Op::sync_dir) >= 1);
    }
    fs.fail(FaultInjectingFileSystem::Op::sync, 1, EIO);
    RedPacketPool pool{config};
    const auto failed = recover(fs, dir.path(), [&](ShardId) { return &pool; });
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().code == Error::io_error);
    CHECK(failed.error().message.find("cannot sync a recovered segment") != std::string::npos);
}

TEST_CASE("recovery needs fresh pools for every shard it finds", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload{jp.pool, 66}.run(300);
    REQUIRE(jp.writer->close().has_value());

    const auto none = recover(posix_file_system(), dir.path(), [](ShardId) { return nullptr; });
    REQUIRE_FALSE(none.has_value());
    CHECK(none.error().code == Error::not_found);

    RedPacketPool used{config};
    REQUIRE(used.create(1, Cents{10}, 1, SplitPolicy::fixed, 1s).has_value());
    const auto busy = recover(posix_file_system(), dir.path(), [&](ShardId) { return &used; });
    REQUIRE_FALSE(busy.has_value());
    CHECK(busy.error().code == Error::invalid_argument);
}

TEST_CASE("recovery serves several shards from one journal", "[snapshot][recovery]") {
    TempDir dir;
    auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, fast_options());
    REQUIRE(w.has_value());
    std::map<ShardId, RedPacketPool> originals;
    std::map<ShardId, PoolJournal> journals;
    for (ShardId s : {1U, 2U}) {
        originals.emplace(s, RedPacketPool{test_support::replay_config(s)});
        journals.emplace(std::piecewise_construct, std::forward_as_tuple(s),
                         std::forward_as_tuple(**w, s));
        originals.at(s).set_observer(PoolObserver::bind(journals.at(s)));
    }
    Workload w1{originals.at(1), 7};
    Workload w2{originals.at(2), 8};
    for (int i = 0; i < 1500; ++i) {
        w1.step();
        w2.step();
    }
    REQUIRE((*w)->close().has_value());
    std::map<ShardId, RedPacketPool> recovered;
    for (ShardId s : {1U, 2U}) {
        recovered.emplace(s, RedPacketPool{test_support::replay_config(s)});
    }
    const auto report = recover(posix_file_system(), dir.path(), [&](ShardId s) {
        const auto it = recovered.find(s);
        return it == recovered.end() ? nullptr : &it->second;
    });
    REQUIRE(report.has_value());
    check_equal_after_expiry(originals.at(1), recovered.at(1), w1);
    check_equal_after_expiry(originals.at(2), recovered.at(2), w2);
}

TEST_CASE("a writer continues after recovery and a torn tail", "[snapshot][recovery]") {
    TempDir dir;
    const PoolConfig config = test_support::replay_config();
    JournaledPool jp{dir.path(), config};
    Workload work{jp.pool, 77};
    work.run(1000);
    REQUIRE(jp.writer->close().has_value());
    // A crash in the middle of the last write.
    const auto segments = *list_segments(posix_file_system(), dir.path());
    const std::string last = segments.back().file;
    auto bytes = test_support::read_bytes(last);
    bytes.resize(bytes.size() - 3);
    test_support::write_bytes(last, bytes);

    RedPacketPool recovered{config};
    const RecoveryReport report = recover_into(dir.path(), recovered);
    REQUIRE(report.scan.torn_tail.has_value());
    CHECK(report.last_sequence == jp.writer->last_sequence() - 1);
    REQUIRE(report.warnings.size() == 1);
    CHECK(report.warnings[0].find("torn") != std::string::npos);

    // Writing on from there keeps the journal continuous.
    JournaledPool next{dir.path(), config, report.last_sequence + 1};
    next.pool = std::move(recovered);
    next.pool.set_observer(PoolObserver::bind(*next.journal));
    Workload more{next.pool, 78};
    more.set_now(work.now());
    more.run(500);
    REQUIRE(next.writer->close().has_value());
    RedPacketPool again{config};
    const RecoveryReport second = recover_into(dir.path(), again);
    CHECK(second.last_sequence == next.writer->last_sequence());
    CHECK_FALSE(second.scan.torn_tail.has_value());
    check_equal_after_expiry(next.pool, again, more);
    test_support::check_same_packets(next.pool, again, work.ids());
}
