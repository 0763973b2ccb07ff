#include "redpacket/crc32c.hpp"

#include <isa-l/crc.h>

#include <algorithm>

namespace redpacket {

std::uint32_t crc32c_extend(std::uint32_t crc, std::span<const std::byte> data) noexcept {
    // ISA-L works on the un-inverted register: pre- and post-invert to get the standard value.
    // Its length is an int, so very large buffers go in chunks.
    constexpr std::size_t kChunk = std::size_t{1} << 30;
    unsigned int state = ~crc;
    while (!data.empty()) {
        const std::size_t n = std::min(data.size(), kChunk);
        // crc32_iscsi only reads the buffer; its parameter lacks const.
        auto* bytes = reinterpret_cast<unsigned char*>(const_cast<std::byte*>(data.data()));
        state = crc32_iscsi(bytes, static_cast<int>(n), state);
        data = data.subspan(n);
    }
    return ~state;
}

std::uint32_t crc32c(std::span<const std::byte> data) noexcept { return crc32c_extend(0, data); }

}  // namespace redpacket
