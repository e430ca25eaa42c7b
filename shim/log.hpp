// The sink: each event reaches stderr, syslog or a file in one write, and
// never stdout. Which one is decided per event (fd 2 may close meanwhile).
#pragma once

#include "diag/config.hpp"
#include "engine_api.hpp"

#include <string_view>

namespace portshim::log {

/**
 * Writes one rendered event. stderr when fd 2 is open, not a socket and still
 * the file it was at load (`identity`), else syslog (datagram to /dev/log,
 * without openlog so the host's identity stays its own); or the configured
 * file, opened O_APPEND|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC per event and used only
 * when it is a regular file owned by us. SIGPIPE from a closed reader is
 * swallowed, never delivered to the host. Every fd it opens is closed before
 * it returns. Keeps errno.
 */
void emit(const Config& config, Level level, std::string_view text,
          const StderrIdentity* identity) noexcept;

} // namespace portshim::log
