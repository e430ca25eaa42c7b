// The events the hooks report themselves, without the engine: `fork`,
// `exec-leak` and the undiagnosed failure. Rendered as text (coloured on a
// terminal), JSON or a GitHub annotation into a stack buffer and written with
// one write(2), async-signal-safe, because they happen around fork and exec (rule 7).
#pragma once

#include "diag/config.hpp"
#include "engine_api.hpp"
#include "listeners.hpp"

namespace portshim::events {

/** Why listening fds cross an exec on purpose. */
enum class Handover { none, listen_fds, self_exec };

/**
 * `fork`: child `child` got the listening sockets in `fds`. `more` > 0 makes
 * it the prefork summary line (children not listed since the last line).
 */
void report_fork(const Config& config, const StderrIdentity* identity, Level level, int child,
                 int more, const listeners::FdList& fds) noexcept;

/**
 * `exec-leak`: about to run `target` (and `target_tail`, e.g. the command of
 * system()) with `fds` open without FD_CLOEXEC. `closed`: PORTSHIM_CLOEXEC
 * kept them out. `handover` != none: a debug line, the fds cross on purpose.
 */
void report_exec_leak(const Config& config, const StderrIdentity* identity, Level level,
                      const char* target, const char* target_tail, bool closed,
                      Handover handover, const listeners::FdList& fds) noexcept;

/**
 * A failed bind/listen where the engine must not run (`where`: "in a signal
 * handler", "in a child forked from a multi-threaded program before exec"):
 * the interrupted code or another thread may hold a lock the engine needs.
 * Only this line, naming the call and how to diagnose it from outside. JSON
 * keeps the bind-failed keys, with cause "unknown".
 */
void report_undiagnosed(const Config& config, const StderrIdentity* identity, bool listen_call,
                        int fd, const sockaddr* addr, socklen_t len, int err,
                        const char* where) noexcept;

} // namespace portshim::events
