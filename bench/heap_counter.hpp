// Heap accounting for the memory benchmarks.
//
// heap_counter.cpp replaces the global operator new/delete of the binary it is linked into
// and counts, per live allocation, `malloc_usable_size` bytes: what glibc actually reserves for
// the caller (the request rounded up to its 16-byte size classes), not counting the 8-byte
// chunk header glibc keeps in front of each block. `live_blocks()` lets a reader add that
// header back (≈ 8 B per block) for an RSS-level estimate. Counting is by relaxed atomics, so
// every allocation in the binary pays one uncontended atomic add — libredpacket and the
// baselines alike; libredpacket allocates far less, so the bias favours it slightly on
// allocation-heavy benchmarks (and only there).
//
// Thread-safety: any thread; the counts are a consistent total only when no other thread is
// allocating.
#pragma once

#include <cstddef>
#include <cstdint>

namespace redpacket::bench {

/// Usable bytes currently allocated through operator new.
[[nodiscard]] std::int64_t live_bytes() noexcept;
/// Blocks currently allocated through operator new.
[[nodiscard]] std::int64_t live_blocks() noexcept;

/// Heap delta between construction and `bytes()`/`blocks()`.
class HeapDelta {
public:
    HeapDelta() noexcept : bytes0_{live_bytes()}, blocks0_{live_blocks()} {}
    [[nodiscard]] std::int64_t bytes() const noexcept { return live_bytes() - bytes0_; }
    [[nodiscard]] std::int64_t blocks() const noexcept { return live_blocks() - blocks0_; }

private:
    std::int64_t bytes0_;
    std::int64_t blocks0_;
};

}  // namespace redpacket::bench
