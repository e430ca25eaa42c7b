// portshim-supervise's launcher: the filter, the double fork and the hand-off of
// the notify fd, then the exec of the program under this pid (docs/supervisor.md 1, 2).
#include "launch.hpp"
#include "supervisor.hpp"

#include "common/config.hpp"

#include <cerrno>
#include <cstddef>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <string>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace portshim::supervisor {

void say(const std::string& text) {
    const std::string line = "portshim-supervise: " + text + "\n";
    (void)!::write(2, line.data(), line.size());
}

namespace {

/**
 * bind, listen and execve/execveat (exec-leak) of x86-64 callers go to the
 * supervisor, setsockopt(SO_REUSEADDR) too with --reuseaddr; everything else runs
 * untouched, and the kernel's action cache skips the filter for it (5.11).
 * The launcher's own exec of the program (execve with exactly `argv` and `envp`,
 * as execvp passes them for every PATH candidate) is let through: it is no leak,
 * and waiting there for the supervisor's re-exec would cost every start milliseconds.
 * i386 and x32 callers are not covered (docs/supervisor.md 7).
 */
int install_filter(char* const* argv, char* const* envp) {
    // PORTSHIM_REUSEADDR=1 (--reuseaddr): setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, ...)
    // goes to the supervisor too, which records that the program chose and lets it
    // run. Without it the rule compares with a number no system call has, so the
    // action cache allows setsockopt without running the filter.
    // exec-leak likewise only at a level that shows it (a warning, PORTSHIM_LEVEL).
    ConfigErrors errors;
    const Config config =
        parse_config([](const char* name) -> const char* { return std::getenv(name); }, false, errors);
    constexpr unsigned no_call = 0xffffffffu;
    const unsigned setsockopt_nr = config.reuseaddr ? __NR_setsockopt : no_call;
    const bool exec_leak = config.level >= Level::warn;
    const unsigned execve_nr = exec_leak ? __NR_execve : no_call;
    const unsigned execveat_nr = exec_leak ? __NR_execveat : no_call;
    // Argument words as the kernel lays them out: x86-64 is little-endian, so the low
    // 32 bits of args[i] come first.
    const auto low = [](unsigned i) { return static_cast<unsigned>(offsetof(seccomp_data, args) + i * sizeof(__u64)); };
    const auto high = [&](unsigned i) { return low(i) + 4; };
    const auto lo32 = [](const void* p) { return static_cast<__u32>(reinterpret_cast<std::uintptr_t>(p)); };
    const auto hi32 = [](const void* p) { return static_cast<__u32>(reinterpret_cast<std::uintptr_t>(p) >> 32); };
    // Instruction indices, so that every jump is written as its target.
    enum : unsigned char {
        arch, arch_ok, foreign, load_nr, is_bind, is_listen, is_landlock, is_execveat, is_execve,
        argv_lo, argv_lo_ok, argv_hi, argv_hi_ok, envp_lo, envp_lo_ok, envp_hi, envp_hi_ok,
        is_setsockopt, load_level, level_ok, load_name, name_ok, allow, notify, count
    };
    const auto to = [](unsigned char from, unsigned char target) {
        return static_cast<unsigned char>(target - from - 1);
    };
    const sock_filter code[count] = {
        /* arch */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        /* arch_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, to(arch_ok, load_nr), 0),
        /* foreign */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* load_nr */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
        /* is_bind */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, to(is_bind, notify), 0),
        /* is_listen */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, to(is_listen, notify), 0),
        // Rare, answered CONTINUE: tells the supervisor a task may now have a Landlock
        // domain other than its own (docs/supervisor-policy.md).
        /* is_landlock */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_landlock_restrict_self, to(is_landlock, notify), 0),
        /* is_execveat */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, execveat_nr, to(is_execveat, notify), 0),
        /* is_execve */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, execve_nr, 0, to(is_execve, is_setsockopt)),
        /* argv_lo */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, low(1)),
        /* argv_lo_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo32(argv), 0, to(argv_lo_ok, notify)),
        /* argv_hi */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, high(1)),
        /* argv_hi_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi32(argv), 0, to(argv_hi_ok, notify)),
        /* envp_lo */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, low(2)),
        /* envp_lo_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, lo32(envp), 0, to(envp_lo_ok, notify)),
        /* envp_hi */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, high(2)),
        /* envp_hi_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, hi32(envp), to(envp_hi_ok, allow), to(envp_hi_ok, notify)),
        /* is_setsockopt */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, setsockopt_nr, 0, to(is_setsockopt, allow)),
        /* load_level */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, low(1)),
        /* level_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SOL_SOCKET, 0, to(level_ok, allow)),
        /* load_name */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, low(2)),
        /* name_ok */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SO_REUSEADDR, to(name_ok, notify), to(name_ok, allow)),
        /* allow */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* notify */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    sock_fprog prog{static_cast<unsigned short>(count), const_cast<sock_filter*>(code)};
    // WAIT_KILLABLE_RECV (5.19): once the supervisor has read a notification, no
    // non-fatal signal (Go's SIGURG) interrupts the wait, so a call the supervisor
    // performed is never restarted by the kernel (measured: EINVAL and livelock without).
    return static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                      SECCOMP_FILTER_FLAG_NEW_LISTENER |
                                          SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
                                      &prog));
}

