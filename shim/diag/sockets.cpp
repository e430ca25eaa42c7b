// Socket table probe: asks NETLINK_SOCK_DIAG for the sockets on one local port
// (kernel-side bytecode filter, as ss does) and falls back to /proc/net text.
#include "sockets.hpp"

#include "address.hpp"
#include "netlink.hpp"

#include <fmt/format.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <new>
#include <utility>

namespace portshim::sockets {
namespace {

using netlink::FdGuard;

/** One row of the errno-name table used in evidence lines. */
const char* proto_file(Proto proto) { return proto == Proto::udp ? "udp" : "tcp"; }

bool is_link_local6(const Endpoint& ep) {
    return ep.family == AF_INET6 && ep.addr[0] == 0xfe && (ep.addr[1] & 0xc0) == 0x80;
}

// ---- netlink parsing ----------------------------------------------------

// Walks the rtattrs after an inet_diag_msg; returns false on a malformed one.
bool parse_attrs(const std::uint8_t* data, std::size_t len, SocketEntry& entry) {
    return netlink::for_each_attr(data, len, [&](unsigned type, const std::uint8_t* payload,
                                                 std::size_t payload_len) {
        if (type == INET_DIAG_SKV6ONLY && entry.local.family == AF_INET6 && payload_len >= 1)
            entry.v6only = payload[0] != 0 ? 1 : 0;
        // Sent unrequested for every full socket since Linux 5.8 with
        // CONFIG_SOCK_CGROUP_DATA (inet_diag_msg_attrs_fill(), net/ipv4/inet_diag.c):
        // the kernfs id of the creator's cgroup v2, i.e. its directory's inode.
        if (type == INET_DIAG_CGROUP_ID && payload_len >= sizeof entry.cgroup_id)
            std::memcpy(&entry.cgroup_id, payload, sizeof entry.cgroup_id);
    });
}

bool parse_diag_msg(const std::uint8_t* data, std::size_t len, Proto proto,
                    std::vector<SocketEntry>& out) {
    inet_diag_msg msg{};
    if (len < sizeof msg) return false;
    std::memcpy(&msg, data, sizeof msg);
    if (msg.idiag_family != AF_INET && msg.idiag_family != AF_INET6) return false;

    SocketEntry entry;
    entry.proto = proto;
    const std::size_t addr_len = msg.idiag_family == AF_INET ? 4 : 16;
    entry.local.family = entry.remote.family = msg.idiag_family;
    // idiag_src/dst are __be32[4]: the bytes are already in network order.
    std::memcpy(entry.local.addr.data(), msg.id.idiag_src, addr_len);
    std::memcpy(entry.remote.addr.data(), msg.id.idiag_dst, addr_len);
    entry.local.port = ntohs(msg.id.idiag_sport);
    entry.remote.port = ntohs(msg.id.idiag_dport);
    entry.state = msg.idiag_state;
    // TCP sockets in CLOSE are unhashed from the established and listening
    // tables, so a TCP dump only yields them from the bind-hash walk that
    // TCPF_BOUND_INACTIVE asks for (Linux >= 6.5, inet_diag_dump_icsk() in
    // net/ipv4/inet_diag.c) -- which reports them as TCP_CLOSE. Name them.
    if (proto == Proto::tcp && entry.state == tcp_state::close) entry.state = tcp_state::bound_inactive;
    entry.uid = msg.idiag_uid;
    entry.inode = msg.idiag_inode;
    entry.timer = msg.idiag_timer;
    entry.expires_ms = msg.idiag_expires;
    entry.ifindex = msg.id.idiag_if;
    // sock_diag_save_cookie(): low word first (net/core/sock_diag.c).
    entry.cookie = std::uint64_t{msg.id.idiag_cookie[0]} |
                   std::uint64_t{msg.id.idiag_cookie[1]} << 32;
    // A link-local address is scoped by the bound device.
    if (is_link_local6(entry.local)) entry.local.scope_id = entry.ifindex;
    if (is_link_local6(entry.remote)) entry.remote.scope_id = entry.ifindex;

    const std::size_t attr_off = NLMSG_ALIGN(sizeof msg);
    if (len > attr_off && !parse_attrs(data + attr_off, len - attr_off, entry)) return false;
    out.push_back(entry);
    return true;
}

DumpStatus parse_dump_unchecked(const std::uint8_t* data, std::size_t len, Proto proto,
                                std::vector<SocketEntry>& out) {
    DumpStatus status;
    if (data == nullptr) return status;
    std::size_t off = 0;
    while (off < len) {
        const std::size_t left = len - off;
        nlmsghdr hdr{};
        // NLMSG_OK(), spelled out on a copy so an unaligned buffer is fine.
        if (left < sizeof hdr) {
            status.error = EBADMSG;
            return status;
        }
        std::memcpy(&hdr, data + off, sizeof hdr);
        if (hdr.nlmsg_len < NLMSG_HDRLEN || hdr.nlmsg_len > left) {
            status.error = EBADMSG;
            return status;
        }
        const std::uint8_t* payload = data + off + NLMSG_HDRLEN;
        const std::size_t payload_len = hdr.nlmsg_len - NLMSG_HDRLEN;
        int code = 0;
        switch (hdr.nlmsg_type) {
        case NLMSG_DONE:
            // Since 4.x the payload is the dump's final status; negative means
            // the dump itself failed (netlink_dump_done, net/netlink/af_netlink.c).
            if (payload_len >= sizeof code) {
                std::memcpy(&code, payload, sizeof code);
                if (code < 0) status.error = code != INT_MIN ? -code : EBADMSG;
            }
            status.done = true;
            return status;
        case NLMSG_ERROR:
            // struct nlmsgerr starts with the negative errno; 0 is an ACK.
            if (payload_len < sizeof code) {
                status.error = EBADMSG;
                return status;
            }
            std::memcpy(&code, payload, sizeof code);
            if (code != 0) {
                status.error = code < 0 && code != INT_MIN ? -code : EBADMSG;
                return status;
            }
            break;
        case SOCK_DIAG_BY_FAMILY:
            if (!parse_diag_msg(payload, payload_len, proto, out)) {
                status.error = EBADMSG;
                return status;
            }
            break;
        default:
            break;  // NLMSG_NOOP and anything newer carry nothing for us
        }
        const std::size_t step = NLMSG_ALIGN(std::size_t{hdr.nlmsg_len});
        if (step >= left) break;
        off += step;
    }
    return status;
}

// One dump (one family) on an open sock_diag socket; appends to `found`.
int dump_family(int fd, int family, int protocol, std::uint16_t port, std::uint32_t seq,
                Proto proto, std::vector<std::uint8_t>& buf, std::vector<SocketEntry>& found) {
    const std::vector<std::uint8_t> req = build_request(family, protocol, port, seq);
    if (req.empty()) return ENOMEM;

    return netlink::run_dump(fd, req, buf, [&](const std::uint8_t* data, std::size_t len) {
        return parse_dump(data, len, proto, found);
    });
}

// ---- /proc/net parsing ---------------------------------------------------

template <typename T>
bool parse_number(std::string_view s, int base, T& value) {
    if (s.empty()) return false;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
    return ec == std::errc{} && end == s.data() + s.size();
}

// Splits off the next whitespace-separated token of `line`.
std::string_view next_token(std::string_view& line) {
    std::size_t start = 0;
    while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
    std::size_t end = start;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
    const std::string_view token = line.substr(start, end - start);
    line.remove_prefix(end);
    return token;
}

// "0100007F:0035" or 32 hex digits ":" port. The kernel prints each 32-bit word
// of the address with %08X as a host-order integer (tcp4_seq_show, tcp6_seq_show
// in net/ipv4/tcp_ipv4.c, net/ipv6/tcp_ipv6.c), so each word goes back through
// a host-order integer into memory.
bool parse_procnet_endpoint(std::string_view text, int family, Endpoint& ep) {
    const std::size_t words = family == AF_INET ? 1 : 4;
    const std::size_t colon = text.find(':');
    if (colon != words * 8) return false;
    ep.family = family;
    for (std::size_t i = 0; i < words; ++i) {
        std::uint32_t word = 0;
        if (!parse_number(text.substr(i * 8, 8), 16, word)) return false;
        std::memcpy(ep.addr.data() + i * 4, &word, sizeof word);
    }
    const std::string_view port_text = text.substr(colon + 1);
    return port_text.size() <= 4 && parse_number(port_text, 16, ep.port);
}

// "A:B" with both parts hex.
bool parse_hex_pair(std::string_view text, std::uint64_t& a, std::uint64_t& b) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos) return false;
    return parse_number(text.substr(0, colon), 16, a) &&
           parse_number(text.substr(colon + 1), 16, b);
}

