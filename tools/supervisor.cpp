// portshim-supervise's supervisor: one notification at a time, performs the
// call where that is exact, and reports EADDRINUSE for the supervised program
// with the engine's rules, renderers and sinks (docs/supervisor.md 3 and 6).
#include "supervisor.hpp"
#include "supervisor_policy.hpp"

#include "supervisor_exec.hpp"
#include "supervisor_stderr.hpp"
#include "supervisor_wait.hpp"

#include "common/config.hpp"
#include "common/engine_api.hpp"
#include "common/inet_address.hpp"
#include "common/line_buffer.hpp"
#include "common/markup.hpp"
#include "common/rate_limit.hpp"
#include "common/registry_record.hpp"
#include "common/sink.hpp"
#include "diag/cause.hpp"
#include "diag/causes.hpp"
#include "diag/host.hpp"
#include "diag/observe.hpp"
#include "diag/owners.hpp"
#include "diag/report.hpp"
#include "diag/request.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <unordered_set>
#include <vector>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
// include/uapi/linux/seccomp.h, Linux 6.6: wake the supervisor on the caller's CPU.
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL // include/uapi/linux/pidfd.h, Linux 6.9
#endif

namespace portshim::supervisor {

namespace {

/** An fd closed at the end of its scope. */
struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    /** Hands the fd over: it is no longer closed here. */
    int release() {
        const int f = fd;
        fd = -1;
        return f;
    }
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

/**
 * Read once at start: the configuration and the identity of fd 2, which is the
 * program's stderr at exec (then fd 2 is /dev/null here: supervisor_stderr.hpp).
 */
struct State {
    Config config;
    StderrIdentity stderr_identity;
    Policy policy;
    /**
     * PORTSHIM_REUSEADDR: the sockets (by inode: a choice is the socket's, whoever
     * shares it) on which a supervised program called setsockopt(SO_REUSEADDR)
     * and has not bound since. The call itself runs in the program (CONTINUE), so
     * a refused one counts as a choice too. Bounded: past 4096 entries (sockets
     * that chose and never bound) it starts afresh.
     */
    std::unordered_set<unsigned long long> reuseaddr_chosen;
    /** exec-leak: the listening sockets (inodes) already warned about; bounded as above. */
    std::unordered_set<unsigned long long> exec_warned;
    /**
     * A performed listen whose registry record is written after the answer (so the
     * program does not wait for the file I/O): our copy of the socket, which keeps
     * it alive until then, the program's fd number and the calling thread; -1 none.
     */
    int record_sfd = -1;
    int record_program_fd = -1;
    int record_tid = 0;
};

/** The number after "\nNAME:" in a /proc status text; -1 when absent. */
long status_field(const std::string& status, const char* name) {
    const std::string key = std::string("\n") + name + ":";
    const auto at = status.find(key);
    return at == std::string::npos ? -1 : std::atol(status.c_str() + at + key.size());
}

/** "Tgid:" of /proc/TID/status: the process a thread belongs to; 0 when gone. */
int tgid_of(int tid) {
    const long tgid = status_field(read_small_file("/proc/" + std::to_string(tid) + "/status"), "Tgid");
    return tgid > 0 ? static_cast<int>(tgid) : 0;
}

/** A pidfd for the calling thread; before Linux 6.9 (no PIDFD_THREAD), for its process. */
int pidfd_for(int tid) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, tid, PIDFD_THREAD));
    if (fd >= 0 || errno != EINVAL) return fd;
    const int tgid = tgid_of(tid);
    return tgid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)) : -1;
}

/** Events written while this lives name `pid` (prefixes, JSON pid/exe, syslog's tag), not us. */
struct Subject {
    explicit Subject(int pid) { set_subject_pid(pid); }
    ~Subject() { set_subject_pid(0); }
    Subject(const Subject&) = delete;
    Subject& operator=(const Subject&) = delete;
};

/**
 * The diagnosis and report of one EADDRINUSE, for the program `tgid`, as the
 * engine writes it (portshim_engine_report): the rate limit per program and
 * address (the first report in full, then one summary line per 10 s), and
 * with PORTSHIM_WAIT a `waiting` line when the cause clears by itself.
 * It goes to the program's fd 2 of now (`pidfd`: the caller's). Returns whether
 * PORTSHIM_WAIT applies (the caller then retries the bind).
 */