/** Closes every descriptor above 2 but `keep`. */
void close_all_but(int keep) {
    const auto close_range = [](unsigned first, unsigned last) {
        if (first > last) return;
        if (::syscall(SYS_close_range, first, last, 0) == 0) return;
        const long most = ::sysconf(_SC_OPEN_MAX);
        for (long fd = first; fd <= last && fd < (most > 0 ? most : 1024); ++fd) ::close(static_cast<int>(fd));
    };
    close_range(3, static_cast<unsigned>(keep) - 1);
    close_range(static_cast<unsigned>(keep) + 1, ~0U);
}

/** One byte and room for one SCM_RIGHTS descriptor: the hand-off of the notify fd. */
struct FdMessage {
    char byte = 'n';
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    iovec iov{&byte, 1};
    msghdr msg{};
    FdMessage() {
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
    }
    FdMessage(const FdMessage&) = delete;
    FdMessage& operator=(const FdMessage&) = delete;
};

/**
 * Test builds only (PORTSHIM_FAULT_HOOKS, set with PORTSHIM_BUILD_TESTS): the first N
 * supervisors, N from PORTSHIM_TEST_SUPERVISOR_DEATHS, SIGKILL themselves after taking
 * the notify fd and before answering, as an OOM kill would. It cannot make a program
 * meet ENOSYS: the launcher retries, and execs nothing when every attempt died.
 */
int test_deaths() {
#ifdef PORTSHIM_FAULT_HOOKS
    const char* n = std::getenv("PORTSHIM_TEST_SUPERVISOR_DEATHS");
    return n != nullptr ? std::atoi(n) : 0;
#else
    return 0;
#endif
}

/**
 * The supervisor before its re-exec: its own session (no terminal signals, no
 * SIGHUP, missed by process-group kills), deaf to the signals meant for the
 * program, stdin/stdout on /dev/null, cwd "/"; keeps fd 2 for reports. Takes
 * the notify fd, answers with its pid, then execs itself under its own name so
 * that `pkill -f PROGRAM` cannot hit it and the launcher's memory is dropped.
 */