bool procnet_header_ok(std::string_view line) {
    return next_token(line) == "sl" && next_token(line) == "local_address";
}

long clock_ticks_per_second() {
    // The tm->when column is jiffies_delta_to_clock_t(): USER_HZ ticks, which
    // is what _SC_CLK_TCK reports (100 everywhere but alpha).
    const long hz = ::sysconf(_SC_CLK_TCK);
    return hz > 0 ? hz : 100;
}

// One row: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
// Rows that do not parse are skipped: the file is not ours to reject.
void parse_procnet_row(std::string_view line, Proto proto, int family, std::uint16_t port,
                       long hz, std::vector<SocketEntry>& out) {
    std::string_view rest = line;
    const std::string_view slot = next_token(rest);
    if (slot.empty() || slot.back() != ':') return;
    SocketEntry entry;
    entry.proto = proto;
    if (!parse_procnet_endpoint(next_token(rest), family, entry.local)) return;
    if (entry.local.port != port) return;
    if (!parse_procnet_endpoint(next_token(rest), family, entry.remote)) return;
    std::uint64_t unused = 0, timer = 0, when = 0;
    if (!parse_number(next_token(rest), 16, entry.state)) return;
    if (!parse_hex_pair(next_token(rest), unused, unused)) return;  // tx_queue:rx_queue
    if (!parse_hex_pair(next_token(rest), timer, when)) return;     // tr:tm->when
    if (!parse_number(next_token(rest), 16, unused)) return;        // retrnsmt
    if (!parse_number(next_token(rest), 10, entry.uid)) return;
    next_token(rest);                                                // timeout
    if (!parse_number(next_token(rest), 10, entry.inode)) return;
    entry.timer = static_cast<std::uint8_t>(timer);
    const std::uint64_t ms = when >= (1ULL << 40) ? ~0ULL : when * 1000 / static_cast<std::uint64_t>(hz);
    entry.expires_ms = ms > 0xffffffffULL ? 0xffffffffU : static_cast<std::uint32_t>(ms);
    out.push_back(entry);  // v6only stays -1: /proc/net does not say
}

