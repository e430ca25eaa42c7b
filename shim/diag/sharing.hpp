// SO_REUSEPORT sharing: after a successful listen(), which other processes now
// share the port's incoming connections with us, and whether they run this program.
#pragma once

#include "types.hpp"

#include <vector>

namespace portshim {

/** Another process whose listener shares our port through SO_REUSEPORT. */
struct ReuseportPeer {
    Holder holder;
    /** An earlier instance of this program: a reload's hand-over (haproxy -sf), not another program. */
    bool same_program = false;
    /** The process to stop for it: its master running the same program (a worker's parent), else itself. */
    int stop_pid = 0;
};

/**
 * Holders of other listening sockets on the wanted port that overlap it, when
 * they run a different program, or the same program but are neither our parent
 * nor our child (a master and its workers) — i.e. an old instance still
 * serving. Pure; `req` describes our listening socket (its inode is skipped).
 */
std::vector<ReuseportPeer> reuseport_strangers(const Request& req, const Observation& obs);

} // namespace portshim
