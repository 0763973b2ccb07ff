// Replacement global operator new/delete that count live heap bytes (see heap_counter.hpp).
// Only the two memory-measuring bench binaries link this file.
#include "heap_counter.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace redpacket::bench {
namespace {

std::atomic<std::int64_t> g_bytes{0};
std::atomic<std::int64_t> g_blocks{0};

void note_alloc(void* p) noexcept {
    g_bytes.fetch_add(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    g_blocks.fetch_add(1, std::memory_order_relaxed);
}

void note_free(void* p) noexcept {
    g_bytes.fetch_sub(static_cast<std::int64_t>(malloc_usable_size(p)), std::memory_order_relaxed);
    g_blocks.fetch_sub(1, std::memory_order_relaxed);
}

void* allocate(std::size_t n) {
    void* p = std::malloc(n == 0 ? 1 : n);
    if (p == nullptr) {
        throw std::bad_alloc{};
    }
    note_alloc(p);
    return p;
}

void* allocate_aligned(std::size_t n, std::align_val_t align) {
    const auto a = static_cast<std::size_t>(align);
    // aligned_alloc wants a size that is a multiple of the alignment.
    const std::size_t rounded = ((n == 0 ? 1 : n) + a - 1) / a * a;
    void* p = std::aligned_alloc(a, rounded);
    if (p == nullptr) {
        throw std::bad_alloc{};
    }
    note_alloc(p);
    return p;
}

void release(void* p) noexcept {
    if (p != nullptr) {
        note_free(p);
        std::free(p);
    }
}

}  // namespace

std::int64_t live_bytes() noexcept { return g_bytes.load(std::memory_order_relaxed); }
std::int64_t live_blocks() noexcept { return g_blocks.load(std::memory_order_relaxed); }

}  // namespace redpacket::bench

namespace rb = redpacket::bench;

// NOLINTBEGIN(misc-new-delete-overloads): the full replaceable set, as [new.delete] lists it.
void* operator new(std::size_t n) { return rb::allocate(n); }
void* operator new[](std::size_t n) { return rb::allocate(n); }
void* operator new(std::size_t n, std::align_val_t a) { return rb::allocate_aligned(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return rb::allocate_aligned(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return rb::allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    try {
        return rb::allocate(n);
    } catch (...) {
        return nullptr;
    }
}
void operator delete(void* p) noexcept { rb::release(p); }
void operator delete[](void* p) noexcept { rb::release(p); }
void operator delete(void* p, std::size_t) noexcept { rb::release(p); }
void operator delete[](void* p, std::size_t) noexcept { rb::release(p); }
void operator delete(void* p, std::align_val_t) noexcept { rb::release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { rb::release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { rb::release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { rb::release(p); }
// NOLINTEND(misc-new-delete-overloads)
