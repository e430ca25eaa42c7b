// Where an event goes: stderr, syslog or a file, in one write per event, never
// stdout. Plain system calls only (async-signal-safe), shared by the hooks'
// own events (fork, exec-leak) and the engine's log.
#pragma once

#include "diag/config.hpp"
#include "engine_api.hpp"

#include <cstddef>

namespace portshim::sink {

/**
 * Writes one rendered event (one or more '\n'-terminated lines). stderr when
 * fd 2 is open, not a socket and still the file it was at load (`identity`),
 * else syslog (datagram to /dev/log, without openlog so the host's identity
 * stays its own); or the configured file, opened O_APPEND|O_NOFOLLOW|O_NONBLOCK|
 * O_CLOEXEC per event and used only when it is a regular file owned by us (a
 * refused file falls back to stderr/syslog). SIGPIPE from a closed reader is
 * swallowed. Every fd it opens is closed before it returns. Keeps errno.
 */
void write_event(const Config& config, Level level, const char* text, std::size_t len,
                 const StderrIdentity* identity) noexcept;

/**
 * fd 2 is a terminal that write_event would write to (open, not a socket, the
 * same file as at load): with Sink::stderr_, events go there. For colour
 * (markup::use_colour). tcgetattr(3) rather than isatty(3): POSIX lists it as
 * async-signal-safe. Keeps errno.
 */
bool stderr_is_terminal(const StderrIdentity* identity) noexcept;

} // namespace portshim::sink
