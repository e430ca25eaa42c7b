// See exec_watch.hpp. Reading `environ` directly instead of getenv(3) keeps
// to plain memory reads; every other step is a system call.
#include "exec_watch.hpp"

#include "common/events.hpp"
#include "common/line_buffer.hpp"
#include "registry_writer.hpp"
#include "own_stack.hpp"
#include "runtime.hpp"
#include "startup.hpp"
#include "seccomp_state.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <initializer_list>
#include <linux/kcmp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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

/**
 * The exec target (`program`, as program_to_run found it) is this process's
 * own executable (nginx-style binary upgrade, re-exec). Out of line: its two
 * buffers are gone again before the events are written, on what may be a
 * small thread stack.
 */
__attribute__((noinline)) bool targets_self(const Target& t, const char* program) {
    struct stat self;
    if (::stat("/proc/self/exe", &self) != 0) return false;
    struct stat st;
    if (t.path == nullptr || t.empty_path)
        return t.dirfd >= 0 && ::fstat(t.dirfd, &st) == 0 && same_file(st, self);
    if (t.dirfd >= 0 && t.path[0] != '/')
        return ::fstatat(t.dirfd, t.path, &st, 0) == 0 && same_file(st, self);
    char self_path[PATH_MAX];
    return is_self(program, self, own_path(self_path) ? self_path : nullptr);
}

/**
 * This process shares its memory with its parent: a vfork(2) child before
 * its exec. Pages mapped here would stay mapped in the parent once the exec
 * succeeds, one mapping per exec. kcmp(2) KCMP_VM tells; when it cannot (no
 * kcmp, EPERM), assume so.
 */
bool shares_parent_memory() {
    const pid_t parent = ::getppid();
    if (parent == 0) return false; // the first process of a PID namespace
    const long same = ::syscall(SYS_kcmp, ::getpid(), parent, KCMP_VM, 0, 0);
    if (same >= 0) return same == 0;
    // kcmp refused (EPERM: a parent of another user, as for most services; no
    // kcmp): a vfork child sees its parent's memory, where the pid noted at
    // load and in the fork hook's child is the parent's, not its own.
    return process_pid() != static_cast<int>(::getpid());
}

/**
 * Room for one more entry of `plan`: inline, then in pages mapped (and grown)
 * for this call. nullptr when there is no room to be had, or in a vfork child.
 */
Plan::Entry* next_entry(Plan& plan) {
    if (plan.count < Plan::inline_max) return &plan.entries[plan.count];
    const auto i = static_cast<std::size_t>(plan.count - Plan::inline_max);
    if (i < plan.extra_bytes / sizeof(Plan::Entry)) return &plan.extra[i];
    if (plan.extra == nullptr && shares_parent_memory()) return nullptr;
    const std::size_t bytes = plan.extra_bytes == 0 ? 4096 : plan.extra_bytes * 2;
    void* mem = plan.extra == nullptr
                    ? ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                    : ::mremap(plan.extra, plan.extra_bytes, bytes, MREMAP_MAYMOVE);
    if (mem == MAP_FAILED) return nullptr;
    plan.extra = static_cast<Plan::Entry*>(mem);
    plan.extra_bytes = bytes;
    return &plan.extra[i];
}

Plan::Entry& entry(Plan& plan, int i) {
    return i < Plan::inline_max ? plan.entries[i] : plan.extra[i - Plan::inline_max];
}

enum class KeptOut { kept, not_leaking, failed };

/** PORTSHIM_CLOEXEC=1 for one socket: FD_CLOEXEC set, and noted in `plan` to be undone. */
KeptOut keep_out(Plan& plan, const listeners::ListenFd& fd) {
    struct stat st;
    Plan::Entry* e = next_entry(plan);
    if (e == nullptr || ::fstat(fd.fd, &st) != 0 || st.st_ino != fd.inode) return KeptOut::failed;
    const int flags = ::fcntl(fd.fd, F_GETFD);
    if (flags < 0) return KeptOut::failed;
    if ((flags & FD_CLOEXEC) != 0) return KeptOut::not_leaking; // another thread set it meanwhile
    if (::fcntl(fd.fd, F_SETFD, flags | FD_CLOEXEC) != 0) return KeptOut::failed;
    *e = Plan::Entry{fd.fd, st.st_dev, st.st_ino};
    ++plan.count;
    return KeptOut::kept;
}

