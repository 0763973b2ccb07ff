// Wire codec and the daemon's per-request path, in isolation (no sockets).
//
// BM_Encode / BM_Decode: one frame per iteration. Baselines: a byte-at-a-time encoder that
// allocates a std::vector per frame, and a decoder that copies each frame into its own
// std::vector before parsing it field by field — what a first, naive codec tends to look like.
// BM_HandleShake: frame bytes in → reply bytes out through the library's RequestService over a
// MemoryStore (decode, shake against the SET's pool, encode) — redpacketd's whole per-request
// cost minus the socket.
#include <benchmark/benchmark.h>

#include <arpa/inet.h>

#include <cstring>
#include <memory>
#include <vector>

#include "redpacket/memory_store.hpp"
#include "redpacket/protocol.hpp"
#include "redpacket/request_service.hpp"

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

// --- the per-request path of a service ------------------------------------------------------

// What redpacketd does per request minus the socket: decode the frame, let the library's
// RequestService decide against a MemoryStore (shake from the user's SET), encode the reply.
struct Harness {
    redpacket::ConnectionRegistry registry{redpacket::ShardingConfig{256, 1, 1024}};
    redpacket::EventCounter counter{redpacket::kServiceEventCount};
    std::unique_ptr<redpacket::MemoryStore> store;
    std::unique_ptr<redpacket::RequestService> service;
    redpacket::Session session;
    std::vector<std::byte> out;
    redpacket::Effects effects;
    static constexpr redpacket::Time kNow{1'700'000'000'000};

    Harness() {
        redpacket::MemoryStoreOptions options;
        options.sets = registry.shards_of(0);
        options.pool.shake_capacity = 1U << 16;
        store = std::move(*redpacket::MemoryStore::open(std::move(options), kNow));
        redpacket::ServiceConfig config;
        config.rate_limit = 1U << 30;
        service = std::make_unique<redpacket::RequestService>(config, *store, registry, 0, counter);
        service->step(redpacket::ClientRequest{session, {}, protocol::LoginRequest{42}}, kNow,
                      effects);
        effects.clear();
    }

    void handle(const protocol::Frame& f) {
        service->step(redpacket::input_of(session, {}, f.message), kNow, effects);
        for (const redpacket::Effect& e : effects) {
            std::get<redpacket::Send>(e).reply.for_each(
                [this](const protocol::Response& m) { protocol::append(out, m, 1'700'000'000); });
        }
        effects.clear();
    }
};

void BM_HandleShake(benchmark::State& state) {
    Harness h;
    const bool hit = state.range(0) != 0;
    redpacket::RedPacketPool* pool = h.store->pool(42 % 256);
    const auto bytes = stream_of(protocol::ShakeRequest{42}, 1);
    protocol::FrameAssembler assembler;
    for (auto _ : state) {
        if (hit && pool->shake_size() == 0) {  // refill outside the timing, rarely
            state.PauseTiming();
            while (pool->offer(redpacket::Cents{100}, redpacket::Time{1'800'000'000'000})) {
            }
            state.ResumeTiming();
        }
        (void)assembler.feed(bytes, [&](const protocol::Frame& f) { h.handle(f); });
        benchmark::DoNotOptimize(h.out.data());
        h.out.clear();
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(hit ? "shake hit (14)" : "shake miss (15)");
}
BENCHMARK(BM_HandleShake)->Arg(0)->Arg(1);

}  // namespace

BENCHMARK_MAIN();
