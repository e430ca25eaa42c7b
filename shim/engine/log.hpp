// The sink: each event reaches stderr, syslog or a file in one write, and
// never stdout. Which one is decided per event (fd 2 may close meanwhile).
#pragma once

#include "common/config.hpp"
#include "common/engine_api.hpp"
#include "common/sink.hpp"

#include <string_view>

namespace portshim::log {

/**
 * Writes one rendered event through sink::write_event (see there: where it
 * goes, never blocking, never stdout). `origin`: whether the event is about a
 * failure of this process (sink::Origin).
 */
void emit(const Config& config, Level level, std::string_view text,
          const StderrIdentity* identity, sink::Origin origin) noexcept;

} // namespace portshim::log
