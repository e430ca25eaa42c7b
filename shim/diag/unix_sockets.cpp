// AF_UNIX probe: a unix sock_diag dump (as `ss -x` does), lstat of the path and
// one scratch connect, matched by file inode; then the holders from /proc.
#include "unix_sockets.hpp"

#include "address.hpp"
#include "facts.hpp"
#include "host.hpp"
#include "netlink.hpp"
#include "owners.hpp"

#include <fmt/format.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <new>

// UDIAG_SHOW_UID and UNIX_DIAG_UID arrived in Linux 5.3 (uapi/linux/unix_diag.h);
// older kernels ignore the request bit and send no attribute.
#ifndef UDIAG_SHOW_UID
#define UDIAG_SHOW_UID 0x00000040
#endif

namespace portshim::unix_sockets {
namespace {

using netlink::FdGuard;

constexpr unsigned unix_diag_uid_attr = 7; // UNIX_DIAG_UID, absent from pre-5.3 headers

/** "@name" for an abstract address, the path otherwise; both cut at the first NUL as the engine does. */
std::string name_of(const std::uint8_t* data, std::size_t len) {
    if (len == 0) return {};
    const char* text = reinterpret_cast<const char*>(data);
    if (text[0] == '\0') return "@" + std::string(text + 1, strnlen(text + 1, len - 1));
    return std::string(text, strnlen(text, len));
}

bool parse_attrs(const std::uint8_t* data, std::size_t len, UnixSocket& s) {
    return netlink::for_each_attr(data, len, [&](unsigned type, const std::uint8_t* payload,
                                                 std::size_t payload_len) {
        switch (type) {
        case UNIX_DIAG_NAME: s.name = name_of(payload, payload_len); break;
        case UNIX_DIAG_VFS:
            if (payload_len >= sizeof(unix_diag_vfs)) {
                unix_diag_vfs vfs{};
                std::memcpy(&vfs, payload, sizeof vfs);
                s.has_vfs = true;
                s.vfs_ino = vfs.udiag_vfs_ino;
                s.vfs_dev = vfs.udiag_vfs_dev;
            }
            break;
        case unix_diag_uid_attr:
            if (payload_len >= sizeof(std::uint32_t)) {
                std::uint32_t uid = 0;
                std::memcpy(&uid, payload, sizeof uid);
                s.uid = uid;
            }
            break;
        default: break;
        }
    });
}

bool parse_diag_msg(const std::uint8_t* data, std::size_t len, std::vector<UnixSocket>& out) {
    unix_diag_msg msg{};
    if (len < sizeof msg) return false;
    std::memcpy(&msg, data, sizeof msg);
    if (msg.udiag_family != AF_UNIX) return false;
    UnixSocket s;
    s.type = msg.udiag_type;
    s.state = msg.udiag_state;
    s.inode = msg.udiag_ino;
    const std::size_t attr_off = NLMSG_ALIGN(sizeof msg);
    if (len > attr_off && !parse_attrs(data + attr_off, len - attr_off, s)) return false;
    if (!s.name.empty()) out.push_back(std::move(s));
    return true;
}

sockets::DumpStatus parse_dump_unchecked(const std::uint8_t* data, std::size_t len,
                                         std::vector<UnixSocket>& out) {
    sockets::DumpStatus status;
    for (std::size_t off = 0; data != nullptr && off < len;) {
        nlmsghdr hdr{};
        if (len - off < sizeof hdr) {
            status.error = EBADMSG;
            break;
        }
        std::memcpy(&hdr, data + off, sizeof hdr);
        if (hdr.nlmsg_len < NLMSG_HDRLEN || hdr.nlmsg_len > len - off) {
            status.error = EBADMSG;
            break;
        }
        const std::uint8_t* payload = data + off + NLMSG_HDRLEN;
        const std::size_t payload_len = hdr.nlmsg_len - NLMSG_HDRLEN;
        int code = 0;
        if (hdr.nlmsg_type == NLMSG_DONE || hdr.nlmsg_type == NLMSG_ERROR) {
            // DONE carries the dump's final status, ERROR a negative errno (0 = ACK).
            if (payload_len >= sizeof code) std::memcpy(&code, payload, sizeof code);
            else if (hdr.nlmsg_type == NLMSG_ERROR) code = INT_MIN;
            if (code != 0) status.error = code < 0 && code != INT_MIN ? -code : EBADMSG;
            if (hdr.nlmsg_type == NLMSG_DONE) status.done = true;
            if (status.done || status.error != 0) break;
        } else if (hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY && !parse_diag_msg(payload, payload_len, out)) {
            status.error = EBADMSG;
            break;
        }
        off += NLMSG_ALIGN(std::size_t{hdr.nlmsg_len});
    }
    return status;
}

/** Sends the dump request and feeds every kernel reply to parse_dump until DONE. */
int run_dump(int fd, std::vector<UnixSocket>& found) {
    const std::vector<std::uint8_t> req = build_request(1);
    if (req.empty()) return ENOMEM;
    std::vector<std::uint8_t> buf(netlink::recv_buffer_size);
    return netlink::run_dump(fd, req, buf, [&](const std::uint8_t* data, std::size_t len) {
        return parse_dump(data, len, found);
    });
}

bool is_abstract(const std::string& name) { return !name.empty() && name[0] == '@'; }

/** SOCK_SEQPACKET is reported as a datagram Proto by the engine; either matches it. */
bool same_type(int a, int b) {
    const auto dgram_like = [](int t) { return t == SOCK_DGRAM || t == SOCK_SEQPACKET; };
    return a == b || (dgram_like(a) && dgram_like(b));
}

std::string file_type_name(std::uint32_t type) {
    switch (type) {
    case S_IFSOCK: return "socket file";
    case S_IFREG: return "regular file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "symbolic link";
    case S_IFIFO: return "FIFO";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    default: return "file";
    }
}

void add_evidence(const Request& req, const Observation& obs, int diag_rc, std::size_t seen,
                  std::vector<std::string>& out) {
    const std::string& path = req.unix_path;
    if (diag_rc != 0) {
        out.push_back(fmt::format("netlink unix sock_diag failed: {}; the sockets bound to {} "
                                  "are unknown",
                                  errno_name(diag_rc), path));
    } else {
        const auto live = std::count_if(obs.unix_sockets.begin(), obs.unix_sockets.end(),
                                        unix_holds_address);
        out.push_back(fmt::format("unix sock_diag: {} of {} bound unix sockets use {} ({} "
                                  "listening or bound, {} accepted connections)",
                                  obs.unix_sockets.size(), seen, path, live,
                                  static_cast<long>(obs.unix_sockets.size()) - live));
    }
    const UnixPath& p = obs.unix_path;
    if (p.checked && p.lstat_error != 0)
        out.push_back(fmt::format("lstat {}: {}", path, errno_name(p.lstat_error)));
    else if (p.checked)
        out.push_back(fmt::format("lstat {}: {}, inode {} on device {}:{}, modified {} ago", path,
                                  file_type_name(p.file_type), p.ino, major(p.dev), minor(p.dev),
                                  format_duration(obs.host.now - p.mtime)));
    switch (p.connect) {
    case UnixConnect::not_run: break;
    case UnixConnect::refused:
        out.push_back(fmt::format("connect {}: ECONNREFUSED, no socket listens on the file", path));
        break;
    case UnixConnect::accepted:
        out.push_back(fmt::format("connect {}: {}, a socket listens there", path,
                                  p.connect_error == 0 ? "connected" : errno_name(p.connect_error)));
        break;
    case UnixConnect::failed:
        out.push_back(fmt::format("connect {}: {}", path, errno_name(p.connect_error)));
        break;
    }
}

} // namespace

std::vector<std::uint8_t> build_request(std::uint32_t seq) {
    unix_diag_req req{};
    req.sdiag_family = AF_UNIX;
    req.udiag_states = 0xffffffffU;
    req.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_UID;
    nlmsghdr hdr{};
    hdr.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(sizeof req));
    hdr.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    hdr.nlmsg_seq = seq;
    try {
        std::vector<std::uint8_t> buf(NLMSG_SPACE(sizeof req), 0);
        std::memcpy(buf.data(), &hdr, sizeof hdr);
        std::memcpy(buf.data() + NLMSG_HDRLEN, &req, sizeof req);
        return buf;
    } catch (const std::bad_alloc&) {
        return {};
    }
}

