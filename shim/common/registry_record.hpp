// Writing one record of the listener registry (format: README "Listener
// registry"; the engine's diag/registry reads it). Shared by the hooks, which
// record their own process's sockets, and portshim-supervise, which records a
// supervised program's: whose netns, uid and stderr is the caller's to say.
#pragma once

#include "config.hpp"
#include "engine_api.hpp"
#include "listen_fd.hpp"

namespace portshim::registry {

/** Whose record it is, beyond the opener's pid (which also gives start time and exe). */
struct RecordSubject {
    unsigned long long netns = 0;              ///< st_ino of the socket's /proc/PID/ns/net
    unsigned uid = 0;                          ///< the opener's euid
    const StderrIdentity* identity = nullptr;  ///< where a refused state directory is said
};

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
void write_record(const Config& config, const listeners::ListenFd& fd, int opener,
                  const RecordSubject& subject) noexcept;

} // namespace portshim::registry
