// REDPACKET_ASSERT's failure path: one line on stderr, then abort.
#include "redpacket/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace redpacket::detail {

void assertion_failed(const char* condition, const char* file, int line) noexcept {
    std::fprintf(stderr, "redpacket: assertion failed: %s at %s:%d\n", condition, file, line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace redpacket::detail
