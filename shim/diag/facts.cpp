// Facts about sockets and times that the probes and the rules both read:
// which sockets still block an address, and how a duration reads.
#include "facts.hpp"

#include <fmt/format.h>
#include <sys/socket.h>

namespace portshim {

bool is_live_state(const SocketEntry& s) {
    if (s.proto == Proto::udp) return true;
    if (s.state == tcp_state::time_wait) return false;
    // Orphaned sockets (FIN_WAIT2 after close, LAST_ACK...) have no inode: no process holds them.
    return s.inode != 0;
}

bool unix_holds_address(const UnixSocket& s) {
    return s.type == SOCK_DGRAM || s.state != tcp_state::established;
}

std::string format_duration(double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    // No libm: the library must need libc alone at run time.
    const long s = static_cast<long>(seconds + 0.5);
    if (s < 120) return fmt::format("{} s", s);
    if (s < 3600) return fmt::format("{} min", s / 60);
    if (s < 48 * 3600) {
        if (s % 3600 / 60 == 0) return fmt::format("{} h", s / 3600);
        return fmt::format("{} h {} min", s / 3600, s % 3600 / 60);
    }
    return fmt::format("{} days", s / 86400);
}

} // namespace portshim
