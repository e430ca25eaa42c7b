// Lazily mapped state (the hooks library, the rate limit): zero-filled anonymous memory,
// mapped by the first thread that needs it, never in .bss (every exec'd
// process would pay for the mapping). mmap takes no lock, so this is usable
// from a fork child or a signal handler.
#pragma once

#include <atomic>
#include <cstddef>
#include <sys/mman.h>

namespace portshim {

/**
 * The memory `slot` points to, mapped (`bytes`, MAP_PRIVATE or MAP_SHARED in
 * `sharing`) on first use; zero pages are valid atomics holding 0. A thread
 * that loses the race unmaps its copy and uses the winner's. nullptr when mmap
 * fails. Keeps errno only if the caller saves it (mmap may set it).
 */
template <typename T>
T* map_zeroed(std::atomic<T*>& slot, std::size_t bytes, int sharing = MAP_PRIVATE) noexcept {
    T* mapped = slot.load(std::memory_order_acquire);
    if (mapped != nullptr) return mapped;
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, sharing | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) return nullptr;
    auto* fresh = static_cast<T*>(mem);
    if (!slot.compare_exchange_strong(mapped, fresh, std::memory_order_acq_rel)) {
        ::munmap(mem, bytes);
        return mapped;
    }
    return fresh;
}

} // namespace portshim