[[noreturn]] void become_supervisor(int sock, const char* self, int attempt) {
    // None of the program's descriptors: an inherited listener (socket activation, a
    // parent's leak) held here would keep its port busy and make this a holder in reports.
    close_all_but(sock);
    ::setsid();
    for (int sig : {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU, SIGPIPE, SIGUSR1,
                    SIGUSR2, SIGWINCH})
        std::signal(sig, SIG_IGN); // SIG_IGN survives the exec below
    const int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) {
        ::dup2(devnull, 0);
        ::dup2(devnull, 1);
        ::close(devnull);
    }
    if (::chdir("/") != 0) {
    }
    FdMessage m;
    if (::recvmsg(sock, &m.msg, 0) != 1) ::_exit(0); // no filter: nothing to supervise
    cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    if (c == nullptr || c->cmsg_type != SCM_RIGHTS) ::_exit(1);
    int nfd;
    std::memcpy(&nfd, CMSG_DATA(c), sizeof nfd);
    if (attempt < test_deaths()) ::raise(SIGKILL); // fd taken, no answer: the launcher retries
    const pid_t me = ::getpid();
    if (::write(sock, &me, sizeof me) != sizeof me) ::_exit(1);
    ::close(sock);
    const std::string fd = std::to_string(nfd);
    const char* argv[] = {"portshim-supervise", "--serve", fd.c_str(), nullptr};
    // Without LD_PRELOAD: libportshim.so in the supervisor would diagnose the binds it
    // performs for the program as its own (and other preloads have no business here).
    std::vector<char*> env;
    for (char** e = environ; *e != nullptr; ++e)
        if (std::strncmp(*e, "LD_PRELOAD=", 11) != 0) env.push_back(*e);
    env.push_back(nullptr);
    ::execve(self, const_cast<char* const*>(argv), env.data());
    // The notify fd is still ours: serve without the re-exec rather than leave ENOSYS.
    ::_exit(portshim::supervisor::serve(nfd));
}

/**
 * Whether seccomp(SET_MODE_FILTER) is allowed without no_new_privs: CAP_SYS_ADMIN in
 * the effective set (kernel/seccomp.c, seccomp_prepare_filter). Root without it (a
 * container's default bounding set) needs no_new_privs as any other user does.
 */
bool may_filter_without_nnp() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return ::geteuid() == 0;
    return (data[CAP_SYS_ADMIN / 32].effective & (1U << (CAP_SYS_ADMIN % 32))) != 0;
}

/** The reason the filter could not be installed, as the one line says it. */
std::string why_unsupervised(int err, bool nnp_allowed) {
    if (err == EACCES && !nnp_allowed)
        return "not root (no CAP_SYS_ADMIN): supervising needs no_new_privs, which stops setuid helpers such as sudo "
               "in the program; --supervise allows it. Running it without portshim";
    if (err == EBUSY)
        return "another seccomp supervisor already watches this process (EBUSY); running the program "
               "without portshim";
    return std::string("no seccomp user notification here (") + std::strerror(err) +
           "); running the program without portshim";
}

/** Supervisors tried before giving up: each failure is a fork that failed or a death. */
constexpr int kAttempts = 3;

/**
 * The middle process of the double fork, started before the filter: it forks the
 * supervisor, and while the launcher waits for the answer it replaces a supervisor
 * that dies (pid 0 on the socket: "send the fd again"). Replacements cannot come
 * from the launcher: forked after the filter, a supervisor would be under it and its
 * own bind for the program would wait for itself. Exits when the launcher hangs up.
 */
[[noreturn]] void middle(int sock, const char* self) {
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
        const pid_t p = ::fork();
        if (p == 0) become_supervisor(sock, self, attempt);
        if (p < 0) ::_exit(1);
        const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, p, 0));
        if (pidfd < 0) ::_exit(0); // cannot watch it: the launcher sees its answer or EOF
        pollfd watch[] = {{pidfd, POLLIN, 0}, {sock, POLLRDHUP, 0}};
        while (::poll(watch, 2, -1) < 0 && errno == EINTR) {
        }
        if ((watch[1].revents & (POLLRDHUP | POLLHUP)) != 0) ::_exit(0); // handed off
        const pid_t dead = 0;
        if (::send(sock, &dead, sizeof dead, MSG_NOSIGNAL) != sizeof dead) ::_exit(1);
        ::close(pidfd);
    }
    ::_exit(1); // every attempt died: EOF tells the launcher
}

/** A supervisor in the making: the middle process and our end of the socket. */
struct Start {
    pid_t mid = -1;
    int sock = -1;
};

/**
 * Double fork: the supervisor is re-parented (to init or the nearest subreaper), so
 * the program, which keeps this pid, has no child it did not make. mid < 0: no start.
 */
