// See own_stack.hpp. The switch is a few instructions of assembly per
// architecture: setcontext(3) would do the same with a signal-mask system
// call and without unwind information linking back to the caller.
#include "own_stack.hpp"

#include <cerrno>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <unistd.h>

extern "C" {
/** Calls fn(arg) with the stack pointer at `top` (16-byte aligned down); returns on the old stack. */
void portshim_call_on_stack(void* arg, void (*fn)(void*), void* top)
    __attribute__((visibility("hidden")));
}

#if defined(__x86_64__)
// rbp keeps the caller's stack pointer while fn runs; the CFI names rbp as the
// frame's CFA register, so an unwinder steps from fn back into the caller.
asm(R"(
    .text
    .p2align 4
    .globl portshim_call_on_stack
    .hidden portshim_call_on_stack
    .type portshim_call_on_stack, @function
portshim_call_on_stack:
    .cfi_startproc
    pushq %rbp
    .cfi_def_cfa_offset 16
    .cfi_offset %rbp, -16
    movq %rsp, %rbp
    .cfi_def_cfa_register %rbp
    andq $-16, %rdx
    movq %rdx, %rsp
    callq *%rsi
    movq %rbp, %rsp
    .cfi_def_cfa_register %rsp
    popq %rbp
    .cfi_def_cfa_offset 8
    ret
    .cfi_endproc
    .size portshim_call_on_stack, .-portshim_call_on_stack
)");
#define PORTSHIM_HAVE_STACK_SWITCH 1
#elif defined(__aarch64__)
// The same with x29 (frame pointer) and x30 (link register) saved on the old stack.
asm(R"(
    .text
    .p2align 2
    .globl portshim_call_on_stack
    .hidden portshim_call_on_stack
    .type portshim_call_on_stack, %function
portshim_call_on_stack:
    .cfi_startproc
    stp x29, x30, [sp, #-16]!
    .cfi_def_cfa_offset 16
    .cfi_offset x29, -16
    .cfi_offset x30, -8
    mov x29, sp
    .cfi_def_cfa_register x29
    and x2, x2, #~15
    mov sp, x2
    blr x1
    mov sp, x29
    .cfi_def_cfa_register sp
    ldp x29, x30, [sp], #16
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size portshim_call_on_stack, .-portshim_call_on_stack
)");
#define PORTSHIM_HAVE_STACK_SWITCH 1
#endif

namespace portshim {

bool run_on_own_stack(void (*fn)(void*), void* arg) noexcept {
#ifdef PORTSHIM_HAVE_STACK_SWITCH
    const int saved = errno;
    const unsigned long page_size = ::getauxval(AT_PAGESZ); // no system call
    const std::size_t guard = page_size > 0 ? page_size : 4096;
    const std::size_t size = own_stack_bytes + guard;
    void* mem = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem != MAP_FAILED && ::mprotect(mem, guard, PROT_NONE) == 0) {
        errno = saved;
        portshim_call_on_stack(arg, fn, static_cast<char*>(mem) + size);
        const int after = errno;
        ::munmap(mem, size);
        errno = after;
        return true;
    }
    if (mem != MAP_FAILED) ::munmap(mem, size);
    errno = saved;
    return false;
#else
    fn(arg);
    return true;
#endif
}

} // namespace portshim
