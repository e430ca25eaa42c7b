// SO_REUSEPORT split brain: after a successful listen(), which other processes
// now share the port's incoming connections with us ("requests randomly hit old code").
#pragma once

#include "types.hpp"

#include <vector>

namespace portshim {

/**
 * Holders of other listening sockets on the wanted port that overlap it, when
 * they run a different program, or the same program but are neither our parent
 * nor our child (a master and its workers) — i.e. an old instance still
 * serving. Pure; `req` describes our listening socket (its inode is skipped).
 */
std::vector<Holder> reuseport_strangers(const Request& req, const Observation& obs);

} // namespace portshim