bool report(const State& state, int pidfd, int sfd, int program_fd, int tgid, int call, const sockaddr_storage* ss,
            socklen_t len, const char* observed, bool reuseaddr_injected) {
    const auto* addr = reinterpret_cast<const sockaddr*>(ss);
    rate_limit::Ticket ticket = rate_limit::check(call == 1, sfd, addr, len, tgid);
    if (!ticket.report) return ticket.retry; // a repeat within 10 s: counted, summarised later
    const Subject subject(tgid);
    const ProgramStderr program_stderr(pidfd);
    bool retry = false;
    char cause[sizeof ticket.cause] = {};
    try {
        Failure f;
        f.call = call;
        f.fd = sfd;
        f.err = EADDRINUSE;
        f.addr = addr;
        f.addr_len = len;
        f.config = &state.config;
        f.stderr_identity = &state.stderr_identity;
        char cwd[PATH_MAX];
        const ssize_t n = ::readlink(("/proc/" + std::to_string(tgid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
        Request req;
        if (!describe_request(f, req, std::string_view(cwd, n > 0 ? static_cast<std::size_t>(n) : 0))) {
            rate_limit::done(ticket, "", false);
            return false;
        }
        req.fd = program_fd; // the text names the program's descriptor, not our copy
        req.reuseaddr_injected = reuseaddr_injected;
        ProbeEnv env;
        env.bind_fn = ::bind;
        env.state_dir = state.config.state_dir;
        env.self_pid = tgid;
        Observation obs = observe(req, env);
        Holder program;
        if (owners::read_process("/proc", tgid, program)) obs.self.uid = program.uid;
        const Verdict verdict = diagnose(req, obs);
        ReportContext ctx{tgid, obs.self.exe, obs.host.now > 0 ? obs.host.now : host::wall_clock(),
                          markup::use_colour(state.config, sink::stderr_is_terminal(&state.stderr_identity))};
        ctx.observed = observed;
        const bool same_cause = ticket.repeats > 0 && cause_from_id(ticket.cause) == verdict.cause;
        const int repeats = ticket.repeats + 1; // the skipped ones and this one
        std::string out = same_cause ? render_repeated(state.config.format, req, verdict, repeats, ctx)
                                     : render(state.config.format, req, verdict, ctx);
        const std::string_view id = cause_id(verdict.cause);
        std::snprintf(cause, sizeof cause, "%.*s", static_cast<int>(id.size()), id.data());
        // Only a performed bind can be retried: a predicted one is the kernel's, in the program.
        const bool performed = observed == std::string_view("supervisor");
        JournalView view = journal_view(req, verdict, ctx, same_cause ? repeats : 0);
        if (performed && state.config.wait_seconds > 0 && req.call == Call::bind &&
            clears_by_itself(verdict.cause)) {
            retry = true;
            const unsigned wait = state.config.wait_seconds; // all of it is left: the wait starts
            out += render_waiting(state.config.format, req, verdict,
                                  WaitTimes{wait, wait, time_wait_left_ms(req, obs)}, ctx);
            view.add("PORTSHIM_WAIT_SECONDS", std::to_string(wait));
        }
        const journal::Fields fields = view.as_fields();
        sink::write_event(state.config, Level::error, out.data(), out.size(), &state.stderr_identity,
                          sink::Origin::own_failure, &fields);
    } catch (...) {
        // Out of memory or a bug in the diagnosis: the report is lost, the program's call is not.
    }
    rate_limit::done(ticket, cause, retry);
    return retry;
}

/** "/proc/PID/ns/net"'s inode: the netns the program's sockets are made in; 0 unknown. */
unsigned long long netns_of(int pid) {
    struct stat st;
    return ::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 ? st.st_ino : 0;
}

/**
 * After a performed listen succeeded: the registry record the preload writes
 * for its own listens (pid and start time of the program, its exe, netns and
 * uid), so that inherited-fd can name the program after it died and a child
 * still holds the socket. Unlike the hooks (which write it before a fork or
 * exec), the supervisor does not see those: it writes the record right after
 * answering the listen, so the program does not wait for the file I/O.
 */
void record_listen(const State& state, int sfd, int program_fd, int tid) {
    listeners::ListenFd lf;
    struct stat st;
    lf.fd = program_fd;
    lf.addr_len = sizeof lf.addr;
    if (::fstat(sfd, &st) != 0 || !socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, lf.family) ||
        !socket_int_option(sfd, SOL_SOCKET, SO_TYPE, lf.type) ||
        ::getsockname(sfd, reinterpret_cast<sockaddr*>(&lf.addr), &lf.addr_len) != 0)
        return;
    lf.inode = st.st_ino;
    // "Uid:" lists real, effective, saved, fs: the second is the one the hooks record.
    const std::string status = read_small_file("/proc/" + std::to_string(tid) + "/status");
    const long tgid = status_field(status, "Tgid");
    const auto uid_at = status.find("\nUid:");
    if (tgid <= 0 || uid_at == std::string::npos) return;
    char* end = nullptr;
    (void)std::strtoul(status.c_str() + uid_at + 5, &end, 10);
    registry::RecordSubject subject;
    subject.uid = static_cast<unsigned>(std::strtoul(end, nullptr, 10));
    subject.netns = netns_of(static_cast<int>(tgid));
    subject.identity = &state.stderr_identity;
    const Subject named(static_cast<int>(tgid));
    // A refused state directory is told on the program's stderr (once per supervisor).
    const Fd pidfd(pidfd_for(tid));
    const ProgramStderr program_stderr(pidfd.fd);
    registry::write_record(state.config, lf, static_cast<int>(tgid), subject);
}

/** The registry record of the listen answered last, if one is due (State::record_sfd). */
void record_pending(State& state) {
    if (state.record_sfd < 0) return;
    // The program was woken on our CPU (SYNC_WAKE_UP): let it run on before the file I/O.
    (void)::sched_yield();
    record_listen(state, state.record_sfd, state.record_program_fd, state.record_tid);
    ::close(state.record_sfd);
    state.record_sfd = -1;
}

/** st_ino of `fd`; 0 unknown. */
unsigned long long inode_of(int fd) {
    struct stat st;
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/**
 * PORTSHIM_REUSEADDR=1, as the hooks decide (inject_reuseaddr in
 * shim/preload/socket_options.cpp): SO_REUSEADDR on an IPv4/IPv6 TCP socket
 * about to bind, unless the program set SO_REUSEADDR itself (either value).
 * Set on our copy, which is the program's open file description. Returns
 * whether it was set.
 */
bool inject_reuseaddr(const State& state, int sfd, const sockaddr_storage& ss, socklen_t len) {
    if (!state.config.reuseaddr || len < sizeof(sa_family_t)) return false;
    int domain = 0, type = 0, current = 0;
    InetAddress parsed;
    if (!socket_int_option(sfd, SOL_SOCKET, SO_DOMAIN, domain) ||
        !parse_inet_address(domain, reinterpret_cast<const sockaddr*>(&ss), len, parsed) ||
        !socket_int_option(sfd, SOL_SOCKET, SO_TYPE, type) || type != SOCK_STREAM ||
        !socket_int_option(sfd, SOL_SOCKET, SO_REUSEADDR, current) || current != 0)
        return false;
    if (state.reuseaddr_chosen.count(inode_of(sfd)) != 0) return false;
    const int one = 1;
    return ::setsockopt(sfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
}

/** Fills `resp` for one notification: performed (val/error) or CONTINUE. */
void handle(State& state, int nfd, seccomp_notif& req, seccomp_notif_resp& resp) {
    std::memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; // whatever goes wrong: the kernel decides
    if (req.data.nr == __NR_landlock_restrict_self) {
        state.policy.landlock_restricted = true; // from now on a task's domain may differ from ours
        return;
    }
    const bool is_bind = req.data.nr == __NR_bind;
    // Rules that are off compare with a placeholder number a program may still pass
    // (syscall(-1)): anything but the calls handled here runs as the kernel decides.
    if (!is_bind && req.data.nr != __NR_listen && req.data.nr != __NR_setsockopt &&
        req.data.nr != __NR_execve && req.data.nr != __NR_execveat)
        return;
    const int program_fd = static_cast<int>(req.data.args[0]);
    const int tid = static_cast<int>(req.pid);
    const Fd pidfd(pidfd_for(tid));
    if (req.data.nr == __NR_execve || req.data.nr == __NR_execveat) { // CONTINUE after a look at the fds
        const int tgid = pidfd.fd >= 0 ? tgid_of(tid) : 0;
        if (state.exec_warned.size() >= 4096) state.exec_warned.clear();
        if (tgid > 0) report_exec_leak(state.config, &state.stderr_identity, req, tgid, pidfd.fd, state.exec_warned);
        return;
    }
    Fd sfd(pidfd.fd >= 0 ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.fd, program_fd, 0)) : -1);
    if (sfd.fd < 0) return;
    if (req.data.nr == __NR_setsockopt) { // only SOL_SOCKET, SO_REUSEADDR (install_filter)
        if (state.reuseaddr_chosen.size() >= 4096) state.reuseaddr_chosen.clear();
        state.reuseaddr_chosen.insert(inode_of(sfd.fd));
        return; // CONTINUE: the program's own call
    }

    sockaddr_storage ss{};
    socklen_t len = 0;
    if (is_bind) {
        // Longer than a sockaddr_storage: the kernel refuses it (EINVAL) whoever calls.
        const auto asked = req.data.args[2];
        if (asked > sizeof ss) return;
        len = static_cast<socklen_t>(asked);
        iovec local{&ss, len};
        iovec remote{reinterpret_cast<void*>(req.data.args[1]), len};
        if (::process_vm_readv(tid, &local, 1, &remote, 1, 0) != static_cast<ssize_t>(len)) return;
    }
    // Before the decision: the kernel sees the flag whoever makes the call.
    const bool injected = is_bind && inject_reuseaddr(state, sfd.fd, ss, len);
    const Action action = is_bind ? decide_bind(state.policy, sfd.fd, tid, ss, len)
                                  : decide_listen(state.policy, sfd.fd, tid);
    if (action != Action::perform) {
        // CONTINUE: the kernel runs the call in the program. A predicted failure is
        // reported first, as a performed one would be.
        if (action == Action::predict && predict_in_use(state.policy, sfd.fd, tid, is_bind ? &ss : nullptr, len)) {
            const int tgid = tgid_of(tid);
            if (tgid > 0)
                (void)in_socket_netns(state.policy, sfd.fd, tid, [&] {
                    (void)report(state, pidfd.fd, sfd.fd, program_fd, tgid, is_bind ? 0 : 1, is_bind ? &ss : nullptr,
                                 len,
                                 "supervisor-predicted", injected);
                });
        }
        return;
    }
    // The fd and the address were read while the task waited; it may have died since,
    // and its pid been reused: seccomp_unotify(2), SECCOMP_IOCTL_NOTIF_ID_VALID.
    if (::ioctl(nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) != 0) return;
    int rc = is_bind ? ::bind(sfd.fd, reinterpret_cast<const sockaddr*>(&ss), len)
                     : ::listen(sfd.fd, static_cast<int>(req.data.args[1]));
    int err = rc == 0 ? 0 : errno;
    // The report is for the process; /proc/TID/status is read only now (it costs a
    // few tens of µs, which every successful bind would pay).
    if (err == EADDRINUSE) {
        const int tgid = tgid_of(tid);
        // A root program may have moved to a netns of its own: the probes look there.
        bool reported = false;
        if (tgid > 0)
            in_socket_netns(state.policy, sfd.fd, tid, [&] {
                reported = report(state, pidfd.fd, sfd.fd, program_fd, tgid, is_bind ? 0 : 1,
                                  is_bind ? &ss : nullptr, len,
                                  "supervisor", injected);
            });
        if (reported && is_bind) {
            // PORTSHIM_WAIT: the program waits in its bind while we retry (supervisor_wait.hpp).
            rc = retry_bind(nfd, req.id, tid, sfd.fd, reinterpret_cast<const sockaddr*>(&ss), len,
                            state.config.wait_seconds);
            err = rc == 0 ? 0 : EADDRINUSE; // what the program sees: success or the original error
        }
    }
    if (rc == 0 && is_bind && !state.reuseaddr_chosen.empty()) state.reuseaddr_chosen.erase(inode_of(sfd.fd));
    if (rc == 0 && !is_bind && state.config.state_dir[0] != '\0') {
        state.record_sfd = sfd.release(); // recorded once the program has its answer
        state.record_program_fd = program_fd;
        state.record_tid = tid;
    }
    resp.flags = 0;
    resp.val = rc;
    resp.error = rc == 0 ? 0 : -err;
}

const char* from_environment(const char* name) { return std::getenv(name); }

} // namespace

int serve(int nfd) {
    State state;
    ConfigErrors errors; // the preload reports them in dynamic programs; defaults here
    state.config = parse_config(from_environment, false, errors);
    struct stat st;
    state.stderr_identity.open = ::fstat(2, &st) == 0;
    state.stderr_identity.dev = st.st_dev;
    state.stderr_identity.ino = st.st_ino;
    state.stderr_identity.recorded = true;
    park_stderr(); // a captured stderr reaches EOF when the program is done, not when we are
    state.policy = Policy::read();

    // The caller blocks until we answer: a wake-up on its CPU beats a cross-CPU one
    // (6.6; older kernels: EINVAL, harmless).
    (void)::ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    seccomp_notif_sizes sizes{};
    if (::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) return 1;
    // The kernel's structs may be larger than ours (newer kernels): buffers of its sizes.
    std::vector<unsigned char> req_buf(std::max<std::size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
    std::vector<unsigned char> resp_buf(
        std::max<std::size_t>(sizes.seccomp_notif_resp, sizeof(seccomp_notif_resp)));
    auto& req = *reinterpret_cast<seccomp_notif*>(req_buf.data());
    auto& resp = *reinterpret_cast<seccomp_notif_resp*>(resp_buf.data());
    for (;;) {
        pollfd p{nfd, POLLIN, 0};
        if (::poll(&p, 1, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (p.revents & POLLIN) {
            std::fill(req_buf.begin(), req_buf.end(), 0);
            if (::ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, &req) != 0) continue; // ENOENT: the caller is gone
            handle(state, nfd, req, resp);
            (void)::ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, &resp); // ENOENT: it died meanwhile
            record_pending(state);
        } else if (p.revents & (POLLHUP | POLLERR)) {
            return 0; // the last task using the filter has been reaped
        }
    }
}

} // namespace portshim::supervisor
