// State of the library inside a host program: the re-entry guard, the
// process's context (a fork child, a signal handler), and the failure path
// that runs a diagnosis. The hooks call bind_explained and after_listen.
#pragma once

#include "common/events.hpp"

#include <sys/socket.h>

namespace portshim {

// Initial-exec TLS: a fixed offset from the thread pointer, no __tls_get_addr
// call and no allocation on first use (a hook may run on any thread, any time).
extern __thread int t_reentry_depth __attribute__((tls_model("initial-exec")));

/**
 * True while this thread is inside the library's own work (diagnosis,
 * logging): a hook reached from there forwards to libc and does nothing else.
 */
inline bool reentered() noexcept { return t_reentry_depth != 0; }

/** Marks this thread as inside the library for the guard's lifetime. */
struct Guard {
    Guard() noexcept { ++t_reentry_depth; }
    ~Guard() { --t_reentry_depth; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
};

/**
 * The bind hook past its guard: real bind, with SO_REUSEADDR set first under
 * PORTSHIM_REUSEADDR; on EADDRINUSE a report, and under PORTSHIM_WAIT retries
 * every 250 ms while the cause clears by itself. Returns what libc's bind
 * returned, with its errno (or 0 and the caller's errno once a retry bound).
 */
int bind_explained(int fd, const sockaddr* addr, socklen_t len) noexcept;

/**
 * The listen hook after real listen() returned `rc`: a listening socket is
 * remembered (fork/exec events, the registry) and checked for SO_REUSEPORT
 * sharing; EADDRINUSE is reported. Keeps errno.
 */
void after_listen(int fd, int rc) noexcept;

/** At load: notes this process's pid (see process_pid). */
void note_process_start() noexcept;

/**
 * In the child of fork(): `parent_threaded` (the parent had more than one
 * thread) turns diagnoses into a one-line note until exec, because the engine
 * allocates and loads code, which can deadlock there.
 */
void entered_fork_child(bool parent_threaded) noexcept;

/** Before real fork(): remembers our pid when other threads exist (see entered_fork_child). */
void forking(bool threaded) noexcept;

/**
 * This process's pid as noted at load and in the child of our fork hook: in a
 * vfork child (which shares its parent's memory) it is the parent's. 0 when
 * no hook has run yet.
 */
int process_pid() noexcept;

/** This process is the fork child of a multi-threaded program and has not exec'd. */
bool in_unsafe_child() noexcept;

/**
 * Why the engine must not run in this context, or nullptr when it may. Walks
 * the stack: call it on our own.
 */
const events::NotDiagnosed* unsafe_context() noexcept;

} // namespace portshim
