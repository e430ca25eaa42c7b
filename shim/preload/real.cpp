// Resolution of the real libc functions. Each entry is an atomic pointer
// filled by dlsym(RTLD_NEXT) on first use; when dlsym cannot find the next
// definition (a statically linked libc, a broken chain) the entry falls back to
// the raw system call, so a hook never crashes for want of a symbol.
#include "real.hpp"

#include "common/raw_syscall.hpp"

#include <atomic>
#include <cerrno>
#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
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

int sys_socket(int domain, int type, int protocol) {
    return static_cast<int>(::syscall(SYS_socket, domain, type, protocol));
}
[[maybe_unused]] int sys_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return static_cast<int>(::syscall(SYS_prctl, option, a2, a3, a4, a5));
}
pid_t sys_fork() {
#ifdef SYS_fork
    return static_cast<pid_t>(::syscall(SYS_fork));
#else
    return static_cast<pid_t>(::syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0));
#endif
}
int sys_execve(const char* path, char* const argv[], char* const envp[]) {
    return static_cast<int>(::syscall(SYS_execve, path, argv, envp));
}
int sys_execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
    return static_cast<int>(::syscall(SYS_execveat, dirfd, path, argv, envp, flags));
}
int sys_fexecve(int fd, char* const argv[], char* const envp[]) {
    return sys_execveat(fd, "", argv, envp, AT_EMPTY_PATH);
}
int sys_execv(const char* path, char* const argv[]) { return sys_execve(path, argv, environ); }
// No system call does a PATH search, a spawn or a shell: without libc's own
// definition these fail cleanly rather than guess.
int no_execvp(const char*, char* const[]) { return errno = ENOSYS, -1; }
int no_execvpe(const char*, char* const[], char* const[]) { return errno = ENOSYS, -1; }
int no_spawn(pid_t*, const char*, const posix_spawn_file_actions_t*, const posix_spawnattr_t*,
             char* const[], char* const[]) {
    return ENOSYS;
}
int no_system(const char*) { return errno = ENOSYS, -1; }
FILE* no_popen(const char*, const char*) { return errno = ENOSYS, nullptr; }

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
Symbol<int (*)(int, int, int)> real_socket{"socket", sys_socket};
#ifdef PORTSHIM_NO_RAW_SYSCALL
Symbol<int (*)(int, unsigned long, unsigned long, unsigned long, unsigned long)> real_prctl{"prctl", sys_prctl};
Symbol<long (*)(long, long, long, long, long, long, long)> real_syscall{"syscall", raw_syscall};
#endif

Symbol<pid_t (*)()> real_fork{"fork", sys_fork};
Symbol<int (*)(const char*, char* const[], char* const[])> real_execve{"execve", sys_execve};
Symbol<int (*)(const char*, char* const[])> real_execv{"execv", sys_execv};
Symbol<int (*)(const char*, char* const[])> real_execvp{"execvp", no_execvp};
Symbol<int (*)(const char*, char* const[], char* const[])> real_execvpe{"execvpe", no_execvpe};
Symbol<int (*)(int, const char*, char* const[], char* const[], int)> real_execveat{"execveat", sys_execveat};
Symbol<int (*)(int, char* const[], char* const[])> real_fexecve{"fexecve", sys_fexecve};
using SpawnFn = int (*)(pid_t*, const char*, const posix_spawn_file_actions_t*,
                        const posix_spawnattr_t*, char* const[], char* const[]);
Symbol<SpawnFn> real_posix_spawn{"posix_spawn", no_spawn};
Symbol<SpawnFn> real_posix_spawnp{"posix_spawnp", no_spawn};
Symbol<int (*)(const char*)> real_system{"system", no_system};
Symbol<FILE* (*)(const char*, const char*)> real_popen{"popen", no_popen};

} // namespace

int bind(int fd, const sockaddr* addr, socklen_t len) { return real_bind.get()(fd, addr, len); }
int listen(int fd, int backlog) { return real_listen.get()(fd, backlog); }
int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    return real_setsockopt.get()(fd, level, name, value, len);
}

int socket(int domain, int type, int protocol) { return real_socket.get()(domain, type, protocol); }
#ifdef PORTSHIM_NO_RAW_SYSCALL
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return real_prctl.get()(option, a2, a3, a4, a5);
}
long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6) {
    return real_syscall.get()(number, a1, a2, a3, a4, a5, a6);
}
#else
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return static_cast<int>(raw_syscall(SYS_prctl, option, static_cast<long>(a2),
                                        static_cast<long>(a3), static_cast<long>(a4),
                                        static_cast<long>(a5), 0));
}
long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6) {
    return raw_syscall(number, a1, a2, a3, a4, a5, a6);
}
#endif

pid_t fork() { return real_fork.get()(); }
int execve(const char* path, char* const argv[], char* const envp[]) {
    return real_execve.get()(path, argv, envp);
}
int execv(const char* path, char* const argv[]) { return real_execv.get()(path, argv); }
int execvp(const char* file, char* const argv[]) { return real_execvp.get()(file, argv); }
int execvpe(const char* file, char* const argv[], char* const envp[]) {
    return real_execvpe.get()(file, argv, envp);
}
int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags) {
    return real_execveat.get()(dirfd, path, argv, envp, flags);
}
int fexecve(int fd, char* const argv[], char* const envp[]) {
    return real_fexecve.get()(fd, argv, envp);
}
int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
    return real_posix_spawn.get()(pid, path, actions, attr, argv, envp);
}
int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]) {
    return real_posix_spawnp.get()(pid, file, actions, attr, argv, envp);
}
int system(const char* command) { return real_system.get()(command); }
FILE* popen(const char* command, const char* mode) { return real_popen.get()(command, mode); }

void resolve_exec_family() {
    real_execve.get();
    real_execv.get();
    real_execvp.get();
    real_execvpe.get();
    real_execveat.get();
    real_fexecve.get();
}

} // namespace portshim::real
