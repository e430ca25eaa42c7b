// Is a seccomp filter in force? Under one, any system call the host never made
// itself may kill it (SECCOMP_RET_KILL_*), so a diagnosis, a registry write or
// an event must not run there (DESIGN.md rule 10). Async-signal-safe.
#pragma once

namespace portshim::seccomp {

/**
 * The process is about to install a filter (or strict mode) through libc:
 * prctl(PR_SET_SECCOMP) or syscall(SYS_seccomp / SYS_prctl). Called by those
 * hooks before the real call, so a bind failing on another thread meanwhile
 * already sees it. Filters cannot be removed: the mark stays.
 */
void note_install() noexcept;

/** A filter was installed through libc since load: no system call needed to know it. */
bool recorded() noexcept;

/**
 * The thread's seccomp mode, fresh: recorded(), else the "Seccomp:" line of
 * /proc/thread-self/status (open, read and close: calls the dynamic loader
 * itself made to load this process, so a filter inherited at exec allows them),
 * else prctl(PR_GET_SECCOMP) where /proc cannot be read. True when any filter
 * or strict mode is in force, or when it cannot be told (then nothing extra is
 * risked). For the failure path.
 */
bool in_force() noexcept;

/**
 * in_force(), with a negative answer read once and kept: for the fork, exec and
 * listen paths, which run often. A filter installed through libc later still
 * shows at once (recorded()); one installed with a raw system call does not.
 */
bool in_force_cached() noexcept;

} // namespace portshim::seccomp
