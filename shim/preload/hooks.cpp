// The only definitions of libc names in portshim. Each hook forwards to libc
// and hands what it saw to runtime (a failure to explain), socket_options or
// exec_watch; none holds logic of its own beyond a few lines.
#include "exec_watch.hpp"
#include "real.hpp"
#include "runtime.hpp"
#include "seccomp_state.hpp"
#include "socket_options.hpp"
#include "startup.hpp"

#include <cstdarg>
#include <fcntl.h>
#include <spawn.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <unistd.h>

#define PORTSHIM_EXPORT extern "C" __attribute__((visibility("default")))

PORTSHIM_EXPORT int bind(int fd, const struct sockaddr* addr, socklen_t len) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::bind(fd, addr, len);
    return portshim::bind_explained(fd, addr, len);
}

PORTSHIM_EXPORT int listen(int fd, int backlog) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::listen(fd, backlog);
    const int rc = portshim::real::listen(fd, backlog);
    portshim::after_listen(fd, rc);
    return rc;
}

PORTSHIM_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::setsockopt(fd, level, name, value, len);
    const int rc = portshim::real::setsockopt(fd, level, name, value, len);
    if (rc == 0) portshim::note_socket_option(fd, level, name, value, len);
    return rc;
}

PORTSHIM_EXPORT int socket(int domain, int type, int protocol) {
    const int fd = portshim::real::socket(domain, type, protocol);
    if (fd >= 0 && !portshim::reentered()) portshim::note_socket(fd, type);
    return fd;
}

// Seccomp filters: installing one (or strict mode) through libc is noted
// before the call, so no diagnosis starts under it (DESIGN.md rule 10). These
// hooks only look at their arguments and forward them untouched.

PORTSHIM_EXPORT int prctl(int option, ...) {
    va_list ap;
    va_start(ap, option);
    const unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long),
                        a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP) portshim::seccomp::note_install();
    return portshim::real::prctl(option, a2, a3, a4, a5);
}

PORTSHIM_EXPORT long syscall(long number, ...) {
    va_list ap;
    va_start(ap, number);
    long a[6];
    for (long& v : a) v = va_arg(ap, long);
    va_end(ap);
    // The kernel reads these arguments as unsigned int and int: their low 32 bits.
    const auto op = static_cast<unsigned>(a[0]);
    if ((number == SYS_seccomp && (op == SECCOMP_SET_MODE_FILTER || op == SECCOMP_SET_MODE_STRICT)) ||
        (number == SYS_prctl && static_cast<int>(op) == PR_SET_SECCOMP))
        portshim::seccomp::note_install();
    return portshim::real::syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

// Process creation: only async-signal-safe work here (DESIGN.md rule 7): these
// run in fork children, vfork children and signal handlers. vfork is never wrapped.

PORTSHIM_EXPORT pid_t fork(void) {
    if (portshim::reentered()) return portshim::real::fork();
    portshim::config_for_spawn();             // the child inherits it parsed
    portshim::real::resolve_exec_family();    // the child must not be first to dlsym
    portshim::exec_watch::before_fork();
    const bool threaded = !__libc_single_threaded;
    portshim::forking(threaded);
    const pid_t pid = portshim::real::fork();
    if (pid == 0) portshim::entered_fork_child(threaded);
    if (pid > 0) portshim::exec_watch::after_fork(pid);
    return pid;
}

namespace {

using portshim::exec_watch::Target;

/** Runs an exec-like call between before_exec and undo (undo keeps errno). */
template <typename Call>
auto watched(const Target& target, Call call) {
    portshim::exec_watch::Plan plan;
    portshim::exec_watch::before_exec(target, plan);
    const auto rc = call();
    portshim::exec_watch::undo(plan);
    return rc;
}

Target program(const char* path, char* const envp[], bool search_path = false,
               const posix_spawn_file_actions_t* actions = nullptr) {
    return Target{path, nullptr, path, search_path, -1, false, envp, actions};
}

Target shell(const char* command) {
    return Target{"/bin/sh -c ", command, "/bin/sh", false, -1, false, environ};
}

Target descriptor(int dirfd, const char* path, int flags, char* const envp[]) {
    const bool empty = (flags & AT_EMPTY_PATH) != 0 && path != nullptr && path[0] == '\0';
    return Target{empty ? nullptr : path, nullptr, empty ? nullptr : path,
                  false, dirfd, empty, envp};
}

/**
 * execl(3)-style arguments up to the NULL, gathered into an argv on this
 * frame's stack (as glibc does: no malloc), then `run(argv, envp)`; envp is the
 * pointer after the NULL for execle, else `environ`.
 */
template <typename Run>
int with_arg_list(const char* first, va_list ap, bool envp_follows, Run run) {
    va_list count;
    va_copy(count, ap);
    int n = first != nullptr ? 1 : 0;
    while (first != nullptr && va_arg(count, const char*) != nullptr) ++n;
    va_end(count);
    auto** argv = static_cast<char**>(__builtin_alloca(sizeof(char*) * (static_cast<unsigned>(n) + 1)));
    argv[0] = const_cast<char*>(first);
    for (int i = 1; i < n; ++i) argv[i] = va_arg(ap, char*);
    argv[n] = nullptr;
    if (n > 0) va_arg(ap, char*); // the NULL that ends the list
    char* const* envp = envp_follows ? va_arg(ap, char* const*) : environ;
    return run(argv, envp);
}

} // namespace

PORTSHIM_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
    return watched(program(path, envp), [&] { return portshim::real::execve(path, argv, envp); });
}

