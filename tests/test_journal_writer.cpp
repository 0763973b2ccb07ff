// The journal writer: group commit, fsync policies, batching, failures and retries, a full
// queue, close, segment rolls, the pool journal adapter, and the driven (threadless) mode.
#include <catch2/catch.hpp>
#include <cerrno>
#include <mutex>

#include "journal_support.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/journal_record.hpp"

using namespace redpacket;
using namespace std::chrono_literals;
using test_support::claim_record;
using test_support::TempDir;
using Op = FaultInjectingFileSystem::Op;

namespace {

JournalWriterOptions quick(FsyncPolicy policy = FsyncPolicy::batch) {
    JournalWriterOptions o;
    o.fsync = policy;
    o.max_delay = std::chrono::microseconds{0};
    o.retry_min = 1ms;
    o.retry_max = 4ms;
    return o;
}

// Observations made by the writer's callback.
struct BatchLog {
    std::mutex mutex;
    std::vector<std::pair<bool, std::uint64_t>> calls;  // failed(), durable_sequence()
    JournalWriter* writer{nullptr};
    void record() {
        const std::lock_guard lock{mutex};
        if (writer != nullptr) {
            calls.emplace_back(writer->failed(), writer->durable_sequence());
        }
    }
};

}  // namespace

// --- writer --------------------------------------------------------------------------------

TEST_CASE("records appended while a sync runs share the next sync", "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    JournalWriterOptions o = quick(FsyncPolicy::batch);
    o.max_batch = 1'000'000;
    auto w = JournalWriter::open(fs, dir.path(), 1, o);
    REQUIRE(w.has_value());
    fs.hold_syncs(true);
    REQUIRE((*w)->append(claim_record(1)) == 1U);
    REQUIRE(test_support::eventually([&] { return fs.calls(Op::sync) == 1; }));
    for (std::uint64_t s = 2; s <= 1000; ++s) {
        REQUIRE((*w)->append(claim_record(s)) == s);
    }
    CHECK((*w)->durable_sequence() == 0);  // the first sync is still held
    fs.hold_syncs(false);
    REQUIRE((*w)->wait_durable(1000, 20s));
    const JournalWriterStats st = (*w)->stats();
    CHECK(st.syncs == 2);
    CHECK(st.batches == 2);
    CHECK(st.records == 1000);
    CHECK(st.max_batch == 999);
    CHECK(st.bytes == 1000 * kRecordFixedSize);
    REQUIRE((*w)->close().has_value());
    CHECK(test_support::read_journal(fs, dir.path()).size() == 1000);
}

TEST_CASE("a driven writer writes only when pumped, retries a failed sync on the next pump",
          "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    JournalWriterOptions o = quick(FsyncPolicy::batch);
    o.driven = true;
    int batches = 0;
    o.on_batch = [&] { ++batches; };
    auto w = JournalWriter::open(fs, dir.path(), 1, o);
    REQUIRE(w.has_value());
    CHECK_FALSE((*w)->pump());  // nothing pending
    for (std::uint64_t s = 1; s <= 3; ++s) {
        REQUIRE((*w)->append(claim_record(s)) == s);
    }
    CHECK((*w)->durable_sequence() == 0);  // no thread wrote them
    CHECK(fs.calls(Op::write) == 0);
    fs.fail(Op::sync, 1, EIO);
    CHECK((*w)->pump());
    CHECK((*w)->failed());
    CHECK((*w)->durable_sequence() == 0);
    REQUIRE((*w)->append(claim_record(4)) == 4U);
    CHECK((*w)->pump());  // the failed batch again, with the new record behind it
    CHECK_FALSE((*w)->failed());
    CHECK((*w)->durable_sequence() == 4);
    CHECK(batches == 2);
    CHECK_FALSE((*w)->pump());
    REQUIRE((*w)->append(claim_record(5)) == 5U);
    REQUIRE((*w)->close().has_value());  // close pumps what is left
    CHECK((*w)->durable_sequence() == 5);
    CHECK(test_support::read_journal(fs, dir.path()).size() == 5);
}

TEST_CASE("a driven writer whose disk keeps failing gives up at close, naming what is lost",
          "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    JournalWriterOptions o = quick(FsyncPolicy::batch);
    o.driven = true;
    auto w = JournalWriter::open(fs, dir.path(), 1, o);
    REQUIRE(w.has_value());
    REQUIRE((*w)->append(claim_record(1)) == 1U);
    fs.fail(Op::sync, 1, EIO, 0);
    const auto closed = (*w)->close();
    REQUIRE_FALSE(closed.has_value());
    CHECK(closed.error().message.find("1 records not durable") != std::string::npos);
    CHECK(fs.calls(Op::sync) >= o.close_attempts);
    fs.clear();
}

