// Wire codec and the daemon's per-request path, in isolation (no sockets).
//
// BM_Encode / BM_Decode: one frame per iteration. Baselines: a byte-at-a-time encoder that
// allocates a std::vector per frame, and a decoder that copies each frame into its own
// std::vector before parsing it field by field — what a first, naive codec tends to look like.
// BM_HandleShake: frame bytes in → reply bytes out through redpacketd's Worker::handle_frame
// (decode, shake against the SET's pool, encode), the whole per-request cost minus the socket.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <vector>

#include "redpacket/protocol.hpp"
#include "worker.hpp"

namespace {

namespace protocol = redpacket::protocol;

std::vector<std::byte> stream_of(const protocol::Message& m, std::size_t frames) {
    std::vector<std::byte> out;
    for (std::size_t i = 0; i < frames; ++i) {
        protocol::append(out, m, 1'700'000'000);
    }
    return out;
}

void BM_Encode(benchmark::State& state) {
    const protocol::Message m = protocol::ShakeResponse{42, protocol::kShakeGotPacket, 7, 123};
    std::array<std::byte, protocol::kMaxKnownFrame> buf{};
    for (auto _ : state) {
        benchmark::DoNotOptimize(protocol::encode(m, 1'700'000'000, buf));
        benchmark::ClobberMemory();
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Encode);

void BM_EncodeNaive(benchmark::State& state) {
    const std::uint32_t fields[] = {42, protocol::kShakeGotPacket, 7, 123};
    for (auto _ : state) {
        std::vector<std::uint8_t> frame;
        const auto push16 = [&](std::uint16_t v) {
            frame.push_back(static_cast<std::uint8_t>(v >> 8));
            frame.push_back(static_cast<std::uint8_t>(v));
        };
        push16(28);
        push16(3);
        for (int i = 7; i >= 0; --i) {
            frame.push_back(static_cast<std::uint8_t>(std::uint64_t{1'700'000'000} >> (8 * i)));
        }
        for (std::uint32_t f : fields) {
            for (int i = 3; i >= 0; --i) {
                frame.push_back(static_cast<std::uint8_t>(f >> (8 * i)));
            }
        }
        benchmark::DoNotOptimize(frame.data());
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EncodeNaive);

constexpr std::size_t kFrames = 4096;

void BM_Decode(benchmark::State& state) {
    const auto bytes = stream_of(protocol::GrabRequest{0, 77}, kFrames);
    std::size_t at = 0;
    for (auto _ : state) {
        const auto r = protocol::decode(std::span{bytes}.subspan(at));
        benchmark::DoNotOptimize(r);
        at = (at + r.consumed) % bytes.size();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * 20);
}
BENCHMARK(BM_Decode);

void BM_DecodeNaive(benchmark::State& state) {
    const auto bytes = stream_of(protocol::GrabRequest{0, 77}, kFrames);
    std::size_t at = 0;
    for (auto _ : state) {
        std::uint16_t length = 0;
        std::memcpy(&length, bytes.data() + at, 2);
        length = ntohs(length);
        const std::vector<std::byte> frame(bytes.begin() + static_cast<std::ptrdiff_t>(at),
                                           bytes.begin() + static_cast<std::ptrdiff_t>(at + length));
        std::uint32_t user = 0;
        std::uint32_t packet = 0;
        if (frame.size() >= 20) {
            std::memcpy(&user, &frame[12], 4);
            std::memcpy(&packet, &frame[16], 4);
        }
        benchmark::DoNotOptimize(ntohl(user) + ntohl(packet));
        at = (at + length) % bytes.size();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * 20);
}
BENCHMARK(BM_DecodeNaive);

// A stream cut into 1500-byte reads, the way a socket delivers it.
void BM_AssemblerStream(benchmark::State& state) {
    const auto bytes = stream_of(protocol::ShakeRequest{42}, kFrames);
    std::size_t frames = 0;
    for (auto _ : state) {
        protocol::FrameAssembler assembler;
        for (std::size_t at = 0; at < bytes.size(); at += 1500) {
            const auto chunk = std::span{bytes}.subspan(at, std::min<std::size_t>(1500, bytes.size() - at));
            auto n = assembler.feed(chunk, [](const protocol::Frame& f) { benchmark::DoNotOptimize(f); });
            frames += n.value_or(0);
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(frames));
}
BENCHMARK(BM_AssemblerStream);

// --- the daemon's per-request path ------------------------------------------------------

struct Harness {
    redpacketd::Shared shared;
    std::unique_ptr<redpacketd::Worker> worker;
    redpacketd::Connection* conn{nullptr};

    Harness() {
        shared.config.sets = 256;
        shared.config.workers = 1;
        shared.config.rate_limit = 1U << 30;
        shared.config.shake_capacity_per_set = 1U << 16;
        shared.sets = std::make_unique<redpacketd::ConnectionSet>(
            redpacket::ShardingConfig{256, 1, 1024});
        std::vector<std::string> names(redpacketd::kEventNames.begin(),
                                       redpacketd::kEventNames.end());
        shared.rates = std::make_unique<redpacket::RateCounter>(names, 1);
        worker = std::make_unique<redpacketd::Worker>(shared, 0);
        worker->set_now_ms(1'700'000'000'000);
        conn = &worker->detached_connection();
        worker->handle_frame(*conn, protocol::Frame{0, protocol::LoginRequest{42}});
        worker->pending_output().clear();
    }
};

void BM_HandleShake(benchmark::State& state) {
    Harness h;
    const bool hit = state.range(0) != 0;
    redpacket::RedPacketPool* pool = h.worker->pool(42 % 256);
    const auto bytes = stream_of(protocol::ShakeRequest{42}, 1);
    protocol::FrameAssembler assembler;
    for (auto _ : state) {
        if (hit && pool->shake_size() == 0) {  // refill outside the timing, rarely
            state.PauseTiming();
            while (pool->offer(redpacket::Cents{100}, redpacket::Time{1'800'000'000'000})) {
            }
            state.ResumeTiming();
        }
        (void)assembler.feed(bytes, [&](const protocol::Frame& f) { h.worker->handle_frame(*h.conn, f); });
        benchmark::DoNotOptimize(h.worker->pending_output().data());
        h.worker->pending_output().clear();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(hit ? "shake hit (14)" : "shake miss (15)");
}
BENCHMARK(BM_HandleShake)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
