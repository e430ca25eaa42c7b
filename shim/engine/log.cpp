// The engine's side of the sink: rendered std::string events to sink::write_event.
#include "log.hpp"

#include "common/sink.hpp"

namespace portshim::log {

void emit(const Config& config, Level level, std::string_view text,
          const StderrIdentity* identity, sink::Origin origin) noexcept {
    sink::write_event(config, level, text.data(), text.size(), identity, origin);
}

} // namespace portshim::log
