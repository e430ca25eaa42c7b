// State of the library inside a host program: one-time initialisation from
// any hook, the re-entry guard, and the failure path that runs a diagnosis.
#pragma once

#include "common/vocabulary.hpp"
#include "common/engine_api.hpp"

#include <sys/socket.h>

namespace portshim {

/** The constructor's work: fd 2's identity and the configuration. */
void load() noexcept;

/**
 * Reads the configuration once, and on the first hook call of a process
 * reports configuration errors (so processes that never touch a socket stay
 * silent). Safe from any hook, before or after the constructor. Keeps errno.
 */
void ensure_init() noexcept;

/**
 * The configuration for hooks that may run in a fork child or a signal
 * handler (fork, exec): parses it if no hook did yet, but never loads the
 * engine to report configuration errors. Keeps errno.
 */
const Config& config_for_spawn() noexcept;

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

/** fd 2 as it was at load, for the sink. */
const StderrIdentity* stderr_identity() noexcept;

/**
 * True while this thread is inside the library's own work (diagnosis,
 * logging): a hook reached from there forwards to libc and does nothing else.
 */
bool reentered() noexcept;

/**
 * Runs a diagnosis for a call that failed with `err` and writes the report.
 * `reuseaddr_injected`: portshim set SO_REUSEADDR on this socket before the call.
 * Returns true when PORTSHIM_WAIT applies (the cause clears by itself).
 * Never throws, never changes errno or the host's descriptors as seen on return.
 */
bool report_failure(Call call, int fd, const sockaddr* addr, socklen_t len, int err,
                    bool reuseaddr_injected) noexcept;

/**
 * PORTSHIM_WAIT: retries bind(fd, addr) every 250 ms for up to the configured
 * seconds. Returns 0 once it succeeds, else -1 with errno set to the last
 * failure (EADDRINUSE when time ran out). Only called after report_failure
 * said the cause clears by itself.
 */
int retry_bind(int fd, const sockaddr* addr, socklen_t len) noexcept;

/**
 * After a successful listen(): remembers the socket for fork/exec events and
 * the registry (written at the first fork, spawn or exec). Keeps errno.
 */
void note_listening(int fd) noexcept;

/**
 * After a successful listen(): when the socket set SO_REUSEPORT, asks the
 * engine whether other programs now share the port. Keeps errno.
 */
void check_reuseport_sharing(int fd) noexcept;

/**
 * PORTSHIM_REUSEADDR=1: sets SO_REUSEADDR on an IPv4/IPv6 TCP socket about to
 * bind, unless the program set SO_REUSEADDR itself (either value: an explicit
 * choice is respected). Never on UDP (two live binds would share a port),
 * never SO_REUSEPORT. Returns whether it set the option. Keeps errno.
 */
bool inject_reuseaddr(int fd, const sockaddr* addr, socklen_t len) noexcept;

/** A successful setsockopt of the program: notes SO_REUSEADDR choices and SO_REUSEPORT. */
void note_socket_option(int fd, int level, int name, const void* value, socklen_t len) noexcept;

/**
 * After a successful socket(): remembers its type, so a report under a seccomp
 * filter can name tcp or udp without asking the socket. Keeps errno.
 */
void note_socket(int fd, int type) noexcept;

/** SOCK_STREAM or SOCK_DGRAM as socket() made `fd`, 0 when not known. */
int socket_type(int fd) noexcept;

/** `fd` is bound: a later socket with the same number starts without a choice. */
void forget_reuseaddr_choice(int fd) noexcept;

} // namespace portshim
