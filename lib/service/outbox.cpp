// Outbox: the open batch, the sealed batches that wait for the journal, and their release.
#include "redpacket/outbox.hpp"

#include <algorithm>

#include "redpacket/assert.hpp"

namespace redpacket {

Outbox::~Outbox() { hold_bytes(-static_cast<std::int64_t>(waiting_bytes_)); }

void Outbox::hold_bytes(std::int64_t delta) noexcept {
    waiting_bytes_ = static_cast<std::uint64_t>(static_cast<std::int64_t>(waiting_bytes_) + delta);
    if (tally_ != nullptr) {
        tally_->bytes =
            static_cast<std::uint64_t>(static_cast<std::int64_t>(tally_->bytes) + delta);
        tally_->peak = std::max(tally_->peak, tally_->bytes);
    }
}

void Outbox::add(const Reply& reply, std::uint64_t now_s) {
    if (open_.close || closed_) {
        return;  // the connection ends with an earlier reply
    }
    reply.for_each([&](const protocol::Response& m) { protocol::append(open_.bytes, m, now_s); });
    open_.hold = std::max(open_.hold, reply.hold_until);
    open_.close = reply.close;
}

void Outbox::add_bytes(std::span<const std::byte> bytes) {
    if (open_.close || closed_) {
        return;
    }
    open_.bytes.insert(open_.bytes.end(), bytes.begin(), bytes.end());
}

Outbox::Sealed Outbox::seal(std::uint64_t durable, std::uint64_t cap) {
    if (!has_open()) {
        return Sealed::empty;
    }
    Batch batch = std::exchange(open_, Batch{});
    const bool ready = sealed_.empty() && batch.hold <= durable;
    if (!ready && waiting_bytes_ + batch.bytes.size() > cap) {
        // Replies held for the journal count against the output cap like replies queued to a
        // slow reader: a client that keeps asking while its earlier answers wait is closed,
        // not buffered without bound.
        return Sealed::refused;
    }
    closed_ = closed_ || batch.close;
    if (ready) {  // leaves with the next take_ready, before anything sealed after it
        ready_.insert(ready_.end(), batch.bytes.begin(), batch.bytes.end());
        ready_close_ = batch.close;
        return Sealed::ready;
    }
    hold_bytes(static_cast<std::int64_t>(batch.bytes.size()));
    sealed_.push_back(std::move(batch));
    return Sealed::waiting;
}

bool Outbox::take_ready(std::uint64_t durable, std::vector<std::byte>& write) {
    write.insert(write.end(), ready_.begin(), ready_.end());
    ready_.clear();
    if (std::exchange(ready_close_, false)) {
        REDPACKET_ASSERT(sealed_.empty());  // nothing is sealed after a closing batch
        return true;
    }
    while (!sealed_.empty() && sealed_.front().hold <= durable) {
        Batch& b = sealed_.front();
        write.insert(write.end(), b.bytes.begin(), b.bytes.end());
        hold_bytes(-static_cast<std::int64_t>(b.bytes.size()));
        const bool close = b.close;
        sealed_.pop_front();
        if (close) {
            REDPACKET_ASSERT(sealed_.empty());  // nothing is sealed after a closing batch
            return true;
        }
    }
    REDPACKET_ASSERT(!sealed_.empty() || waiting_bytes_ == 0);
    return false;
}

std::vector<std::byte> Outbox::take_open() {
    REDPACKET_ASSERT(sealed_.empty() && ready_.empty() && !open_.close);
    std::vector<std::byte> bytes = std::move(open_.bytes);
    open_ = Batch{};
    return bytes;
}

}  // namespace redpacket
