// The listening sockets of this process as the hooks track them across fork
// and exec: which fds listen, which were inherited at load, which the exec
// about to happen would leak. Async-signal-safe throughout (system calls and
// atomics only): it runs in fork children and before exec (DESIGN.md rule 7).
#pragma once

#include "common/listen_fd.hpp"

namespace portshim::listeners {

/** Fills `out` when `fd` is a listening socket; false for anything else. Keeps errno. */
bool describe(int fd, ListenFd& out) noexcept;

/**
 * After a successful listen(): remember the fd and our pid as its opener. No
 * system call unless the table is full (a bind/listen/close loop reuses the
 * same entry). Keeps errno.
 */
void note_listen(int fd) noexcept;

/** At load: remember a socket the process started with. */
void note_inherited(const ListenFd& fd) noexcept;

/** True once this process image has listened or started with a listening socket. */
bool any() noexcept;

/** `fd` was listened on through the hook in this process image. */
bool listened_on(int fd) noexcept;

/**
 * A socket listened on since its last registry record (a memory scan, no
 * system call): only then is there anything for take_unrecorded to find.
 */
bool any_unrecorded() noexcept;

/**
 * The sockets this process listened on that have no registry record yet: up
 * to `max` of them into `out`, with the pid that called listen() (the opener,
 * also from a fork or vfork child) in `openers`; marks them recorded. Keeps errno.
 */
int take_unrecorded(ListenFd* out, int* openers, int max) noexcept;

/** The socket was held when this process image loaded the library. */
bool inherited(unsigned long long inode) noexcept;

/**
 * At load: the listening sockets on fds 3 to 1090. A poll(2) of fds 3..66
 * decides cheaply whether any descriptor beyond stdio is open at all (the
 * common case is none); only then are fds 67..1090 polled too. fds 0-2 are
 * stdio by convention (inetd hands its socket over as fd 0) and not reported.
 */
void scan_at_load(FdList& out) noexcept;

/**
 * At load, before scan_at_load: whether any of fds 3 to 1090 is a socket, in
 * the same two steps (fds 67 and up only when one of 3..66 is open), in
 * blocks of 64 fds and with an fstat per open fd: 512 bytes of stack and no
 * FdList, because nearly every process has no socket to report and this runs
 * in each of them (an unrelated pipe or file costs no new stack page).
 */
bool socket_at_load() noexcept;

/** For fork: the remembered sockets this process still holds. */
void collect_held(FdList& out) noexcept;

/**
 * For exec: calls visit(fd, context) for every listening socket on fds 3 and
 * up without FD_CLOEXEC, however many, from /proc/self/fd (falling back to
 * the remembered ones without /proc). None when this process never listened
 * nor inherited a listener.
 */
void for_each_leaking(void (*visit)(const ListenFd& fd, void* context), void* context) noexcept;

/**
 * True the first time an exec-leak warning is due for `inode` in this process
 * tree: the set lives in a MAP_SHARED page made before the first fork, so the
 * fork children of one server share it.
 */
bool first_warning(unsigned long long inode) noexcept;

/**
 * The prefork policy for `fork` events: the first 16 children of a process are
 * logged one line each; after that one summary line per 10 s. Returns true
 * when this child gets a line; `more` is then the number of children not
 * logged since the last line.
 */
bool fork_line_due(int& more) noexcept;

} // namespace portshim::listeners
