// Runs the probes for one failure: sockets on the port, their owners, this
// process, host facts and, for TIME_WAIT, one scratch SO_REUSEADDR bind.
#include "observe.hpp"

#include "address.hpp"
#include "facts.hpp"
#include "host.hpp"
#include "owners.hpp"
#include "procfs.hpp"
#include "registry.hpp"
#include "sockets.hpp"
#include "unix_sockets.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/stat.h>
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

// Rule 12: under secure execution the probes run with rights the user who
// started the program lacks (root's, for a setuid-root program run by alice),
// and /proc may hide other users' processes from him (hidepid=2). Only what he
// could read himself stays: his own processes and this one. Other holders are
// counted, never named, and no opener or library of theirs is read.
void withhold_foreign(const ProbeEnv& env, int self_pid, Observation& obs) {
    if (!env.secure) return;
    obs.self.secure = true;
    obs.self.real_uid = static_cast<std::uint32_t>(::getuid());
    std::vector<int> withheld;
    const auto foreign = [&](const Holder& h) {
        if (h.pid == self_pid || h.uid == obs.self.real_uid) return false;
        withheld.push_back(h.pid);
        return true;
    };
    obs.holders.erase(std::remove_if(obs.holders.begin(), obs.holders.end(), foreign), obs.holders.end());
    std::sort(withheld.begin(), withheld.end());
    obs.pids_withheld = static_cast<int>(std::unique(withheld.begin(), withheld.end()) - withheld.begin());
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
        // Under secure execution another user's cgroup is his to tell (rule 12).
        if (s.cgroup_id != 0 && (!obs.self.secure || s.uid == obs.self.real_uid))
            ids.push_back(s.cgroup_id);
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

/** Under secure execution the report speaks of the real user: his name. */
void name_viewer(const ProbeEnv& env, Observation& obs) {
    const std::uint32_t uid = obs.self.real_uid;
    if (obs.self.secure && std::none_of(obs.user_names.begin(), obs.user_names.end(),
                                        [&](const auto& named) { return named.first == uid; }))
        obs.user_names.emplace_back(uid, host::user_name(env.passwd_path, uid));
}

/** Registry records of the live sockets, then inference facts for listeners without one. */
void probe_openers(const Request& req, const ProbeEnv& env, int self_pid, Observation& obs);

// Inference facts cost a walk over a process's libraries: for a few processes only.
constexpr std::size_t max_inference_processes = 8;

/** Live sockets on the wanted address other than our own, each once. */
std::vector<std::uint64_t> live_inodes(const Request& req, const Observation& obs) {
    std::vector<std::uint64_t> inodes;
    for (const SocketEntry& s : obs.sockets)
        if (s.inode != 0 && s.inode != req.inode && is_live_state(s)) inodes.push_back(s.inode);
    for (const UnixSocket& u : obs.unix_sockets)
        if (u.inode != 0 && u.inode != req.inode) inodes.push_back(u.inode);
    std::sort(inodes.begin(), inodes.end());
    inodes.erase(std::unique(inodes.begin(), inodes.end()), inodes.end());
    return inodes;
}

/** Listening sockets on the address without a registry record: candidates for inference. */
std::vector<std::uint64_t> unrecorded_listeners(const Request& req, const Observation& obs) {
    std::vector<std::uint64_t> inodes;
    for (const SocketEntry& s : obs.sockets)
        if (s.proto == Proto::tcp && s.state == tcp_state::listen) inodes.push_back(s.inode);
    for (const UnixSocket& u : obs.unix_sockets)
        if (u.state == tcp_state::listen) inodes.push_back(u.inode);
    inodes.erase(std::remove_if(inodes.begin(), inodes.end(),
                                [&](std::uint64_t inode) {
                                    return inode == 0 || inode == req.inode ||
                                           std::any_of(obs.records.begin(), obs.records.end(),
                                                       [&](const RecordedListen& r) {
                                                           return r.record.inode == inode;
                                                       });
                                }),
                 inodes.end());
    return inodes;
}

// For listeners no record explains: whether their holders' parents are gone,
// whether their programs import listen(), whether systemd handed them over.
// Only where a holder lacks O_CLOEXEC and its parent is gone is the costly
// import check run.
void probe_inheritance(const Request& req, const ProbeEnv& env, int self_pid, Observation& obs) {
    std::vector<const Holder*> examined;
    for (const std::uint64_t inode : unrecorded_listeners(req, obs)) {
        std::vector<Holder*> hs;
        for (Holder& h : obs.holders)
            if (h.inode == inode && h.pid != self_pid) hs.push_back(&h);
        for (Holder* h : hs)
            if (!h->cloexec) h->parent_gone = owners::parent_gone(env.proc_root, *h);
        if (std::none_of(hs.begin(), hs.end(), [](const Holder* h) {
                return !h->cloexec && h->parent_gone == Tri::yes;
            }))
            continue;
        // The orphans first: once one holder imports listen() nothing is inferred,
        // and the rest need not be read (a prefork master settles it for its workers).
        std::stable_partition(hs.begin(), hs.end(), [](const Holder* h) {
            return !h->cloexec && h->parent_gone == Tri::yes;
        });
        for (Holder* h : hs) {
            // A process holding several descriptors is read once.
            const auto seen = std::find_if(examined.begin(), examined.end(),
                                           [&](const Holder* o) { return o->pid == h->pid; });
            if (seen != examined.end()) {
                h->imports_listen = (*seen)->imports_listen;
                h->socket_activated = (*seen)->socket_activated;
            } else {
                if (examined.size() >= max_inference_processes) return;
                h->imports_listen = owners::program_imports(env.proc_root, h->pid, "listen");
                h->socket_activated = owners::socket_activated(env.proc_root, h->pid);
                examined.push_back(h);
            }
            if (h->imports_listen == Tri::yes) break;
        }
    }
}

// A worker's master may hold no copy of the socket: haproxy -W closes its
// listeners after forking its workers. Its parents running the same executable
// are read, so that the rules name the process to stop, not a worker.
void probe_masters(const ProbeEnv& env, int self_pid, Observation& obs) {
    constexpr std::size_t max_masters = 8;
    obs.masters.reserve(max_masters); // the pointers below stay valid
    std::vector<const Holder*> children;
    for (const Holder& h : obs.holders) children.push_back(&h);
    const auto known = [&](int pid) {
        const auto is = [&](const Holder& h) { return h.pid == pid; };
        return std::any_of(obs.holders.begin(), obs.holders.end(), is) ||
               std::any_of(obs.masters.begin(), obs.masters.end(), is);
    };
    for (std::size_t i = 0; i < children.size() && obs.masters.size() < max_masters; ++i) {
        const Holder& child = *children[i];
        if (child.ppid <= 1 || child.ppid == self_pid || child.exe.empty() || known(child.ppid))
            continue;
        Holder parent;
        if (!owners::read_process(env.proc_root, child.ppid, parent) || parent.exe != child.exe)
            continue;
        if (env.secure && parent.uid != obs.self.real_uid) continue; // rule 12, as withhold_foreign
        obs.masters.push_back(std::move(parent));
        children.push_back(&obs.masters.back());
    }
}

void probe_openers(const Request& req, const ProbeEnv& env, int self_pid, Observation& obs) {
    if (!env.find_openers) return;
    if (!env.state_dir.empty()) {
        const std::vector<std::uint64_t> inodes = live_inodes(req, obs);
        if (!inodes.empty())
            obs.records = recorded_listens(env.state_dir, env.proc_root, self_pid, inodes,
                                           obs.evidence);
    }
    probe_inheritance(req, env, self_pid, obs);
}

} // namespace