/**
 * One posix_spawn file action as glibc records it (posix/spawn_int.h, struct
 * __spawn_action: posix_spawn_file_actions_t's __actions holds __used of
 * them). Only the layout of the actions read here matters; the open action's
 * is the union's largest member and fixes its size.
 */
struct SpawnAction {
    // glibc's tags: close, dup2, open, chdir, fchdir (2.29), closefrom (2.34), tcsetpgrp (2.35).
    enum Tag : int { close = 0, dup2 = 1, open = 2, chdir = 3, fchdir = 4, closefrom = 5, last = 6 };
    int tag;
    union {
        struct { int fd; } close;
        struct { int fd; int newfd; } dup2;
        struct { int fd; char* path; int oflag; mode_t mode; } open;
        struct { int from; } closefrom;
    } action;
};

/**
 * The spawn's file actions as glibc lays them out: `list` and their number
 * `n` (none: n == 0). False when they cannot be read so (another libc, counts
 * that do not fit, a tag unknown here): a private structure is read only as
 * far as it is understood.
 */
bool read_spawn_actions(const posix_spawn_file_actions_t* actions, const SpawnAction*& list, int& n) {
    list = nullptr;
    n = 0;
    if (actions == nullptr) return true;
#ifdef __GLIBC__
    if (actions->__used == 0) return true;
    if (actions->__used < 0 || actions->__allocated <= 0 || actions->__actions == nullptr) return false;
    n = actions->__used < actions->__allocated ? actions->__used : actions->__allocated;
    list = reinterpret_cast<const SpawnAction*>(actions->__actions);
    for (int i = 0; i < n; ++i)
        if (list[i].tag < 0 || list[i].tag > SpawnAction::last) return false;
    return true;
#else
    return false;
#endif
}

/**
 * The spawn's file actions close `fd` in the child before its exec (close,
 * closefrom, or a dup2/open onto it) and copy it nowhere else (no dup2 from it).
 * False when they cannot be read: reported as a leak.
 */
bool spawn_closes(const posix_spawn_file_actions_t* actions, int fd) {
    const SpawnAction* list = nullptr;
    int n = 0;
    if (!read_spawn_actions(actions, list, n)) return false;
    bool closed = false;
    for (int i = 0; i < n; ++i) {
        const SpawnAction& a = list[i];
        if (a.tag == SpawnAction::dup2 && a.action.dup2.fd == fd && a.action.dup2.newfd != fd) return false;
        closed |= (a.tag == SpawnAction::close && a.action.close.fd == fd) ||
                  (a.tag == SpawnAction::closefrom && fd >= a.action.closefrom.from) ||
                  (a.tag == SpawnAction::dup2 && a.action.dup2.newfd == fd && a.action.dup2.fd != fd) ||
                  (a.tag == SpawnAction::open && a.action.open.fd == fd);
    }
    return closed;
}

/**
 * The spawn's file actions copy `fd` (a dup2 from it): the copy has no
 * FD_CLOEXEC, and glibc clears it even for dup2(fd, fd) (POSIX.1-2024
 * posix_spawn_file_actions_adddup2; glibc posix/spawni.c), so setting the
 * flag before the spawn cannot keep the socket out.
 */
bool spawn_copies(const posix_spawn_file_actions_t* actions, int fd) {
    const SpawnAction* list = nullptr;
    int n = 0;
    if (!read_spawn_actions(actions, list, n)) return false;
    for (int i = 0; i < n; ++i)
        if (list[i].tag == SpawnAction::dup2 && list[i].action.dup2.fd == fd) return true;
    return false;
}

/**
 * The spawn child may change its directory before the exec (a chdir or fchdir
 * action, or actions that cannot be read): a relative path resolves there.
 */
bool spawn_may_chdir(const posix_spawn_file_actions_t* actions) {
    const SpawnAction* list = nullptr;
    int n = 0;
    if (!read_spawn_actions(actions, list, n)) return true;
    for (int i = 0; i < n; ++i)
        if (list[i].tag == SpawnAction::chdir || list[i].tag == SpawnAction::fchdir) return true;
    return false;
}

/**
 * execve(2) of `candidate` fails for sure: it does not exist (ENOENT,
 * ENOTDIR). Not access(2), which asks for the real uid (setuid programs,
 * ambient capabilities) and is a guess: any other doubt means it may run.
 * A relative path after a spawn's chdir action resolves elsewhere: may run.
 */
bool missing(const Target& t, const char* candidate) {
    if (candidate[0] != '/' && spawn_may_chdir(t.actions)) return false;
    struct stat st;
    const int rc = t.dirfd >= 0 && candidate[0] != '/' ? ::fstatat(t.dirfd, candidate, &st, 0)
                                                       : ::stat(candidate, &st);
    return rc != 0 && (errno == ENOENT || errno == ENOTDIR);
}

