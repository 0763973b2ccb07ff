// Control-byte groups for ConnectionTable: one byte of metadata per slot, scanned a group at
// a time (the SwissTable idea: compare 16 bytes in one instruction instead of 16 keys).
//
// A control byte is kEmpty, kDeleted (a tombstone) or, for a full slot, 7 bits of the key's
// hash (0..127). SseGroup reads 16 bytes with SSE2 (every x86-64 has it); SwarGroup reads 8
// bytes as one 64-bit word with plain integer arithmetic, for every other target. Both are
// always compiled, so the tests check each against a byte-by-byte reference on any machine;
// `Group` is the one the table uses.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace redpacket::detail {

inline constexpr std::int8_t kEmpty = -128;  // 0b1000'0000
inline constexpr std::int8_t kDeleted = -2;  // 0b1111'1110
[[nodiscard]] constexpr bool is_full(std::int8_t c) noexcept { return c >= 0; }

/// The positions (0-based, lowest first) a group reported: bit i of `bits` set for slot i,
/// spread `kSpread` bits apart (1 for SSE2's movemask, 8 for the word-wide version).
template <class Word, int kSpread>
class SlotMask {
public:
    constexpr explicit SlotMask(Word bits) noexcept : bits_{bits} {}
    [[nodiscard]] constexpr explicit operator bool() const noexcept { return bits_ != 0; }
    [[nodiscard]] constexpr unsigned lowest() const noexcept {
        return static_cast<unsigned>(std::countr_zero(bits_)) / kSpread;
    }
    constexpr void clear_lowest() noexcept { bits_ &= bits_ - 1; }

private:
    Word bits_;
};

#if defined(__SSE2__)
/// 16 control bytes at once.
class SseGroup {
public:
    static constexpr unsigned kWidth = 16;
    using Mask = SlotMask<std::uint32_t, 1>;

    explicit SseGroup(const std::int8_t* ctrl) noexcept
        : v_{_mm_loadu_si128(reinterpret_cast<const __m128i*>(ctrl))} {}
    /// Slots whose byte is `h2` (a full slot with those hash bits). Exact.
    [[nodiscard]] Mask match(std::int8_t h2) const noexcept {
        return mask(_mm_cmpeq_epi8(_mm_set1_epi8(h2), v_));
    }
    [[nodiscard]] Mask match_empty() const noexcept {
        return mask(_mm_cmpeq_epi8(_mm_set1_epi8(kEmpty), v_));
    }
    /// Empty or tombstone: the top bit set.
    [[nodiscard]] Mask match_free() const noexcept { return mask(v_); }

private:
    static Mask mask(__m128i v) noexcept {
        return Mask{static_cast<std::uint32_t>(_mm_movemask_epi8(v))};
    }
    __m128i v_;
};
#endif

/// 8 control bytes as one little-endian word. `match` may also report a full slot that
/// follows a true match (a borrow in the zero-byte test): callers compare keys anyway.
/// `match_empty` and `match_free` are exact.
class SwarGroup {
public:
    static constexpr unsigned kWidth = 8;
    using Mask = SlotMask<std::uint64_t, 8>;

    explicit SwarGroup(const std::int8_t* ctrl) noexcept {
        std::memcpy(&w_, ctrl, sizeof w_);
        if constexpr (std::endian::native == std::endian::big) {
            w_ = std::byteswap(w_);
        }
    }
    [[nodiscard]] Mask match(std::int8_t h2) const noexcept {
        const std::uint64_t x = w_ ^ (kLsbs * static_cast<std::uint8_t>(h2));
        return Mask{(x - kLsbs) & ~x & kMsbs};
    }
    /// kEmpty is the only value with bit 7 set and bit 1 clear.
    [[nodiscard]] Mask match_empty() const noexcept { return Mask{w_ & ~(w_ << 6) & kMsbs}; }
    [[nodiscard]] Mask match_free() const noexcept { return Mask{w_ & kMsbs}; }

private:
    static constexpr std::uint64_t kLsbs = 0x0101010101010101ULL;
    static constexpr std::uint64_t kMsbs = 0x8080808080808080ULL;
    std::uint64_t w_{0};
};

#if defined(__SSE2__)
using Group = SseGroup;
#else
using Group = SwarGroup;
#endif

}  // namespace redpacket::detail