// Streams one /proc/net file line by line; a busy host's table can be large.
int read_procnet_file(const std::string& path, Proto proto, int family, std::uint16_t port,
                      std::vector<SocketEntry>& out) {
    FdGuard file{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) return errno;
    const long hz = clock_ticks_per_second();
    std::string pending;
    std::vector<char> chunk(16384);
    bool header_seen = false;
    bool eof = false;
    while (!eof) {
        const ssize_t n = ::read(file.fd, chunk.data(), chunk.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) {
            eof = true;
            if (!pending.empty()) pending.push_back('\n');
        } else {
            pending.append(chunk.data(), static_cast<std::size_t>(n));
        }
        std::size_t start = 0;
        for (std::size_t nl = pending.find('\n'); nl != std::string::npos;
             nl = pending.find('\n', start)) {
            const std::string_view line(pending.data() + start, nl - start);
            start = nl + 1;
            if (!header_seen) {
                if (!procnet_header_ok(line)) return EBADMSG;
                header_seen = true;
            } else {
                parse_procnet_row(line, proto, family, port, hz, out);
            }
        }
        pending.erase(0, start);
    }
    return header_seen ? 0 : EBADMSG;
}

} // namespace

std::vector<std::uint8_t> build_request(int family, int protocol, std::uint16_t port,
                                        std::uint32_t seq) {
    // Bytecode for "sport >= port && sport <= port" exactly as iproute2's
    // ssfilter_bytecompile() emits it (misc/ss.c): each comparison is an op and
    // a {0, 0, port} operand; yes = 8 steps over both, no = remaining + 4 jumps
    // past the end, which inet_diag_bc_run() (net/ipv4/inet_diag.c) treats as
    // reject. The port operand is in host order: the kernel compares inet_num.
    const inet_diag_bc_op ops[4] = {
        {INET_DIAG_BC_S_GE, 8, 16 + 4},
        {0, 0, port},
        {INET_DIAG_BC_S_LE, 8, 8 + 4},
        {0, 0, port},
    };

    inet_diag_req_v2 req{};
    req.sdiag_family = static_cast<std::uint8_t>(family);
    req.sdiag_protocol = static_cast<std::uint8_t>(protocol);
    req.idiag_ext = 0;  // INET_DIAG_SKV6ONLY comes unrequested for LISTEN/CLOSE sockets
    // Every state bit; bit 13 (TCP_BOUND_INACTIVE, Linux >= 6.5) makes the
    // kernel also walk the bind hash for bound sockets that never listened.
    req.idiag_states = 0xffffffffU;

    rtattr attr{};
    attr.rta_type = INET_DIAG_REQ_BYTECODE;
    attr.rta_len = static_cast<unsigned short>(RTA_LENGTH(sizeof ops));

    nlmsghdr hdr{};
    const std::size_t req_off = NLMSG_HDRLEN;
    const std::size_t attr_off = req_off + NLMSG_ALIGN(sizeof req);
    const std::size_t total = attr_off + RTA_ALIGN(attr.rta_len);
    hdr.nlmsg_len = static_cast<std::uint32_t>(total);
    hdr.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    hdr.nlmsg_seq = seq;
    hdr.nlmsg_pid = 0;

    try {
        std::vector<std::uint8_t> buf(total, 0);
        std::memcpy(buf.data(), &hdr, sizeof hdr);
        std::memcpy(buf.data() + req_off, &req, sizeof req);
        std::memcpy(buf.data() + attr_off, &attr, sizeof attr);
        std::memcpy(buf.data() + attr_off + RTA_LENGTH(0), ops, sizeof ops);
        return buf;
    } catch (const std::bad_alloc&) {
        return {};
    }
}

