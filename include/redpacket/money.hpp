// Money as integer cents.
//
// `Cents` is a small strong type over int64_t: it adds, subtracts and compares, and it never
// converts to or from floating point. Every money path in libredpacket uses it, so a share can
// never be computed by rounding a double. A value type: thread-safety is that of an int64_t.
#pragma once

#include <compare>
#include <cstdint>

namespace redpacket {

/// An amount of money in cents (the smallest indivisible unit).
struct Cents {
    std::int64_t value{0};

    constexpr Cents() = default;
    constexpr explicit Cents(std::int64_t v) noexcept : value{v} {}

    friend constexpr auto operator<=>(Cents, Cents) = default;

    constexpr Cents& operator+=(Cents o) noexcept {
        value += o.value;
        return *this;
    }
    constexpr Cents& operator-=(Cents o) noexcept {
        value -= o.value;
        return *this;
    }
    friend constexpr Cents operator+(Cents a, Cents b) noexcept { return Cents{a.value + b.value}; }
    friend constexpr Cents operator-(Cents a, Cents b) noexcept { return Cents{a.value - b.value}; }
    /// Scales by a count (e.g. `count * min_share`); the caller keeps the product in range.
    friend constexpr Cents operator*(std::int64_t n, Cents c) noexcept { return Cents{n * c.value}; }
};

/// The largest packet total any policy accepts: 10^15 cents keeps every intermediate
/// (`2 * remaining`, sums of shares) far from int64_t overflow.
inline constexpr Cents kMaxPacketTotal{1'000'000'000'000'000};

}  // namespace redpacket
