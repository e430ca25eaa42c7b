// Runs the library's heavy work on a stack of its own, so a failing bind on a
// thread or coroutine with a small stack (PTHREAD_STACK_MIN, 8 KiB fibers)
// costs the host only the hook's few hundred bytes (DESIGN.md rule 10).
#pragma once

#include <cstddef>

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

} // namespace portshim