Start start_supervisor(const char* self) {
    Start s;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return s;
    // No exit signal (a clone child, reaped with __WALL): a launcher that blocks SIGCHLD
    // would otherwise leave one pending for the program across the exec. The child has
    // glibc's cached thread id of the parent: only raw calls, fork() and _exit there.
    s.mid = static_cast<pid_t>(::syscall(SYS_clone, 0, nullptr, nullptr, nullptr, nullptr));
    if (s.mid == 0) {
        ::close(sv[0]);
        middle(sv[1], self);
    }
    ::close(sv[1]);
    if (s.mid < 0) ::close(sv[0]);
    else s.sock = sv[0];
    return s;
}

/**
 * Hangs up, so that the middle process exits, and reaps it: the program inherits no
 * zombie child.
 */
void finish(Start& s) {
    if (s.mid <= 0) return;
    ::close(s.sock);
    int status = 0;
    while (::waitpid(s.mid, &status, __WALL) < 0 && errno == EINTR) {
    }
    s = Start{};
}

/**
 * Sends a copy of the notify fd until a supervisor answers with its pid; 0 when
 * none did. Our own copy of `nfd` keeps the listener alive meanwhile, so a fresh
 * supervisor can take it over from one that died.
 */
pid_t hand_off(const Start& s, int nfd) {
    FdMessage m;
    cmsghdr* c = CMSG_FIRSTHDR(&m.msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(c), &nfd, sizeof nfd);
    for (int sent = 0; sent < kAttempts; ++sent) {
        // MSG_NOSIGNAL: a supervisor already gone is EPIPE, not a SIGPIPE that kills the launcher.
        if (::sendmsg(s.sock, &m.msg, MSG_NOSIGNAL) != 1) return 0;
        pid_t spid = 0;
        ssize_t got;
        while ((got = ::read(s.sock, &spid, sizeof spid)) < 0 && errno == EINTR) {
        }
        if (got != sizeof spid) return 0; // EOF: no supervisor left
        if (spid > 0) return spid;
        // 0: the middle process says the supervisor died; a fresh one takes the next copy.
    }
    return 0;
}

} // namespace

int run_supervised(char** command, bool nnp_allowed, const std::string& serve_exe) {
    char own[4096];
    const ssize_t n = ::readlink("/proc/self/exe", own, sizeof own - 1);
    own[n > 0 ? n : 0] = '\0';
    const char* self = serve_exe.empty() ? own : serve_exe.c_str();

    // The supervisor starts while the filter is installed.
    Start s = start_supervisor(self);
    int nfd = -1, err = EAGAIN;
    if (s.mid > 0) {
        if (nnp_allowed && !may_filter_without_nnp() && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) err = errno;
        else if ((nfd = install_filter(command, environ)) < 0) err = errno;
    }
    if (nfd < 0) {
        // No filter: nothing can fail with ENOSYS, the program runs as without portshim.
        say(why_unsupervised(err, nnp_allowed));
        finish(s);
    } else {
        // A program exec'd while no supervisor holds the fd would meet a filter without
        // listener at its first bind (ENOSYS), and the filter cannot be removed: so a
        // supervisor that dies before answering is replaced, and without one nothing runs.
        const pid_t spid = hand_off(s, nfd);
        finish(s);
        ::close(nfd);
        if (spid <= 0) {
            say(std::string("no supervisor could be started (") + std::to_string(kAttempts) +
                " attempts); not running " + command[0] + ": its binds would fail with ENOSYS");
            return 126;
        }
        // Yama ptrace_scope 1: pidfd_getfd and process_vm_readv need the program to name
        // its supervisor, which is no ancestor (EINVAL without Yama; survives exec).
        (void)::prctl(PR_SET_PTRACER, spid, 0, 0, 0);
    }
    ::execvp(command[0], command);
    const int e = errno;
    say(std::string(command[0]) + ": " + std::strerror(e));
    return e == ENOENT ? 127 : 126;
}

} // namespace portshim::supervisor
