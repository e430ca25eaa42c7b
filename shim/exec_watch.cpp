// See exec_watch.hpp. Reading `environ` directly instead of getenv(3) keeps
// to plain memory reads; every other step is a system call.
#include "exec_watch.hpp"

#include "events.hpp"
#include "line_buffer.hpp"
#include "registry_writer.hpp"
#include "runtime.hpp"
#include "seccomp_state.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::exec_watch {

namespace {

/** The value of NAME in `env` ("NAME=value"), or nullptr. */
const char* env_value(char* const* env, const char* name) {
    const std::size_t n = std::strlen(name);
    for (; env != nullptr && *env != nullptr; ++env)
        if (std::strncmp(*env, name, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return nullptr;
}

/** LISTEN_FDS=n of the new program's environment (sd_listen_fds(3)): fds 3..3+n-1. */
int listen_fds_of(char* const* envp) {
    const char* v = env_value(envp, "LISTEN_FDS");
    if (v == nullptr) return 0;
    int n = 0;
    for (; *v >= '0' && *v <= '9' && n < 100000; ++v) n = n * 10 + (*v - '0');
    return *v == '\0' ? n : 0;
}

bool same_file(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/** readlink of /proc/self/exe without " (deleted)": the path a binary upgrade execs again. */
bool own_path(char (&out)[PATH_MAX]) {
    const ssize_t n = ::readlink("/proc/self/exe", out, sizeof out - 1);
    if (n <= 0) return false;
    std::size_t len = static_cast<std::size_t>(n);
    constexpr char deleted[] = " (deleted)";
    constexpr std::size_t dn = sizeof deleted - 1;
    if (len > dn && std::memcmp(out + len - dn, deleted, dn) == 0) len -= dn;
    out[len] = '\0';
    return true;
}

/** Does `candidate` name our own program: the same file, or the path our replaced binary had? */
bool is_self(const char* candidate, const struct stat& self, const char* self_path) {
    struct stat st;
    if (::stat(candidate, &st) == 0 && same_file(st, self)) return true;
    return self_path != nullptr && std::strcmp(candidate, self_path) == 0;
}

/** The exec target is this process's own executable (nginx-style binary upgrade, re-exec). */
bool targets_self(const Target& t) {
    struct stat self;
    if (::stat("/proc/self/exe", &self) != 0) return false;
    char self_path[PATH_MAX];
    const char* own = own_path(self_path) ? self_path : nullptr;
    struct stat st;
    if (t.path == nullptr || t.empty_path)
        return t.dirfd >= 0 && ::fstat(t.dirfd, &st) == 0 && same_file(st, self);
    if (t.dirfd >= 0 && t.path[0] != '/')
        return ::fstatat(t.dirfd, t.path, &st, 0) == 0 && same_file(st, self);
    if (!t.search_path || std::strchr(t.path, '/') != nullptr) return is_self(t.path, self, own);
    // execvp(3): the first executable "DIR/file" along PATH is what will run.
    const char* path = env_value(environ, "PATH");
    if (path == nullptr) path = "/bin:/usr/bin";
    const std::size_t file_len = std::strlen(t.path);
    for (const char* dir = path;; ++dir) {
        const char* end = std::strchr(dir, ':');
        const std::size_t dir_len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
        char candidate[PATH_MAX];
        if (dir_len + 1 + file_len < sizeof candidate) {
            std::size_t len = 0;
            if (dir_len == 0) candidate[len++] = '.';
            std::memcpy(candidate + len, dir, dir_len);
            len += dir_len;
            candidate[len++] = '/';
            std::memcpy(candidate + len, t.path, file_len + 1);
            if (::access(candidate, X_OK) == 0 && ::stat(candidate, &st) == 0 && S_ISREG(st.st_mode))
                return is_self(candidate, self, own);
        }
        if (end == nullptr) return false;
        dir = end;
    }
}

} // namespace

void before_exec(const Target& target, Plan& plan) noexcept {
    plan.count = 0;
    // Under a seccomp filter the host may be killed for a call it never made (rule 10).
    if (reentered() || !listeners::any() || seccomp::in_force_cached()) return;
    const int saved = errno;
    const Config& config = config_for_spawn();
    registry::record_pending(config);
    listeners::FdList found;
    listeners::collect_leaking(found);
    if (found.count == 0) {
        errno = saved;
        return;
    }
    const bool self = targets_self(target);
    const int handed = listen_fds_of(target.envp);
    listeners::FdList leaks, listen_fds, own;
    bool news = false; // a socket not warned about yet in this process tree
    for (int i = 0; i < found.count; ++i) {
        const listeners::ListenFd& fd = found.items[i];
        if (fd.fd >= 3 && fd.fd < 3 + handed) {
            listen_fds.add(fd);
        } else if (self) {
            own.add(fd);
        } else {
            leaks.add(fd);
            // Sockets this process inherited were reported by its `inherited` event.
            if (!fd.inherited && listeners::first_warning(fd.inode)) news = true;
        }
    }
    leaks.more += found.more;
    if (config.cloexec)
        for (int i = 0; i < leaks.count; ++i) {
            const int flags = ::fcntl(leaks.items[i].fd, F_GETFD);
            if (flags >= 0 && ::fcntl(leaks.items[i].fd, F_SETFD, flags | FD_CLOEXEC) == 0)
                plan.cleared[plan.count++] = leaks.items[i].fd;
        }
    // fexecve/execveat(AT_EMPTY_PATH): the program is the file behind the descriptor.
    char fd_path[PATH_MAX] = "(a program open as a descriptor)";
    const char* shown = target.shown;
    if (shown == nullptr) {
        char link[32];
        LineBuffer name(link, sizeof link);
        name.put("/proc/self/fd/").put_int(target.dirfd);
        link[name.size()] = '\0';
        const ssize_t n = ::readlink(link, fd_path, sizeof fd_path - 1);
        if (n > 0) fd_path[n] = '\0';
        shown = fd_path;
    }
    const StderrIdentity* identity = stderr_identity();
    const Level level = !news ? Level::debug : config.cloexec ? Level::info : Level::warn;
    events::report_exec_leak(config, identity, level, shown, target.tail, config.cloexec,
                             events::Handover::none, leaks);
    events::report_exec_leak(config, identity, Level::debug, shown, target.tail, false,
                             events::Handover::listen_fds, listen_fds);
    events::report_exec_leak(config, identity, Level::debug, shown, target.tail, false,
                             events::Handover::self_exec, own);
    errno = saved;
}

void undo(Plan& plan) noexcept {
    const int saved = errno;
    for (int i = 0; i < plan.count; ++i) {
        const int flags = ::fcntl(plan.cleared[i], F_GETFD);
        if (flags >= 0) ::fcntl(plan.cleared[i], F_SETFD, flags & ~FD_CLOEXEC);
    }
    plan.count = 0;
    errno = saved;
}

void before_fork() noexcept {
    if (reentered() || !listeners::any() || seccomp::in_force_cached()) return;
    registry::record_pending(config_for_spawn());
}

void after_fork(pid_t child) noexcept {
    if (child <= 0 || reentered() || !listeners::any() || seccomp::in_force_cached()) return;
    const int saved = errno;
    listeners::FdList held;
    listeners::collect_held(held);
    int more = 0;
    if (held.count > 0 && listeners::fork_line_due(more)) {
        // Debug: forking workers that share the listening socket is how servers
        // work (sshd and prefork servers fork per connection); leaks show up as
        // exec-leak and inherited events and in the inherited-fd cause.
        events::report_fork(config_for_spawn(), stderr_identity(), Level::debug, child, more, held);
    }
    errno = saved;
}

} // namespace portshim::exec_watch
