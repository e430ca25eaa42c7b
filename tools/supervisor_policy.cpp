// The supervisor's choice per call: perform, or CONTINUE with or without a
// prediction (docs/supervisor.md 3; the reasoning per LSM and capability is in
// docs/supervisor-policy.md).
#include "supervisor_policy.hpp"

#include "diag/address.hpp"
#include "diag/request.hpp"
#include "diag/sockets.hpp"

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <functional>
#include <linux/landlock.h>
#include <linux/nsfs.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sched.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#ifndef SO_BINDTOIFINDEX
#define SO_BINDTOIFINDEX 62 // include/uapi/asm-generic/socket.h, Linux 5.0
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71 // include/uapi/asm-generic/socket.h, Linux 5.14
#endif

namespace portshim::supervisor {

namespace {

/** st_ino of the initial user namespace (PROC_USER_INIT_INO, include/linux/proc_ns.h). */
constexpr std::uint64_t init_userns_ino = 0xEFFFFFFDU;

/** CAP_NET_BIND_SERVICE, include/uapi/linux/capability.h. */
constexpr int cap_net_bind_service = 10;

/** Up to `limit` bytes of a /proc or /sys file; empty when unreadable. */
std::string read_file(const std::string& path, std::size_t limit) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text;
    char buf[4096];
    while (text.size() < limit) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

std::uint64_t ns_ino(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

/** The user namespace owning the network namespace at `path` (ioctl_ns(2), NS_GET_USERNS). */
std::uint64_t netns_owner(const std::string& path) {
    const int ns = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns < 0) return 0;
    const int owner = ::ioctl(ns, NS_GET_USERNS);
    ::close(ns);
    if (owner < 0) return 0;
    struct stat st;
    const std::uint64_t ino = ::fstat(owner, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
    ::close(owner);
    return ino;
}

/** The value after "\nKEY" in /proc/TID/status, empty when missing. */
std::string status_field(const std::string& status, const char* key) {
    const auto at = status.find(key);
    if (at == std::string::npos) return {};
    const auto end = status.find('\n', at);
    return status.substr(at + std::char_traits<char>::length(key),
                         end == std::string::npos ? std::string::npos : end - at -
                                                                            std::char_traits<char>::length(key));
}

/** The LSM list; without securityfs mounted, AppArmor still says whether it is enabled in /sys/module. */
HostLsm read_host_lsm() {
    HostLsm lsm;
    const std::string list = read_small_file("/sys/kernel/security/lsm");
    if (!list.empty()) {
        lsm.apparmor = list.find("apparmor") != std::string::npos;
        lsm.landlock = list.find("landlock") != std::string::npos;
        lsm.tomoyo = list.find("tomoyo") != std::string::npos;
        lsm.selinux = list.find("selinux") != std::string::npos;
    } else {
        lsm.apparmor = read_small_file("/sys/module/apparmor/parameters/enabled").rfind('Y', 0) == 0;
    }
    // selinuxfs answers without securityfs; "0" is permissive (it logs, denies nothing).
    const std::string enforce = read_small_file("/sys/fs/selinux/enforce");
    if (!enforce.empty()) lsm.selinux = true;
    lsm.selinux_enforcing = enforce.rfind('0', 0) != 0;
    // The ABI also answers without securityfs; EOPNOTSUPP when Landlock is built but not enabled.
    const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    lsm.landlock_abi = abi > 0 ? static_cast<int>(abi) : 0;
    if (lsm.landlock_abi > 0) lsm.landlock = true;
    return lsm;
}

/** The socket's netns only: enough for the decisions that need no label or capability. */
TaskFacts netns_only(const Policy& policy, int sfd) {
    TaskFacts t;
    socket_netns(policy, sfd, t);
    return t;
}

/** SO_NETNS_COOKIE of socket `fd`; 0 before Linux 5.14. */
std::uint64_t netns_cookie_of(int fd) {
    std::uint64_t cookie = 0;
    socklen_t len = sizeof cookie;
    return ::getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) == 0 ? cookie : 0;
}

/** st_ino of namespace fd `ns`, 0 when it cannot be read. */
std::uint64_t fd_ino(int ns) {
    struct stat st;
    return ::fstat(ns, &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

/** The user namespace owning netns fd `ns` (NS_GET_USERNS). */
std::uint64_t netns_owner_of_fd(int ns) {
    const int owner = ::ioctl(ns, NS_GET_USERNS);
    if (owner < 0) return 0;
    const std::uint64_t ino = fd_ino(owner);
    ::close(owner);
    return ino;
}

bool is_tcp(int type) {
    // Landlock judges TCP sockets (sk_is_tcp); MPTCP is SOCK_STREAM too: counted as TCP.
    return type == SOCK_STREAM;
}

} // namespace

std::string read_small_file(const std::string& path) { return read_file(path, 4096); }

TaskFacts read_task(int tid) {
    TaskFacts t;
    const std::string dir = "/proc/" + std::to_string(tid);
    const std::string status = read_small_file(dir + "/status");
    const std::string capeff = status_field(status, "\nCapEff:");
    const std::string uid = status_field(status, "\nUid:");
    if (capeff.empty() || uid.empty()) return t;
    t.known = true;
    t.net_bind_service = (std::strtoull(capeff.c_str(), nullptr, 16) >> cap_net_bind_service) & 1U;
    char* rest = nullptr;
    (void)std::strtoul(uid.c_str(), &rest, 10); // real uid, then the effective one
    t.euid = static_cast<std::uint32_t>(std::strtoul(rest, nullptr, 10));
    t.userns = ns_ino(dir + "/ns/user");
    t.netns = ns_ino(dir + "/ns/net");
    t.netns_owner = netns_owner(dir + "/ns/net");
    std::string label = read_small_file(dir + "/attr/apparmor/current");
    if (label.empty()) label = read_small_file(dir + "/attr/current");
    while (!label.empty() && (label.back() == '\n' || label.back() == '\0')) label.pop_back();
    t.apparmor_label = label;
    std::string context = read_small_file(dir + "/attr/selinux/current");
    if (context.empty()) context = read_small_file(dir + "/attr/current");
    while (!context.empty() && (context.back() == '\n' || context.back() == '\0')) context.pop_back();
    t.selinux_context = context;
    return t;
}

void socket_netns(const Policy& policy, int sfd, TaskFacts& t) {
    t.netns = 0;
    t.netns_owner = 0;
    t.port_start = -1;
    // The cookie needs no privilege and costs one getsockopt.
    const std::uint64_t cookie = netns_cookie_of(sfd);
    if (cookie != 0 && cookie == policy.netns_cookie) {
        t.netns = policy.self.netns;
        t.netns_owner = policy.self.netns_owner;
        return;
    }
    const int ns = ::ioctl(sfd, SIOCGSKNS);
    if (ns < 0) return; // another netns, or unknown: not ours as far as the decisions go
    t.netns = fd_ino(ns);
    t.netns_owner = netns_owner_of_fd(ns);
    ::close(ns);
}

Policy Policy::read() {
    Policy p;
    p.lsm = read_host_lsm();
    p.self = read_task(static_cast<int>(::getpid()));
    const std::string start = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    p.port_start = start.empty() ? -1 : std::atoi(start.c_str());
    const int probe = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe >= 0) {
        p.netns_cookie = netns_cookie_of(probe);
        ::close(probe);
    }
    return p;
}

bool apparmor_allows_all(const std::string& label) {
    // Unconfined, or a profile that only logs (complain) or is flagged unconfined (AppArmor 4).
    const auto ends_with = [&](const char* mode) {
        const std::string m = mode;
        return label.size() > m.size() && label.compare(label.size() - m.size(), m.size(), m) == 0;
    };
    return label == "unconfined" || ends_with(" (complain)") || ends_with(" (unconfined)");
}

bool same_lsm_answer(const Policy& policy, const TaskFacts& caller, bool tcp) {
    // TOMOYO judges by the domain, which follows the exec'd path: the supervisor,
    // exec'd as portshim-supervise, is in a domain of its own (tomoyo_socket_bind_permission).
    if (policy.lsm.tomoyo) return false;
    // AppArmor judges by the caller's label (aa_sk_perm and the unix mediation use
    // current's label): the same label, the same profile, the same answer; two
    // labels that allow everything answer the same too.
    if (policy.lsm.apparmor) {
        const std::string& mine = policy.self.apparmor_label;
        const std::string& theirs = caller.apparmor_label;
        const bool same = !theirs.empty() && theirs == mine;
        if (!same && !(apparmor_allows_all(theirs) && apparmor_allows_all(mine))) return false;
    }
    // Landlock restricts bind ports from ABI 4 (Linux 6.7), TCP sockets only, with the
    // caller's domain. A domain is not visible in /proc; it differs from ours only
    // after a supervised task restricted itself, which the filter reports.
    if (policy.lsm.landlock && policy.lsm.landlock_abi >= 4 && tcp && policy.landlock_restricted) return false;
    // SELinux checks socket bind/listen with current's SID against the socket's
    // (sock_has_perm, selinux_socket_bind/listen): the same context, the same answer.
    if (policy.lsm.selinux && policy.lsm.selinux_enforcing &&
        (caller.selinux_context.empty() || caller.selinux_context != policy.self.selinux_context))
        return false;
    return true;
}

bool caller_lsm_allows(const Policy& policy, const TaskFacts& caller, bool tcp) {
    if (policy.lsm.tomoyo) return false; // its domain policy cannot be read from here
    if (policy.lsm.apparmor && !apparmor_allows_all(caller.apparmor_label)) return false;
    // The policy for the caller's domain cannot be read from here (nor a per-domain permissive).
    if (policy.lsm.selinux && policy.lsm.selinux_enforcing) return false;
    // A domain's rules cannot be read back: a restricted task may be denied any port.
    return !(policy.lsm.landlock && policy.lsm.landlock_abi >= 4 && tcp && policy.landlock_restricted);
}

bool same_port_answer(const Policy& policy, const TaskFacts& caller, unsigned port) {
    if (port == 0) return true; // the kernel picks an unprivileged port: no capability check
    // ns_capable(net->user_ns, CAP_NET_BIND_SERVICE) of current (inet_port_requires_bind_service):
    // cap_capable() looks at the cred's user ns, its effective set and, for a child
    // ns, its euid as the owner: the same three, the same answer in any netns.
    if (caller.known && policy.self.known && caller.userns == policy.self.userns && caller.euid == policy.self.euid &&
        caller.net_bind_service == policy.self.net_bind_service)
        return true;
    // No check at all at or above the netns's ip_unprivileged_port_start (known for ours).
    return caller.netns != 0 && caller.netns == policy.self.netns && policy.port_start >= 0 &&
           port >= static_cast<unsigned>(policy.port_start);
}

bool caller_may_bind_port(const Policy& policy, const TaskFacts& caller, unsigned port) {
    if (port == 0) return true;
    const int start = caller.port_start >= 0                                           ? caller.port_start
                      : caller.netns != 0 && caller.netns == policy.self.netns ? policy.port_start
                                                                               : -1;
    if (start >= 0 && port >= static_cast<unsigned>(start)) return true;
    // Capable in the netns's owner ns: its own, or the initial one (an ancestor of all).
    return caller.known && caller.net_bind_service &&
           (caller.userns == init_userns_ino || (caller.userns != 0 && caller.userns == caller.netns_owner));
}

Action decide_bind(const Policy& policy, const TaskFacts& caller, const BindCall& call) {
    if (call.family == AF_INET || call.family == AF_INET6)
        return same_lsm_answer(policy, caller, is_tcp(call.type)) && same_port_answer(policy, caller, call.port)
                   ? Action::perform
                   : Action::predict;
    if (call.family == AF_UNIX) {
        // A pathname is resolved against the caller's cwd, root and mounts, created
        // with its fsuid/fsgid and umask: never performed. An abstract name (or an
        // autobind) lives in the socket's netns and records nothing of the caller
        // (unix_bind_abstract): exact when the LSMs answer the same. Landlock's
        // abstract-socket scope (ABI 6) limits connect and send, not bind.
        if (call.unix_path) return Action::predict;
        return same_lsm_answer(policy, caller, false) ? Action::perform : Action::predict;
    }
    return Action::pass;
}

Action decide_listen(const Policy& policy, const TaskFacts& caller, int family) {
    // listen(2) checks nothing of the caller but LSMs (Landlock has no listen hook), and
    // on inet sockets records nothing of it; on AF_UNIX it records the caller as the
    // peer that clients' SO_PEERCRED names (init_peercred in net/unix/af_unix.c): left
    // to the program. A listen that fails with EADDRINUSE is not predicted.
    if (family != AF_INET && family != AF_INET6) return Action::pass;
    return same_lsm_answer(policy, caller, false) ? Action::perform : Action::pass;
}

Action decide_bind(const Policy& policy, int sfd, int tid, const sockaddr_storage& ss, socklen_t len) {
    BindCall call;
    if (!socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, call.family) ||
        !socket_int_option(sfd, SOL_SOCKET, SO_TYPE, call.type))
        return Action::pass;
    if (call.family == AF_INET || call.family == AF_INET6) {
        if (len < sizeof(sockaddr_in)) return Action::pass; // EINVAL whoever calls
        // sin_port and sin6_port are at the same offset.
        call.port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    } else if (call.family == AF_UNIX) {
        call.unix_path = len > offsetof(sockaddr_un, sun_path) &&
                         reinterpret_cast<const sockaddr_un*>(&ss)->sun_path[0] != '\0';
    }
    // The usual case (port 0, no task LSM) needs no fact of the caller, an explicit
    // port its netns (a stat, a few µs here); /proc/TID/status and its labels (tens of
    // µs) are read only when that is not enough. More facts only ever turn a
    // prediction into a perform.
    if (decide_bind(policy, TaskFacts{}, call) == Action::perform) return Action::perform;
    if (decide_bind(policy, netns_only(policy, sfd), call) == Action::perform) return Action::perform;
    TaskFacts caller = read_task(tid);
    socket_netns(policy, sfd, caller); // the kernel judges in the socket's netns (sock_net)
    return decide_bind(policy, caller, call);
}

Action decide_listen(const Policy& policy, int sfd, int tid) {
    int family = 0;
    if (!socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, family)) return Action::pass;
    const Action quick = decide_listen(policy, TaskFacts{}, family);
    return quick == Action::perform ? quick : decide_listen(policy, read_task(tid), family);
}

