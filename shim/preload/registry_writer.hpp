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
 * config.state_dir/listeners, as this process's: its netns, euid and stderr
 * (write_record in registry_record.hpp says how). Keeps errno and the fd set.
 */
void record_listen(const Config& config, const listeners::ListenFd& fd, int opener) noexcept;

} // namespace portshim::registry
