// portshim-supervise's supervisor: one notification at a time, performs the
// call where that is exact, and reports EADDRINUSE for the supervised program
// with the engine's rules, renderers and sinks (docs/supervisor.md 3 and 6).
#include "supervisor.hpp"
#include "supervisor_policy.hpp"

#include "common/config.hpp"
#include "common/engine_api.hpp"
#include "common/markup.hpp"
#include "common/sink.hpp"
#include "diag/causes.hpp"
#include "diag/host.hpp"
#include "diag/observe.hpp"
#include "diag/owners.hpp"
#include "diag/report.hpp"
#include "diag/request.hpp"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
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
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
};

/** Read once at start: the configuration and fd 2, which is the program's stderr at exec. */
struct State {
    Config config;
    StderrIdentity stderr_identity;
    Policy policy;
};

/** "Tgid:" of /proc/TID/status: the process a thread belongs to; 0 when gone. */
int tgid_of(int tid) {
    const std::string status = read_small_file("/proc/" + std::to_string(tid) + "/status");
    const auto at = status.find("\nTgid:");
    return at == std::string::npos ? 0 : std::atoi(status.c_str() + at + 6);
}

/** The diagnosis and report of one EADDRINUSE, for the program `tgid`, as the engine writes it. */
void report(const State& state, int sfd, int program_fd, int tgid, int call, const sockaddr_storage* ss,
            socklen_t len, const char* observed) {
    try {
        Failure f;
        f.call = call;
        f.fd = sfd;
        f.err = EADDRINUSE;
        f.addr = reinterpret_cast<const sockaddr*>(ss);
        f.addr_len = len;
        f.config = &state.config;
        f.stderr_identity = &state.stderr_identity;
        char cwd[PATH_MAX];
        const ssize_t n = ::readlink(("/proc/" + std::to_string(tgid) + "/cwd").c_str(), cwd, sizeof cwd - 1);
        Request req;
        if (!describe_request(f, req, std::string_view(cwd, n > 0 ? static_cast<std::size_t>(n) : 0)))
            return;
        req.fd = program_fd; // the text names the program's descriptor, not our copy
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
        const std::string out = render(state.config.format, req, verdict, ctx);
        sink::write_event(state.config, Level::error, out.data(), out.size(), &state.stderr_identity,
                          sink::Origin::own_failure);
    } catch (...) {
        // Out of memory or a bug in the diagnosis: the report is lost, the program's call is not.
    }
}

/** A pidfd for the calling thread; before Linux 6.9 (no PIDFD_THREAD), for its process. */
int pidfd_for(int tid) {
    const int fd = static_cast<int>(::syscall(SYS_pidfd_open, tid, PIDFD_THREAD));
    if (fd >= 0 || errno != EINVAL) return fd;
    const int tgid = tgid_of(tid);
    return tgid > 0 ? static_cast<int>(::syscall(SYS_pidfd_open, tgid, 0)) : -1;
}

/** Fills `resp` for one notification: performed (val/error) or CONTINUE. */
void handle(const State& state, int nfd, seccomp_notif& req, seccomp_notif_resp& resp) {
    std::memset(&resp, 0, sizeof resp);
    resp.id = req.id;
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; // whatever goes wrong: the kernel decides
    if (req.data.nr == __NR_landlock_restrict_self) {
        state.policy.landlock_restricted = true; // from now on a task's domain may differ from ours
        return;
    }
    const bool is_bind = req.data.nr == __NR_bind;
    const int program_fd = static_cast<int>(req.data.args[0]);
    const int tid = static_cast<int>(req.pid);
    const Fd pidfd(pidfd_for(tid));
    const Fd sfd(pidfd.fd >= 0 ? static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd.fd, program_fd, 0)) : -1);
    if (sfd.fd < 0) return;

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
    const Action action = is_bind ? decide_bind(state.policy, sfd.fd, tid, ss, len)
                                  : decide_listen(state.policy, sfd.fd, tid);
    if (action != Action::perform) {
        // CONTINUE: the kernel runs the call in the program. A predicted failure is
        // reported first, as a performed one would be.
        if (action == Action::predict && predict_in_use(state.policy, sfd.fd, tid, is_bind ? &ss : nullptr, len)) {
            const int tgid = tgid_of(tid);
            if (tgid > 0)
                in_callers_netns(state.policy, tid, [&] {
                    report(state, sfd.fd, program_fd, tgid, is_bind ? 0 : 1, is_bind ? &ss : nullptr, len,
                           "supervisor-predicted");
                });
        }
        return;
    }
    // The fd and the address were read while the task waited; it may have died since,
    // and its pid been reused: seccomp_unotify(2), SECCOMP_IOCTL_NOTIF_ID_VALID.
    if (::ioctl(nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) != 0) return;
    const int rc = is_bind ? ::bind(sfd.fd, reinterpret_cast<const sockaddr*>(&ss), len)
                           : ::listen(sfd.fd, static_cast<int>(req.data.args[1]));
    const int err = rc == 0 ? 0 : errno;
    // The report is for the process; /proc/TID/status is read only now (it costs a
    // few tens of µs, which every successful bind would pay).
    if (err == EADDRINUSE) {
        const int tgid = tgid_of(tid);
        if (tgid > 0)
            report(state, sfd.fd, program_fd, tgid, is_bind ? 0 : 1, is_bind ? &ss : nullptr, len, "supervisor");
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
        } else if (p.revents & (POLLHUP | POLLERR)) {
            return 0; // the last task using the filter has been reaped
        }
    }
}

} // namespace portshim::supervisor
