#include "redpacket/snapshot.hpp"
#include "redpacket/assert.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

#include "byte_io.hpp"
#include "redpacket/crc32c.hpp"
#include "redpacket/journal.hpp"

namespace redpacket {
namespace {

using detail::ByteReader;
using detail::ByteWriter;

constexpr std::string_view kMagic = "RPSNAP01";
constexpr std::uint32_t kVersion = 1;
constexpr std::string_view kSnapshotPrefix = "snapshot-";
constexpr std::string_view kSnapshotSuffix = ".snap";
constexpr std::string_view kTempSuffix = ".tmp";
constexpr std::size_t kRequestEntryBytes = 24;

// Every PoolStats field in declaration order, as a reference to its 64-bit representation.
template <class Stats, class Fn>
void for_each_stat(Stats& s, Fn&& fn) {
    fn(s.packets_created);
    fn(s.packets_expired);
    fn(s.packets_live);
    fn(s.shares_live);
    fn(s.claims);
    fn(s.create_rejected);
    fn(s.amount_created.value);
    fn(s.amount_claimed.value);
    fn(s.amount_refunded.value);
    fn(s.amount_outstanding.value);
    fn(s.shake_offered);
    fn(s.shake_refused);
    fn(s.shake_issued);
    fn(s.shake_empty);
    fn(s.shake_expired);
    fn(s.shake_amount_offered.value);
    fn(s.shake_amount_issued.value);
    fn(s.shake_amount_expired.value);
    fn(s.shake_amount_queued.value);
}

JournalError corrupt(const std::string& file, std::uint64_t offset, std::string message) {
    return JournalError{Error::corrupt, {}, file, offset, std::move(message)};
}

// The part of a pool's section before its events.
void put_pool_header(ByteWriter& w, ShardId shard, std::uint32_t max_packets,
                     const PoolCheckpoint& checkpoint, std::uint64_t events) {
    w.put(shard);
    w.put(max_packets);
    PoolStats stats = checkpoint.stats;
    for_each_stat(stats, [&](auto& v) { w.put(static_cast<std::uint64_t>(v)); });
    w.put(checkpoint.shake_serial);
    w.put(static_cast<std::uint32_t>(checkpoint.slot_generations.size()));
    for (const std::uint32_t g : checkpoint.slot_generations) {
        w.put(g);
    }
    w.put(events);
}

std::size_t pool_header_size(std::size_t slots) noexcept {
    static const std::size_t stats = [] {
        PoolStats s;
        std::size_t n = 0;
        for_each_stat(s, [&](auto&) { ++n; });
        return n;
    }();
    return 4 + 4 + 8 * stats + 8 + 4 + 4 * slots + 8;
}

constexpr std::size_t kHeaderSize = 8 + 4 + 4 + 8 + 4;  // magic, version, flags, sequence, pools

void put_file_header(ByteWriter& w, std::uint64_t sequence, std::size_t pools) {
    w.put_bytes(std::as_bytes(std::span{kMagic.data(), kMagic.size()}));
    w.put(kVersion);
    w.put(std::uint32_t{0});
    w.put(sequence);
    w.put(static_cast<std::uint32_t>(pools));
}

void put_requests_and_crc(ByteWriter& w, std::vector<std::byte>& out,
                          std::span<const CreateRequestEntry> requests) {
    w.put(static_cast<std::uint64_t>(requests.size()));
    for (const CreateRequestEntry& e : requests) {
        w.put(e.user);
        w.put(e.request_id);
        w.put(e.packet.value);
    }
    w.put(crc32c(out));
}

constexpr std::size_t trailer_size(std::size_t requests) noexcept {
    return 8 + kRequestEntryBytes * requests + 4;
}

// Appends one encoded record of `size` bytes, written by `encode` into the span it is given.
template <class Encode>
void put_record(std::vector<std::byte>& out, std::size_t size, Encode&& encode) {
    const std::size_t at = out.size();
    out.resize(at + size);
    // Records come from for_each_live or from a decoded snapshot: within every limit.
    [[maybe_unused]] const std::size_t written = encode(std::span<std::byte>{out}.subspan(at));
    REDPACKET_ASSERT(written == size);
}

std::expected<PoolSnapshot, JournalError> get_pool(ByteReader& r, std::span<const std::byte> bytes,
                                                   const std::string& file) {
    PoolSnapshot p;
    p.shard = r.get<std::uint32_t>();
    p.max_packets = r.get<std::uint32_t>();
    for_each_stat(p.checkpoint.stats, [&](auto& v) {
        v = static_cast<std::remove_reference_t<decltype(v)>>(r.get<std::uint64_t>());
    });
    p.checkpoint.shake_serial = r.get<std::uint64_t>();
    const auto slots = r.get<std::uint32_t>();
    if (!r.ok() || r.remaining() / 4 < slots) {
        return std::unexpected(corrupt(file, r.position(), "slot table runs past the end"));
    }
    p.checkpoint.slot_generations.resize(slots);
    for (std::uint32_t& g : p.checkpoint.slot_generations) {
        g = r.get<std::uint32_t>();
    }
    const auto events = r.get<std::uint64_t>();
    if (!r.ok() || r.remaining() / kRecordFixedSize < events) {
        return std::unexpected(corrupt(file, r.position(), "event count runs past the end"));
    }
    p.events.resize(static_cast<std::size_t>(events));
    for (JournalRecord& e : p.events) {
        const std::size_t at = r.position();
        const auto size = decode_record(bytes.subspan(at), e);
        if (!size) {
            return std::unexpected(corrupt(file, at,
                                           "bad event record: " + std::string{to_string(size.error())}));
        }
        (void)r.get_bytes(*size);
    }
    return p;
}

std::optional<std::uint64_t> parse_numbered(std::string_view name, std::string_view prefix,
                                            std::string_view suffix) noexcept {
    constexpr std::size_t kDigits = 20;
    if (name.size() != prefix.size() + kDigits + suffix.size() || !name.starts_with(prefix) ||
        !name.ends_with(suffix)) {
        return std::nullopt;
    }
    const std::string_view digits = name.substr(prefix.size(), kDigits);
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
    if (ec != std::errc{} || end != digits.data() + digits.size()) {
        return std::nullopt;
    }
    return value;
}

JournalError io_error(const std::string& file, std::error_code ec, std::string message) {
    return JournalError{Error::io_error, ec, file, 0, std::move(message)};
}

}  // namespace

PoolSnapshot capture(const RedPacketPool& pool) {
    PoolSnapshot p;
    p.shard = pool.config().shard;
    p.max_packets = pool.config().max_packets;
    p.checkpoint = pool.checkpoint();
    p.events.reserve(static_cast<std::size_t>(pool.stats().packets_live) + pool.shake_size());
    pool.for_each_live([&](const PoolEvent& e) { p.events.push_back(to_record(e, p.shard, 0, 0)); });
    return p;
}

std::expected<void, Error> restore_pool(RedPacketPool& pool, const PoolSnapshot& snapshot) {
    const PoolStats& s = pool.stats();
    if (pool.config().shard != snapshot.shard || pool.config().max_packets != snapshot.max_packets ||
        s.packets_created != 0 || s.shake_offered != 0) {
        return std::unexpected(Error::invalid_argument);
    }
    for (const JournalRecord& r : snapshot.events) {
        if (r.shard != snapshot.shard) {
            return std::unexpected(Error::corrupt);
        }
        if (auto ok = pool.replay(to_event(r)); !ok) {
            return ok;
        }
    }
    return pool.restore(snapshot.checkpoint);
}

std::string snapshot_name(std::uint64_t sequence) {
    char buf[64];
    const int n = std::snprintf(buf, sizeof buf, "snapshot-%020llu.snap",
                                static_cast<unsigned long long>(sequence));
    return std::string{buf, static_cast<std::size_t>(n)};
}

std::optional<std::uint64_t> parse_snapshot_name(std::string_view name) noexcept {
    return parse_numbered(name, kSnapshotPrefix, kSnapshotSuffix);
}

std::vector<std::byte> encode_snapshot(const Snapshot& snapshot) {
    std::size_t size = kHeaderSize + trailer_size(snapshot.create_requests.size());
    for (const PoolSnapshot& p : snapshot.pools) {
        size += pool_header_size(p.checkpoint.slot_generations.size());
        for (const JournalRecord& r : p.events) {
            size += record_size(r);
        }
    }
    std::vector<std::byte> out;
    out.reserve(size);
    ByteWriter w{out};
    put_file_header(w, snapshot.sequence, snapshot.pools.size());
    for (const PoolSnapshot& p : snapshot.pools) {
        put_pool_header(w, p.shard, p.max_packets, p.checkpoint, p.events.size());
        for (const JournalRecord& r : p.events) {
            put_record(out, record_size(r), [&](std::span<std::byte> to) { return encode_record(r, to); });
        }
    }
    put_requests_and_crc(w, out, snapshot.create_requests);
    REDPACKET_ASSERT(out.size() == size);
    return out;
}

std::vector<std::byte> encode_snapshot(std::uint64_t sequence,
                                       std::span<const RedPacketPool* const> pools,
                                       std::span<const CreateRequestEntry> create_requests) {
    // Two passes over each pool's live events: one to size the file, one to write it.
    std::vector<std::uint64_t> events(pools.size(), 0);
    std::vector<PoolCheckpoint> checkpoints;
    checkpoints.reserve(pools.size());
    std::size_t size = kHeaderSize + trailer_size(create_requests.size());
    for (std::size_t i = 0; i < pools.size(); ++i) {
        checkpoints.push_back(pools[i]->checkpoint());
        size += pool_header_size(checkpoints.back().slot_generations.size());
        pools[i]->for_each_live([&](const PoolEvent& e) {
            ++events[i];
            size += record_size(e.shares.size(), e.allowed.size(), e.seed != nullptr);
        });
    }
    std::vector<std::byte> out;
    out.reserve(size);
    ByteWriter w{out};
    put_file_header(w, sequence, pools.size());
    for (std::size_t i = 0; i < pools.size(); ++i) {
        const RedPacketPool& pool = *pools[i];
        const ShardId shard = pool.config().shard;
        put_pool_header(w, shard, pool.config().max_packets, checkpoints[i], events[i]);
        pool.for_each_live([&](const PoolEvent& e) {
            put_record(out, record_size(e.shares.size(), e.allowed.size(), e.seed != nullptr),
                       [&](std::span<std::byte> to) { return encode_event(0, shard, 0, e, to); });
        });
    }
    put_requests_and_crc(w, out, create_requests);
    REDPACKET_ASSERT(out.size() == size);
    return out;
}

std::expected<Snapshot, JournalError> decode_snapshot(std::span<const std::byte> bytes,
                                                      const std::string& file) {
    if (bytes.size() < kHeaderSize + trailer_size(0)) {  // no pools, no requests
        return std::unexpected(corrupt(file, bytes.size(), "snapshot is too short"));
    }
    const std::size_t body = bytes.size() - 4;
    if (detail::load_le<std::uint32_t>(bytes.data() + body) != crc32c(bytes.first(body))) {
        return std::unexpected(corrupt(file, body, "snapshot fails its CRC"));
    }
    ByteReader r{bytes.first(body)};
    const auto magic = r.get_bytes(kMagic.size());
    if (!std::equal(magic.begin(), magic.end(), std::as_bytes(std::span{kMagic}).begin())) {
        return std::unexpected(corrupt(file, 0, "not a snapshot (bad magic)"));
    }
    if (r.get<std::uint32_t>() != kVersion || r.get<std::uint32_t>() != 0) {
        return std::unexpected(corrupt(file, 8, "unsupported snapshot version"));
    }
    Snapshot s;
    s.sequence = r.get<std::uint64_t>();
    const auto pools = r.get<std::uint32_t>();
    if (!r.ok() || r.remaining() / 8 < pools) {
        return std::unexpected(corrupt(file, r.position(), "pool count runs past the end"));
    }
    s.pools.reserve(pools);
    for (std::uint32_t i = 0; i < pools; ++i) {
        auto p = get_pool(r, bytes.first(body), file);
        if (!p) {
            return std::unexpected(p.error());
        }
        s.pools.push_back(std::move(*p));
    }
    const auto requests = r.get<std::uint64_t>();
    if (!r.ok() || r.remaining() / kRequestEntryBytes < requests) {
        return std::unexpected(corrupt(file, r.position(), "request table runs past the end"));
    }
    s.create_requests.resize(static_cast<std::size_t>(requests));
    for (CreateRequestEntry& e : s.create_requests) {
        e.user = r.get<std::uint64_t>();
        e.request_id = r.get<std::uint64_t>();
        e.packet = PacketId{r.get<std::uint64_t>()};
    }
    if (!r.ok() || r.remaining() != 0) {
        return std::unexpected(corrupt(file, r.position(), "snapshot has trailing bytes"));
    }
    return s;
}

std::expected<std::string, JournalError> write_snapshot(JournalFileSystem& fs,
                                                        const std::string& dir,
                                                        const Snapshot& snapshot) {
    return write_snapshot_bytes(fs, dir, snapshot.sequence, encode_snapshot(snapshot));
}

std::expected<std::string, JournalError> write_snapshot_bytes(JournalFileSystem& fs,
                                                              const std::string& dir,
                                                              std::uint64_t sequence,
                                                              std::span<const std::byte> bytes) {
    if (auto ok = fs.create_dirs(dir); !ok) {
        return std::unexpected(io_error(dir, ok.error(), "cannot create the directory"));
    }
    const std::string path = dir + "/" + snapshot_name(sequence);
    const std::string temp = path + std::string{kTempSuffix};
    {
        auto file = fs.open(temp, OpenMode::write);
        if (!file) {
            return std::unexpected(io_error(temp, file.error(), "cannot create"));
        }
        if (auto ok = (*file)->truncate(0); !ok) {
            return std::unexpected(io_error(temp, ok.error(), "cannot truncate"));
        }
        if (auto ok = (*file)->write_at(0, bytes); !ok) {
            (void)fs.remove(temp);
            return std::unexpected(io_error(temp, ok.error(), "cannot write"));
        }
        if (auto ok = (*file)->sync(); !ok) {
            (void)fs.remove(temp);
            return std::unexpected(io_error(temp, ok.error(), "cannot sync"));
        }
    }
    if (auto ok = fs.rename(temp, path); !ok) {
        (void)fs.remove(temp);
        return std::unexpected(io_error(path, ok.error(), "cannot rename into place"));
    }
    if (auto ok = fs.sync_dir(dir); !ok) {
        return std::unexpected(io_error(dir, ok.error(), "cannot sync the directory"));
    }
    return path;
}

std::expected<Snapshot, JournalError> read_snapshot(JournalFileSystem& fs, const std::string& path) {
    auto file = fs.open(path, OpenMode::read);
    if (!file) {
        return std::unexpected(io_error(path, file.error(), "cannot open"));
    }
    const auto size = (*file)->size();
    if (!size) {
        return std::unexpected(io_error(path, size.error(), "cannot stat"));
    }
    std::vector<std::byte> bytes(static_cast<std::size_t>(*size));
    const auto n = (*file)->read_at(0, bytes);
    if (!n) {
        return std::unexpected(io_error(path, n.error(), "cannot read"));
    }
    bytes.resize(*n);
    return decode_snapshot(bytes, path);
}

std::expected<std::vector<SnapshotInfo>, JournalError> list_snapshots(JournalFileSystem& fs,
                                                                      const std::string& dir) {
    auto names = fs.list(dir);
    if (!names) {
        if (names.error() == std::errc::no_such_file_or_directory) {
            return std::vector<SnapshotInfo>{};
        }
        return std::unexpected(io_error(dir, names.error(), "cannot list"));
    }
    std::vector<SnapshotInfo> out;
    for (const std::string& name : *names) {
        if (const auto seq = parse_snapshot_name(name)) {
            out.push_back(SnapshotInfo{dir + "/" + name, *seq});
        }
    }
    std::sort(out.begin(), out.end(),
              [](const SnapshotInfo& a, const SnapshotInfo& b) { return a.sequence < b.sequence; });
    return out;
}

std::expected<SnapshotChoice, JournalError> load_newest_snapshot(JournalFileSystem& fs,
                                                                 const std::string& dir) {
    auto snapshots = list_snapshots(fs, dir);
    if (!snapshots) {
        return std::unexpected(snapshots.error());
    }
    SnapshotChoice choice;
    for (auto it = snapshots->rbegin(); it != snapshots->rend(); ++it) {
        auto s = read_snapshot(fs, it->file);
        if (!s) {
            if (s.error().code != Error::corrupt) {
                return std::unexpected(s.error());
            }
            choice.skipped.push_back(describe(s.error()));
            continue;
        }
        if (s->sequence != it->sequence) {
            choice.skipped.push_back(it->file + ": holds sequence " + std::to_string(s->sequence) +
                                     ", its name says " + std::to_string(it->sequence));
            continue;
        }
        choice.snapshot = std::move(*s);
        choice.file = it->file;
        break;
    }
    return choice;
}

std::expected<PruneReport, JournalError> remove_covered_segments(JournalFileSystem& fs,
                                                                 const std::string& dir,
                                                                 std::uint64_t sequence) {
    auto segments = list_segments(fs, dir);
    if (!segments) {
        return std::unexpected(segments.error());
    }
    PruneReport report;
    // Segment i holds sequences [first_i, first_{i+1}): covered if first_{i+1} − 1 ≤ sequence.
    for (std::size_t i = 0; i + 1 < segments->size(); ++i) {
        if ((*segments)[i + 1].first_sequence > sequence + 1) {
            break;
        }
        if (auto ok = fs.remove((*segments)[i].file); !ok) {
            return std::unexpected(io_error((*segments)[i].file, ok.error(), "cannot remove"));
        }
        report.removed_segments.push_back((*segments)[i].file);
    }
    if (!report.removed_segments.empty()) {
        if (auto ok = fs.sync_dir(dir); !ok) {
            return std::unexpected(io_error(dir, ok.error(), "cannot sync the directory"));
        }
    }
    return report;
}

std::expected<PruneReport, JournalError> prune_journal(JournalFileSystem& fs,
                                                       const std::string& dir,
                                                       std::size_t keep_snapshots) {
    auto snapshots = list_snapshots(fs, dir);
    if (!snapshots) {
        return std::unexpected(snapshots.error());
    }
    keep_snapshots = std::max<std::size_t>(keep_snapshots, 1);
    PruneReport report;
    if (auto names = fs.list(dir); names) {
        for (const std::string& name : *names) {
            if (name.starts_with(kSnapshotPrefix) && name.ends_with(kTempSuffix) &&
                fs.remove(dir + "/" + name)) {
                report.removed_snapshots.push_back(dir + "/" + name);
            }
        }
    }
    if (snapshots->empty()) {
        return report;
    }
    const std::size_t first_kept =
        snapshots->size() > keep_snapshots ? snapshots->size() - keep_snapshots : 0;
    for (std::size_t i = 0; i < first_kept; ++i) {
        if (auto ok = fs.remove((*snapshots)[i].file); !ok) {
            return std::unexpected(io_error((*snapshots)[i].file, ok.error(), "cannot remove"));
        }
        report.removed_snapshots.push_back((*snapshots)[i].file);
    }
    auto segments = remove_covered_segments(fs, dir, (*snapshots)[first_kept].sequence);
    if (!segments) {
        return std::unexpected(segments.error());
    }
    report.removed_segments = std::move(segments->removed_segments);
    return report;
}

}  // namespace redpacket
