// REDPACKET_ASSERT: a condition that must hold, checked in every build.
//
// An assertion states a pre- or postcondition at a state transition (the pool, the stores, the
// outbox, the journal writer, the request rules): documentation that runs. It is on in every
// build, release included, because what it guards is money: a broken invariant that goes on
// running may pay a share twice, while a process that stops is recovered from its journal with
// every acknowledged claim intact (replies wait for their records to be durable). A failure
// prints the condition, file and line to stderr and aborts, so the crash is found, not
// averaged away. The conditions are cheap (compare and branch); one that costs more is a
// REDPACKET_DEBUG_ASSERT, checked only where NDEBUG is not defined (the dev and sanitizer
// presets).
//
// Thread-safety: any thread.
#pragma once

namespace redpacket::detail {

/// Prints "assertion failed: <condition> at <file>:<line>", calls the hook if one is set, and
/// aborts.
[[noreturn]] void assertion_failed(const char* condition, const char* file, int line) noexcept;

/// Called by a failing assertion before it aborts, e.g. to say which simulated seed broke it
/// (sim/). Null: none. Set it before any thread that may fail one starts.
using AssertionHook = void (*)(const char* condition, const char* file, int line) noexcept;
void set_assertion_hook(AssertionHook hook) noexcept;

}  // namespace redpacket::detail

#define REDPACKET_ASSERT(condition)                                                \
    do {                                                                           \
        if (!(condition)) [[unlikely]] {                                           \
            ::redpacket::detail::assertion_failed(#condition, __FILE__, __LINE__); \
        }                                                                          \
    } while (false)

#ifdef NDEBUG
#define REDPACKET_DEBUG_ASSERT(condition) \
    do {                                  \
    } while (false)
#else
#define REDPACKET_DEBUG_ASSERT(condition) REDPACKET_ASSERT(condition)
#endif
