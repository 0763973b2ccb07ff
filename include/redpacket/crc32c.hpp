// CRC-32C (Castagnoli), the checksum of every journal record and snapshot.
//
// A thin wrapper over Intel ISA-L's `crc32_iscsi`, which picks the SSE4.2 / PCLMUL code path at
// run time (several GB/s per core). The convention is the standard one (reflected, initial value
// and final XOR 0xFFFFFFFF): crc32c("123456789") == 0xE3069283, so values match other tools.
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace redpacket {

/// The CRC-32C of `data`. Complexity: O(n), no allocation.
[[nodiscard]] std::uint32_t crc32c(std::span<const std::byte> data) noexcept;

/// Continues a CRC over more bytes: crc32c_extend(crc32c(a), b) == crc32c(a ‖ b).
[[nodiscard]] std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data) noexcept;

}  // namespace redpacket
