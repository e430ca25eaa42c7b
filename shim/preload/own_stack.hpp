// Runs the library's heavy work on a stack of its own, so a failing bind on a
// thread or coroutine with a small stack (PTHREAD_STACK_MIN, 8 KiB fibers)
// costs the host only the hook's few hundred bytes (DESIGN.md rule 10).
#pragma once

#include <cstddef>
#include <pthread.h>

namespace portshim {

/** Size of the stack the engine runs on (mapped per call, touched pages only). */
inline constexpr std::size_t own_stack_bytes = 512 * 1024;

/**
 * Calls fn(arg) on a freshly mapped stack of own_stack_bytes with a guard page
 * below it, and unmaps it afterwards. The switch keeps unwind information
 * (the frame pointer holds the caller's stack pointer, and the CFI says so),
 * so backtraces and the signal-frame check walk on into the host's frames.
 * Returns false, without calling fn, when no stack could be mapped (the
 * caller then does only what fits on its own stack). On an architecture
 * without the switch, calls fn(arg) on the current stack. Async-signal-safe
 * (mmap, mprotect, munmap). Keeps errno as fn left it.
 */
bool run_on_own_stack(void (*fn)(void*), void* arg) noexcept;

/**
 * Runs `fn` (the engine, the unwinder) on a stack of its own, with thread
 * cancellation disabled: the engine's poll, read and write are cancellation
 * points, and a cancellation unwinding through its catch (...) would make
 * glibc abort the host (pthread_cancel(3)). Returns false, without running
 * it, when no stack could be mapped.
 */
template <typename Fn>
bool on_own_stack(Fn fn) noexcept {
    int old = PTHREAD_CANCEL_ENABLE;
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    const bool ran = run_on_own_stack([](void* p) { (*static_cast<Fn*>(p))(); }, &fn);
    ::pthread_setcancelstate(old, nullptr);
    return ran;
}

} // namespace portshim
