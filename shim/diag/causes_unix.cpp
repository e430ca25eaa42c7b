// The AF_UNIX rules of DESIGN.md: who holds a unix path or abstract name, or
// why a socket file nobody listens on is stale. Pure: no I/O here.
#include "causes_unix.hpp"

#include "address.hpp"
#include "causes_common.hpp"
#include "causes_inherited.hpp"
#include "facts.hpp"
#include "identity.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <sys/socket.h>
#include <sys/stat.h>

namespace portshim {

namespace {

using namespace detail;

bool is_abstract(const Request& req) { return !req.unix_path.empty() && req.unix_path[0] == '@'; }

std::string held_as(const UnixSocket& s) {
    if (s.type == SOCK_DGRAM) return "is bound to";
    return s.state == tcp_state::listen ? "listens on" : "is bound to (not listening)";
}

std::string ss_unix(const Request& req, const Observation& obs) {
    return fmt::format("{}ss -xlp | grep -F -- {}", sudo(obs), shell_quote(req.unix_path));
}

Verdict rule_unix_holder(const Request& req, const Observation& obs, const UnixSocket& s,
                       const std::vector<const Holder*>& hs) {
    const Holder* mine = nullptr;
    for (const Holder* h : hs)
        if (h->pid == obs.self.pid) mine = h;
    const auto inh = mine != nullptr ? std::nullopt
                                     : inheritance_of(obs, s.inode, hs,
                                                      s.type != SOCK_DGRAM &&
                                                          s.state == tcp_state::listen);
    // The recorded opener, while it still holds the socket, is the one to name.
    const Holder* who = mine != nullptr                              ? mine
                        : inh && inh->opener_holder != nullptr ? inh->opener_holder
                                                               : principal(hs);
    const std::string path = req.unix_path;
    const bool inherited = inh && inh->inherited;
    const Sameness sameness = compare_with_self(*who, obs.self);
    const bool same = sameness == Sameness::same;
    if (inherited && !same) return rule_inherited(obs, *inh, hs, path, ss_unix(req, obs));
    Verdict v;
    add_holders(hs, who, v);
    if (inh) v.opener = inh->opener;
    if (mine != nullptr) {
        v.cause = Cause::self;
        v.summary = fmt::format("this process already {} {} (fd {})", held_as(s), path, mine->fd);
        v.why.push_back("the program binds the same unix address twice: usually the socket path "
                        "configured twice");
        v.fix = fmt::format("bind {} once and share fd {}, or give the second socket another "
                            "address",
                            path, mine->fd);
        v.confirm.push_back(fmt::format("ls -l /proc/{}/fd/{}", obs.self.pid, mine->fd));
        v.confirm.push_back(ss_unix(req, obs));
        return v;
    }
    const std::string program = program_of(*who);
    const std::string age = age_of(*who, obs.host);
    // A worker is not what to stop: its master (the service manager's process) forks another.
    const Holder& master = service_master(obs, *who);
    const int stop = master.pid;
    const std::string what =
        fmt::format("pid {} ({}{}{})", who->pid, program, age.empty() ? "" : ", " + age,
                    stop != who->pid ? fmt::format("; a worker of pid {}", stop) : std::string());
    if (same) {
        v.cause = Cause::previous_instance;
        v.summary = fmt::format("{} — another instance of this program — {} {}", what,
                                held_as(s), path);
        v.why.push_back(same_program_reason(*who));
        if (inherited) v.why.push_back(inherited_instance_reason(*inh, *who));
        v.fix = fmt::format("stop the old instance first (systemctl stop UNIT, or kill -TERM {} "
                            "and wait for it to exit), then start this one",
                            stop);
    } else {
        v.cause = Cause::other_service;
        v.summary = fmt::format("{} {} {}", what, held_as(s), path);
        v.why.push_back(program_difference(*who, obs.self, sameness, "address"));
        v.fix = fmt::format("give one of the two services another socket path, or stop pid {} "
                            "if it should not run here",
                            stop);
    }
    add_worker_reason(*who, master, hs, v);
    if (!is_abstract(req))
        v.why.push_back(fmt::format("do not remove {} while pid {} runs: it would go on "
                                    "listening on a socket nobody can reach",
                                    path, who->pid));
    v.confirm.push_back(ss_unix(req, obs));
    v.confirm.push_back(stop != who->pid
                            ? fmt::format("ps -o pid,ppid,lstart,args -p {},{}", stop, who->pid)
                            : fmt::format("ps -o pid,ppid,lstart,args -p {}", who->pid));
    return v;
}

Verdict rule_unix_hidden(const Request& req, const Observation& obs, const UnixSocket* s) {
    Verdict v;
    v.cause = Cause::hidden_owner;
    if (s == nullptr) {
        // The file accepts connections but no socket of this network namespace is bound to it.
        v.summary = fmt::format("a server accepts connections on {}, but no unix socket in this "
                                "network namespace is bound to it",
                                req.unix_path);
        v.why.push_back("its server runs in another network namespace (a container sharing this "
                        "directory) or the socket table could not be read");
        v.fix = fmt::format("find and stop that server, or use another socket path; "
                            "lsof {} may name it from the host",
                            shell_quote(req.unix_path));
        v.confirm.push_back(fmt::format("ls -l {}", shell_quote(req.unix_path)));
        return v;
    }
    v.summary = fmt::format("a unix socket of {} (inode {}) {} {}, but no process visible from "
                            "here holds it",
                            user_of(obs, s->uid), s->inode, held_as(*s), req.unix_path);
    if (const std::string withheld = withheld_reason(obs); !withheld.empty())
        v.why.push_back(withheld);
    else if (viewer_uid(obs) != 0)
        v.why.push_back(fmt::format("this process runs as {}, not root: the descriptors of other "
                                    "users' processes cannot be read",
                                    user_of(obs, viewer_uid(obs))));
    else
        v.why.push_back("this process runs as root and still no process holds the socket: its "
                        "owner lives in another PID namespace");
    v.fix = fmt::format("name the owner with: {} — then stop it or use another address",
                        ss_unix(req, obs));
    v.confirm.push_back(ss_unix(req, obs));
    return v;
}

Verdict rule_unix_stale(const Request& req, const Observation& obs) {
    const UnixPath& p = obs.unix_path;
    const std::string quoted = shell_quote(req.unix_path);
    Verdict v;
    v.cause = Cause::stale_unix_socket;
    const std::string age = p.mtime > 0 && obs.host.now > 0
                                ? fmt::format(", created {} ago", format_duration(obs.host.now - p.mtime))
                                : std::string();
    v.summary = fmt::format("{} is a stale socket file{}: nobody listens on it (connect was "
                            "refused)",
                            req.unix_path, age);
    v.why.push_back("a server bound this path and exited without unlink()ing it (killed, "
                    "crashed, or it never cleans up); bind() never reuses an existing file, so "
                    "every start fails until the file is removed");
    if (!obs.netlink_ok)
        v.why.push_back("the unix socket table could not be read: the refused connect alone "
                        "decided");
    v.fix = fmt::format("rm {} — safe: no socket listens on it; better, have the server unlink "
                        "the path before bind()",
                        quoted);
    v.confirm.push_back(ss_unix(req, obs));
    v.confirm.push_back(fmt::format("ls -l {}", quoted));
    return v;
}

Verdict rule_unix_unknown(const Request& req, const Observation& obs) {
    const UnixPath& p = obs.unix_path;
    const std::string quoted = shell_quote(req.unix_path);
    Verdict v;
    v.cause = Cause::unknown;
    v.confirm.push_back(ss_unix(req, obs));
    if (is_abstract(req) || !p.checked) {
        v.summary = obs.netlink_ok
                        ? fmt::format("no unix socket holds {} now: it was probably freed between "
                                      "the failure and the check",
                                      req.unix_path)
                        : fmt::format("the unix socket table could not be read, so the holder "
                                      "of {} is unknown",
                                      req.unix_path);
        v.fix = fmt::format("retry the bind; if it keeps failing, look with: {}", ss_unix(req, obs));
        return v;
    }
    v.confirm.push_back(fmt::format("ls -l {}", quoted));
    if (p.lstat_error == ENOENT) {
        v.summary = fmt::format("{} no longer exists: it was removed between the failure and "
                                "the check",
                                req.unix_path);
        v.fix = "retry the bind";
    } else if (p.lstat_error != 0) {
        v.summary = fmt::format("{} could not be examined: lstat failed with {}", req.unix_path,
                                errno_name(p.lstat_error));
        v.fix = fmt::format("check the path as the server's user: ls -l {}", quoted);
    } else if (p.file_type != S_IFSOCK) {
        // Only a socket file nobody listens on may be removed; anything else
        // here belongs to someone (EADDRINUSE is all a bind says about /etc/shadow).
        const char* kind = p.file_type == S_IFREG   ? "a regular file"
                           : p.file_type == S_IFDIR ? "a directory"
                           : p.file_type == S_IFLNK ? "a symbolic link"
                           : p.file_type == S_IFIFO ? "a FIFO"
                           : p.file_type == S_IFCHR || p.file_type == S_IFBLK
                               ? "a device file"
                               : "another kind of file";
        v.summary = fmt::format("{} exists and is {}, not a socket: it is no stale socket file",
                                req.unix_path, kind);
        v.why.push_back(p.file_type == S_IFLNK
                            ? "bind() creates the socket file itself and never replaces an "
                              "existing name, nor follows a symbolic link there, even a dangling one"
                            : "bind() creates the socket file itself and never replaces an "
                              "existing file");
        v.fix = fmt::format("configure another socket path for the server; {} is {} that is not "
                            "a socket left behind: do not remove it to make room",
                            quoted, kind);
    } else {
        v.summary = fmt::format("{} is a socket file, but whether anyone listens is unknown: "
                                "the test connect {}",
                                req.unix_path,
                                p.connect == UnixConnect::not_run
                                    ? std::string("was not run")
                                    : "failed with " + errno_name(p.connect_error));
        v.fix = fmt::format("do not remove it yet: find out whether a server listens on it ({}); "
                            "only a socket file nobody listens on is stale",
                            ss_unix(req, obs));
    }
    return v;
}

/**
 * The first rule that applies, in order: a socket this process holds; one
 * any visible process holds; one nobody visible holds; a socket file whose
 * connect was refused (stale) or accepted (a hidden listener); nothing known.
 * `keeping` lists the sockets that keep the address, listeners first.
 */
Verdict pick_unix_rule(const Request& req, const Observation& obs,
                       const std::vector<const UnixSocket*>& keeping) {
    for (const bool self_only : {true, false}) {
        for (const UnixSocket* s : keeping) {
            const auto hs = holders_of(obs, s->inode);
            const bool mine = std::any_of(hs.begin(), hs.end(),
                                          [&](const Holder* h) { return h->pid == obs.self.pid; });
            if (!hs.empty() && (mine || !self_only)) return rule_unix_holder(req, obs, *s, hs);
        }
    }
    if (!keeping.empty()) return rule_unix_hidden(req, obs, keeping.front());
    const UnixPath& p = obs.unix_path;
    const bool socket_file = p.checked && p.lstat_error == 0 && p.file_type == S_IFSOCK;
    if (!is_abstract(req) && socket_file && p.connect == UnixConnect::refused)
        return rule_unix_stale(req, obs);
    if (!is_abstract(req) && socket_file && p.connect == UnixConnect::accepted)
        return rule_unix_hidden(req, obs, nullptr);
    return rule_unix_unknown(req, obs);
}

/** The one pass after the pick: what the probes saw, and the connections that do not block. */
void add_unix_evidence(const Request& req, const Observation& obs, Verdict& v) {
    for (const std::string& e : obs.evidence) v.evidence.push_back(e);
    const auto connections = std::count_if(obs.unix_sockets.begin(), obs.unix_sockets.end(),
                                           [](const UnixSocket& s) { return !unix_holds_address(s); });
    if (connections > 0)
        v.evidence.push_back(fmt::format("{} accepted connection(s) still refer to {}; they do "
                                         "not block a new bind and survive an unlink",
                                         connections, req.unix_path));
    if (!obs.proc_ok) v.evidence.push_back("could not scan /proc for socket owners");
    else if (obs.pids_unreadable > 0)
        v.evidence.push_back(fmt::format("{} process(es) of other users could not be inspected",
                                         obs.pids_unreadable));
}

} // namespace

Verdict diagnose_unix(const Request& req, const Observation& obs) {
    std::vector<const UnixSocket*> keeping;
    for (const UnixSocket& s : obs.unix_sockets)
        if (unix_holds_address(s) && (req.inode == 0 || s.inode != req.inode)) keeping.push_back(&s);
    std::stable_sort(keeping.begin(), keeping.end(), [](const UnixSocket* a, const UnixSocket* b) {
        return (a->state == tcp_state::listen) > (b->state == tcp_state::listen);
    });
    Verdict v = pick_unix_rule(req, obs, keeping);
    add_unix_evidence(req, obs, v);
    return v;
}

} // namespace portshim
