// What the fork and exec hooks do around the real call: name the child that
// got the listening sockets, warn before an exec leaks them, and with
// PORTSHIM_CLOEXEC=1 keep them out of the new program. Async-signal-safe: it
// runs in fork children, vfork children and signal handlers (DESIGN.md rule 7).
#pragma once

#include "listeners.hpp"

#include <cstddef>
#include <spawn.h>
#include <sys/types.h>

namespace portshim::exec_watch {

/** The program an exec is about to run, as the hook knows it. */
struct Target {
    const char* shown = nullptr;      ///< for the event: the path or file name as given; nullptr: dirfd's path
    const char* tail = nullptr;       ///< appended to `shown` ("/bin/sh" + " -c CMD")
    const char* path = nullptr;       ///< to compare with our own executable; nullptr: use fd
    bool search_path = false;         ///< `path` is a file name looked up in PATH (execvp)
    int dirfd = -1;                   ///< execveat/fexecve: the directory or file descriptor
    bool empty_path = false;          ///< AT_EMPTY_PATH: dirfd is the program itself
    char* const* envp = nullptr;      ///< the new program's environment (LISTEN_FDS)
    const posix_spawn_file_actions_t* actions = nullptr; ///< posix_spawn: run in the child before exec
};

/**
 * FD_CLOEXEC flags set for PORTSHIM_CLOEXEC=1, to undo when the exec fails or
 * the spawn returns: each descriptor with the identity of its socket, so the
 * flag is taken back only from the socket it was set on (another thread may
 * close the number and open something else there meanwhile). The first
 * `inline_max` live here; more go to pages mapped for the call (mmap, no
 * malloc: fork and vfork children, signal handlers) and unmapped by undo().
 */
struct Plan {
    struct Entry {
        int fd;
        dev_t dev;
        ino_t ino;
    };
    static constexpr int inline_max = 32;
    Entry entries[inline_max];
    Entry* extra = nullptr;           ///< entries inline_max.. when more were set
    std::size_t extra_bytes = 0;      ///< size of the mapping at `extra`
    int count = 0;
};

/**
 * Before exec (or posix_spawn, system, popen): reports listening sockets the
 * target would inherit (`exec-leak`), and with PORTSHIM_CLOEXEC=1 sets
 * FD_CLOEXEC on all of them, however many, except hand-overs (LISTEN_FDS in
 * the target's environment, or our own executable). The event names as kept
 * out only the sockets whose flag was set; any that could not be (see
 * Plan) are reported apart as still leaking. What does not leak is no
 * warning: an exec that will fail (a PATH candidate that does not exist, as
 * Python's and Java's own PATH searches try one by one), sockets the spawn's
 * file actions close, and a helper that closes inherited descriptors before it
 * execs (fd_closing_helper: a debug line). The event names the program that
 * will run and the process that owns the sockets (the parent, in a vfork
 * child). Keeps errno.
 */
void before_exec(const Target& target, Plan& plan) noexcept;

/**
 * Clears the FD_CLOEXEC flags before_exec set (the exec failed, or the spawn
 * returned) on the descriptors that still refer to the same socket (st_dev,
 * st_ino), and unmaps the plan's pages. Keeps errno.
 */
void undo(Plan& plan) noexcept;

/** Before fork(): registry records for sockets the child is about to share. Keeps errno. */
void before_fork() noexcept;

/** Parent side of fork(): `fork` event when the child got listening sockets. Keeps errno. */
void after_fork(pid_t child) noexcept;

} // namespace portshim::exec_watch