/**
 * The program the exec will run: `t.path` as given, or for execvp(3) the
 * first "DIR/file" along PATH that exists (into `buf`); "" for a program given
 * as a descriptor (execveat, fexecve). nullptr when the exec is bound to fail
 * (missing): Python's _posixsubprocess and Java's jspawnhelper search PATH
 * themselves, one execve per candidate, and only the last one runs.
 */
const char* program_to_run(const Target& t, char (&buf)[PATH_MAX]) {
    if (t.path == nullptr || t.empty_path) return "";
    if (!t.search_path || std::strchr(t.path, '/') != nullptr) return missing(t, t.path) ? nullptr : t.path;
    const char* path = env_value(environ, "PATH");
    if (path == nullptr) path = "/bin:/usr/bin";
    const std::size_t file_len = std::strlen(t.path);
    for (const char* dir = path;; ++dir) {
        const char* end = std::strchr(dir, ':');
        const std::size_t dir_len = end != nullptr ? static_cast<std::size_t>(end - dir) : std::strlen(dir);
        if (dir_len + 2 + file_len < sizeof buf) {
            std::size_t len = 0;
            if (dir_len == 0) buf[len++] = '.';
            std::memcpy(buf + len, dir, dir_len);
            len += dir_len;
            buf[len++] = '/';
            std::memcpy(buf + len, t.path, file_len + 1);
            if (!missing(t, buf)) return buf;
        }
        if (end == nullptr) return nullptr;
        dir = end;
    }
}

/** One exec's leaking sockets, sorted by listeners::for_each_leaking. */
struct Sorting {
    bool self = false;                 ///< the target is our own program
    bool closing_helper = false;       ///< the target closes them before its own exec
    const posix_spawn_file_actions_t* actions = nullptr;
    int handed = 0;                    ///< LISTEN_FDS of the target's environment
    bool cloexec = false;              ///< PORTSHIM_CLOEXEC=1
    Plan* plan = nullptr;
    listeners::FdList leaks;           ///< the target inherits them; with cloexec: kept out
    listeners::FdList stuck;           ///< cloexec, but the flag could not be set: inherited
    listeners::FdList listen_fds, own, closing; ///< handed over on purpose, or closed by the helper
    bool news = false;                 ///< a socket not warned about yet in this process tree
};

void sort_one(const listeners::ListenFd& fd, void* context) {
    Sorting& s = *static_cast<Sorting*>(context);
    if (spawn_closes(s.actions, fd.fd)) return; // the child closes it before the exec
    if (s.closing_helper) {
        s.closing.add(fd);
        return;
    }
    if (fd.fd >= 3 && fd.fd < 3 + s.handed) {
        s.listen_fds.add(fd);
        return;
    }
    if (s.self) {
        s.own.add(fd);
        return;
    }
    const bool copied = s.cloexec && spawn_copies(s.actions, fd.fd);
    const KeptOut kept = s.cloexec && !copied ? keep_out(*s.plan, fd) : KeptOut::failed;
    if (kept == KeptOut::not_leaking) return;
    if (kept == KeptOut::kept || !s.cloexec) s.leaks.add(fd);
    else s.stuck.add(fd);
    // Sockets this process inherited were reported by its `inherited` event.
    if (!fd.inherited && listeners::first_warning(fd.inode)) s.news = true;
}

} // namespace

