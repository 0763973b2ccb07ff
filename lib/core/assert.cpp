// REDPACKET_ASSERT's failure path: one line on stderr, then abort.
#include "redpacket/assert.hpp"

#include <cstdio>
#include <cstdlib>

namespace redpacket::detail {
namespace {
AssertionHook hook = nullptr;
}  // namespace

void set_assertion_hook(AssertionHook h) noexcept { hook = h; }

void assertion_failed(const char* condition, const char* file, int line) noexcept {
    std::fprintf(stderr, "redpacket: assertion failed: %s at %s:%d\n", condition, file, line);
    std::fflush(stderr);
    if (hook != nullptr) {
        hook(condition, file, line);
    }
    std::abort();
}

}  // namespace redpacket::detail
