// Resolution of the real libc functions. Each entry is an atomic pointer
// filled by dlsym(RTLD_NEXT) on first use; when dlsym cannot find the next
// definition (a statically linked libc, a broken chain) the entry falls back to
// the raw system call, so a hook never crashes for want of a symbol.
#include "real.hpp"

#include <atomic>
#include <cerrno>
#include <dlfcn.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace portshim::real {

namespace {

int sys_bind(int fd, const sockaddr* addr, socklen_t len) {
    return static_cast<int>(::syscall(SYS_bind, fd, addr, len));
}
int sys_listen(int fd, int backlog) { return static_cast<int>(::syscall(SYS_listen, fd, backlog)); }
int sys_setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    return static_cast<int>(::syscall(SYS_setsockopt, fd, level, name, value, len));
}

/**
 * One entry of the table. Racing first calls from several threads all store
 * the same pointer, so an acquire/release pair is enough and the table has no
 * lock of its own. dlsym takes the loader's lock, once per entry, at the first
 * call (not in the constructor: it measurably slowed every exec).
 */
template <typename Fn>
struct Symbol {
    const char* name;
    Fn fallback;
    std::atomic<Fn> fn{nullptr};

    Fn get() {
        Fn f = fn.load(std::memory_order_acquire);
        if (f != nullptr) return f;
        // dlsym does not change errno on success, but a failed lookup sets dlerror
        // state only; errno is saved anyway because the hook reports libc's errno.
        const int saved = errno;
        f = reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
        errno = saved;
        if (f == nullptr) f = fallback;
        fn.store(f, std::memory_order_release);
        return f;
    }
};

// constinit: zero-initialised at load time, no constructor, no destructor.
Symbol<int (*)(int, const sockaddr*, socklen_t)> real_bind{"bind", sys_bind};
Symbol<int (*)(int, int)> real_listen{"listen", sys_listen};
Symbol<int (*)(int, int, int, const void*, socklen_t)> real_setsockopt{"setsockopt", sys_setsockopt};

} // namespace

int bind(int fd, const sockaddr* addr, socklen_t len) { return real_bind.get()(fd, addr, len); }
int listen(int fd, int backlog) { return real_listen.get()(fd, backlog); }
int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    return real_setsockopt.get()(fd, level, name, value, len);
}


} // namespace portshim::real
