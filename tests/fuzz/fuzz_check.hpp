// What every fuzz target shares: the property check and small input helpers.
//
// A fuzz target asserts properties, not just "no crash": REDPACKET_FUZZ_CHECK(condition, what)
// prints the failed property with its location and traps, so that libFuzzer stops and saves
// the input as a crash-* file (run the target on that file to reproduce it). Checks stay on in
// every build type; they do not depend on NDEBUG.
//
// Thread-safety: none needed; libFuzzer calls a target from one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>

namespace redpacket::fuzz {

/// Reports a failed property and stops the process (libFuzzer saves the input).
[[noreturn]] inline void property_failed(const char* condition, std::string_view what,
                                         const char* file, int line) noexcept {
    std::fprintf(stderr, "\n%s:%d: fuzz property failed: %.*s\n  condition: %s\n", file, line,
                 static_cast<int>(what.size()), what.data(), condition);
    std::fflush(stderr);
    __builtin_trap();
}

/// The input as bytes.
[[nodiscard]] inline std::span<const std::byte> as_bytes(const std::uint8_t* data,
                                                         std::size_t size) noexcept {
    return {reinterpret_cast<const std::byte*>(data), size};
}

/// Takes bytes off the front of the input; past the end it yields zeros (never reads beyond).
class InputReader {
public:
    explicit InputReader(std::span<const std::byte> in) noexcept : in_{in} {}

    /// The next byte, or 0 at the end.
    [[nodiscard]] std::uint8_t byte() noexcept {
        if (in_.empty()) {
            return 0;
        }
        const auto b = static_cast<std::uint8_t>(in_.front());
        in_ = in_.subspan(1);
        return b;
    }
    /// The next `n` bytes (fewer at the end).
    [[nodiscard]] std::span<const std::byte> take(std::size_t n) noexcept {
        const std::size_t k = n < in_.size() ? n : in_.size();
        const auto out = in_.first(k);
        in_ = in_.subspan(k);
        return out;
    }
    /// The next unsigned integer of `bytes` bytes, little-endian; zeros past the end.
    template <class U>
    [[nodiscard]] U uint(std::size_t bytes = sizeof(U)) noexcept {
        U v = 0;
        for (std::size_t i = 0; i < bytes && i < sizeof(U); ++i) {
            v = static_cast<U>(v | (static_cast<U>(byte()) << (8 * i)));
        }
        return v;
    }
    /// Everything not taken yet.
    [[nodiscard]] std::span<const std::byte> rest() const noexcept { return in_; }
    [[nodiscard]] bool empty() const noexcept { return in_.empty(); }

private:
    std::span<const std::byte> in_;
};

}  // namespace redpacket::fuzz

/// Asserts a property of the code under test; on failure reports `what` and traps.
#define REDPACKET_FUZZ_CHECK(condition, what)                                               \
    do {                                                                                    \
        if (!(condition)) {                                                                 \
            ::redpacket::fuzz::property_failed(#condition, (what), __FILE__, __LINE__);     \
        }                                                                                   \
    } while (false)