namespace {

/** before_exec's work once it is known there are listening sockets to look at. */
void watch_exec(const Target& target, Plan& plan) {
    const int saved = errno;
    const Config& config = config_for_spawn();
    registry::record_pending(config);
    char resolved[PATH_MAX];
    const char* program = program_to_run(target, resolved);
    if (program == nullptr) { // the exec fails for sure: nothing leaks (the next candidate is told)
        errno = saved;
        return;
    }
    Sorting sorting;
    sorting.self = targets_self(target, program);
    sorting.closing_helper = fd_closing_helper(program);
    sorting.actions = target.actions;
    sorting.handed = listen_fds_of(target.envp);
    sorting.cloexec = config.cloexec;
    sorting.plan = &plan;
    listeners::for_each_leaking(sort_one, &sorting);
    int found = 0;
    for (const listeners::FdList* list :
         {&sorting.leaks, &sorting.stuck, &sorting.listen_fds, &sorting.own, &sorting.closing})
        found += list->count + list->more;
    if (found == 0) {
        errno = saved;
        return;
    }
    // fexecve/execveat(AT_EMPTY_PATH): the program is the file behind the
    // descriptor. 512 bytes: the events cut the target there anyway.
    char fd_path[513] = "(a program open as a descriptor)";
    // execvp's file name as PATH resolves it: the program that will run.
    const char* shown = target.search_path && program[0] != '\0' ? program : target.shown;
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
    const bool news = sorting.news;
    const Level level = !news ? Level::debug : config.cloexec ? Level::info : Level::warn;
    // A vfork child (posix_spawn's, Python's _posixsubprocess) is about to
    // become the new program: the sockets are its parent's, the server's.
    const int owner = static_cast<int>(shares_parent_memory() ? ::getppid() : ::getpid());
    events::report_exec_leak(config, identity, level, shown, target.tail, config.cloexec,
                             Handover::none, sorting.leaks, owner);
    events::report_exec_leak(config, identity, news ? Level::warn : Level::debug, shown,
                             target.tail, false, Handover::none, sorting.stuck, owner);
    events::report_exec_leak(config, identity, Level::debug, shown, target.tail, false,
                             Handover::listen_fds, sorting.listen_fds, owner);
    events::report_exec_leak(config, identity, Level::debug, shown, target.tail, false,
                             Handover::self_exec, sorting.own, owner);
    events::report_exec_leak(config, identity, Level::debug, shown, target.tail, false,
                             Handover::closes_fds, sorting.closing, owner);
    errno = saved;
}

} // namespace

void before_exec(const Target& target, Plan& plan) noexcept {
    plan.count = 0;
    // Under a seccomp filter the host may be killed for a call it never made (rule 10).
    if (reentered() || !listeners::any() || seccomp::in_force_cached()) return;
    // Sorting the sockets and writing the events takes some 25 KiB of stack: on
    // one of our own, as a thread with a 16 KiB stack may call system(). Safe in
    // a vfork child too: the stack is unmapped again before the exec.
    struct Call {
        const Target* target;
        Plan* plan;
    } call{&target, &plan};
    if (!run_on_own_stack([](void* p) { watch_exec(*static_cast<Call*>(p)->target, *static_cast<Call*>(p)->plan); },
                          &call))
        watch_exec(target, plan);
}

void undo(Plan& plan) noexcept {
    const int saved = errno;
    for (int i = 0; i < plan.count; ++i) {
        const Plan::Entry& e = entry(plan, i);
        struct stat st;
        // Another thread may have closed the number and opened something else
        // there since: that descriptor's flag is its own.
        if (::fstat(e.fd, &st) != 0 || st.st_dev != e.dev || st.st_ino != e.ino) continue;
        const int flags = ::fcntl(e.fd, F_GETFD);
        if (flags >= 0) ::fcntl(e.fd, F_SETFD, flags & ~FD_CLOEXEC);
    }
    if (plan.extra != nullptr) ::munmap(plan.extra, plan.extra_bytes);
    plan.extra = nullptr;
    plan.extra_bytes = 0;
    plan.count = 0;
    errno = saved;
}

void before_fork() noexcept {
    if (reentered() || !listeners::any()) return;
    // Nothing new to record (every fork of a prefork server after the first):
    // no stack to map, no system call.
    if (config_for_spawn().state_dir[0] == '\0' || !listeners::any_unrecorded()) return;
    if (seccomp::in_force_cached()) return;
    // The records are built on a stack of our own: fork may come from a small one.
    run_on_own_stack([](void*) { registry::record_pending(config_for_spawn()); }, nullptr);
}

void after_fork(pid_t child) noexcept {
    if (child <= 0 || reentered() || !listeners::any()) return;
    // fork events are debug (below): at other levels a fork costs nothing more.
    if (config_for_spawn().level < Level::debug || seccomp::in_force_cached()) return;
    const int saved = errno;
    run_on_own_stack(
        [](void* p) {
            listeners::FdList held;
            listeners::collect_held(held);
            int more = 0;
            // Debug: forking workers that share the listening socket is how servers
            // work (sshd and prefork servers fork per connection); leaks show up as
            // exec-leak and inherited events and in the inherited-fd cause.
            if (held.count > 0 && listeners::fork_line_due(more))
                events::report_fork(config_for_spawn(), stderr_identity(), Level::debug,
                                    *static_cast<pid_t*>(p), more, held);
        },
        &child);
    errno = saved;
}

} // namespace portshim::exec_watch