DumpStatus parse_dump(const std::uint8_t* data, std::size_t len, Proto proto,
                      std::vector<SocketEntry>& out) {
    try {
        return parse_dump_unchecked(data, len, proto, out);
    } catch (const std::bad_alloc&) {
        DumpStatus status;
        status.error = ENOMEM;
        return status;
    }
}

int query_netlink(Proto proto, std::uint16_t port, std::vector<SocketEntry>& out) {
    int protocol = 0;
    if (proto == Proto::tcp) {
        protocol = IPPROTO_TCP;
    } else if (proto == Proto::udp) {
        protocol = IPPROTO_UDP;
    } else {
        return EAFNOSUPPORT;  // AF_UNIX has no ports; see the unix_diag-free path
    }
    try {
        std::vector<std::uint8_t> buf(netlink::recv_buffer_size);
        std::vector<SocketEntry> found;
        // Never bind(): bind is wrapped, and netlink_autobind() assigns a port
        // id on the first sendto (net/netlink/af_netlink.c).
        FdGuard sock{netlink::open_sock_diag()};
        if (sock.fd < 0) return errno;
        std::uint32_t seq = 1;
        for (const int family : {AF_INET, AF_INET6}) {
            const int rc = dump_family(sock.fd, family, protocol, port, seq++, proto, buf, found);
            if (rc != 0) return rc;
        }
        out.insert(out.end(), found.begin(), found.end());
        return 0;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

bool parse_procnet(std::string_view text, Proto proto, int family, std::uint16_t port,
                   std::vector<SocketEntry>& out) {
    if (family != AF_INET && family != AF_INET6) return false;
    try {
        const long hz = clock_ticks_per_second();
        bool header_seen = false;
        while (!text.empty()) {
            const std::size_t nl = text.find('\n');
            const std::string_view line = text.substr(0, nl);
            text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
            if (!header_seen) {
                if (!procnet_header_ok(line)) return false;
                header_seen = true;
            } else {
                parse_procnet_row(line, proto, family, port, hz, out);
            }
        }
        return header_seen;
    } catch (const std::bad_alloc&) {
        return false;
    }
}

int read_procnet(const std::string& proc_root, Proto proto, std::uint16_t port,
                 std::vector<SocketEntry>& out) {
    if (proto != Proto::tcp && proto != Proto::udp) return EAFNOSUPPORT;
    try {
        std::vector<SocketEntry> found;
        const std::string base = fmt::format("{}/net/{}", proc_root, proto_file(proto));
        for (const int family : {AF_INET, AF_INET6}) {
            const std::string path = family == AF_INET ? base : base + "6";
            const int rc = read_procnet_file(path, proto, family, port, found);
            // No tcp6/udp6 file: the kernel runs without IPv6 (ipv6.disable=1).
            if (rc == ENOENT && family == AF_INET6) continue;
            if (rc != 0) return rc;
        }
        out.insert(out.end(), found.begin(), found.end());
        return 0;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

void collect(Proto proto, std::uint16_t port, const std::string& proc_root, Observation& obs) {
    if (proto != Proto::tcp && proto != Proto::udp) return;  // AF_UNIX: no port table
    try {
        const char* name = proto_file(proto);
        std::vector<SocketEntry> found;
        const int nl_rc = query_netlink(proto, port, found);
        if (nl_rc == 0) {
            obs.netlink_ok = true; // the rules' evidence line counts what was found
            obs.sockets.insert(obs.sockets.end(), found.begin(), found.end());
            return;
        }
        // Typical refusals: EPERM/EACCES from seccomp or an LSM, EAFNOSUPPORT or
        // EPROTONOSUPPORT when sock_diag is not built or loadable.
        const bool refused = nl_rc == EPERM || nl_rc == EACCES || nl_rc == EAFNOSUPPORT ||
                             nl_rc == EPROTONOSUPPORT;
        const std::string nl_text = fmt::format("netlink sock_diag {}: {}",
                                                refused ? "refused" : "failed", portshim::errno_name(nl_rc));
        found.clear();
        const int proc_rc = read_procnet(proc_root, proto, port, found);
        if (proc_rc == 0) {
            obs.procnet_used = true;
            obs.evidence.push_back(fmt::format("{}; read {}/net/{} and {}/net/{}6 instead "
                                               "({} socket(s) with local port {})",
                                               nl_text, proc_root, name, proc_root, name,
                                               found.size(), port));
            obs.sockets.insert(obs.sockets.end(), found.begin(), found.end());
        } else {
            obs.evidence.push_back(fmt::format("{}; reading {}/net/{} failed too: {}; "
                                               "the socket table is unknown",
                                               nl_text, proc_root, name, portshim::errno_name(proc_rc)));
        }
    } catch (...) {
        // Out of memory while formatting evidence: the diagnosis goes on without it.
    }
}

} // namespace portshim::sockets
