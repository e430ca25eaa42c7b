// The cause rules of DESIGN.md: which socket blocks the wanted address, who
// holds it, and why. Pure: reads a Request and an Observation, returns a Verdict.
#include "causes.hpp"

#include "address.hpp"
#include "causes_common.hpp"
#include "causes_inherited.hpp"
#include "causes_unix.hpp"
#include "common/escape.hpp"
#include "containers.hpp"
#include "facts.hpp"
#include "host.hpp"
#include "identity.hpp"

#include <algorithm>
#include <cerrno>
#include <fmt/format.h>
#include <iterator>
#include <sys/socket.h>

namespace portshim {

namespace {

using namespace detail;

std::string describe_state(const SocketEntry& s) {
    if (s.proto == Proto::udp) return "is bound to";
    switch (s.state) {
    case tcp_state::listen: return "listens on";
    case tcp_state::bound_inactive:
    case tcp_state::close: return "is bound to (not listening)";
    case tcp_state::established: return "has a connection from";
    case tcp_state::syn_sent: return "is connecting from";
    case tcp_state::close_wait: return "has a half-closed connection from";
    default: return "holds";
    }
}

bool is_remnant(const SocketEntry& s) { return !is_live_state(s); }

/** Sockets on the port that conflict with the wanted address, without our own. */
std::vector<const SocketEntry*> blocking_sockets(const Request& req, const Observation& obs) {
    std::vector<const SocketEntry*> out;
    const bool want_udp = req.proto == Proto::udp;
    for (const SocketEntry& s : obs.sockets) {
        if ((s.proto == Proto::udp) != want_udp) continue;
        if (s.local.port != req.local.port) continue;
        if (req.inode != 0 && s.inode == req.inode) continue;
        if (!addresses_overlap(s.local, s.v6only, req.local, req.v6only)) continue;
        if (req.call == Call::listen && s.proto == Proto::tcp && s.state != tcp_state::listen)
            continue; // listen() only conflicts with other listeners (inet_csk_get_port)
        out.push_back(&s);
    }
    // Listeners first, then bound sockets and connections, then remnants.
    auto rank = [](const SocketEntry* s) {
        if (s->proto == Proto::udp || s->state == tcp_state::listen) return 0;
        if (is_live_state(*s)) return 1;
        return 2;
    };
    std::stable_sort(out.begin(), out.end(),
                     [&](const SocketEntry* a, const SocketEntry* b) { return rank(a) < rank(b); });
    return out;
}

std::string ss_listeners(const Request& req, const Observation& obs) {
    return fmt::format("{}ss -{}lnp 'sport = :{}'", sudo(obs),
                       req.proto == Proto::udp ? "ua" : "t", req.local.port);
}

std::string ss_all(const Request& req, const Observation& obs) {
    return fmt::format("{}ss -{}anp 'sport = :{}'", sudo(obs), req.proto == Proto::udp ? "u" : "t",
                       req.local.port);
}

/** "[::]:8080 (dual-stack)" — the held socket as the operator would see it in ss. */
std::string held_endpoint(const SocketEntry& s) {
    std::string out = format_endpoint(s.local);
    if (s.local.family == AF_INET6 && is_wildcard(s.local) && s.v6only == 0)
        out += " (dual-stack)";
    return out;
}

void add_overlap_reason(const Request& req, const SocketEntry& s, Verdict& v) {
    std::string reason = overlap_reason(s.local, s.v6only, req.local, req.v6only);
    if (!reason.empty()) v.why.push_back(std::move(reason) + ".");
}

/** Evidence lines common to every verdict: what the probes saw. */
void add_probe_evidence(const Request& req, const Observation& obs,
                        const std::vector<const SocketEntry*>& blocking, Verdict& v) {
    for (const std::string& e : obs.evidence) v.evidence.push_back(e);
    if (req.proto != Proto::tcp && req.proto != Proto::udp) return;
    int listening = 0, live = 0, remnants = 0;
    for (const SocketEntry* s : blocking) {
        if (s->proto == Proto::udp || s->state == tcp_state::listen) ++listening;
        else if (is_live_state(*s)) ++live;
        else ++remnants;
    }
    v.evidence.push_back(fmt::format(
        "{}: port {}/{} has {} listening or bound, {} connected and {} closing socket(s) "
        "overlapping {}",
        obs.netlink_ok ? "sock_diag" : (obs.procnet_used ? "/proc/net" : "socket table"),
        req.local.port, proto_name(req.proto), listening, live, remnants,
        format_address(req.local)));
    if (!obs.proc_ok) v.evidence.push_back("could not scan /proc for socket owners");
    else if (const std::string withheld = withheld_reason(obs); !withheld.empty() && v.cause != Cause::hidden_owner)
        v.evidence.push_back(withheld);
    else if (obs.pids_unreadable > 0)
        v.evidence.push_back(fmt::format(
            "{} process(es) of other users could not be inspected (their /proc/PID/fd is "
            "unreadable without root)",
            obs.pids_unreadable));
}

// ---- outbound connections, container forwarders, well-known services, sharing rules ----

const char* state_name(const SocketEntry& s) {
    if (s.proto == Proto::udp) return s.state == tcp_state::established ? "connected" : "unconnected";
    static constexpr const char* names[] = {"?", "ESTABLISHED", "SYN_SENT", "SYN_RECV",
                                            "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE",
                                            "CLOSE_WAIT", "LAST_ACK", "LISTEN", "CLOSING",
                                            "NEW_SYN_RECV", "BOUND_INACTIVE"};
    return s.state < std::size(names) ? names[s.state] : "?";
}

/** A live connection: a connected TCP state, or a connect()ed UDP socket. */
bool is_connection(const SocketEntry& s) {
    if (s.proto == Proto::udp) return s.state == tcp_state::established;
    return is_live_state(s) && s.state != tcp_state::listen &&
           s.state != tcp_state::bound_inactive && s.state != tcp_state::close;
}

/**
 * Whether a server socket is on the port at all (a TCP listener, an unconnected UDP
 * socket): an accepted connection shares its listener's port, an outbound one does not.
 */
bool port_has_server(const Request& req, const Observation& obs) {
    const bool want_udp = req.proto == Proto::udp;
    for (const SocketEntry& s : obs.sockets) {
        if ((s.proto == Proto::udp) != want_udp || s.local.port != req.local.port) continue;
        if (req.inode != 0 && s.inode == req.inode) continue;
        if (want_udp ? s.state != tcp_state::established : s.state == tcp_state::listen)
            return true;
    }
    return false;
}

std::string trimmed(std::string_view text) {
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\t'))
        text.remove_suffix(1);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    return std::string(text);
}

Verdict rule_outbound(const Request& req, const Observation& obs, const SocketEntry& s,
                      const std::vector<const Holder*>& hs) {
    Verdict v;
    v.cause = Cause::outbound_collision;
    const Holder* who = principal(hs);
    add_holders(hs, who, v);
    const int port = req.local.port;
    v.summary = fmt::format("pid {} ({}) has an outgoing {} connection {} -> {} ({}) whose local "
                            "port is {}; nothing listens there",
                            who->pid, program_of(*who), proto_name(s.proto),
                            format_endpoint(s.local), format_endpoint(s.remote), state_name(s),
                            port);
    const HostFacts& host = obs.host;
    const bool range_known = host.port_range_low > 0 && host.port_range_high >= host.port_range_low;
    const bool in_range =
        range_known && host.port_range_low <= port && port <= host.port_range_high;
    const bool reserved = host::port_in_list(host.reserved_ports, port);
    const std::string range =
        fmt::format("net.ipv4.ip_local_port_range ({}-{})", host.port_range_low,
                    host.port_range_high);
    if (!range_known)
        v.why.push_back("net.ipv4.ip_local_port_range could not be read, so it is unknown whether "
                        "the kernel picked this port for the connection");
    else if (in_range && !reserved)
        v.why.push_back(fmt::format(
            "port {} lies inside {}: the kernel picked it as the connection's ephemeral local "
            "port, and any outgoing connection may get it again while it is free",
            port, range));
    else
        v.why.push_back(fmt::format(
            "port {} {}, so the kernel did not assign it by itself: the program bound it before "
            "connect(), or the connection was accepted by a listener that has since closed",
            port,
            in_range ? "is listed in net.ipv4.ip_local_reserved_ports"
                     : fmt::format("lies outside {}", range)));
    v.why.push_back("a plain bind() conflicts with every socket on the port, outgoing "
                    "connections included, not only with listeners");
    if (!range_known || (in_range && !reserved)) {
        const std::string current = trimmed(host.reserved_ports);
        const std::string list =
            current.empty() ? std::to_string(port) : fmt::format("{},{}", current, port);
        v.fix = fmt::format(
            "reserve the port for the server: sysctl -w net.ipv4.ip_local_reserved_ports={} "
            "(persist it in /etc/sysctl.d/); this only stops the kernel from assigning it to new "
            "outgoing connections — the existing connection keeps it until it closes, so close "
            "it (or restart pid {}) before starting the server",
            list, who->pid);
    } else {
        v.fix = fmt::format("close the connection (or restart pid {}) and configure that "
                            "program not to use local port {}; or move the server to another port",
                            who->pid, port);
    }
    v.confirm.push_back(ss_all(req, obs));
    v.confirm.push_back("sysctl net.ipv4.ip_local_port_range net.ipv4.ip_local_reserved_ports");
    return v;
}

Verdict rule_container(const Request& req, const Observation& obs, const SocketEntry& s,
                       const std::vector<const Holder*>& hs, const Holder* who, Runtime runtime) {
    Verdict v;
    v.cause = Cause::container_proxy;
    add_holders(hs, who, v);
    const int port = req.local.port;
    const char* name = runtime_name(runtime);
    const std::string mapping = published_mapping(*who);
    v.summary = fmt::format("pid {} ({}) — {}'s forwarder for a published container port{} — {} {}",
                            who->pid, program_of(*who), name,
                            mapping.empty() ? "" : ": " + mapping, describe_state(s),
                            held_endpoint(s));
    v.why.push_back(fmt::format(
        "a container publishes host port {} (docker run -p / podman run -p / compose ports:) and "
        "the runtime holds it on the container's behalf: stopping {} alone does not free it for "
        "long, the runtime restarts it with the container",
        port, who->comm.empty() ? program_of(*who) : who->comm));
    add_overlap_reason(req, s, v);
    // Each runtime's own listing, filtered by the published port, names the container.
    std::string find, stop;
    switch (runtime) {
    case Runtime::docker:
        find = fmt::format("docker ps --filter publish={}", port);
        stop = "docker stop NAME";
        break;
    case Runtime::podman:
        find = fmt::format("podman port -a | grep ':{}'", port);
        stop = "podman stop NAME, as the user running it when rootless";
        break;
    case Runtime::containerd:
    case Runtime::none:
        find = "nerdctl ps";
        stop = "nerdctl stop NAME, or change a Kubernetes pod's hostPort";
        break;
    }
    v.fix = fmt::format("find the container with: {} — then stop it ({}) or publish it on another "
                        "host port (-p OTHER:CONTAINER_PORT); or move this service to another port",
                        find, stop);
    v.confirm.push_back(find);
    v.confirm.push_back(ss_listeners(req, obs));
    v.confirm.push_back(fmt::format("ps -o pid,ppid,lstart,args -p {}", who->pid));
    return v;
}

/** Hints for services that commonly hold well-known ports. */
void add_service_hint(const Request& req, const Holder& who, Verdict& v) {
    const std::string_view exe = program_name(who.exe);
    auto is = [&](std::string_view name) {
        // comm is cut to 15 characters ("systemd-resolve").
        return exe == name || (!who.comm.empty() && name.substr(0, 15) == who.comm);
    };
    const int port = req.local.port;
    if (is("systemd-resolved") && port == 53) {
        v.why.push_back("systemd-resolved's DNS stub listener holds 127.0.0.53:53 (and "
                        "127.0.0.54:53) so that local programs reach the system resolver");
        v.fix = "to run a DNS server on port 53, set DNSStubListener=no in "
                "/etc/systemd/resolved.conf (or a drop-in in /etc/systemd/resolved.conf.d/), run "
                "systemctl restart systemd-resolved and point /etc/resolv.conf at the new server; "
                "or bind the server to a specific address instead of the wildcard";
    } else if (is("dnsmasq") && (port == 53 || port == 67)) {
        v.why.push_back("dnsmasq (often started by libvirt for a virtual network, or by "
                        "NetworkManager) serves DNS/DHCP here");
        v.fix = "bind the new server to specific addresses and restrict dnsmasq with "
                "bind-interfaces and listen-address= (or interface=) in its configuration; or stop "
                "that dnsmasq instance";
    } else if (is("avahi-daemon") && port == 5353) {
        v.why.push_back("avahi-daemon answers mDNS on 5353/udp and sets SO_REUSEADDR so that "
                        "other mDNS responders can share the port");
        v.fix = "set SO_REUSEADDR on this socket before bind to share 5353 with avahi, or stop it "
                "(systemctl disable --now avahi-daemon.socket avahi-daemon.service)";
    } else if (is("cupsd") && port == 631) {
        v.why.push_back("cupsd (CUPS printing) listens on 631 for IPP");
        v.fix = "change Listen/Port in /etc/cups/cupsd.conf, or stop CUPS (systemctl disable --now "
                "cups.socket cups.service)";
    } else if (is("systemd")) {
        v.why.push_back("systemd holds the port for a socket unit (socket activation) and starts "
                        "the service on the first connection");
        v.fix = fmt::format("find the unit with: systemctl list-sockets | grep ':{}' — then "
                            "systemctl disable --now UNIT.socket, or move one of the two services",
                            port);
        v.confirm.push_back(fmt::format("systemctl list-sockets | grep ':{}'", port));
    }
}

/**
 * SO_REUSEADDR/SO_REUSEPORT in words for the named socket. Only what is certain: the
 * other socket's flags are invisible to sock_diag, but a conflict proves some of them.
 */
void add_sharing_reasons(const Request& req, const Observation& obs, const SocketEntry& s,
                         Verdict& v) {
    if (!is_live_state(s)) return;
    const std::string held = held_endpoint(s);
    const std::string wanted = format_endpoint(req.local);
    if (req.proto == Proto::udp) {
        v.why.push_back(fmt::format(
            "UDP rule: {} blocks {} unless both sockets set SO_REUSEADDR before bind (or both "
            "SO_REUSEPORT under the same user); unlike TCP, UDP then lets both bind, even to the "
            "same address",
            held, wanted));
        if (req.reuseaddr == 1)
            v.why.push_back("this socket set SO_REUSEADDR, so the socket holding the port did not");
        else if (req.reuseaddr == 0)
            v.why.push_back("this socket did not set SO_REUSEADDR; setting it helps only if the "
                            "holder set it too");
    } else if (req.call == Call::bind && req.reuseaddr == 1 && s.state == tcp_state::listen) {
        v.why.push_back(fmt::format(
            "{} SO_REUSEADDR, but for TCP that never passes an overlapping listener; it only "
            "passes remnants and sockets that do not listen",
            req.reuseaddr_injected ? "portshim set (PORTSHIM_REUSEADDR=1)" : "this socket set"));
    }
    if (req.reuseport == 1) {
        if (s.uid != obs.self.uid)
            v.why.push_back(fmt::format("SO_REUSEPORT sharing needs the same effective uid: the "
                                        "holder's socket belongs to {}, this process runs as {}",
                                        user_of(obs, s.uid), user_of(obs, obs.self.uid)));
        else
            v.why.push_back("this socket set SO_REUSEPORT under the same uid as the holder, so "
                            "the other socket did not set SO_REUSEPORT (both must, before bind)");
    }
}

Verdict rule_self(const Request& req, const Observation& obs, const SocketEntry& s,
                  const std::vector<const Holder*>& hs) {
    Verdict v;
    v.cause = Cause::self;
    const Holder* mine = nullptr;
    for (const Holder* h : hs)
        if (h->pid == obs.self.pid) mine = h;
    add_holders(hs, mine, v);
    const int fd = mine != nullptr ? mine->fd : -1;
    const bool dual_stack = s.local.family != req.local.family;
    if (req.call == Call::listen) {
        v.summary = fmt::format("this process already listens on {} (fd {}); both sockets set "
                                "SO_REUSEADDR, so both could bind, but only one may listen",
                                held_endpoint(s), fd);
        v.fix = fmt::format("listen on one socket per address: close fd {} or the new socket, "
                            "or give them different addresses",
                            fd);
    } else if (dual_stack) {
        v.summary = fmt::format("this process already holds {} on fd {}, which overlaps {}",
                                held_endpoint(s), fd, format_endpoint(req.local));
        add_overlap_reason(req, s, v);
        v.fix = "set IPV6_V6ONLY=1 on the IPv6 socket before bind "
                "(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one)), or bind only "
                "[::] and let that one socket serve IPv4 and IPv6";
    } else {
        v.summary = fmt::format("this process already holds {} on fd {}{}", held_endpoint(s), fd,
                                s.state == tcp_state::listen || s.proto == Proto::udp
                                    ? ""
                                    : " (bound, not listening)");
        add_overlap_reason(req, s, v);
        v.why.push_back("the program binds the same port twice: usually a listen address "
                        "configured twice, or a wildcard plus a specific address");
        v.fix = fmt::format("remove the duplicate listen address from the configuration, or "
                            "bind once and share fd {}",
                            fd);
    }
    v.confirm.push_back(fmt::format("ls -l /proc/{}/fd/{}", obs.self.pid, fd));
    v.confirm.push_back(ss_listeners(req, obs));
    return v;
}

Verdict rule_holder(const Request& req, const Observation& obs, const SocketEntry& s,
                    const std::vector<const Holder*>& hs, const Holder* who) {
    Verdict v;
    add_holders(hs, who, v);
    // previous-instance only when the program is established on both sides (identity.hpp).
    const Sameness same = compare_with_self(*who, obs.self);
    const std::string age = age_of(*who, obs.host);
    const std::string age_part = age.empty() ? "" : ", " + age;
    // A worker is not what to stop: its master (the service manager's process) forks another.
    const Holder& master = service_master(obs, *who);
    const int stop = master.pid;
    const std::string what =
        fmt::format("pid {} ({}{}{})", who->pid, program_of(*who), age_part,
                    stop != who->pid ? fmt::format("; a worker of pid {}", stop) : std::string());
    if (same == Sameness::same) {
        v.cause = Cause::previous_instance;
        v.summary = fmt::format("{} — another instance of this program — {} {}", what,
                                describe_state(s), held_endpoint(s));
        v.why.push_back(same_program_reason(*who));
        if (is_deleted(who->exe))
            v.why.push_back("its executable has been replaced or removed since it started "
                            "(\"(deleted)\"): an old version is still running");
        v.fix = fmt::format(
            "stop the old instance first (systemctl stop UNIT, or kill -TERM {} and wait for it "
            "to exit), then start this one; if restarts race, make them wait for pid {} to exit",
            stop, stop);
    } else {
        v.cause = Cause::other_service;
        v.summary = fmt::format("{} {} {}", what, describe_state(s), held_endpoint(s));
        v.why.push_back(program_difference(*who, obs.self, same, "port"));
        v.fix = same == Sameness::unknown
                    ? fmt::format("if pid {} is an old instance of this program, stop it first "
                                  "(kill -TERM {} and wait for it to exit); otherwise move one of "
                                  "the two services to another port",
                                  stop, stop)
                    : fmt::format("move one of the two services to another port, or stop pid {} "
                                  "if it should not run here",
                                  stop);
    }
    add_worker_reason(*who, master, hs, v);
    add_overlap_reason(req, s, v);
    if (s.proto == Proto::tcp && s.state != tcp_state::listen && is_live_state(s))
        v.why.push_back("it holds the port with a connection or a bound socket, not a listener; "
                        "a plain bind() conflicts with any socket on the port");
    if (hs.size() > 1)
        v.why.push_back(fmt::format("{} processes share this socket (inherited across fork): {}",
                                    hs.size(), [&] {
                                        std::string pids;
                                        for (const Holder* h : hs)
                                            pids += (pids.empty() ? "" : ", ") +
                                                    std::to_string(h->pid);
                                        return pids;
                                    }()));
    v.confirm.push_back(ss_listeners(req, obs));
    v.confirm.push_back(stop != who->pid
                            ? fmt::format("ps -o pid,ppid,lstart,args -p {},{}", stop, who->pid)
                            : fmt::format("ps -o pid,ppid,lstart,args -p {}", who->pid));
    return v;
}

/** The cgroup observe() found for the socket; nullptr when unknown. */
const CgroupFacts* cgroup_of(const Observation& obs, const SocketEntry& s) {
    if (s.cgroup_id == 0) return nullptr;
    for (const CgroupFacts& c : obs.cgroups)
        if (c.id == s.cgroup_id && !c.path.empty()) return &c;
    return nullptr;
}

/**
 * Adds the cgroup line and the command that names its unit or container;
 * returns the words for the fix ("; it runs in the systemd unit nginx.service").
 */
std::string add_cgroup(const CgroupFacts& c, Verdict& v) {
    // The names come from cgroup directories, which their owners name at will:
    // each is one quoted argument, after "--" or "=" so it cannot be an option.
    const std::string short_id =
        c.container_id.substr(0, escape::utf8_prefix(c.container_id.data(), c.container_id.size(), 12));
    std::string owner, command;
    switch (c.kind) {
    case CgroupKind::container:
        owner = fmt::format("{} container {}", c.engine.empty() ? "a" : c.engine, short_id);
        if (c.engine == "docker" || c.engine == "podman")
            command = fmt::format("{} ps --filter {}", c.engine, shell_quote("id=" + short_id));
        else if (c.engine == "containerd" || c.engine == "cri-o")
            command = fmt::format("crictl ps {}", shell_quote("--id=" + short_id));
        break;
    case CgroupKind::unit:
        owner = fmt::format("the systemd {}unit {}", c.user_unit ? "user " : "", c.name);
        command = fmt::format("systemctl {}status -- {}", c.user_unit ? "--user " : "",
                              shell_quote(c.name));
        break;
    case CgroupKind::scope:
        owner = fmt::format("the systemd scope {}", c.name);
        command = fmt::format("systemctl status -- {}", shell_quote(c.name));
        break;
    case CgroupKind::none:
        break;
    }
    if (owner.empty()) {
        v.why.push_back(c.path == "/"
                            ? std::string("the socket was created in the root cgroup (/), outside "
                                          "any systemd unit or container visible from here")
                            : fmt::format("the socket was created in cgroup {}", c.path));
        return {};
    }
    v.why.push_back(fmt::format("the socket was created in cgroup {}: {}{}", c.path, owner,
                                c.kind == CgroupKind::scope
                                    ? " (a login session, systemd-run --scope, or a container "
                                      "engine's own scope)"
                                    : ""));
    if (!command.empty()) v.confirm.push_back(command);
    return fmt::format("; it runs in {}", owner);
}

Verdict rule_hidden(const Request& req, const Observation& obs, const SocketEntry& s) {
    Verdict v;
    v.cause = Cause::hidden_owner;
    v.summary = fmt::format("a {} socket of {} (inode {}) {} {}, but no process visible from here "
                            "holds it",
                            proto_name(s.proto), user_of(obs, s.uid), s.inode, describe_state(s),
                            held_endpoint(s));
    // Not root and the socket is another user's, or some fd tables were
    // unreadable: permissions hide the owner. Otherwise every process in sight
    // was read, so the owner is out of sight: in another PID namespace.
    const std::uint32_t viewer = viewer_uid(obs);
    const bool not_root = viewer != 0 && (s.uid != viewer || obs.pids_unreadable + obs.pids_withheld > 0);
    const std::string ss = ss_listeners(req, obs);
    std::string fix;
    if (!obs.proc_ok || obs.scan_error != 0) {
        // The search itself failed: say so rather than guess where the owner hides.
        v.why.push_back(!obs.proc_ok
                            ? std::string("the processes could not be searched for the owner: /proc "
                                          "is not readable here (a chroot or a sandbox without it)")
                            : fmt::format("the search for the owner ran out of {} ({}), so some "
                                          "processes were not looked at",
                                          obs.scan_error == ENOMEM ? "memory" : "file descriptors",
                                          errno_name(obs.scan_error)));
        fix = fmt::format("name the owner from a shell that sees the host's processes: {} — then "
                          "stop it or move one of the services",
                          ss);
    } else if (const std::string withheld = withheld_reason(obs); !withheld.empty()) {
        v.why.push_back(withheld);
        fix = fmt::format("name the owner with: {} — then stop it or move one of the services", ss);
    } else if (not_root) {
        v.why.push_back(fmt::format(
            "this process runs as {}, not root: the descriptors of other users' processes "
            "cannot be read, so their sockets show no owner{}",
            user_of(obs, viewer),
            obs.pids_unreadable > 0 ? fmt::format(" ({} processes were unreadable)",
                                                  obs.pids_unreadable)
                                    : std::string()));
        fix = fmt::format("name the owner with: {} — then stop it or move one of the services", ss);
    } else if (obs.self.uid == 0 && obs.self.init_pid_ns == 1) {
        v.why.push_back("this process runs as root in the host's PID namespace and no process "
                        "holds the socket: the kernel itself owns it (nfsd, lockd, a tunnel), or "
                        "it is in flight in a unix-socket message");
        fix = fmt::format("look at the kernel services on the port with: {} (no process column "
                          "means a kernel socket), then stop that service or move one of the "
                          "two",
                          ss_all(req, obs));
    } else {
        v.why.push_back(fmt::format(
            "this process runs as {} and every process visible from here was read, yet none holds "
            "the socket: its owner lives in another PID namespace (a container sharing this "
            "network namespace, or the host seen from a container)",
            obs.self.uid == 0 ? std::string("root") : user_of(obs, obs.self.uid)));
        // ss -p only names processes in its own PID namespace: run it from the host's.
        const std::string host_ss = fmt::format("ss -{}lnp 'sport = :{}'",
                                                req.proto == Proto::udp ? "ua" : "t",
                                                req.local.port);
        fix = fmt::format("name the owner where its process is visible: on the host, sudo {} "
                          "when the host shares this network namespace, else sudo nsenter -t PID "
                          "-n {} with PID = this program's pid as the host numbers it — then "
                          "stop it or move one of the services",
                          host_ss, host_ss);
    }
    add_overlap_reason(req, s, v);
    v.confirm.push_back(ss);
    if (const CgroupFacts* c = cgroup_of(obs, s)) fix += add_cgroup(*c, v);
    v.fix = std::move(fix);
    return v;
}

Verdict rule_time_wait(const Request& req, const Observation& obs,
                       const std::vector<const SocketEntry*>& remnants) {
    Verdict v;
    v.cause = Cause::time_wait;
    std::uint32_t last_ms = 0;
    int time_wait = 0;
    for (const SocketEntry* s : remnants) {
        last_ms = std::max(last_ms, s->expires_ms);
        if (s->state == tcp_state::time_wait) ++time_wait;
    }
    const long secs = static_cast<long>((last_ms + 999) / 1000); // round up: never promise too early
    const std::string when = last_ms > 0 ? fmt::format("the last expires in {} s", secs)
                                         : "they expire within about 60 s";
    v.summary = fmt::format("{} old connection{} on port {} remain{} in {} and no process listens "
                            "there; {}",
                            remnants.size(), remnants.size() == 1 ? "" : "s", req.local.port,
                            remnants.size() == 1 ? "s" : "",
                            time_wait == static_cast<int>(remnants.size()) ? "TIME_WAIT"
                                                                           : "TIME_WAIT/closing states",
                            when);
    const SocketEntry& first = *remnants.front();
    v.why.push_back(fmt::format(
        "connections of a previous instance (e.g. {} -> {}) are parked after close so stray "
        "packets die out; a bind() conflicts with them unless both sides set SO_REUSEADDR",
        format_endpoint(first.local), format_endpoint(first.remote)));
    const bool ours = req.reuseaddr == 1;
    switch (obs.reuse_probe) {
    case ReuseProbe::binds:
        v.why.push_back("the old listener set SO_REUSEADDR (its remnants carry the flag), but "
                        "this socket did not");
        v.fix = "set SO_REUSEADDR on the listening socket before bind "
                "(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)), or without a "
                "rebuild run it with PORTSHIM_REUSEADDR=1 (portshim-run --reuseaddr); the bind "
                "then succeeds at once";
        break;
    case ReuseProbe::blocked:
        if (req.reuseaddr_injected)
            v.why.push_back("portshim set SO_REUSEADDR on this socket (PORTSHIM_REUSEADDR=1), but "
                            "the previous instance ran without it: Linux copies the listener's "
                            "flag into its TIME_WAIT remnants, so they block until they expire; "
                            "the next restart, with both instances under PORTSHIM_REUSEADDR=1, "
                            "binds at once");
        else
            v.why.push_back(
                ours ? "this socket set SO_REUSEADDR, but the previous instance did not: Linux "
                       "copies the listener's flag into its TIME_WAIT remnants, so they block "
                       "until they expire"
                     : "neither side set SO_REUSEADDR: the remnants keep the flag of the listener "
                       "that created them, so setting it now helps only from the next restart");
        v.fix = req.reuseaddr_injected
                    ? fmt::format("wait {} s; keep PORTSHIM_REUSEADDR=1 so the next restart is "
                                  "immediate",
                                  last_ms > 0 ? secs : 60)
                    : fmt::format("wait {} s; set SO_REUSEADDR on the listening socket before "
                                  "bind (without a rebuild: PORTSHIM_REUSEADDR=1) so the next "
                                  "restart is immediate",
                                  last_ms > 0 ? secs : 60);
        break;
    case ReuseProbe::not_run:
    case ReuseProbe::failed:
        v.why.push_back(ours ? "this socket set SO_REUSEADDR, so the previous instance's listener "
                               "did not (Linux copies the listener's flag into its remnants)"
                             : "this socket did not set SO_REUSEADDR");
        v.fix = fmt::format("wait {} s; set SO_REUSEADDR before bind in the server so restarts "
                            "are immediate",
                            last_ms > 0 ? secs : 60);
        break;
    }
    v.confirm.push_back(
        fmt::format("ss -tan state time-wait '( sport = :{} )'", req.local.port));
    return v;
}

/** What an unknown verdict rests on: which tables were read, how much was found, what failed. */
void add_checked(const Request& req, const Observation& obs, Verdict& v) {
    const char* proto = proto_name(req.proto);
    std::string table;
    if (obs.netlink_ok)
        table = fmt::format("sock_diag {} IPv4+IPv6 on port {}: {} socket(s)", proto,
                            req.local.port, obs.sockets.size());
    else if (obs.procnet_used)
        table = fmt::format("/proc/net/{0} and /proc/net/{0}6 on port {1}: {2} socket(s) (sock_diag "
                            "failed)",
                            proto, req.local.port, obs.sockets.size());
    else
        table = fmt::format("sock_diag and /proc/net/{} on port {}: both failed", proto,
                            req.local.port);
    std::string owners;
    if (!obs.proc_ok)
        owners = "/proc: could not be listed";
    else if (obs.pids_scanned > 0)
        owners = fmt::format("/proc: {} processes scanned, {} unreadable, {} holder(s) found",
                             obs.pids_scanned, obs.pids_unreadable, obs.holders.size());
    else
        owners = "/proc: not scanned (no socket to find an owner for)";
    v.evidence.push_back(fmt::format("checked: {}; {}", table, owners));
}

Verdict rule_unknown(const Request& req, const Observation& obs) {
    Verdict v;
    v.cause = Cause::unknown;
    if (!obs.netlink_ok && !obs.procnet_used)
        v.summary = fmt::format("the socket table could not be read, so the owner of port {} is "
                                "unknown",
                                req.local.port);
    else
        v.summary = fmt::format("no socket on port {} overlaps {} now: it was probably freed "
                                "between the failure and the check",
                                req.local.port, format_endpoint(req.local));
    v.fix = fmt::format("retry the bind; if it keeps failing, look with: {}", ss_all(req, obs));
    v.confirm.push_back(ss_all(req, obs));
    add_checked(req, obs, v);
    return v;
}

Verdict rule_visible(const Request& req, const Observation& obs, const SocketEntry& s,
                     const std::vector<const Holder*>& hs) {
    // An accepted connection shares its listener's port; with no server there it went out.
    if (is_connection(s) && !port_has_server(req, obs)) return rule_outbound(req, obs, s, hs);
    const auto inh = inheritance_of(obs, s.inode, hs,
                                    s.proto == Proto::tcp && s.state == tcp_state::listen);
    // The recorded opener, while it still holds the socket, is the one to name.
    const Holder* who = inh && inh->opener_holder != nullptr ? inh->opener_holder : principal(hs);
    // A master that opened the socket and forked its worker with it handed it over by design.
    const bool inherited = inh && inh->inherited &&
                           !(inh->record != nullptr && inh->opener.alive &&
                             inh->opener.pid == service_master(obs, *who).pid &&
                             inh->opener.pid != who->pid);
    Verdict v;
    if (inherited && !same_program(who->exe, who->argv, obs.self.exe, obs.self.argv)) {
        v = rule_inherited(obs, *inh, hs, held_endpoint(s), ss_listeners(req, obs));
        add_overlap_reason(req, s, v);
    } else if (const Runtime runtime = container_runtime(*who); runtime != Runtime::none) {
        v = rule_container(req, obs, s, hs, who, runtime);
    } else {
        v = rule_holder(req, obs, s, hs, who);
        if (v.cause == Cause::other_service) add_service_hint(req, *who, v);
        // A child running this same program kept the socket: still the previous instance.
        if (inherited) v.why.push_back(inherited_instance_reason(*inh, *who));
    }
    if (inh) v.opener = inh->opener;
    return v;
}

/**
 * The first rule that applies, in order: this very process holds an
 * overlapping socket; a live socket with a visible holder; a live socket
 * nobody visible holds; only remnants of closed connections; nothing.
 * `named` is the live socket the verdict names (nullptr for the last two).
 */
Verdict pick_rule(const Request& req, const Observation& obs,
                  const std::vector<const SocketEntry*>& blocking, const SocketEntry*& named) {
    for (const SocketEntry* s : blocking) {
        const auto hs = holders_of(obs, s->inode);
        if (std::any_of(hs.begin(), hs.end(), [&](const Holder* h) { return h->pid == obs.self.pid; })) {
            named = s;
            return rule_self(req, obs, *s, hs);
        }
    }
    for (const SocketEntry* s : blocking) {
        if (!is_live_state(*s)) continue;
        const auto hs = holders_of(obs, s->inode);
        if (hs.empty()) continue;
        named = s;
        return rule_visible(req, obs, *s, hs);
    }
    for (const SocketEntry* s : blocking) {
        if (!is_live_state(*s)) continue;
        named = s;
        return rule_hidden(req, obs, *s);
    }
    std::vector<const SocketEntry*> remnants;
    for (const SocketEntry* s : blocking)
        if (is_remnant(*s)) remnants.push_back(s);
    if (!remnants.empty()) return rule_time_wait(req, obs, remnants);
    return rule_unknown(req, obs);
}

/** Secondary findings: the other live blocking sockets than the one the verdict names. */
void add_other_sockets(const Observation& obs, const std::vector<const SocketEntry*>& blocking,
                       Verdict& v) {
    for (const SocketEntry* s : blocking) {
        if (!is_live_state(*s)) continue;
        const auto hs = holders_of(obs, s->inode);
        const Holder* who = principal(hs);
        const bool named = std::any_of(v.holders.begin(), v.holders.end(),
                                       [&](const Holder& h) { return h.inode == s->inode; });
        if (named || (v.cause == Cause::hidden_owner && who == nullptr)) continue;
        v.evidence.push_back(fmt::format("also {} {}: {}", describe_state(*s), held_endpoint(*s),
                                         who != nullptr ? fmt::format("pid {} ({})", who->pid,
                                                                      program_of(*who))
                                                        : fmt::format("inode {} of {}", s->inode,
                                                                      user_of(obs, s->uid))));
    }
}

// Beyond this many other holders, the fix lists only their pids.
constexpr std::size_t max_other_fixes = 8;

/**
 * Every holder counts, not only the one the verdict names: a bind succeeds only once all of
 * them let go. Each other live blocking socket held by a process not yet among the verdict's
 * holders gets its own rule; its holders join the list (after the named ones), the summary
 * counts them and the fix says what to do about each.
 */
void add_other_holders(const Request& req, const Observation& obs,
                       const std::vector<const SocketEntry*>& blocking, Verdict& v) {
    std::vector<int> pids;
    for (const Holder& h : v.holders) pids.push_back(h.pid);
    const auto known = [&](int pid) { return std::find(pids.begin(), pids.end(), pid) != pids.end(); };
    const auto join = [](const std::vector<int>& list, const char* sep) {
        std::string out;
        for (const int pid : list) out += (out.empty() ? "" : sep) + std::to_string(pid);
        return out;
    };
    std::vector<std::string> others;
    std::vector<int> added, unlisted;
    for (const SocketEntry* s : blocking) {
        if (!is_live_state(*s)) continue;
        const auto hs = holders_of(obs, s->inode);
        if (std::all_of(hs.begin(), hs.end(), [&](const Holder* h) { return known(h->pid); }))
            continue;  // nobody visible, or processes the verdict already names
        const Verdict other = rule_visible(req, obs, *s, hs);
        // Only processes not named yet join, once each (a socket shared with a named one too).
        std::vector<int> fresh;
        for (const Holder& h : other.holders) {
            if (known(h.pid)) continue;
            pids.push_back(h.pid);
            fresh.push_back(h.pid);
            v.holders.push_back(h);
        }
        if (fresh.empty()) continue;
        added.insert(added.end(), fresh.begin(), fresh.end());
        if (others.size() >= max_other_fixes) {
            unlisted.insert(unlisted.end(), fresh.begin(), fresh.end());
        } else if (fresh.front() == other.holders.front().pid) {
            // The rule's own words are about the process it names first, a new one.
            others.push_back(fmt::format("{} ({}): {}", cause_id(other.cause), other.summary, other.fix));
        } else {
            // The rule names a process already accounted for; say what the new ones hold.
            others.push_back(fmt::format("pid {} share{} the socket of pid {}: stop {} too (kill -TERM {})",
                                         join(fresh, ", "), fresh.size() == 1 ? "s" : "",
                                         other.holders.front().pid, fresh.size() == 1 ? "it" : "them",
                                         join(fresh, " ")));
        }
    }
    if (added.empty()) return;
    const std::size_t count = added.size();
    v.summary += fmt::format("; {} more process{} hold{} the port too", count,
                             count == 1 ? "" : "es", count == 1 ? "s" : "");
    for (const std::string& o : others) v.fix += "; the port is also held — " + o;
    if (!unlisted.empty())
        v.fix += fmt::format("; and by pid {} (see {})", join(unlisted, ", "), ss_listeners(req, obs));
}

/** The one pass after the pick: sharing rules in words, what the probes saw, the other sockets. */
void add_evidence(const Request& req, const Observation& obs,
                  const std::vector<const SocketEntry*>& blocking, const SocketEntry* named,
                  Verdict& v) {
    if (named != nullptr) add_sharing_reasons(req, obs, *named, v);
    add_probe_evidence(req, obs, blocking, v);
    add_other_sockets(obs, blocking, v);
    if (named != nullptr) add_other_holders(req, obs, blocking, v);
}

} // namespace

Verdict diagnose(const Request& req, const Observation& obs) {
    if (req.proto == Proto::unix_stream || req.proto == Proto::unix_dgram)
        return diagnose_unix(req, obs);
    const std::vector<const SocketEntry*> blocking = blocking_sockets(req, obs);
    const SocketEntry* named = nullptr;
    Verdict v = pick_rule(req, obs, blocking, named);
    add_evidence(req, obs, blocking, named, v);
    return v;
}

std::uint32_t time_wait_left_ms(const Request& req, const Observation& obs) {
    std::uint32_t last = 0;
    for (const SocketEntry& s : obs.sockets)
        if (s.proto == Proto::tcp && s.state == tcp_state::time_wait &&
            s.local.port == req.local.port &&
            addresses_overlap(s.local, s.v6only, req.local, req.v6only))
            last = std::max(last, s.expires_ms);
    return last;
}

} // namespace portshim
