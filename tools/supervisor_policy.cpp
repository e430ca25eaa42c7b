// The supervisor's choice per call: perform, or CONTINUE with or without a
// prediction (docs/supervisor.md 3).
#include "supervisor_policy.hpp"

#include "diag/request.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::supervisor {

std::string read_small_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    char buf[512];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    ::close(fd);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

namespace {

/**
 * Whether an LSM judges bind/listen by the calling task (docs/supervisor.md 3):
 * then the supervisor's own call could get another answer than the program's.
 * /sys/kernel/security/lsm lists the active ones; without securityfs mounted,
 * AppArmor still says whether it is enabled in /sys/module.
 */
bool task_lsm_active() {
    const std::string lsm = read_small_file("/sys/kernel/security/lsm");
    if (!lsm.empty())
        return lsm.find("apparmor") != std::string::npos || lsm.find("landlock") != std::string::npos ||
               lsm.find("tomoyo") != std::string::npos;
    return read_small_file("/sys/module/apparmor/parameters/enabled").rfind('Y', 0) == 0;
}

/** Both tasks in one network namespace: the sysctls read here are the program's. */
bool same_netns(int pid) {
    struct stat mine, theirs;
    return ::stat("/proc/self/ns/net", &mine) == 0 &&
           ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &theirs) == 0 &&
           mine.st_ino == theirs.st_ino && mine.st_dev == theirs.st_dev;
}

/**
 * Whether the supervisor's bind on the program's socket gives exactly the
 * program's result. The kernel checks the calling task, not the socket, for
 * ports below the netns's ip_unprivileged_port_start (CAP_NET_BIND_SERVICE),
 * AF_UNIX paths (cwd, root, mounts, credentials, umask) and task LSMs; the rest
 * (port table, SO_REUSEPORT's sk_uid, netns, bound device) goes with the socket.
 */
bool may_perform_bind(const Policy& policy, int sfd, int pid, const sockaddr_storage& ss, socklen_t len) {
    int family = 0;
    if (policy.task_lsm || !socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, family) ||
        (family != AF_INET && family != AF_INET6) || len < sizeof(sockaddr_in))
        return false;
    // sin_port and sin6_port are at the same offset.
    const unsigned port = ntohs(reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
    if (port == 0) return true;
    if (!same_netns(pid)) return false;
    const std::string start = read_small_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    return !start.empty() && port >= static_cast<unsigned>(std::atoi(start.c_str()));
}

} // namespace

Policy Policy::read() {
    Policy p;
    p.task_lsm = task_lsm_active();
    return p;
}

Action decide_bind(const Policy& policy, int sfd, int tid, const sockaddr_storage& ss, socklen_t len) {
    return may_perform_bind(policy, sfd, tid, ss, len) ? Action::perform : Action::pass;
}

Action decide_listen(const Policy& policy, int sfd, int /*tid*/) {
    // listen(2) checks nothing of the caller but LSMs, and on inet sockets records
    // nothing of it; on AF_UNIX it records the caller as the peer that clients'
    // SO_PEERCRED names (init_peercred in net/unix/af_unix.c): left to the program.
    int family = 0;
    if (policy.task_lsm || !socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, family) ||
        (family != AF_INET && family != AF_INET6))
        return Action::pass;
    return Action::perform;
}

bool predict_in_use(const Policy&, int, int, const sockaddr_storage*, socklen_t) {
    return false; // no prediction yet: a CONTINUE'd failure is not explained
}

} // namespace portshim::supervisor
