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
    } else {
        lsm.apparmor = read_small_file("/sys/module/apparmor/parameters/enabled").rfind('Y', 0) == 0;
    }
    // The ABI also answers without securityfs; EOPNOTSUPP when Landlock is built but not enabled.
    const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
    lsm.landlock_abi = abi > 0 ? static_cast<int>(abi) : 0;
    if (lsm.landlock_abi > 0) lsm.landlock = true;
    return lsm;
}

/** The caller's netns only: enough for the decisions that need no label or capability. */
TaskFacts netns_only(int tid) {
    TaskFacts t;
    t.netns = ns_ino("/proc/" + std::to_string(tid) + "/ns/net");
    return t;
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
    return t;
}

Policy Policy::read() {
    Policy p;
    p.lsm = read_host_lsm();
    p.self = read_task(static_cast<int>(::getpid()));
    const std::string start = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    p.port_start = start.empty() ? -1 : std::atoi(start.c_str());
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
    return true;
}

bool caller_lsm_allows(const Policy& policy, const TaskFacts& caller, bool tcp) {
    if (policy.lsm.tomoyo) return false; // its domain policy cannot be read from here
    if (policy.lsm.apparmor && !apparmor_allows_all(caller.apparmor_label)) return false;
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
    if (decide_bind(policy, netns_only(tid), call) == Action::perform) return Action::perform;
    return decide_bind(policy, read_task(tid), call);
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
bool unix_in_use(int sfd, int tid, const sockaddr_un& sun, socklen_t len) {
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
        // /proc/TID/net is the caller's netns, where abstract names live.
        return abstract_name_listed(read_file(proc + "/net/unix", 16U << 20), at);
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
 * Runs `fn` on a thread that joined the network namespace of `tid` (setns(2) is
 * per thread, so the supervisor's own thread never leaves its netns); false when
 * it could not join (not capable there).
 */
bool in_netns_of(int tid, const std::function<void()>& fn) {
    const int ns = ::open(("/proc/" + std::to_string(tid) + "/ns/net").c_str(), O_RDONLY | O_CLOEXEC);
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
bool inet_in_use(const Policy& policy, TaskFacts caller, int sfd, int tid, const sockaddr_storage& ss,
                 socklen_t len) {
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
    if (caller.netns != 0 && caller.netns == policy.self.netns) {
        rc = sockets::query_netlink(req.proto, req.local.port, found);
    } else {
        // sock_diag and /proc/sys answer for the netns of whoever asks: ask from the caller's.
        (void)in_netns_of(tid, [&] {
            const std::string start = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
            if (!start.empty()) caller.port_start = std::atoi(start.c_str());
            rc = sockets::query_netlink(req.proto, req.local.port, found);
        });
    }
    // Below ip_unprivileged_port_start an incapable caller gets EACCES first.
    if (!caller_may_bind_port(policy, caller, port)) return false;
    if (rc != 0) {
        // /proc/TID/net is the caller's netns, without bound devices or IPV6_V6ONLY
        // (taken as none and dual-stack).
        found.clear();
        if (sockets::read_procnet("/proc/" + std::to_string(tid), req.proto, req.local.port, found) != 0)
            return false;
    }
    return in_use_certain(req, static_cast<std::uint32_t>(ifindex), found);
}

} // namespace

void in_callers_netns(const Policy& policy, int tid, const std::function<void()>& fn) {
    const std::uint64_t theirs = ns_ino("/proc/" + std::to_string(tid) + "/ns/net");
    if (theirs != 0 && theirs != policy.self.netns) {
        try {
            if (in_netns_of(tid, fn)) return;
        } catch (...) {
            // No thread (EAGAIN, out of memory): from here, as for a supervisor not capable there.
        }
    }
    fn();
}

bool predict_in_use(const Policy& policy, int sfd, int tid, const sockaddr_storage* ss, socklen_t len) {
    if (ss == nullptr) return false; // listen: not predicted
    try {
        int family = 0;
        if (!socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, family) || family != ss->ss_family) return false;
        // An LSM's denial comes before the name or port table (security_socket_bind in
        // __sys_bind): with one that may deny the caller, EADDRINUSE is not certain.
        int type = 0;
        const TaskFacts caller = read_task(tid);
        if (!socket_int_option(sfd, SOL_SOCKET, SO_TYPE, type) ||
            !caller_lsm_allows(policy, caller, family != AF_UNIX && is_tcp(type)))
            return false;
        if (family == AF_UNIX) return unix_in_use(sfd, tid, *reinterpret_cast<const sockaddr_un*>(ss), len);
        if ((family == AF_INET || family == AF_INET6) && len >= sizeof(sockaddr_in))
            return inet_in_use(policy, caller, sfd, tid, *ss, len);
    } catch (...) {
        // Out of memory: no prediction, the call runs as always.
    }
    return false;
}

} // namespace portshim::supervisor
