// System calls made with the instruction itself, as glibc's syscall(2) does.
// The syscall and prctl hooks forward with it rather than with a dlsym'd
// pointer, because their first call may come from a signal handler or a
// thread the loader's lock is held against (dlsym is not async-signal-safe).
// The load path uses it too: every exec'd process runs that path, and a libc
// wrapper a small program never calls (getpid, geteuid, fstat's "" path
// string) costs it a page fault of libc's text or rodata, about 20 us each
// (docs/performance-start.md). Each makes the system call libc would make.
#pragma once

#include <cerrno>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <ctime>
#include <unistd.h>

namespace portshim {

#if !defined(__x86_64__) && !defined(__aarch64__)
#define PORTSHIM_NO_RAW_SYSCALL 1
#endif

/** syscall(2) without libc: -1 and errno on failure. Elsewhere, libc's syscall(2). */
inline long raw_syscall(long number, long a1 = 0, long a2 = 0, long a3 = 0, long a4 = 0,
                        long a5 = 0, long a6 = 0) {
#if defined(__x86_64__)
    register long r10 __asm__("r10") = a4;
    register long r8 __asm__("r8") = a5;
    register long r9 __asm__("r9") = a6;
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(number), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = number;
    register long x0 __asm__("x0") = a1;
    register long x1 __asm__("x1") = a2;
    register long x2 __asm__("x2") = a3;
    register long x3 __asm__("x3") = a4;
    register long x4 __asm__("x4") = a5;
    register long x5 __asm__("x5") = a6;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    const long ret = x0;
#else
    // Not libc's syscall(2): inside the preload that is the syscall hook,
    // whose fallback this is. Callers below use libc's wrappers here instead.
    (void)number, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5, (void)a6;
    errno = ENOSYS;
    return -1;
#endif
#ifndef PORTSHIM_NO_RAW_SYSCALL
    if (ret < 0 && ret > -4096) {
        errno = static_cast<int>(-ret);
        return -1;
    }
    return ret;
#endif
}

/**
 * fstat(2) as glibc makes it, newfstatat(fd, "", st, AT_EMPTY_PATH): the same
 * system call, so a seccomp filter inherited at exec judges it as it judges
 * libc's (rule 10). The "" is on the stack, not in a page of libc's rodata.
 */
inline int raw_fstat(int fd, struct stat* st) {
#if defined(SYS_newfstatat) && !defined(PORTSHIM_NO_RAW_SYSCALL)
    // glibc's struct stat is the kernel's on x86-64 and aarch64.
    volatile char empty[1] = {'\0'};
    return static_cast<int>(raw_syscall(SYS_newfstatat, fd,
                                        reinterpret_cast<long>(const_cast<char*>(empty)),
                                        reinterpret_cast<long>(st), AT_EMPTY_PATH));
#else
    return ::fstat(fd, st);
#endif
}

/** poll(2) with no wait. */
inline int raw_poll_now(pollfd* fds, int n) {
#if defined(PORTSHIM_NO_RAW_SYSCALL)
    return ::poll(fds, static_cast<nfds_t>(n), 0);
#elif defined(SYS_poll)
    return static_cast<int>(raw_syscall(SYS_poll, reinterpret_cast<long>(fds), n, 0));
#else
    const timespec zero{};
    return static_cast<int>(raw_syscall(SYS_ppoll, reinterpret_cast<long>(fds), n,
                                        reinterpret_cast<long>(&zero), 0, 0));
#endif
}

#ifdef PORTSHIM_NO_RAW_SYSCALL
inline int raw_getpid() { return static_cast<int>(::getpid()); }
inline unsigned raw_geteuid() { return static_cast<unsigned>(::geteuid()); }
#else
inline int raw_getpid() { return static_cast<int>(raw_syscall(SYS_getpid)); }
inline unsigned raw_geteuid() { return static_cast<unsigned>(raw_syscall(SYS_geteuid)); }
#endif

} // namespace portshim