PORTSHIM_EXPORT int execv(const char* path, char* const argv[]) {
    return watched(program(path, environ), [&] { return portshim::real::execv(path, argv); });
}

PORTSHIM_EXPORT int execvp(const char* file, char* const argv[]) {
    return watched(program(file, environ, true), [&] { return portshim::real::execvp(file, argv); });
}

PORTSHIM_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
    return watched(program(file, envp, true),
                   [&] { return portshim::real::execvpe(file, argv, envp); });
}

PORTSHIM_EXPORT int execveat(int dirfd, const char* path, char* const argv[], char* const envp[],
                             int flags) {
    return watched(descriptor(dirfd, path, flags, envp),
                   [&] { return portshim::real::execveat(dirfd, path, argv, envp, flags); });
}

PORTSHIM_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
    return watched(descriptor(fd, "", AT_EMPTY_PATH, envp),
                   [&] { return portshim::real::fexecve(fd, argv, envp); });
}

// glibc's execl, execle and execlp call the internal execve directly, so each is
// wrapped itself; their arguments go on the stack, as glibc does (no malloc).
PORTSHIM_EXPORT int execl(const char* path, const char* arg, ...) {
    va_list ap;
    va_start(ap, arg);
    const int rc = with_arg_list(arg, ap, false, [&](char** argv, char* const* envp) {
        return watched(program(path, envp), [&] { return portshim::real::execve(path, argv, envp); });
    });
    va_end(ap);
    return rc;
}

PORTSHIM_EXPORT int execlp(const char* file, const char* arg, ...) {
    va_list ap;
    va_start(ap, arg);
    const int rc = with_arg_list(arg, ap, false, [&](char** argv, char* const* envp) {
        return watched(program(file, envp, true), [&] { return portshim::real::execvp(file, argv); });
    });
    va_end(ap);
    return rc;
}

PORTSHIM_EXPORT int execle(const char* path, const char* arg, ...) {
    va_list ap;
    va_start(ap, arg);
    const int rc = with_arg_list(arg, ap, true, [&](char** argv, char* const* envp) {
        return watched(program(path, envp), [&] { return portshim::real::execve(path, argv, envp); });
    });
    va_end(ap);
    return rc;
}

PORTSHIM_EXPORT int posix_spawn(pid_t* pid, const char* path,
                                const posix_spawn_file_actions_t* actions,
                                const posix_spawnattr_t* attr, char* const argv[],
                                char* const envp[]) {
    return watched(program(path, envp, false, actions),
                   [&] { return portshim::real::posix_spawn(pid, path, actions, attr, argv, envp); });
}

PORTSHIM_EXPORT int posix_spawnp(pid_t* pid, const char* file,
                                 const posix_spawn_file_actions_t* actions,
                                 const posix_spawnattr_t* attr, char* const argv[],
                                 char* const envp[]) {
    return watched(program(file, envp, true, actions),
                   [&] { return portshim::real::posix_spawnp(pid, file, actions, attr, argv, envp); });
}

// glibc's system() and popen() spawn /bin/sh through an internal posix_spawn.
PORTSHIM_EXPORT int system(const char* command) {
    if (command == nullptr) return portshim::real::system(command);
    return watched(shell(command), [&] { return portshim::real::system(command); });
}

PORTSHIM_EXPORT FILE* popen(const char* command, const char* mode) {
    if (command == nullptr) return portshim::real::popen(command, mode);
    return watched(shell(command), [&] { return portshim::real::popen(command, mode); });
}

namespace {
// At load: note what fd 2 is and read the configuration. Hooks do not depend
// on it having run.
__attribute__((constructor)) void portshim_load() { portshim::load(); }
} // namespace
