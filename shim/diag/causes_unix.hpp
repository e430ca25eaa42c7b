// The cause rules for AF_UNIX addresses: a live socket on the path or abstract
// name, a stale socket file nobody listens on, or a path that is not a socket.
#pragma once

#include "types.hpp"

namespace portshim {

/**
 * diagnose() for unix_stream and unix_dgram requests. Pure: reads the request
 * and obs.unix_sockets, obs.unix_path, obs.holders; names the holder of a
 * live socket like the TCP rules do, and says `stale-unix-socket` only when
 * the path is a socket file whose connect was refused (never for abstract names).
 */
Verdict diagnose_unix(const Request& req, const Observation& obs);

} // namespace portshim
