// The events the hooks report themselves, without the engine: `fork`,
// `exec-leak` and the undiagnosed failure. Rendered as text (coloured on a
// terminal), JSON or a GitHub annotation into a stack buffer and written with
// one write(2), async-signal-safe, because they happen around fork and exec (rule 7).
#pragma once

#include "config.hpp"
#include "engine_api.hpp"
#include "listen_fd.hpp"
#include "vocabulary.hpp"

namespace portshim::events {

/**
 * `fork`: child `child` got the listening sockets in `fds`. `more` > 0 makes
 * it the prefork summary line (children not listed since the last line).
 */
void report_fork(const Config& config, const StderrIdentity* identity, Level level, int child,
                 int more, const listeners::FdList& fds) noexcept;

/**
 * `exec-leak`: about to run `target` (and `target_tail`, e.g. the command of
 * system()) with `fds` open without FD_CLOEXEC. `closed`: PORTSHIM_CLOEXEC
 * kept them out. `handover` != none: a debug line, the fds cross on purpose
 * (or, closes_fds, never reach the program the target starts). `pid`: the
 * process that owns the sockets, which the line is tagged with (0: this one;
 * a vfork child names its parent).
 */
void report_exec_leak(const Config& config, const StderrIdentity* identity, Level level,
                      const char* target, const char* target_tail, bool closed,
                      Handover handover, const listeners::FdList& fds, int pid = 0) noexcept;

/** Why a failed bind/listen was not diagnosed. */
enum class NotDiagnosed : unsigned char {
    signal_handler,   ///< the call interrupted code that may hold malloc's or the loader's lock
    threaded_child,   ///< a fork child of a multi-threaded program, before exec: the same
    seccomp,          ///< a seccomp filter may kill the process for any call it did not make itself
    no_stack,         ///< no stack of its own could be mapped for the engine
    no_engine,        ///< libportshim-engine.so could not be loaded (`detail` says why)
};

/**
 * A failed bind/listen where the engine must not run: only this line, naming
 * the call and how to diagnose it from outside. JSON keeps the bind-failed
 * keys, with cause "unknown". `type` is the socket's type when the hooks know
 * it (0: ask the socket). Under seccomp no system call is made for it but
 * those of sink::write_restricted: the address comes from the call (a failed
 * listen() names only its fd) and the program's path from the aux vector.
 * `detail` (dlerror's text for no_engine, or nullptr) follows the reason in
 * text and is the one line of `evidence` in JSON.
 */
void report_undiagnosed(const Config& config, const StderrIdentity* identity, bool listen_call,
                        int fd, const sockaddr* addr, socklen_t len, int err, int type,
                        NotDiagnosed why, const char* detail = nullptr) noexcept;

} // namespace portshim::events
