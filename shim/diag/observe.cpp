// Runs the probes for one failure: sockets on the port, their owners, this
// process, host facts and, for TIME_WAIT, one scratch SO_REUSEADDR bind.
#include "observe.hpp"

#include "address.hpp"
#include "causes.hpp"
#include "host.hpp"
#include "owners.hpp"
#include "procfs.hpp"
#include "sockets.hpp"
#include "unix_sockets.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <unistd.h>

namespace portshim {

ReuseProbe probe_reuseaddr(const Request& req, BindFn bind_fn, std::string& evidence) {
    if (bind_fn == nullptr || req.proto != Proto::tcp) return ReuseProbe::not_run;
    const int fd = ::socket(req.local.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        evidence = fmt::format("SO_REUSEADDR probe: socket() failed: {}", errno_name(errno));
        return ReuseProbe::failed;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (req.local.family == AF_INET6 && req.v6only >= 0)
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &req.v6only, sizeof req.v6only);
    sockaddr_storage ss{};
    const auto len = static_cast<socklen_t>(sockaddr_from_endpoint(req.local, ss));
    const int rc = bind_fn(fd, reinterpret_cast<const sockaddr*>(&ss), len);
    const int err = errno;
    ::close(fd);
    if (rc == 0) {
        evidence = "SO_REUSEADDR probe: a scratch socket with SO_REUSEADDR binds past the remnants";
        return ReuseProbe::binds;
    }
    if (err == EADDRINUSE) {
        evidence = "SO_REUSEADDR probe: even a scratch socket with SO_REUSEADDR is refused "
                   "(EADDRINUSE): the remnants lack the flag";
        return ReuseProbe::blocked;
    }
    evidence = fmt::format("SO_REUSEADDR probe: bind failed: {}", errno_name(err));
    return ReuseProbe::failed;
}

namespace {

bool held(const Observation& obs, std::uint64_t inode) {
    return std::any_of(obs.holders.begin(), obs.holders.end(),
                       [&](const Holder& h) { return h.inode == inode; });
}

// Only for live sockets no visible process holds (hidden-owner): which PID
// namespace we are in, and the cgroup each socket was created in, which names
// the unit or container behind it.
void probe_hidden(const ProbeEnv& env, int self_pid, Observation& obs) {
    std::vector<std::uint64_t> ids;
    bool hidden = false;
    for (const SocketEntry& s : obs.sockets) {
        if (s.inode == 0 || held(obs, s.inode)) continue;
        hidden = true;
        if (s.cgroup_id != 0) ids.push_back(s.cgroup_id);
    }
    if (!hidden) return;

    // PROC_PID_INIT_INO (include/linux/proc_ns.h) is the initial PID namespace.
    std::string ns;
    if (procfs::read_link(AT_FDCWD, fmt::format("{}/{}/ns/pid", env.proc_root, self_pid).c_str(),
                          ns) == 0)
        obs.self.init_pid_ns = ns == "pid:[4026531836]" ? 1 : 0;

    if (ids.empty()) return;
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    const std::string root = host::cgroup2_root(env.cgroup_root);
    if (root.empty()) {
        obs.evidence.push_back(fmt::format("no cgroup v2 hierarchy at {} or {}/unified: the "
                                           "socket's cgroup cannot be named",
                                           env.cgroup_root, env.cgroup_root));
        return;
    }
    for (const std::uint64_t id : ids) {
        CgroupFacts facts;
        facts.id = id;
        const int rc = host::cgroup_path(root, id, facts.path);
        if (rc == 0) {
            host::name_cgroup(facts);
        } else {
            // ENOENT: removed since, or outside this cgroup namespace's view.
            obs.evidence.push_back(fmt::format("cgroup id {} of the socket: not found under {} ({})",
                                               id, root, errno_name(rc)));
        }
        obs.cgroups.push_back(std::move(facts));
    }
}

} // namespace

Observation observe(const Request& req, const ProbeEnv& env) {
    Observation obs;
    obs.host = host::read_facts(env.proc_root);
    const int self_pid = env.self_pid != 0 ? env.self_pid : static_cast<int>(::getpid());

    Holder me;
    if (owners::read_process(env.proc_root, self_pid, me)) {
        obs.self.exe = me.exe;
        obs.self.argv = me.argv;
        obs.self.ppid = me.ppid;
    }
    obs.self.pid = self_pid;
    obs.self.uid = static_cast<std::uint32_t>(::geteuid());

    if (req.proto != Proto::tcp && req.proto != Proto::udp) {
        unix_sockets::observe_unix(req, env, obs);
        return obs;
    }
    sockets::collect(req.proto, req.local.port, env.proc_root, obs);

    std::vector<std::uint64_t> inodes;
    for (const SocketEntry& s : obs.sockets)
        if (s.inode != 0) inodes.push_back(s.inode);
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    if (!inodes.empty()) {
        const owners::ScanStatus scan = owners::find_holders(env.proc_root, inodes, obs.holders);
        obs.proc_ok = scan.ok;
        obs.pids_unreadable = scan.unreadable;
        obs.pids_scanned = scan.scanned;
        if (!scan.ok)
            obs.evidence.push_back(fmt::format("{} could not be listed: {}", env.proc_root,
                                               errno_name(scan.error)));
    } else {
        obs.proc_ok = true;
    }

    probe_hidden(env, self_pid, obs);

    // Names for the uids the report may mention: socket owners and ourselves.
    std::vector<std::uint32_t> uids{obs.self.uid};
    for (const SocketEntry& s : obs.sockets) uids.push_back(s.uid);
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    for (std::uint32_t uid : uids)
        obs.user_names.emplace_back(uid, host::user_name(env.passwd_path, uid));

    // TIME_WAIT only: a scratch bind tells whether the remnants carry SO_REUSEADDR.
    bool live = false, remnant = false;
    for (const SocketEntry& s : obs.sockets) {
        if (s.proto != Proto::tcp ||
            !addresses_overlap(s.local, s.v6only, req.local, req.v6only) ||
            (req.inode != 0 && s.inode == req.inode))
            continue;
        (is_live_state(s) ? live : remnant) = true;
    }
    if (remnant && !live && req.call == Call::bind) {
        std::string line;
        obs.reuse_probe = probe_reuseaddr(req, env.bind_fn, line);
        if (!line.empty()) obs.evidence.push_back(std::move(line));
    }
    return obs;
}

} // namespace portshim
