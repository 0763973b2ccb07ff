// Outbox: order, hold-until-durable, the output cap on waiting bytes, close-after-send, and the
// open batch a moving connection takes along.
#include <catch2/catch.hpp>

#include "redpacket/outbox.hpp"

using namespace redpacket;

namespace {

constexpr std::uint64_t kCap = 1 << 20;

Reply heartbeat(std::uint64_t nonce, std::uint64_t hold = 0) {
    return Reply{protocol::HeartbeatResponse{nonce}, hold};
}

/// The nonces of the heartbeat responses in `bytes`, in order.
std::vector<std::uint64_t> nonces(const std::vector<std::byte>& bytes) {
    std::vector<std::uint64_t> out;
    protocol::FrameAssembler assembler;
    (void)assembler.feed(bytes, [&](const protocol::Frame& f) {
        out.push_back(std::get<protocol::HeartbeatResponse>(f.message).nonce);
    });
    return out;
}

}  // namespace

TEST_CASE("one batch's replies leave together, in the order they were added", "[outbox]") {
    Outbox box;
    box.add(heartbeat(1), 0);
    box.add(heartbeat(2), 0);
    std::vector<std::byte> write;
    CHECK_FALSE(box.take_ready(0, write));
    CHECK(write.empty());  // nothing leaves before the batch is sealed
    CHECK(box.seal(0, kCap) == Outbox::Sealed::ready);
    CHECK_FALSE(box.take_ready(0, write));
    CHECK(nonces(write) == std::vector<std::uint64_t>{1, 2});
    CHECK(box.seal(0, kCap) == Outbox::Sealed::empty);
}

TEST_CASE(
    "a batch waits until the durable sequence reaches its highest hold, and later batches "
    "wait behind it",
    "[outbox]") {
    HeldTally tally;
    Outbox box{&tally};
    box.add(heartbeat(1, 5), 0);
    box.add(heartbeat(2, 7), 0);
    CHECK(box.seal(6, kCap) == Outbox::Sealed::waiting);
    box.add(heartbeat(3), 0);  // needs nothing, but comes after
    CHECK(box.seal(6, kCap) == Outbox::Sealed::waiting);
    CHECK(box.waiting_batches() == 2);
    CHECK(tally.bytes == box.waiting_bytes());
    CHECK(tally.bytes == 3 * protocol::frame_size(protocol::Command::heartbeat_response).value());
    std::vector<std::byte> write;
    CHECK_FALSE(box.take_ready(6, write));
    CHECK(write.empty());
    CHECK_FALSE(box.take_ready(7, write));
    CHECK(nonces(write) == std::vector<std::uint64_t>{1, 2, 3});
    CHECK_FALSE(box.waiting());
    CHECK(tally.bytes == 0);
    CHECK(tally.peak == 60);
}

TEST_CASE("waiting bytes beyond the cap are refused, ready ones are not counted against it",
          "[outbox]") {
    Outbox box;
    box.add(heartbeat(1), 0);
    CHECK(box.seal(0, 10) == Outbox::Sealed::ready);  // 20 bytes, but they need not wait
    box.add(heartbeat(2, 9), 0);
    CHECK(box.seal(0, 30) == Outbox::Sealed::waiting);
    box.add(heartbeat(3, 9), 0);
    CHECK(box.seal(0, 30) == Outbox::Sealed::refused);  // 20 waiting + 20 > 30
    CHECK(box.waiting_bytes() == 20);
}

TEST_CASE(
    "a closing reply ends the outbox: nothing after it leaves, and the close comes with "
    "its batch",
    "[outbox]") {
    Outbox box;
    box.add(heartbeat(1, 4), 0);
    Reply bye = heartbeat(2);
    bye.close = true;
    box.add(bye, 0);
    box.add(heartbeat(3), 0);  // after the close: dropped
    CHECK(box.seal(3, kCap) == Outbox::Sealed::waiting);
    CHECK(box.closing());
    box.add(heartbeat(4), 0);
    CHECK(box.seal(3, kCap) == Outbox::Sealed::empty);
    std::vector<std::byte> write;
    CHECK_FALSE(box.take_ready(3, write));
    CHECK(box.take_ready(4, write));
    CHECK(nonces(write) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("a close with nothing to wait for is ready at once", "[outbox]") {
    Outbox box;
    Reply bye;
    bye.close = true;  // a close without a frame (the original protocol's error)
    box.add(bye, 0);
    CHECK(box.has_open());
    CHECK(box.seal(0, kCap) == Outbox::Sealed::ready);
    std::vector<std::byte> write;
    CHECK(box.take_ready(0, write));
    CHECK(write.empty());
}

TEST_CASE("the open batch moves with a connection and its bytes keep their place", "[outbox]") {
    Outbox from;
    from.add(heartbeat(1), 0);
    const std::vector<std::byte> moving = from.take_open();
    CHECK_FALSE(from.has_open());
    Outbox to;
    to.add_bytes(moving);
    to.add(heartbeat(2), 0);
    CHECK(to.seal(0, kCap) == Outbox::Sealed::ready);
    std::vector<std::byte> write;
    CHECK_FALSE(to.take_ready(0, write));
    CHECK(nonces(write) == std::vector<std::uint64_t>{1, 2});
}

TEST_CASE("an outbox destroyed while it waits takes its bytes out of the tally", "[outbox]") {
    HeldTally tally;
    {
        Outbox box{&tally};
        box.add(heartbeat(1, 9), 0);
        REQUIRE(box.seal(0, kCap) == Outbox::Sealed::waiting);
        CHECK(tally.bytes == 20);
    }
    CHECK(tally.bytes == 0);
    CHECK(tally.peak == 20);
}
