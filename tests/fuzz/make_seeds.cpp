// Writes the seed corpora of the fuzz targets: a handful of valid inputs each, in the input
// layout each target's header describes. Deterministic: running it again rewrites the same
// files. Usage: make_seeds <tests/fuzz/corpus>  (run_fuzz.sh --seeds does it).
//
// The journal and snapshot seeds come from a real pool driven through creates, claims, shake
// offers and takes, and expiry, so that the fuzzer starts from journals recovery accepts.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config.hpp"
#include "redpacket/journal.hpp"
#include "redpacket/journal_record.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket/snapshot.hpp"

namespace {

using namespace redpacket;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
namespace proto = redpacket::protocol;

using Bytes = std::vector<std::byte>;

class SeedWriter {
public:
    explicit SeedWriter(fs::path root) : root_{std::move(root)} {}

    void write(const std::string& target, const std::string& name, std::span<const std::byte> b) {
        const fs::path dir = root_ / target;
        fs::create_directories(dir);
        std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
        if (!out) {
            throw std::runtime_error("cannot write " + (dir / name).string());
        }
        ++count_;
    }
    void write(const std::string& target, const std::string& name, std::string_view text) {
        write(target, name, std::as_bytes(std::span{text.data(), text.size()}));
    }
    [[nodiscard]] int count() const noexcept { return count_; }

private:
    fs::path root_;
    int count_{0};
};

void push(Bytes& out, std::uint8_t b) { out.push_back(std::byte{b}); }
void push(Bytes& out, std::span<const std::byte> b) { out.insert(out.end(), b.begin(), b.end()); }

// --- the wire protocol ------------------------------------------------------------------------

/// One message of each type, fields filled with distinct values.
std::vector<proto::Message> every_message() {
    using namespace proto;
    AuthLogin login{.user = 42, .expiry = 1'800'000'000, .token = {}};
    for (std::size_t i = 0; i < login.token.size(); ++i) {
        login.token[i] = static_cast<std::uint8_t>(i * 7 + 1);
    }
    return {
        LoginRequest{1001},
        LoginResponse{1001, kResultOk},
        ShakeRequest{1001},
        ShakeResponse{1001, kShakeGotPacket, 0x1234, 88},
        PacketNotice{0x1234, 300, 3, {1001, 1002, 1003}},
        GrabRequest{0, 0x1234},
        GrabResponse{0x1234, 99},
        login,
        AuthLoginResponse{42, kResultOk},
        CreatePacket{7, 10000, 5, to_wire(SplitPolicy::double_mean), 60},
        CreateResponse{7, 0x0000'0001'0000'2003ULL},
        Claim{8, 0x0000'0001'0000'2003ULL},
        ClaimResponse{8, 0x0000'0001'0000'2003ULL, to_wire(ClaimStatus::claimed), 0, 1999},
        Query{9, 0x0000'0001'0000'2003ULL},
        QueryResponse{9, 0x0000'0001'0000'2003ULL, 10000, 5, 1, 8001, 42, 1999,
                      to_wire(PacketState::open)},
        Heartbeat{0xfeedfacecafebeefULL},
        HeartbeatResponse{0xfeedfacecafebeefULL},
        ErrorReply{8, ErrorCode::not_found},
        Proof{10, 0x0000'0001'0000'2003ULL, kProofSeed},
        ProofResponse{10, kProofSeed, kProofWithheld, to_wire(SplitPolicy::line_cut), 1, {}},
    };
}

Bytes frames(const std::vector<proto::Message>& messages, std::uint64_t time) {
    Bytes out;
    for (const proto::Message& m : messages) {
        proto::append(out, m, time);
    }
    return out;
}

void frame_decoder_seeds(SeedWriter& w) {
    const auto all = every_message();
    const Bytes stream = frames(all, 1'700'000'000);
    // head: max frame 0 (1024), chunk table of (head >> 3) % 16 + 1 entries.
    const auto input = [](std::uint8_t max_frame, std::vector<std::uint8_t> chunks,
                          std::span<const std::byte> s) {
        Bytes b;
        push(b, static_cast<std::uint8_t>(max_frame | ((chunks.size() - 1) << 3U)));
        for (const std::uint8_t c : chunks) {
            push(b, c);
        }
        push(b, s);
        return b;
    };
    w.write("frame_decoder", "every_message_whole", input(0, {255}, stream));
    w.write("frame_decoder", "every_message_bytewise", input(0, {1}, stream));
    w.write("frame_decoder", "every_message_odd_chunks", input(0, {3, 0, 17, 72, 5}, stream));
    Bytes shakes = frames({proto::ShakeRequest{7}, proto::ShakeRequest{8}, proto::ShakeRequest{9}}, 0);
    w.write("frame_decoder", "shakes_split_in_header", input(0, {2, 30}, shakes));
    Bytes bad = frames({proto::LoginRequest{5}, proto::Heartbeat{1}}, 3);
    push(bad, std::vector<std::byte>{std::byte{0}, std::byte{20}, std::byte{0}, std::byte{9}});
    push(bad, frames({proto::ShakeRequest{5}}, 3));
    w.write("frame_decoder", "unknown_command_midstream", input(0, {7, 11}, bad));
    Bytes partial = frames({proto::Claim{1, 2}, proto::Query{3, 4}}, 9);
    partial.resize(partial.size() - 5);
    w.write("frame_decoder", "partial_tail", input(1, {13}, partial));
    w.write("frame_decoder", "small_max_frame", input(3, {40}, stream));
}

void message_seeds(SeedWriter& w) {
    for (const proto::Message& m : every_message()) {
        Bytes frame;
        proto::append(frame, m, 0x0102030405060708ULL);
        Bytes input;
        push(input, static_cast<std::uint8_t>(proto::command_of(m)));
        push(input, std::span{frame}.subspan(4));  // time, then the body
        w.write("messages", std::string{proto::to_string(proto::command_of(m))}, input);
    }
    Bytes unknown;
    push(unknown, 9);
    push(unknown, Bytes(20, std::byte{0x5a}));
    w.write("messages", "unknown_command", unknown);
}

// --- the admin API and the configuration -------------------------------------------------------

void admin_seeds(SeedWriter& w) {
    const std::string auth = "Bearer fuzz-token";
    const std::pair<const char*, std::string> requests[] = {
        {"healthz", "GET\n/healthz\n\n"},
        {"readyz", "GET\n/readyz\n\n"},
        {"dashboard", "GET\n/dashboard\n\n"},
        {"stats", "GET\n/stats\n" + auth + "\n"},
        {"stats_no_token", "GET\n/stats?x=1#frag\n\n"},
        {"metrics", "GET\n/metrics\n" + auth + "\n"},
        {"campaigns", "GET\n/campaigns\n" + auth + "\n"},
        {"shake_json", "POST\n/campaigns/shake\n" + auth +
                           "\n{\"rate\": 200, \"total\": 1000, \"min_amount\": 1, "
                           "\"max_amount\": 100, \"ttl_seconds\": 60}"},
        {"send_json", "POST\n/campaigns/send\n\n{\"enabled\": true, \"rate\": 50, \"total\": "
                      "20000, \"min_total\": 3, \"max_total\": 300, \"shares\": 3, \"policy\": "
                      "\"line_cut\", \"ttl_seconds\": 30}"},
        {"send_bad_key", "POST\n/campaigns/send\n\n{\"shares\": -1, \"colour\": \"red\"}"},
        {"yaohongbao", "GET\n/yaohongbao?qps=200&sum=40000\n" + auth + "\n"},
        {"fahongbao", "GET\n/fahongbao?qps=200&sum=20000&min=1&max=100\n\n"},
        {"wrong_method", "DELETE\n/campaigns\n\n"},
        {"wrong_token", "GET\n/metrics\nBearer nope\n"},
        {"no_such_path", "GET\n/nope\n\n"},
    };
    for (const auto& [name, text] : requests) {
        w.write("admin_router", name, text);
    }
}

void admin_http_seeds(SeedWriter& w) {
    const std::string auth = "Authorization: Bearer fuzz-token\r\n";
    const std::string send = R"({"rate": 50, "total": 100, "min_total": 3, "max_total": 300, "shares": 3})";
    const std::pair<const char*, std::string> requests[] = {
        {"healthz", "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"},
        {"stats", "GET /stats HTTP/1.1\r\nHost: localhost\r\n" + auth + "\r\n"},
        {"metrics_http10", "GET /metrics HTTP/1.0\r\n" + auth + "\r\n"},
        {"no_token", "GET /campaigns HTTP/1.1\r\nHost: localhost\r\n\r\n"},
        {"send_json", "POST /campaigns/send HTTP/1.1\r\nHost: localhost\r\n" + auth +
                          "Content-Type: application/json\r\nContent-Length: " +
                          std::to_string(send.size()) + "\r\n\r\n" + send},
        {"shake_chunked", "POST /campaigns/shake HTTP/1.1\r\n" + auth +
                              "Transfer-Encoding: chunked\r\n\r\n"
                              "c\r\n{\"rate\": 10}\r\n0\r\n\r\n"},
        {"yaohongbao", "GET /yaohongbao?qps=200&sum=40000 HTTP/1.1\r\n" + auth + "\r\n"},
        {"too_large", "POST /campaigns/send HTTP/1.1\r\n" + auth +
                          "Content-Length: 999999\r\n\r\n{}"},
        {"pipelined", "GET /healthz HTTP/1.1\r\n\r\nGET /stats HTTP/1.1\r\n" + auth + "\r\n"},
        {"tls_hello", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11)},
    };
    for (const auto& [name, text] : requests) {
        w.write("admin_http", name, std::string{"\x80"} + text);  // byte 0: split in the middle
    }
}

void config_seeds(SeedWriter& w) {
    w.write("config", "defaults", redpacketd::to_json(redpacketd::Config{}));
    w.write("config", "readme_example", R"({
  "host": "127.0.0.1", "port": 1025, "admin_port": 8989, "workers": 2, "sets": 256,
  "compat_mode": true, "auth_secret": "change-me",
  "max_connections": 19000, "login_timeout_ms": 5000, "idle_timeout_ms": 120000,
  "rate_limit": 1000, "output_cap": 262144,
  "shake": {"enabled": true, "rate": 200, "min_amount": 1, "max_amount": 100},
  "send": {"enabled": true, "rate": 200, "total": 20000, "min_total": 3, "max_total": 300,
           "shares": 3, "policy": "double_mean"}
}
)");
    w.write("config", "journal_and_comments", R"({
  // the journal, with group commit
  "journal_dir": "/var/lib/redpacketd", "journal_fsync": "batch",
  "journal_max_delay_us": 2000, "journal_segment_bytes": 4096, /* small */
  "snapshot_interval_s": 0, "journal_repair": false, "log_level": "debug",
  "host": "127.0.0.2", "admin_host": "0.0.0.0", "admin_token": "t0k3n", "seed": 18446744073709551615
}
)");
    w.write("config", "refused_by_validate",
            R"({"compat_mode": false, "send": {"policy": "fixed", "shares": 3}, "workers": 9999})");
    w.write("config", "bad_type", R"({"port": 70000, "shake": 3})");
}

// --- the journal and snapshots ------------------------------------------------------------------

PoolConfig workload_config(ShardId shard) {
    PoolConfig c;  // as fuzz_journal_scan's recovery pools
    c.shard = shard;
    c.max_packets = 64;
    c.shake_capacity = 64;
    c.retention = 60s;
    c.seed = 7;
    c.verifiable = false;  // CSPRNG seeds would make the corpus differ on every run
    return c;
}

/// Encodes every event of the pool as a journal record, sequences from 1.
struct RecordLog {
    ShardId shard{0};
    std::uint64_t next{1};
    std::vector<Bytes> records;
    void on_pool_event(const PoolEvent& e) {
        Bytes b(record_size(e.shares.size(), e.allowed.size(), e.seed != nullptr));
        (void)encode_event(next, shard, e.kind == PoolEventKind::created ? next * 10 : 0, e, b);
        records.push_back(std::move(b));
        ++next;
    }
};

/// A deterministic mix of every pool operation, `steps` seconds of it.
void drive(RedPacketPool& pool, int steps) {
    std::vector<PacketId> packets;
    const SplitPolicy policies[] = {SplitPolicy::double_mean, SplitPolicy::line_cut,
                                    SplitPolicy::equal, SplitPolicy::fixed};
    for (int step = 0; step < steps; ++step) {
        const Time now = std::chrono::milliseconds{step * 1000};
        const SplitPolicy policy = policies[step % 4];
        const auto count = static_cast<std::uint32_t>(policy == SplitPolicy::fixed ? 1 : 2 + step % 3);
        const auto sender = static_cast<UserId>(100 + step);
        // Every fifth packet is restricted to two users, one of whom claims below.
        const UserId members[] = {200 + static_cast<UserId>(step), 250 + static_cast<UserId>(step)};
        const std::span<const UserId> allowed =
            step % 5 == 0 ? std::span<const UserId>{members} : std::span<const UserId>{};
        if (auto id = pool.create(sender, Cents{500 + step * 37}, count, policy, now + 5s, allowed)) {
            packets.push_back(*id);
        }
        for (std::size_t i = 0; i < packets.size(); i += 2) {
            (void)pool.claim(packets[i], 200 + static_cast<UserId>(step), now);
        }
        (void)pool.offer(Cents{10 + step}, now + 3s);
        if (step % 3 == 0) {
            (void)pool.take(300 + static_cast<UserId>(step), now);
        }
        (void)pool.expire(now);
    }
}

Bytes concat(const std::vector<Bytes>& parts, std::size_t from, std::size_t to) {
    Bytes out;
    for (std::size_t i = from; i < to && i < parts.size(); ++i) {
        push(out, parts[i]);
    }
    return out;
}

/// A scan-target segment: name byte 0 (= first record's sequence), u16 length, content.
void push_segment(Bytes& input, const Bytes& content) {
    push(input, 0);
    push(input, static_cast<std::uint8_t>(content.size() & 0xFFU));
    push(input, static_cast<std::uint8_t>(content.size() >> 8U));
    push(input, content);
}

/// One record of each kind as it is (mode 0) and with its CRCs fixed up (mode 1).
void journal_record_seeds(SeedWriter& w, const std::vector<Bytes>& records) {
    bool seen[6] = {};
    for (const Bytes& r : records) {
        JournalRecord decoded;
        (void)decode_record(r, decoded);
        const auto kind = static_cast<std::size_t>(decoded.kind);
        if (!seen[kind]) {
            seen[kind] = true;
            Bytes input{std::byte{0}};
            push(input, r);
            w.write("journal_record", std::string{to_string(decoded.kind)}, input);
            input[0] = std::byte{1};
            w.write("journal_record", std::string{to_string(decoded.kind)} + "_fixed", input);
        }
    }
    // A verifiable created record (a fixed seed: the pools above draw none).
    JournalRecord verifiable;
    verifiable.sequence = 1;
    verifiable.kind = PoolEventKind::created;
    verifiable.policy = SplitPolicy::line_cut;
    verifiable.packet = PacketId{0x0000'0001'0000'2003ULL};
    verifiable.amount = Cents{100};
    verifiable.index = 2;
    verifiable.shares = {Cents{40}, Cents{60}};
    verifiable.seed = std::array<std::uint8_t, 32>{};
    for (std::size_t i = 0; i < 32; ++i) {
        (*verifiable.seed)[i] = static_cast<std::uint8_t>(i + 1);
    }
    verifiable.min_share = Cents{1};
    Bytes seeded(record_size(verifiable));
    (void)encode_record(verifiable, seeded);
    Bytes seeded_input{std::byte{0}};
    push(seeded_input, seeded);
    w.write("journal_record", "created_verifiable", seeded_input);
    Bytes built{std::byte{2}};
    push(built, Bytes(120, std::byte{0x33}));
    w.write("journal_record", "built_from_fields", built);
}

/// The journal in two segments (truncate the torn tail), the same with a torn tail, and in
/// three segments with CRCs fixed up and repair on.
void journal_scan_seeds(SeedWriter& w, const std::vector<Bytes>& records) {
    const std::size_t half = records.size() / 2;
    const std::size_t third = records.size() / 3;
    Bytes two{std::byte{2}};
    push_segment(two, concat(records, 0, half));
    push_segment(two, concat(records, half, records.size()));
    w.write("journal_scan", "two_segments", two);
    Bytes torn{std::byte{2}};
    push_segment(torn, concat(records, 0, half));
    Bytes tail = concat(records, half, records.size());
    tail.resize(tail.size() - 30);
    push_segment(torn, tail);
    w.write("journal_scan", "torn_tail", torn);
    Bytes three{std::byte{1 | 2 | 8}};
    push_segment(three, concat(records, 0, third));
    push_segment(three, concat(records, third, 2 * third));
    push_segment(three, concat(records, 2 * third, records.size()));
    w.write("journal_scan", "three_segments_repair", three);
}

/// Snapshots of the workload pool (with a create request), of an empty pool, of no pools.
void snapshot_seeds(SeedWriter& w, const RedPacketPool& pool, std::uint64_t sequence) {
    Snapshot snap;
    snap.sequence = sequence;
    snap.pools.push_back(capture(pool));
    snap.create_requests.push_back(CreateRequestEntry{100, 10, PacketId{0x2001}});
    Bytes content{std::byte{0}};
    push(content, encode_snapshot(snap));
    w.write("snapshot", "workload_pool", content);
    Snapshot empty;
    empty.pools.push_back(capture(RedPacketPool{workload_config(2)}));
    Bytes empty_content{std::byte{0}};
    push(empty_content, encode_snapshot(empty));
    w.write("snapshot", "empty_pool", empty_content);
    Bytes none{std::byte{1}};
    push(none, encode_snapshot(Snapshot{}));
    w.write("snapshot", "no_pools_crc_fixed", none);
}

void journal_seeds(SeedWriter& w) {
    RedPacketPool pool{workload_config(1)};
    RecordLog log;
    log.shard = 1;
    pool.set_observer(PoolObserver::bind(log));
    drive(pool, 10);
    pool.set_observer({});
    if (log.records.size() < 30) {
        throw std::runtime_error("the workload journaled too little");
    }
    journal_record_seeds(w, log.records);
    journal_scan_seeds(w, log.records);
    snapshot_seeds(w, pool, log.next - 1);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus directory>\n", argv[0]);
        return 2;
    }
    try {
        SeedWriter w{argv[1]};
        frame_decoder_seeds(w);
        message_seeds(w);
        admin_seeds(w);
        admin_http_seeds(w);
        config_seeds(w);
        journal_seeds(w);
        std::printf("make_seeds: wrote %d seeds under %s\n", w.count(), argv[1]);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
    return 0;
}