TEST_CASE("fsync=always syncs every record and fsync=off none", "[journal][writer]") {
    for (FsyncPolicy policy : {FsyncPolicy::always, FsyncPolicy::off}) {
        TempDir dir;
        FaultInjectingFileSystem fs{posix_file_system()};
        auto w = JournalWriter::open(fs, dir.path(), 1, quick(policy));
        REQUIRE(w.has_value());
        for (std::uint64_t s = 1; s <= 50; ++s) {
            REQUIRE((*w)->append(claim_record(s)).has_value());
        }
        REQUIRE((*w)->wait_durable(50, 20s));
        REQUIRE((*w)->close().has_value());
        INFO(to_string(policy));
        CHECK((*w)->stats().syncs == (policy == FsyncPolicy::always ? 50U : 0U));
        CHECK(fs.calls(Op::sync) == (policy == FsyncPolicy::always ? 50U : 0U));
        if (policy == FsyncPolicy::always) {
            CHECK((*w)->stats().batches == 50);
            CHECK((*w)->stats().max_batch == 1);
        }
        const auto records = test_support::read_journal(fs, dir.path());
        REQUIRE(records.size() == 50);
        CHECK(records[49] == claim_record(50));
    }
}

TEST_CASE("a batch starts early once max_batch records are pending", "[journal][writer]") {
    TempDir dir;
    JournalWriterOptions o = quick();
    o.max_delay = std::chrono::hours{1};
    o.max_batch = 10;
    auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, o);
    REQUIRE(w.has_value());
    for (std::uint64_t s = 1; s <= 10; ++s) {
        REQUIRE((*w)->append(claim_record(s)).has_value());
    }
    REQUIRE((*w)->wait_durable(10, 20s));
    CHECK((*w)->stats().batches == 1);
    for (std::uint64_t s = 11; s <= 15; ++s) {
        REQUIRE((*w)->append(claim_record(s)).has_value());
    }
    CHECK_FALSE((*w)->wait_durable(15, 30ms));  // five records wait for the hour-long window
    REQUIRE((*w)->close().has_value());         // ...or for a clean shutdown
    CHECK((*w)->durable_sequence() == 15);
    CHECK_FALSE((*w)->append(claim_record(16)).has_value());
    CHECK((*w)->append(claim_record(16)).error() == Error::closed);
}

TEST_CASE("a failed write or sync is not durable, is retried, and loses nothing",
          "[journal][writer]") {
    struct Case {
        Op op;
        int error;
    };
    for (const Case c : {Case{Op::write, ENOSPC}, Case{Op::sync, EIO}}) {
        TempDir dir;
        FaultInjectingFileSystem fs{posix_file_system()};
        fs.set_partial_writes(true);
        BatchLog log;
        JournalWriterOptions o = quick();
        o.on_batch = [&log] { log.record(); };
        auto w = JournalWriter::open(fs, dir.path(), 1, o);
        REQUIRE(w.has_value());
        {
            const std::lock_guard lock{log.mutex};
            log.writer = w->get();
        }
        fs.fail(c.op, 1, c.error, 3);
        std::vector<JournalRecord> sent;
        for (std::uint64_t s = 1; s <= 100; ++s) {
            sent.push_back(claim_record(s));
            REQUIRE((*w)->append(sent.back()) == s);
        }
        REQUIRE((*w)->wait_durable(100, 20s));
        CHECK_FALSE((*w)->failed());
        CHECK((*w)->last_error() == std::error_code{c.error, std::system_category()});
        CHECK((*w)->stats().failures == 3);
        REQUIRE((*w)->close().has_value());
        {
            const std::lock_guard lock{log.mutex};
            log.writer = nullptr;
            REQUIRE(log.calls.size() >= 4);
            for (std::size_t i = 0; i < 3; ++i) {
                CHECK(log.calls[i].first);         // reported failed...
                CHECK(log.calls[i].second == 0U);  // ...and nothing durable
            }
            CHECK_FALSE(log.calls.back().first);
        }
        CHECK(fs.failures(c.op) == 3);
        CHECK(test_support::read_journal(fs, dir.path()) == sent);  // no loss, no duplicate
    }
}

TEST_CASE("a writer keeps failing until the fault clears, then catches up", "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    auto w = JournalWriter::open(fs, dir.path(), 1, quick());
    REQUIRE(w.has_value());
    fs.fail(Op::write, 1, ENOSPC, 0);
    for (std::uint64_t s = 1; s <= 10; ++s) {
        REQUIRE((*w)->append(claim_record(s)).has_value());
    }
    REQUIRE(test_support::eventually([&] { return fs.failures(Op::write) >= 3; }));
    CHECK((*w)->failed());
    CHECK((*w)->durable_sequence() == 0);
    fs.clear();
    REQUIRE((*w)->wait_durable(10, 20s));
    CHECK_FALSE((*w)->failed());
    REQUIRE((*w)->close().has_value());
    CHECK(test_support::read_journal(fs, dir.path()).size() == 10);
}

