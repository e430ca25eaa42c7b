// The small enums both libraries speak: what failed, and (added as the event
// vocabulary grows) the other words the hooks and the engine must agree on.
// Plain enums only: the hooks include this, and they have no C++ runtime.
#pragma once

#include <cstdint>

namespace portshim {

/** Which call failed with EADDRINUSE. */
enum class Call : std::uint8_t { bind, listen };

} // namespace portshim
