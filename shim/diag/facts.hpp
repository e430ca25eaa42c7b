// Facts about sockets and times that the probes and the rules both read.
// Below both: it includes nothing of either, so probes never call into rules.
#pragma once

#include "types.hpp"

#include <string>

namespace portshim {

/** Whether a socket of this state still has an owner that may be alive (not a remnant). */
bool is_live_state(const SocketEntry& s);

/**
 * Whether `s` keeps its address in use for a new bind: a listener or a bound,
 * unconnected socket, any datagram socket; not a connection accepted from a
 * listener (it shares the listener's name, but no bind conflicts with it).
 */
bool unix_holds_address(const UnixSocket& s);

/** "42 s", "3 min", "2 h 5 min", "3 days". */
std::string format_duration(double seconds);

} // namespace portshim
