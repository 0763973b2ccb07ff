#include <catch2/catch.hpp>

#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "redpacket/mailbox.hpp"

using namespace redpacket;

TEST_CASE("a mailbox delivers in order and refuses when full", "[mailbox]") {
    Mailbox<int> box{4};
    CHECK(box.capacity() == 4);
    for (int i = 0; i < 4; ++i) {
        REQUIRE(box.try_push(int{i}));
    }
    CHECK_FALSE(box.try_push(99));
    CHECK(box.rejected() == 1);
    std::vector<int> got;
    CHECK(box.drain(2, [&](int v) { got.push_back(v); }) == 2);
    REQUIRE(box.try_push(4));
    REQUIRE(box.try_push(5));
    CHECK(box.drain(100, [&](int v) { got.push_back(v); }) == 4);
    CHECK(got == std::vector<int>{0, 1, 2, 3, 4, 5});
    CHECK(box.empty());
    CHECK_THROWS_AS(Mailbox<int>{0}, std::invalid_argument);
    CHECK(Mailbox<int>{5}.capacity() == 8);
}

namespace {
struct WakeCount {
    std::atomic<int> wakes{0};
    static void wake(void* self) noexcept {
        static_cast<WakeCount*>(self)->wakes.fetch_add(1, std::memory_order_relaxed);
    }
};
}  // namespace

TEST_CASE("a mailbox wakes its consumer once until it drains", "[mailbox]") {
    Mailbox<int> box{16};
    WakeCount w;
    box.set_wake(&w, &WakeCount::wake);
    REQUIRE(box.try_push(1));
    REQUIRE(box.try_push(2));
    REQUIRE(box.try_push(3));
    CHECK(w.wakes.load() == 1);
    CHECK(box.drain(100, [](int) {}) == 3);
    REQUIRE(box.try_push(4));
    CHECK(w.wakes.load() == 2);
}

TEST_CASE("a bounded drain that leaves messages behind wakes its consumer again", "[mailbox]") {
    Mailbox<int> box{16};
    WakeCount w;
    box.set_wake(&w, &WakeCount::wake);
    for (int i = 0; i < 3; ++i) {
        REQUIRE(box.try_push(int{i}));
    }
    CHECK(w.wakes.load() == 1);
    CHECK(box.drain(1, [](int) {}) == 1);
    CHECK(w.wakes.load() == 2);  // two left: signalled again
    CHECK(box.drain(2, [](int) {}) == 2);
    CHECK(w.wakes.load() == 2);  // stopped at max but empty: no spurious wake
    CHECK(box.empty());
}

TEST_CASE("many producers lose nothing and keep per-producer order", "[mailbox][mt]") {
    constexpr int kProducers = 3;
    constexpr int kPerProducer = 50000;
    Mailbox<std::uint64_t> box{1024};
    std::atomic<std::uint64_t> full_retries{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            for (std::uint64_t i = 0; i < kPerProducer; ++i) {
                const std::uint64_t v = (static_cast<std::uint64_t>(p) << 32) | i;
                while (!box.try_push(std::uint64_t{v})) {
                    full_retries.fetch_add(1, std::memory_order_relaxed);
                    std::this_thread::yield();
                }
            }
        });
    }
    std::vector<std::uint64_t> next(kProducers, 0);
    std::uint64_t received = 0;
    bool in_order = true;
    while (received < std::uint64_t{kProducers} * kPerProducer) {
        const std::size_t n = box.drain(256, [&](std::uint64_t v) {
            const auto p = static_cast<std::size_t>(v >> 32);
            in_order = in_order && (v & 0xffffffffU) == next[p];
            ++next[p];
        });
        received += n;
        if (n == 0) {
            std::this_thread::yield();
        }
    }
    for (auto& t : producers) {
        t.join();
    }
    CHECK(in_order);
    for (auto n : next) {
        CHECK(n == kPerProducer);
    }
    CHECK(box.rejected() == full_retries.load());
}