TEST_CASE("a full queue refuses appends instead of blocking or dropping", "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    JournalWriterOptions o = quick();
    o.max_pending = 8;
    auto w = JournalWriter::open(fs, dir.path(), 1, o);
    REQUIRE(w.has_value());
    fs.fail(Op::write, 1, ENOSPC, 0);
    for (std::uint64_t s = 1; s <= 8; ++s) {
        REQUIRE((*w)->append(claim_record(s)).has_value());
    }
    CHECK_FALSE((*w)->has_room());
    const auto refused = (*w)->append(claim_record(9));
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == Error::queue_full);
    CHECK((*w)->stats().refused == 1);
    CHECK((*w)->append(claim_record(9), Admission::unbounded) == 9U);  // a change already made
    fs.clear();
    REQUIRE((*w)->wait_durable(9, 20s));
    CHECK((*w)->has_room(8));
    CHECK((*w)->append(claim_record(10)) == 10U);
    REQUIRE((*w)->close().has_value());
    CHECK(test_support::read_journal(fs, dir.path()).size() == 10);
}

TEST_CASE("close gives up on a persistent fault and says how much is not durable",
          "[journal][writer]") {
    TempDir dir;
    FaultInjectingFileSystem fs{posix_file_system()};
    JournalWriterOptions o = quick();
    o.close_attempts = 3;
    auto w = JournalWriter::open(fs, dir.path(), 1, o);
    REQUIRE(w.has_value());
    fs.fail(Op::sync, 1, EIO, 0);
    REQUIRE((*w)->append(claim_record(1)).has_value());
    const auto closed = (*w)->close();
    REQUIRE_FALSE(closed.has_value());
    CHECK(closed.error().code == Error::io_error);
    CHECK(closed.error().sys == std::error_code{EIO, std::system_category()});
    CHECK(closed.error().message.find("1 records not durable") != std::string::npos);
    CHECK((*w)->durable_sequence() == 0);
    fs.clear();
    CHECK(test_support::read_journal(fs, dir.path()).empty());  // cut back to what was durable
}

TEST_CASE("segments roll at the size limit and sequences continue across them",
          "[journal][writer]") {
    TempDir dir;
    JournalWriterOptions o = quick(FsyncPolicy::always);
    o.segment_bytes = 10 * kRecordFixedSize;
    auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, o);
    REQUIRE(w.has_value());
    for (std::uint64_t s = 1; s <= 35; ++s) {
        REQUIRE((*w)->append(claim_record(s)).has_value());
    }
    REQUIRE((*w)->close().has_value());
    const auto segments = list_segments(posix_file_system(), dir.path());
    REQUIRE(segments.has_value());
    REQUIRE(segments->size() == 4);
    CHECK((*segments)[0].first_sequence == 1);
    CHECK((*segments)[1].first_sequence == 11);
    CHECK((*segments)[3].first_sequence == 31);
    CHECK((*w)->stats().segments == 4);
    const auto records = test_support::read_journal(posix_file_system(), dir.path());
    REQUIRE(records.size() == 35);
    for (std::uint64_t s = 1; s <= 35; ++s) {
        CHECK(records[s - 1].sequence == s);
    }

    // A writer reopened on the journal starts a new segment after the last record.
    auto again = JournalWriter::open(posix_file_system(), dir.path(), 36, quick());
    REQUIRE(again.has_value());
    REQUIRE((*again)->append(claim_record(36)) == 36U);
    REQUIRE((*again)->close().has_value());
    CHECK(test_support::read_journal(posix_file_system(), dir.path()).size() == 36);
    // ...and refuses to start inside sequences a segment already holds.
    const auto clash = JournalWriter::open(posix_file_system(), dir.path(), 31, quick());
    REQUIRE_FALSE(clash.has_value());
    CHECK(clash.error().code == Error::already_exists);
}

TEST_CASE("a pool journal stamps request ids on creates and claims only", "[journal][writer]") {
    TempDir dir;
    auto w = JournalWriter::open(posix_file_system(), dir.path(), 1, quick(FsyncPolicy::off));
    REQUIRE(w.has_value());
    RedPacketPool pool{test_support::replay_config(9)};
    PoolJournal journal{**w, 9};
    pool.set_observer(PoolObserver::bind(journal));
    journal.set_request(77);
    const PacketId id = *pool.create(4, Cents{500}, 2, SplitPolicy::equal, 5s);
    journal.set_request(78);
    REQUIRE(pool.claim(id, 10, 1s).status == ClaimStatus::claimed);
    journal.set_request(0);
    (void)pool.expire(5s);
    CHECK(journal.last_sequence() == 3);
    REQUIRE((*w)->close().has_value());
    const auto records = test_support::read_journal(posix_file_system(), dir.path());
    REQUIRE(records.size() == 3);
    CHECK(records[0].request_id == 77);
    CHECK(records[0].shares.size() == 2);
    CHECK(records[0].shard == 9);
    CHECK(records[1].request_id == 78);
    CHECK(records[2].kind == PoolEventKind::refunded);
    CHECK(records[2].request_id == 0);
    CHECK(journal.lost() == 0);
}
