// Fuzz target: the recovery read of a journal directory, `scan_journal` (torn tails, corruption,
// repair) and `recover` (replay into fresh pools), over an in-memory file system.
//
// Input layout: byte 0 holds the options — bit 0 repair, bit 1 truncate_torn_tail, bit 2
// require_continuity off, bit 3 "fix CRCs" (walk each segment recomputing every record's CRCs,
// so that mutated fields reach the sequence checks and replay), bit 4 stop the visitor with an
// error at the record number in bits 5-7. Then up to 4 segments, each a byte naming it (0: after
// its first record's sequence, else that number), a u16 little-endian length and that many bytes
// of segment content. make_seeds writes journals of a real pool workload in this shape.
//
// Properties:
// - every record the scan hands to the visitor is stored in its file at the reported offset,
//   byte for byte as encode_record writes it, so its CRCs match (recomputed here); records come
//   in file order at increasing offsets, and with require_continuity their sequences are
//   consecutive and each segment starts at the sequence in its name;
// - the report counts exactly the records and bytes visited, first and last sequence included;
// - under repair the scan never fails; a failure is `corrupt` (or the visitor's own error) and
//   names one of the segments;
// - after a scan that cut something (torn tail truncated, or repair), scanning again finds the
//   same records and nothing left to cut;
// - recover never crashes; when it succeeds every pool still balances its money (created ==
//   claimed + refunded + outstanding, for packets and for the shake supply) and it replayed
//   what the scan read.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <expected>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "memory_file_system.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/recovery.hpp"

