// Little-endian field access for the journal and snapshot formats. Internal: not installed.
//
// `ByteWriter` appends to a vector; `ByteReader` reads from a span and never past its end: a read
// beyond the end sets `ok()` to false and yields zero, so a parser checks once at the end (or at
// any point where a bad value would make it loop or allocate) instead of before every field.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <type_traits>
#include <vector>

namespace redpacket::detail {

template <class U>
    requires std::is_unsigned_v<U>
inline void store_le(std::byte* p, U v) noexcept {
    if constexpr (std::endian::native == std::endian::big) {
        v = std::byteswap(v);
    }
    std::memcpy(p, &v, sizeof v);
}

template <class U>
    requires std::is_unsigned_v<U>
[[nodiscard]] inline U load_le(const std::byte* p) noexcept {
    U v;
    std::memcpy(&v, p, sizeof v);
    if constexpr (std::endian::native == std::endian::big) {
        v = std::byteswap(v);
    }
    return v;
}

/// Appends little-endian fields to a byte vector.
class ByteWriter {
public:
    explicit ByteWriter(std::vector<std::byte>& out) noexcept : out_{out} {}

    template <class U>
        requires std::is_unsigned_v<U>
    void put(U v) {
        const std::size_t at = out_.size();
        out_.resize(at + sizeof v);
        store_le(out_.data() + at, v);
    }
    void put_i64(std::int64_t v) { put(static_cast<std::uint64_t>(v)); }
    void put_bytes(std::span<const std::byte> bytes) {
        // resize + memcpy rather than insert: GCC 12 at -O2 misreads the latter on an empty
        // vector (-Wstringop-overflow).
        const std::size_t at = out_.size();
        out_.resize(at + bytes.size());
        if (!bytes.empty()) {
            std::memcpy(out_.data() + at, bytes.data(), bytes.size());
        }
    }
    [[nodiscard]] std::size_t size() const noexcept { return out_.size(); }

private:
    std::vector<std::byte>& out_;
};

/// Reads little-endian fields from a span, never past its end.
class ByteReader {
public:
    explicit ByteReader(std::span<const std::byte> in) noexcept : in_{in} {}

    template <class U>
        requires std::is_unsigned_v<U>
    [[nodiscard]] U get() noexcept {
        if (!ok_ || in_.size() - pos_ < sizeof(U)) {
            ok_ = false;
            return 0;
        }
        const U v = load_le<U>(in_.data() + pos_);
        pos_ += sizeof(U);
        return v;
    }
    [[nodiscard]] std::int64_t get_i64() noexcept {
        return static_cast<std::int64_t>(get<std::uint64_t>());
    }
    /// The next `n` bytes, or an empty span (and !ok()) if fewer remain.
    [[nodiscard]] std::span<const std::byte> get_bytes(std::size_t n) noexcept {
        if (!ok_ || in_.size() - pos_ < n) {
            ok_ = false;
            return {};
        }
        const auto out = in_.subspan(pos_, n);
        pos_ += n;
        return out;
    }
    [[nodiscard]] bool ok() const noexcept { return ok_; }
    [[nodiscard]] std::size_t position() const noexcept { return pos_; }
    [[nodiscard]] std::size_t remaining() const noexcept { return ok_ ? in_.size() - pos_ : 0; }

private:
    std::span<const std::byte> in_;
    std::size_t pos_{0};
    bool ok_{true};
};

}  // namespace redpacket::detail