std::vector<RecordedListen> recorded_listens(const std::string& state_dir,
                                             const std::string& proc_root, int self_pid,
                                             const std::vector<std::uint64_t>& inodes,
                                             std::vector<std::string>& evidence) {
    std::vector<RecordedListen> out;
    const std::vector<ListenRecord> records =
        registry::find_listen_records(state_dir, inodes, evidence);
    if (records.empty()) return out;
    // Socket inodes are unique across namespaces only while the socket lives:
    // a record from another network namespace is about an older socket.
    std::uint64_t netns = 0;
    struct stat st{};
    if (::stat(fmt::format("{}/{}/ns/net", proc_root, self_pid).c_str(), &st) == 0)
        netns = st.st_ino;
    const double boot = host::boot_time(proc_root);
    for (const ListenRecord& r : records) {
        if (r.netns != 0 && netns != 0 && r.netns != netns) {
            evidence.push_back(fmt::format("registry record for inode {} (pid {}) is from another "
                                           "network namespace: ignored",
                                           r.inode, r.pid));
            continue;
        }
        RecordedListen rl;
        rl.record = r;
        Holder now;
        if (owners::read_process(proc_root, r.pid, now)) {
            rl.alive = r.start_ticks == 0 || now.start_ticks == r.start_ticks;
            rl.pid_reused = !rl.alive;
        }
        if (r.start_ticks != 0) rl.start_time = host::start_time(boot, r.start_ticks);
        out.push_back(std::move(rl));
    }
    return out;
}

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
        withhold_foreign(env, self_pid, obs);
        probe_masters(env, self_pid, obs);
        probe_openers(req, env, self_pid, obs);
        name_viewer(env, obs);
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
        obs.scan_error = scan.resource_error;
        if (scan.resource_error != 0)
            obs.evidence.push_back(fmt::format("the owner scan ran short of resources ({}): some "
                                               "processes were not looked at",
                                               errno_name(scan.resource_error)));
        if (!scan.ok)
            obs.evidence.push_back(fmt::format("{} could not be listed: {}", env.proc_root,
                                               errno_name(scan.error)));
    } else {
        obs.proc_ok = true;
    }

    withhold_foreign(env, self_pid, obs);
    probe_hidden(env, self_pid, obs);
    probe_masters(env, self_pid, obs);
    probe_openers(req, env, self_pid, obs);

    // Names for the uids the report may mention: socket owners and ourselves.
    std::vector<std::uint32_t> uids{obs.self.uid};
    for (const SocketEntry& s : obs.sockets) uids.push_back(s.uid);
    std::sort(uids.begin(), uids.end());
    uids.erase(std::unique(uids.begin(), uids.end()), uids.end());
    for (std::uint32_t uid : uids)
        obs.user_names.emplace_back(uid, host::user_name(env.passwd_path, uid));
    name_viewer(env, obs);

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