namespace {

using namespace redpacket;
using redpacket::fuzz::InputReader;
using redpacket::fuzz::MemoryFileSystem;

const std::string kDir = "/journal";
/// The pools recover() rebuilds: shards 0-3, configured as make_seeds' workload pool.
constexpr ShardId kShards = 4;

PoolConfig pool_config(ShardId shard) {
    PoolConfig c;
    c.shard = shard;
    c.max_packets = 64;
    c.shake_capacity = 64;
    c.retention = std::chrono::seconds{60};
    c.seed = 7;
    return c;
}

std::uint32_t load_u32(const std::byte* p) noexcept {
    std::uint32_t v = 0;
    std::memcpy(&v, p, 4);
    return v;
}
void store_u32(std::byte* p, std::uint32_t v) noexcept { std::memcpy(p, &v, 4); }

/// Makes every record of a segment CRC-valid, forcing lengths into range, as far as it fits.
void fix_crcs(std::vector<std::byte>& seg) {
    std::size_t pos = 0;
    while (seg.size() - pos >= kRecordFixedSize) {
        std::byte* p = seg.data() + pos;
        std::size_t length = load_u32(p);
        if (length < kRecordFixedSize || length > seg.size() - pos ||
            (length - kRecordFixedSize) % 8 != 0) {
            length = kRecordFixedSize;
        }
        store_u32(p, static_cast<std::uint32_t>(length));
        store_u32(p + 4, crc32c(std::span<const std::byte>{p, 4}));
        store_u32(p + length - 4, crc32c(std::span<const std::byte>{p, length - 4}));
        pos += length;
    }
}

struct Options {
    JournalScanOptions scan;
    bool fix{false};
    std::optional<std::uint64_t> stop_at;  ///< the visitor fails at this record number
};

/// Builds the directory from the input; returns the options.
Options build(InputReader& in, MemoryFileSystem& fs) {
    const std::uint8_t flags = in.byte();
    Options o;
    o.scan.repair = (flags & 1U) != 0;
    o.scan.truncate_torn_tail = (flags & 2U) != 0;
    o.scan.require_continuity = (flags & 4U) == 0;
    o.fix = (flags & 8U) != 0;
    if ((flags & 16U) != 0) {
        o.stop_at = flags >> 5U;
    }
    (void)fs.create_dirs(kDir);
    for (int i = 0; i < 4 && !in.empty(); ++i) {
        const std::uint8_t name = in.byte();
        const auto length = in.uint<std::uint16_t>();
        const auto content = in.take(length);
        std::vector<std::byte> seg(content.begin(), content.end());
        if (o.fix) {
            fix_crcs(seg);
        }
        std::uint64_t first = name;
        if (name == 0 && seg.size() >= 16) {
            std::memcpy(&first, seg.data() + 8, 8);
        }
        fs.put(kDir + "/" + segment_name(first), std::move(seg));
    }
    return o;
}

/// What the visitor saw.
struct Visit {
    std::string file;
    std::uint64_t offset;
    JournalRecord record;
};

struct ScanResult {
    std::expected<JournalScanReport, JournalError> report;
    std::vector<Visit> visits;
};

ScanResult scan(MemoryFileSystem& fs, const Options& o, JournalScanOptions options) {
    // Records as stored before the scan (it may truncate or remove files).
    const MemoryFileSystem before = fs.clone();
    std::vector<Visit> visits;
    std::uint64_t expected_next = 0;
    const RecordVisitor visit = [&](const JournalRecord& r,
                                    const RecordLocation& at) -> std::expected<void, JournalError> {
        const auto file = before.files().find(*at.file);
        REDPACKET_FUZZ_CHECK(file != before.files().end(), "a visited record is in a segment");
        const MemoryFileSystem::Bytes& bytes = *file->second;
        const std::size_t size = record_size(r);
        REDPACKET_FUZZ_CHECK(at.offset + size <= bytes.size(), "a visited record lies in its file");
        std::vector<std::byte> encoded(size);
        REDPACKET_FUZZ_CHECK(encode_record(r, encoded) == size, "a visited record encodes");
        const std::byte* stored = bytes.data() + at.offset;
        REDPACKET_FUZZ_CHECK(std::memcmp(encoded.data(), stored, size) == 0,
                             "a visited record is stored exactly as encode_record writes it");
        REDPACKET_FUZZ_CHECK(load_u32(stored + size - 4) ==
                                 crc32c(std::span<const std::byte>{stored, size - 4}),
                             "the scan never accepts a record whose CRC does not match");
        if (!visits.empty() && visits.back().file == *at.file) {
            REDPACKET_FUZZ_CHECK(at.offset > visits.back().offset, "records come in file order");
        } else if (!visits.empty()) {
            REDPACKET_FUZZ_CHECK(*at.file > visits.back().file, "segments come in order");
        }
        if (options.require_continuity && expected_next != 0) {
            REDPACKET_FUZZ_CHECK(r.sequence == expected_next, "sequences are consecutive");
        }
        expected_next = r.sequence + 1;
        visits.push_back(Visit{*at.file, at.offset, r});
        if (o.stop_at && visits.size() == *o.stop_at + 1) {
            return std::unexpected(JournalError{Error::invalid_argument, {}, *at.file, at.offset,
                                                "visitor stops"});
        }
        return {};
    };
    auto report = scan_journal(fs, kDir, visit, options);
    return ScanResult{std::move(report), std::move(visits)};
}

void check_report(const ScanResult& s, const Options& o, const MemoryFileSystem& fs) {
    if (!s.report) {
        const JournalError& e = s.report.error();
        const bool visitor = o.stop_at && e.message == "visitor stops";
        REDPACKET_FUZZ_CHECK(visitor || !o.scan.repair, "a repairing scan does not fail");
        REDPACKET_FUZZ_CHECK(visitor || e.code == Error::corrupt, "a failed scan is corrupt");
        REDPACKET_FUZZ_CHECK(fs.files().contains(e.file), "a failure names a segment");
        return;
    }
    const JournalScanReport& r = *s.report;
    REDPACKET_FUZZ_CHECK(r.records == s.visits.size(), "the report counts the records visited");
    std::uint64_t bytes = 0;
    for (const Visit& v : s.visits) {
        bytes += record_size(v.record);
    }
    REDPACKET_FUZZ_CHECK(r.bytes == bytes, "the report counts the bytes visited");
    if (!s.visits.empty()) {
        REDPACKET_FUZZ_CHECK(r.first_sequence == s.visits.front().record.sequence &&
                                 r.last_sequence == s.visits.back().record.sequence,
                             "the report's first and last sequence are the visited ones");
    }
    if (o.scan.require_continuity) {
        for (const SegmentInfo& seg : r.segments) {
            for (const Visit& v : s.visits) {
                if (v.file == seg.file && v.offset == 0) {
                    REDPACKET_FUZZ_CHECK(v.record.sequence == seg.first_sequence,
                                         "a segment starts at the sequence in its name");
                }
            }
        }
    }
}

/// A scan that cut something leaves a journal that scans clean to the same records.
void check_rescan(MemoryFileSystem& fs, const Options& o, const ScanResult& first) {
    if (!first.report) {
        return;
    }
    const JournalScanReport& r = *first.report;
    const bool cut = r.repaired || (r.torn_tail && o.scan.truncate_torn_tail);
    if (!cut) {
        return;
    }
    JournalScanOptions options = o.scan;
    options.repair = false;
    Options quiet = o;
    quiet.stop_at.reset();
    const ScanResult again = scan(fs, quiet, options);
    REDPACKET_FUZZ_CHECK(again.report.has_value(), "a cut journal scans without error");
    REDPACKET_FUZZ_CHECK(!again.report->torn_tail && !again.report->repaired,
                         "nothing is left to cut after a cut");
    REDPACKET_FUZZ_CHECK(again.visits.size() == first.visits.size(),
                         "a cut journal keeps every record the first scan read");
}

bool balanced(const PoolStats& s) {
    return s.amount_created.value ==
               s.amount_claimed.value + s.amount_refunded.value + s.amount_outstanding.value &&
           s.shake_amount_offered.value ==
               s.shake_amount_issued.value + s.shake_amount_expired.value +
                   s.shake_amount_queued.value;
}

void check_recover(MemoryFileSystem fs, const Options& o) {
    std::vector<RedPacketPool> pools;
    for (ShardId s = 0; s < kShards; ++s) {
        pools.emplace_back(pool_config(s));
    }
    const PoolResolver pool_for = [&](ShardId shard) -> RedPacketPool* {
        return shard < kShards ? &pools[shard] : nullptr;
    };
    const auto report = recover(fs, kDir, pool_for, RecoveryOptions{o.scan.repair});
    if (!report) {
        return;
    }
    for (const RedPacketPool& pool : pools) {
        REDPACKET_FUZZ_CHECK(balanced(pool.stats()), "a recovered pool balances its money");
    }
    REDPACKET_FUZZ_CHECK(report->records_replayed == report->scan.records,
                         "recover replays every record it read (no snapshot here)");
    REDPACKET_FUZZ_CHECK(report->last_sequence == report->scan.last_sequence,
                         "the writer continues after the last record read");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    InputReader in{redpacket::fuzz::as_bytes(data, size)};
    MemoryFileSystem fs;
    const Options o = build(in, fs);
    const MemoryFileSystem pristine = fs.clone();

    const ScanResult first = scan(fs, o, o.scan);
    check_report(first, o, pristine);
    check_rescan(fs, o, first);
    check_recover(pristine.clone(), o);
    return 0;
}