bool in_use_certain(const Request& req, std::uint32_t ifindex, const std::vector<SocketEntry>& sockets) {
    if (req.local.port == 0) return false;
    for (const SocketEntry& e : sockets) {
        if (e.proto != req.proto || e.local.port != req.local.port) continue;
        if (e.inode != 0 && e.inode == req.inode) continue;
        // Sockets bound to two different devices do not conflict (inet_bind_conflict).
        if (e.ifindex != 0 && ifindex != 0 && e.ifindex != ifindex) continue;
        if (!addresses_overlap(e.local, e.v6only, req.local, req.v6only)) continue;
        const bool no_reuse = req.reuseaddr == 0 && req.reuseport == 0;
        if (req.proto == Proto::tcp) {
            // A listener conflicts whatever SO_REUSEADDR says; only a SO_REUSEPORT group shares it.
            if (e.state == tcp_state::listen && req.reuseport == 0) return true;
            // A remnant keeps its listener's SO_REUSEADDR: without ours it conflicts either way.
            if ((e.state == tcp_state::time_wait || e.timer == 3) && no_reuse) return true;
        } else if (req.proto == Proto::udp && no_reuse) {
            return true;
        }
    }
    return false;
}

bool abstract_name_listed(const std::string& proc_net_unix, const std::string& at_name) {
    // Rows end with the path; abstract names start '@', their NULs printed as '@' (unix_seq_show).
    const std::string tail = " " + at_name;
    std::size_t start = 0;
    while (start < proc_net_unix.size()) {
        std::size_t end = proc_net_unix.find('\n', start);
        if (end == std::string::npos) end = proc_net_unix.size();
        if (end - start > tail.size() && proc_net_unix.compare(end - tail.size(), tail.size(), tail) == 0)
            return true;
        start = end + 1;
    }
    return false;
}

