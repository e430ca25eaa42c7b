// The cause rules of DESIGN.md: which socket blocks the wanted address, who
// holds it, and why. Pure: reads a Request and an Observation, returns a Verdict.
#include "causes.hpp"

#include "address.hpp"

#include <algorithm>
#include <fmt/format.h>
#include <sys/socket.h>

namespace portshim {

namespace {

constexpr std::string_view deleted_suffix = " (deleted)";

std::string_view strip_deleted(std::string_view exe) {
    if (exe.size() > deleted_suffix.size() &&
        exe.substr(exe.size() - deleted_suffix.size()) == deleted_suffix)
        exe.remove_suffix(deleted_suffix.size());
    return exe;
}

bool is_deleted(std::string_view exe) { return strip_deleted(exe).size() != exe.size(); }

std::string_view base_name(std::string_view path) {
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

/** Interpreters whose identity is the script they run, not their own binary. */
bool is_interpreter(std::string_view exe) {
    const std::string_view name = base_name(strip_deleted(exe));
    static constexpr std::string_view prefixes[] = {"python", "perl", "ruby", "node", "java",
                                                    "php", "bash", "dash", "sh", "lua",
                                                    "tclsh", "busybox"};
    for (std::string_view p : prefixes) {
        if (name.substr(0, p.size()) != p) continue;
        const std::string_view rest = name.substr(p.size());
        // python3, python3.11, php8.2, nodejs: digits, dots or "js" may follow.
        if (rest.empty() || rest == "js" ||
            rest.find_first_not_of("0123456789.") == std::string_view::npos)
            return true;
    }
    return false;
}

/** The script or module an interpreter runs: "app.py", "-m http.server", "-jar x.jar". */
std::string script_of(const std::vector<std::string>& argv) {
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if ((a == "-m" || a == "-jar" || a == "-c" || a == "-e") && i + 1 < argv.size())
            return a + " " + argv[i + 1];
        if (!a.empty() && a[0] == '-') continue;
        return a;
    }
    return {};
}

bool same_script(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return a == b;
    if (a == b) return true;
    // Relative script paths depend on each process's cwd; compare the file names.
    if (a[0] != '/' || b[0] != '/') return base_name(a) == base_name(b);
    return false;
}

std::string quote_args(const std::vector<std::string>& argv) {
    std::string out;
    for (const std::string& a : argv) {
        if (!out.empty()) out += ' ';
        out += a;
        if (out.size() > 200) {
            out.resize(200);
            out += "…";
            break;
        }
    }
    return out;
}

std::string program_of(const Holder& h) {
    if (!h.exe.empty()) return h.exe;
    if (!h.comm.empty()) return h.comm;
    return "unknown program";
}

std::string age_of(const Holder& h, const HostFacts& host) {
    if (h.start_time <= 0 || host.now <= 0) return {};
    return fmt::format("started {} ago", format_duration(std::max(0.0, host.now - h.start_time)));
}

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

std::vector<const Holder*> holders_of(const Observation& obs, std::uint64_t inode) {
    std::vector<const Holder*> out;
    if (inode == 0) return out;
    for (const Holder& h : obs.holders)
        if (h.inode == inode) out.push_back(&h);
    return out;
}

/**
 * The holder to name: a process whose parent does not hold the socket too
 * (the master of a prefork server, not a worker), the oldest of those.
 */
const Holder* principal(const std::vector<const Holder*>& hs) {
    const Holder* best = nullptr;
    for (const Holder* h : hs) {
        const bool parent_holds = std::any_of(hs.begin(), hs.end(), [&](const Holder* o) {
            return o->pid == h->ppid && o->pid != h->pid;
        });
        if (parent_holds) continue;
        if (best == nullptr || (h->start_ticks != 0 && h->start_ticks < best->start_ticks))
            best = h;
    }
    return best != nullptr ? best : (hs.empty() ? nullptr : hs.front());
}

std::string user_of(const Observation& obs, std::uint32_t uid) {
    for (const auto& [id, name] : obs.user_names)
        if (id == uid && !name.empty()) return fmt::format("{} (uid {})", name, uid);
    return fmt::format("uid {}", uid);
}

std::string sudo(const Observation& obs) { return obs.self.uid == 0 ? "" : "sudo "; }

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

void add_holders(const std::vector<const Holder*>& hs, const Holder* first, Verdict& v) {
    if (first != nullptr) v.holders.push_back(*first);
    for (const Holder* h : hs)
        if (h != first) v.holders.push_back(*h);
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
    else if (obs.pids_unreadable > 0)
        v.evidence.push_back(fmt::format(
            "{} process(es) of other users could not be inspected (their /proc/PID/fd is "
            "unreadable without root)",
            obs.pids_unreadable));
}

Verdict rule_self(const Request& req, const Observation& obs, const SocketEntry& s,
                  const std::vector<const Holder*>& hs) {
    Verdict v;
    v.cause = "self";
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
                    const std::vector<const Holder*>& hs) {
    Verdict v;
    const Holder* who = principal(hs);
    add_holders(hs, who, v);
    const bool same = same_program(who->exe, who->argv, obs.self.exe, obs.self.argv);
    const std::string age = age_of(*who, obs.host);
    const std::string age_part = age.empty() ? "" : ", " + age;
    const std::string what = fmt::format("pid {} ({}{})", who->pid, program_of(*who), age_part);
    if (same) {
        v.cause = "previous-instance";
        v.summary = fmt::format("{} — another instance of this program — {} {}", what,
                                describe_state(s), held_endpoint(s));
        if (is_deleted(who->exe))
            v.why.push_back("its executable has been replaced or removed since it started "
                            "(\"(deleted)\"): an old version is still running");
        v.fix = fmt::format(
            "stop the old instance first (systemctl stop UNIT, or kill -TERM {} and wait for it "
            "to exit), then start this one; if restarts race, make them wait for pid {} to exit",
            who->pid, who->pid);
    } else {
        v.cause = "other-service";
        v.summary = fmt::format("{} {} {}", what, describe_state(s), held_endpoint(s));
        v.why.push_back(fmt::format("a different program holds the port: {}",
                                    who->argv.empty() ? program_of(*who) : quote_args(who->argv)));
        v.fix = fmt::format("move one of the two services to another port, or stop pid {} if it "
                            "should not run here",
                            who->pid);
    }
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
    v.confirm.push_back(fmt::format("ps -o pid,ppid,lstart,args -p {}", who->pid));
    return v;
}

Verdict rule_hidden(const Request& req, const Observation& obs, const SocketEntry& s) {
    Verdict v;
    v.cause = "hidden-owner";
    v.summary = fmt::format("a {} socket of {} (inode {}) {} {}, but no process visible from here "
                            "holds it",
                            proto_name(s.proto), user_of(obs, s.uid), s.inode, describe_state(s),
                            held_endpoint(s));
    if (obs.self.uid != 0) {
        v.why.push_back(fmt::format(
            "this process runs as {}, not root: the descriptors of other users' processes "
            "cannot be read, so their sockets show no owner{}",
            user_of(obs, obs.self.uid),
            obs.pids_unreadable > 0 ? fmt::format(" ({} processes were unreadable)",
                                                  obs.pids_unreadable)
                                    : std::string()));
    } else {
        v.why.push_back("this process runs as root and still no process holds the socket: its "
                        "owner lives in another PID namespace (a container sharing this network "
                        "namespace, or the host seen from a container)");
    }
    add_overlap_reason(req, s, v);
    v.fix = fmt::format("name the owner with: {} — then stop it or move one of the services",
                        ss_listeners(req, obs));
    v.confirm.push_back(ss_listeners(req, obs));
    return v;
}

Verdict rule_time_wait(const Request& req, const Observation& obs,
                       const std::vector<const SocketEntry*>& remnants) {
    Verdict v;
    v.cause = "time-wait";
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
                "(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)); the bind then "
                "succeeds at once";
        break;
    case ReuseProbe::blocked:
        v.why.push_back(
            ours ? "this socket set SO_REUSEADDR, but the previous instance did not: Linux copies "
                   "the listener's flag into its TIME_WAIT remnants, so they block until they "
                   "expire"
                 : "neither side set SO_REUSEADDR: the remnants keep the flag of the listener "
                   "that created them, so setting it now helps only from the next restart");
        v.fix = fmt::format("wait {} s; set SO_REUSEADDR on the listening socket before bind so "
                            "the next restart is immediate",
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

Verdict rule_unknown(const Request& req, const Observation& obs) {
    Verdict v;
    v.cause = "unknown";
    if (req.proto == Proto::unix_stream || req.proto == Proto::unix_dgram) {
        v.summary = fmt::format("the unix socket path {} is taken; portshim does not diagnose "
                                "unix sockets yet",
                                req.unix_path);
        v.fix = "if no server is running there, the path is a stale socket file: remove it "
                "before starting the server";
        v.confirm.push_back(fmt::format("{}ss -xlp | grep -F '{}'", sudo(obs), req.unix_path));
        return v;
    }
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
    return v;
}

} // namespace

bool is_live_state(const SocketEntry& s) {
    if (s.proto == Proto::udp) return true;
    if (s.state == tcp_state::time_wait) return false;
    // Orphaned sockets (FIN_WAIT2 after close, LAST_ACK...) have no inode: no process holds them.
    return s.inode != 0;
}

bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b) {
    if (exe_a.empty() || exe_b.empty()) {
        // Unreadable exe: fall back to argv[0]'s file name.
        if (argv_a.empty() || argv_b.empty()) return false;
        return base_name(argv_a[0]) == base_name(argv_b[0]);
    }
    if (strip_deleted(exe_a) != strip_deleted(exe_b)) return false;
    if (!is_interpreter(exe_a)) return true;
    return same_script(script_of(argv_a), script_of(argv_b));
}

std::string format_duration(double seconds) {
    if (!(seconds >= 0)) seconds = 0;
    // No libm: the library must need libc alone at run time.
    const long s = static_cast<long>(seconds + 0.5);
    if (s < 120) return fmt::format("{} s", s);
    if (s < 3600) return fmt::format("{} min", s / 60);
    if (s < 48 * 3600) {
        if (s % 3600 / 60 == 0) return fmt::format("{} h", s / 3600);
        return fmt::format("{} h {} min", s / 3600, s % 3600 / 60);
    }
    return fmt::format("{} days", s / 86400);
}

Verdict diagnose(const Request& req, const Observation& obs) {
    const std::vector<const SocketEntry*> blocking = blocking_sockets(req, obs);
    Verdict v;
    bool decided = false;

    // 1. This very process holds an overlapping socket.
    for (const SocketEntry* s : blocking) {
        const auto hs = holders_of(obs, s->inode);
        if (std::any_of(hs.begin(), hs.end(),
                        [&](const Holder* h) { return h->pid == obs.self.pid; })) {
            v = rule_self(req, obs, *s, hs);
            decided = true;
            break;
        }
    }
    // 2. A live socket with a visible holder; 3. a live socket nobody visible holds.
    if (!decided) {
        const SocketEntry* hidden = nullptr;
        for (const SocketEntry* s : blocking) {
            if (!is_live_state(*s)) continue;
            const auto hs = holders_of(obs, s->inode);
            if (!hs.empty()) {
                v = rule_holder(req, obs, *s, hs);
                decided = true;
                break;
            }
            if (hidden == nullptr) hidden = s;
        }
        if (!decided && hidden != nullptr) {
            v = rule_hidden(req, obs, *hidden);
            decided = true;
        }
    }
    // 4. Only remnants of closed connections.
    if (!decided) {
        std::vector<const SocketEntry*> remnants;
        for (const SocketEntry* s : blocking)
            if (is_remnant(*s)) remnants.push_back(s);
        if (!remnants.empty()) {
            v = rule_time_wait(req, obs, remnants);
            decided = true;
        }
    }
    if (!decided) v = rule_unknown(req, obs);

    add_probe_evidence(req, obs, blocking, v);
    // Secondary findings: other blocking sockets than the one named.
    for (const SocketEntry* s : blocking) {
        if (!is_live_state(*s)) continue;
        const auto hs = holders_of(obs, s->inode);
        const Holder* who = principal(hs);
        const bool named = std::any_of(v.holders.begin(), v.holders.end(),
                                       [&](const Holder& h) { return h.inode == s->inode; });
        if (named || (v.cause == "hidden-owner" && who == nullptr)) continue;
        v.evidence.push_back(fmt::format("also {} {}: {}", describe_state(*s), held_endpoint(*s),
                                         who != nullptr ? fmt::format("pid {} ({})", who->pid,
                                                                      program_of(*who))
                                                        : fmt::format("inode {} of {}", s->inode,
                                                                      user_of(obs, s->uid))));
    }
    return v;
}

} // namespace portshim
