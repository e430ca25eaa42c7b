// See sharing.hpp. The kernel balances a SO_REUSEPORT group across every
// listener of the same uid on the port (net/core/sock_reuseport.c), whichever
// program opened it: a second instance silently halves the first one's traffic.
// Between two instances of one program that is a reload's hand-over, until the old one exits.
#include "sharing.hpp"

#include "address.hpp"
#include "causes_common.hpp"
#include "identity.hpp"

namespace portshim {

std::vector<ReuseportPeer> reuseport_strangers(const Request& req, const Observation& obs) {
    std::vector<ReuseportPeer> out;
    for (const SocketEntry& s : obs.sockets) {
        if (s.proto != Proto::tcp || s.state != tcp_state::listen) continue;
        if (s.local.port != req.local.port || (req.inode != 0 && s.inode == req.inode)) continue;
        if (!addresses_overlap(s.local, s.v6only, req.local, req.v6only)) continue;
        for (const Holder& h : obs.holders) {
            if (h.inode != s.inode || h.pid == obs.self.pid) continue;
            // A parent or child is one server (a master and its workers), and so is a
            // sibling whose master is our parent; other siblings are not excluded: two
            // instances started by one shell or by systemd are siblings.
            const int master = detail::service_master(obs, h, false).pid;
            const bool family = h.pid == obs.self.ppid || h.ppid == obs.self.pid ||
                                (master != h.pid && master == obs.self.ppid);
            const bool same = same_program(h.exe, h.argv, obs.self.exe, obs.self.argv);
            if (same && family) continue;
            bool listed = false;
            for (const ReuseportPeer& o : out) listed = listed || o.holder.pid == h.pid;
            if (!listed) out.push_back({h, same, master});
        }
    }
    return out;
}

} // namespace portshim