namespace {

/** The AF_UNIX bind: the path exists (pathname) or the name is taken (abstract). */
bool unix_in_use(const Policy& policy, const TaskFacts& sock, int sfd, int tid, const sockaddr_un& sun,
                 socklen_t len) {
    sockaddr_storage mine{};
    socklen_t mine_len = sizeof mine;
    // Already bound: EINVAL, whatever the name.
    if (::getsockname(sfd, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0 ||
        mine_len > offsetof(sockaddr_un, sun_path))
        return false;
    if (len <= offsetof(sockaddr_un, sun_path) + 1) return false; // autobind, or an empty name
    const std::size_t max = len - offsetof(sockaddr_un, sun_path);
    const std::string proc = "/proc/" + std::to_string(tid);
    if (sun.sun_path[0] == '\0') {
        std::string at = "@";
        for (std::size_t i = 1; i < max; ++i) at.push_back(sun.sun_path[i] == '\0' ? '@' : sun.sun_path[i]);
        // Abstract names live in the socket's netns: /proc/self/net when it is ours,
        // /proc/TID/net when it is the caller's; another one is not looked at.
        const bool ours = sock.netns != 0 && sock.netns == policy.self.netns;
        if (!ours && (sock.netns == 0 || ns_ino(proc + "/ns/net") != sock.netns)) return false;
        return abstract_name_listed(read_file((ours ? std::string("/proc/self") : proc) + "/net/unix", 16U << 20),
                                    at);
    }
    std::string path(sun.sun_path, ::strnlen(sun.sun_path, max));
    if (path.empty()) return false;
    // unix_bind_bsd: mknod on an existing name is EEXIST, returned as EADDRINUSE.
    // Resolved as the caller resolves it: its root for an absolute path, its cwd otherwise.
    const std::string full = path[0] == '/' ? proc + "/root" + path : proc + "/cwd/" + path;
    struct stat st;
    return ::lstat(full.c_str(), &st) == 0;
}

/**
 * Runs `fn` on a thread that joined the network namespace of socket `sfd`
 * (SIOCGSKNS; setns(2) is per thread, so the supervisor's own thread never leaves
 * its netns); false, `fn` not run, when it could not join (not capable there).
 */
bool in_netns_of(int sfd, const std::function<void()>& fn) {
    const int ns = ::ioctl(sfd, SIOCGSKNS);
    if (ns < 0) return false;
    bool joined = false;
    std::thread helper([&] {
        if (::setns(ns, CLONE_NEWNET) != 0) return;
        joined = true;
        fn();
    });
    helper.join();
    ::close(ns);
    return joined;
}

/** The inet bind: an overlapping socket on the port that certainly conflicts. */
bool inet_in_use(const Policy& policy, TaskFacts caller, int sfd, const sockaddr_storage& ss, socklen_t len) {
    const unsigned port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (port == 0 || !caller.known) return false;
    sockaddr_storage mine{};
    socklen_t mine_len = sizeof mine;
    if (::getsockname(sfd, reinterpret_cast<sockaddr*>(&mine), &mine_len) != 0 ||
        reinterpret_cast<const sockaddr_in*>(&mine)->sin_port != 0)
        return false; // already bound: EINVAL
    Failure f;
    f.call = 0;
    f.fd = sfd;
    f.err = EADDRINUSE;
    f.addr = reinterpret_cast<const sockaddr*>(&ss);
    f.addr_len = len;
    Request req;
    if (!describe_request(f, req)) return false;
    int ifindex = 0;
    if (!socket_int_option(sfd, SOL_SOCKET, SO_BINDTOIFINDEX, ifindex)) return false;
    std::vector<SocketEntry> found;
    int rc = -1;
    // sock_diag, /proc/sys and /proc/thread-self/net answer for the netns of whoever
    // asks: ask from the socket's (caller.netns is the socket's, socket_netns()).
    const auto look = [&](const char* proc_root) {
        rc = sockets::query_netlink(req.proto, req.local.port, found);
        if (rc != 0) {
            // /proc/net has no bound devices or IPV6_V6ONLY (taken as none and dual-stack).
            found.clear();
            rc = sockets::read_procnet(proc_root, req.proto, req.local.port, found);
        }
    };
    if (caller.netns != 0 && caller.netns == policy.self.netns) {
        look("/proc/thread-self");
    } else if (!in_netns_of(sfd, [&] {
                   const std::string start = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
                   if (!start.empty()) caller.port_start = std::atoi(start.c_str());
                   look("/proc/thread-self");
               })) {
        return false; // not joined: the report could not be made there either
    }
    // Below ip_unprivileged_port_start an incapable caller gets EACCES first.
    if (rc != 0 || !caller_may_bind_port(policy, caller, port)) return false;
    return in_use_certain(req, static_cast<std::uint32_t>(ifindex), found);
}

} // namespace

bool in_socket_netns(const Policy& policy, int sfd, int tid, const std::function<void()>& fn) {
    TaskFacts sock;
    socket_netns(policy, sfd, sock);
    // Neither the cookie nor SIOCGSKNS answered (before 5.14, not capable there):
    // the task's netns stands in for the socket's, here only.
    const bool ours = sock.netns != 0 ? sock.netns == policy.self.netns
                                      : netns_cookie_of(sfd) == 0 &&
                                            ns_ino("/proc/" + std::to_string(tid) + "/ns/net") == policy.self.netns;
    if (ours) {
        fn();
        return true;
    }
    try {
        return in_netns_of(sfd, fn);
    } catch (...) {
        return false; // no thread (EAGAIN, out of memory): no diagnosis from the wrong netns
    }
}

bool predict_in_use(const Policy& policy, int sfd, int tid, const sockaddr_storage* ss, socklen_t len) {
    if (ss == nullptr) return false; // listen: not predicted
    try {
        int family = 0;
        if (!socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, family) || family != ss->ss_family) return false;
        // An LSM's denial comes before the name or port table (security_socket_bind in
        // __sys_bind): with one that may deny the caller, EADDRINUSE is not certain.
        int type = 0;
        TaskFacts caller = read_task(tid);
        socket_netns(policy, sfd, caller); // the kernel judges in the socket's netns (sock_net)
        if (!socket_int_option(sfd, SOL_SOCKET, SO_TYPE, type) ||
            !caller_lsm_allows(policy, caller, family != AF_UNIX && is_tcp(type)))
            return false;
        if (family == AF_UNIX)
            return unix_in_use(policy, caller, sfd, tid, *reinterpret_cast<const sockaddr_un*>(ss), len);
        if ((family == AF_INET || family == AF_INET6) && len >= sizeof(sockaddr_in))
            return inet_in_use(policy, caller, sfd, *ss, len);
    } catch (...) {
        // Out of memory: no prediction, the call runs as always.
    }
    return false;
}

} // namespace portshim::supervisor
