// Socket table probe: which kernel sockets use a local port. Speaks
// NETLINK_SOCK_DIAG (inet_diag) like iproute2's ss, with /proc/net as fallback.
#pragma once

#include "types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::sockets {

/** Outcome of parsing one recv() worth of netlink messages. */
struct DumpStatus {
    bool done = false;  ///< NLMSG_DONE seen
    int error = 0;      ///< errno from NLMSG_ERROR, 0 if none
};

/**
 * Builds one SOCK_DIAG_BY_FAMILY dump request (nlmsghdr + inet_diag_req_v2 +
 * INET_DIAG_REQ_BYTECODE) for `family` (AF_INET/AF_INET6) and `protocol`
 * (IPPROTO_TCP/IPPROTO_UDP), all states, with a kernel-side filter on local port
 * == `port` so the dump cost does not grow with unrelated sockets.
 */
std::vector<std::uint8_t> build_request(int family, int protocol, std::uint16_t port,
                                        std::uint32_t seq);

/**
 * Parses a buffer of netlink messages as returned by recv() on a sock_diag
 * socket. Appends one entry per inet_diag_msg (with INET_DIAG_SKV6ONLY when
 * present). Never reads past `len`; malformed messages end the parse with
 * error = EBADMSG.
 */
DumpStatus parse_dump(const std::uint8_t* data, std::size_t len, Proto proto,
                      std::vector<SocketEntry>& out);

/**
 * Asks the kernel for TCP or UDP sockets of both families whose local port is
 * `port`. Opens its own SOCK_CLOEXEC netlink socket (never bound, so no hook
 * sees it) and closes it. Returns 0 or the errno that stopped it.
 */
int query_netlink(Proto proto, std::uint16_t port, std::vector<SocketEntry>& out);

/**
 * Parses the text of /proc/net/{tcp,tcp6,udp,udp6}; keeps rows whose local
 * port is `port`. Returns false when the header is not recognised.
 */
bool parse_procnet(std::string_view text, Proto proto, int family, std::uint16_t port,
                   std::vector<SocketEntry>& out);

/** Reads PROC_ROOT/net/{tcp,tcp6} or {udp,udp6}. Returns 0 or an errno. */
int read_procnet(const std::string& proc_root, Proto proto, std::uint16_t port,
                 std::vector<SocketEntry>& out);

/**
 * Fills obs.sockets for `port`: netlink first, /proc/net when netlink is
 * refused; sets obs.netlink_ok / obs.procnet_used and appends evidence lines
 * ("netlink refused: EPERM; read /proc/net/tcp instead").
 */
void collect(Proto proto, std::uint16_t port, const std::string& proc_root, Observation& obs);

} // namespace portshim::sockets