sockets::DumpStatus parse_dump(const std::uint8_t* data, std::size_t len,
                               std::vector<UnixSocket>& out) {
    try {
        return parse_dump_unchecked(data, len, out);
    } catch (const std::bad_alloc&) {
        sockets::DumpStatus status;
        status.error = ENOMEM;
        return status;
    }
}

int query_netlink(std::vector<UnixSocket>& out) {
    try {
        // Never bind(): bind is wrapped; netlink_autobind() names us on sendto.
        FdGuard sock{netlink::open_sock_diag()};
        if (sock.fd < 0) return errno;
        std::vector<UnixSocket> found;
        const int rc = run_dump(sock.fd, found);
        if (rc == 0) out.insert(out.end(), found.begin(), found.end());
        return rc;
    } catch (const std::bad_alloc&) {
        return ENOMEM;
    }
}

UnixPath inspect_path(const std::string& path) {
    UnixPath p;
    if (path.empty() || is_abstract(path)) return p;
    p.checked = true;
    struct stat st{};
    if (::lstat(path.c_str(), &st) != 0) {
        p.lstat_error = errno;
        return p;
    }
    p.file_type = st.st_mode & S_IFMT;
    p.mtime = static_cast<double>(st.st_mtim.tv_sec) + static_cast<double>(st.st_mtim.tv_nsec) / 1e9;
    p.ino = st.st_ino;
    p.dev = st.st_dev;
    return p;
}

