// The small enums both libraries speak: what failed, and (added as the event
// vocabulary grows) the other words the hooks and the engine must agree on.
// Plain enums only: the hooks include this, and they have no C++ runtime.
#pragma once

#include <cstdint>

namespace portshim {

/** Which call failed with EADDRINUSE. */
enum class Call : std::uint8_t { bind, listen };

/**
 * Why listening fds cross an exec on purpose: the `handover` of the
 * `exec-leak` (hooks) and `inherited` (engine) events.
 */
enum class Handover : std::uint8_t {
    none,
    listen_fds,  ///< systemd-style socket activation: LISTEN_FDS names them
    self_exec,   ///< the program re-executes its own executable (a binary upgrade)
};

/** The JSON value of `handover`: "listen-fds", "self-exec", nullptr for none (JSON null). */
constexpr const char* handover_id(Handover h) {
    return h == Handover::listen_fds ? "listen-fds" : h == Handover::self_exec ? "self-exec" : nullptr;
}

} // namespace portshim
