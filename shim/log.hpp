// The sink: each event reaches stderr, syslog or a file in one write, and
// never stdout. Which one is decided per event (fd 2 may close meanwhile).
#pragma once

#include "diag/config.hpp"

#include <string_view>

namespace portshim::log {

/**
 * Writes one rendered event. stderr when fd 2 is open and not a socket, else
 * syslog (datagram to /dev/log, without openlog so the host's identity stays
 * its own); or the configured file, opened O_APPEND|O_NOFOLLOW|O_CLOEXEC per
 * event. Every fd it opens is closed before it returns. Keeps errno.
 */
void emit(const Config& config, Level level, std::string_view text) noexcept;

} // namespace portshim::log