void connect_test(const std::string& path, int type, UnixPath& p) {
    sockaddr_un addr{};
    if (path.empty() || is_abstract(path) || path.size() >= sizeof addr.sun_path) return;
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    FdGuard fd{::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (fd.fd < 0) {
        p.connect = UnixConnect::failed;
        p.connect_error = errno;
        return;
    }
    const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
    int rc = 0;
    do rc = ::connect(fd.fd, reinterpret_cast<const sockaddr*>(&addr), len);
    while (rc != 0 && errno == EINTR);
    p.connect_error = rc == 0 ? 0 : errno;
    // EAGAIN: the listener's backlog is full (unix_wait_for_peer); EPROTOTYPE:
    // a live socket of another type owns the file. Both prove it is in use.
    if (rc == 0 || p.connect_error == EAGAIN || p.connect_error == EPROTOTYPE)
        p.connect = UnixConnect::accepted;
    else if (p.connect_error == ECONNREFUSED)
        p.connect = UnixConnect::refused;
    else
        p.connect = UnixConnect::failed;
}

bool bound_to(const UnixSocket& s, const std::string& wanted, int type, const UnixPath& path) {
    if (is_abstract(wanted)) return s.name == wanted && same_type(s.type, type);
    if (is_abstract(s.name)) return false;
    if (!s.has_vfs) return s.name == wanted; // the kernel gave no file: the name is all there is
    if (!path.checked || path.lstat_error != 0 || static_cast<std::uint32_t>(path.ino) != s.vfs_ino)
        return false;
    // UNIX_DIAG_VFS holds the kernel dev_t (MAJOR << 20 | MINOR, include/linux/kdev_t.h);
    // stacked file systems may show another device to lstat, so the name may vouch instead.
    const bool same_dev = major(path.dev) == (s.vfs_dev >> 20) && minor(path.dev) == (s.vfs_dev & 0xfffffU);
    return same_dev || s.name == wanted;
}

void observe_unix(const Request& req, const ProbeEnv& env, Observation& obs) {
    try {
        const std::string& path = req.unix_path;
        if (path.empty()) {
            obs.evidence.push_back("the failing socket's unix address could not be read");
            return;
        }
        const int type = req.proto == Proto::unix_stream ? SOCK_STREAM : SOCK_DGRAM;
        obs.unix_path = inspect_path(path);

        std::vector<UnixSocket> all;
        const int diag_rc = query_netlink(all);
        obs.netlink_ok = diag_rc == 0;
        for (UnixSocket& s : all)
            if (s.inode != req.inode && bound_to(s, path, type, obs.unix_path))
                obs.unix_sockets.push_back(std::move(s));

        // Poke the file only when the table shows nobody holding it: a test
        // connection to a live server would show up in its accept queue.
        const bool held = std::any_of(obs.unix_sockets.begin(), obs.unix_sockets.end(), unix_holds_address);
        if (!held && obs.unix_path.checked && obs.unix_path.lstat_error == 0 &&
            obs.unix_path.file_type == S_IFSOCK)
            connect_test(path, type, obs.unix_path);

        std::vector<std::uint64_t> inodes;
        for (const UnixSocket& s : obs.unix_sockets) inodes.push_back(s.inode);
        std::sort(inodes.begin(), inodes.end());
        inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
        obs.proc_ok = true;
        if (!inodes.empty()) {
            const owners::ScanStatus scan = owners::find_holders(env.proc_root, inodes, obs.holders);
            obs.proc_ok = scan.ok;
            obs.pids_unreadable = scan.unreadable;
            if (!scan.ok)
                obs.evidence.push_back(fmt::format("{} could not be listed: {}", env.proc_root,
                                                   errno_name(scan.error)));
        }
        std::vector<std::uint32_t> uids{obs.self.uid};
        for (const UnixSocket& s : obs.unix_sockets)
            if (s.uid >= 0) uids.push_back(static_cast<std::uint32_t>(s.uid));
        std::sort(uids.begin(), uids.end());
        uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
        for (const std::uint32_t uid : uids)
            obs.user_names.emplace_back(uid, host::user_name(env.passwd_path, uid));

        add_evidence(req, obs, diag_rc, all.size(), obs.evidence);
    } catch (...) {
        // Out of memory: the rules go on with what was gathered.
    }
}

} // namespace portshim::unix_sockets
