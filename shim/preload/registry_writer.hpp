// The writing half of the listener registry (format: README "Listener
// registry"; the engine's diag/registry reads it): one fixed-size record per
// listening socket, so a later diagnosis can name the opener of a socket after
// the opener has exited and a child it spawned still holds it.
#pragma once

#include "common/config.hpp"
#include "listeners.hpp"

namespace portshim::registry {

/**
 * Records the sockets this process listened on and has not recorded yet
 * (listeners::take_unrecorded). Called before a fork, spawn or exec: a socket
 * only needs a record once a child can hold it, so listen() itself stays free
 * of file I/O. Async-signal-safe. Keeps errno.
 */
void record_pending(const Config& config) noexcept;

/**
 * Appends the record for listening socket `fd`, opened by pid `opener`, to
 * config.state_dir/listeners.
 * The directory is created 0700 when missing and used only when it is a real
 * directory (no symlink) owned by us, writable by nobody else and on an
 * ordinary file system (own_files.hpp); the file is looked at before it is
 * opened (no FIFO or device is), opened O_APPEND|O_NOFOLLOW, written with one
 * write(2) of 512 bytes (atomic between concurrent writers) and closed. Past
 * 1 MiB, or when the record would not fit under this process's RLIMIT_FSIZE,
 * the file is renamed to listeners.1 under flock first; a record is written
 * whole or not at all, and never raises SIGXFSZ (safe_write). A refused
 * directory or file is said once per process (sink::write_refusal). Does
 * nothing when state_dir is empty (secure execution, no per-user directory).
 * Keeps errno and the fd set.
 */
void record_listen(const Config& config, const listeners::ListenFd& fd, int opener) noexcept;

} // namespace portshim::registry
