// Prototype for issue 14 (not built by CMake): runs PROG under a seccomp
// user-notification filter for bind(2) and listen(2), keeping the launcher's pid,
// with a supervisor that is not PROG's child. See docs/supervisor.md.
//
//   gcc -O2 -Wall -o supervisor_proto proto/supervisor_proto.c
//   supervisor_proto [--supervise] [--continue] [--quiet] -- PROG [ARG...]
//
// --supervise  allowed to set PR_SET_NO_NEW_PRIVS (required without CAP_SYS_ADMIN)
// --continue   answer every notification with SECCOMP_USER_NOTIF_FLAG_CONTINUE
//              (the kernel performs the call in PROG; the result is not known)
// --quiet      no line per notification (for the latency loops)
// --no-sync    do not set SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (for comparison)
// --no-killable  without SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (to show why it is needed)
// --delay-us N   the supervisor sleeps N us before answering (stands in for a diagnosis)
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
/* include/uapi/linux/seccomp.h, Linux 6.6: wake the supervisor on the caller's CPU */
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* include/uapi/linux/pidfd.h, Linux 6.9 */
#endif

static int quiet, use_continue, no_sync, no_killable, delay_us;

static int sys_seccomp(unsigned op, unsigned flags, void* args) {
    return (int)syscall(SYS_seccomp, op, flags, args);
}
static int sys_pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}
static int sys_pidfd_getfd(int pidfd, int fd) {
    return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/** bind and listen go to the supervisor, everything else runs untouched. */
static int install_filter(void) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* i386/x32 callers: not covered */
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_bind, 2, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_listen, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    /* WAIT_KILLABLE_RECV (5.19): once the supervisor has read a notification,
       non-fatal signals (Go's SIGURG preemption) no longer interrupt the wait,
       so a bind the supervisor performed is never restarted by the kernel. */
    return sys_seccomp(SECCOMP_SET_MODE_FILTER,
                       SECCOMP_FILTER_FLAG_NEW_LISTENER |
                           (no_killable ? 0 : SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV),
                       &prog);
}

static const char* errno_name(int e) {
    switch (e) {
    case 0: return "0";
    case EADDRINUSE: return "EADDRINUSE";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EFAULT: return "EFAULT";
    case ENOENT: return "ENOENT";
    default: return strerrorname_np(e) ? strerrorname_np(e) : "E?";
    }
}

static void describe(const struct sockaddr_storage* ss, socklen_t len, char* out, size_t n) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in* a = (const void*)ss;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
        snprintf(out, n, "%s:%u", host, ntohs(a->sin_port));
    } else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6* a = (const void*)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
        snprintf(out, n, "[%s]:%u", host, ntohs(a->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un* a = (const void*)ss;
        snprintf(out, n, "unix:%s%.100s", a->sun_path[0] ? "" : "@",
                 a->sun_path[0] ? a->sun_path : a->sun_path + 1);
    } else {
        snprintf(out, n, "family %u", ss->ss_family);
    }
}

/**
 * Whether the supervisor's own bind on the program's socket gives the result the
 * kernel would give the program. The kernel checks the calling task only for
 * ports below ip_unprivileged_port_start (CAP_NET_BIND_SERVICE in the socket's
 * netns owner), AF_UNIX paths (cwd, root, mount namespace, fsuid, umask) and
 * LSMs (AppArmor, Landlock: current's label/domain). The prototype performs
 * only inet binds to unprivileged ports; the rest are left to the kernel.
 */
static int safe_to_perform(const struct sockaddr_storage* ss, socklen_t len) {
    unsigned port;
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
        port = ntohs(((const struct sockaddr_in*)ss)->sin_port);
    else if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        port = ntohs(((const struct sockaddr_in6*)ss)->sin6_port);
    else
        return 0;
    return port == 0 || port >= 1024; /* TODO: the socket netns' ip_unprivileged_port_start */
}

static void handle(int nfd, struct seccomp_notif* req, struct seccomp_notif_resp* resp) {
    memset(resp, 0, sizeof *resp);
    resp->id = req->id;
    resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE; /* whatever goes wrong: the kernel decides */
    const int is_bind = req->data.nr == __NR_bind;
    const int fd = (int)req->data.args[0];
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len = 0;
    char where[160] = "-";
    const char* how = "continue";
    int err = -1; /* unknown */

    int pidfd = sys_pidfd_open(req->pid, PIDFD_THREAD);
    int sfd = pidfd >= 0 ? sys_pidfd_getfd(pidfd, fd) : -1;
    if (is_bind && sfd >= 0) {
        len = (socklen_t)req->data.args[2];
        if (len > sizeof ss) len = sizeof ss;
        struct iovec local = {&ss, len};
        struct iovec remote = {(void*)req->data.args[1], len};
        if (process_vm_readv(req->pid, &local, 1, &remote, 1, 0) != (ssize_t)len) len = 0;
        describe(&ss, len, where, sizeof where);
    } else if (sfd >= 0) {
        socklen_t n = sizeof ss;
        if (getsockname(sfd, (struct sockaddr*)&ss, &n) == 0) describe(&ss, n, where, sizeof where);
    }
    /* The pointer and fd were read while the task waited; it may have died meanwhile
       (and its pid been reused): seccomp_unotify(2), "Design goals; use of ...ID_VALID". */
    if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) != 0) {
        if (sfd >= 0) close(sfd);
        if (pidfd >= 0) close(pidfd);
        return;
    }
    if (!use_continue && sfd >= 0 && ((is_bind && len > 0 && safe_to_perform(&ss, len)) || !is_bind)) {
        /* listen(2) checks nothing of the calling task but LSMs; backlog as given. */
        const int rc = is_bind ? bind(sfd, (struct sockaddr*)&ss, len)
                               : listen(sfd, (int)req->data.args[1]);
        err = rc == 0 ? 0 : errno;
        resp->flags = 0;
        resp->val = rc;
        resp->error = rc == 0 ? 0 : -err;
        how = "performed";
    }
    if (!quiet) {
        char line[400];
        int n = snprintf(line, sizeof line, "supervisor[%d]: pid %d fd %d %s %s -> %s (%s)\n",
                         (int)getpid(), (int)req->pid, fd, is_bind ? "bind" : "listen", where,
                         err < 0 ? "kernel's" : errno_name(err), how);
        if (n > 0) (void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
    }
    if (sfd >= 0) close(sfd);
    if (pidfd >= 0) close(pidfd);
}

/** The supervisor: own session, deaf to the program's signals, lives while the filter has users. */
static void supervise(int sock) {
    setsid();
    const int ignored[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGTSTP, SIGTTIN, SIGTTOU,
                           SIGPIPE, SIGUSR1, SIGUSR2, SIGWINCH};
    for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; ++i) signal(ignored[i], SIG_IGN);
    const int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull >= 0) { dup2(devnull, 0); dup2(devnull, 1); close(devnull); }
    if (chdir("/") != 0) {}
    char dummy;
    char cbuf[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&dummy, 1};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                         .msg_controllen = sizeof cbuf};
    if (recvmsg(sock, &msg, MSG_CMSG_CLOEXEC) != 1) _exit(0); /* no filter: nothing to do */
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c == NULL || c->cmsg_type != SCM_RIGHTS) _exit(1);
    int nfd;
    memcpy(&nfd, CMSG_DATA(c), sizeof nfd);
    const pid_t me = getpid();
    if (write(sock, &me, sizeof me) != sizeof me) _exit(1);
    close(sock);

    /* The caller blocks until we answer: switching to us on its CPU beats a
       cross-CPU wake-up (6.6; older kernels: EINVAL, harmless). */
    if (!no_sync) (void)ioctl(nfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
    struct seccomp_notif_sizes sizes;
    if (sys_seccomp(SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) _exit(1);
    struct seccomp_notif* req = calloc(1, sizes.seccomp_notif);
    struct seccomp_notif_resp* resp = calloc(1, sizes.seccomp_notif_resp);
    for (;;) {
        struct pollfd p = {nfd, POLLIN, 0};
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR) continue;
            _exit(1);
        }
        if (p.revents & POLLIN) {
            memset(req, 0, sizes.seccomp_notif);
            if (ioctl(nfd, SECCOMP_IOCTL_NOTIF_RECV, req) != 0) continue; /* ENOENT: caller gone */
            if (delay_us > 0) usleep((useconds_t)delay_us);
            handle(nfd, req, resp);
            (void)ioctl(nfd, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT: interrupted or died */
        } else if (p.revents & (POLLHUP | POLLERR)) {
            _exit(0); /* the last task using the filter has exited */
        }
    }
}

int main(int argc, char** argv) {
    int supervise_flag = 0, i = 1;
    for (; i < argc; ++i) {
        if (strcmp(argv[i], "--supervise") == 0) supervise_flag = 1;
        else if (strcmp(argv[i], "--continue") == 0) use_continue = 1;
        else if (strcmp(argv[i], "--quiet") == 0) quiet = 1;
        else if (strcmp(argv[i], "--no-sync") == 0) no_sync = 1;
        else if (strcmp(argv[i], "--no-killable") == 0) no_killable = 1;
        else if (strcmp(argv[i], "--delay-us") == 0 && i + 1 < argc) delay_us = atoi(argv[++i]);
        else if (strcmp(argv[i], "--") == 0) { ++i; break; }
        else break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: supervisor_proto [--supervise] [--continue] [--quiet] [--no-sync] [--no-killable] [--delay-us N] -- PROG [ARG...]\n");
        return 2;
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) return 2;
    /* Double fork: the supervisor is reparented (to init or the nearest subreaper),
       so the program, which keeps this pid, has no child it did not make. */
    const pid_t mid = fork();
    if (mid < 0) return 2;
    if (mid == 0) {
        close(sv[0]);
        const pid_t s = fork();
        if (s == 0) supervise(sv[1]);
        _exit(s < 0);
    }
    close(sv[1]);
    /* The filter is installed while the fork chain runs; the one hand-off is the
       supervisor's answer (its pid) after it holds the notify fd. */
    const int want_nnp = supervise_flag;
    int ok = !want_nnp || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0;
    int nfd = ok ? install_filter() : -1;
    const int filter_errno = errno;
    pid_t spid = 0;
    if (nfd >= 0) {
        char cbuf[CMSG_SPACE(sizeof(int))];
        memset(cbuf, 0, sizeof cbuf);
        struct iovec iov = {"n", 1};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                             .msg_controllen = sizeof cbuf};
        struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &nfd, sizeof nfd);
        /* Wait for the answer: exec'ing before the supervisor holds the fd would let the
           program's first bind meet a filter without listener (ENOSYS). */
        if (sendmsg(sv[0], &msg, 0) != 1 || read(sv[0], &spid, sizeof spid) != sizeof spid)
            fprintf(stderr, "supervisor_proto: supervisor did not answer\n");
        close(nfd);
        /* Yama ptrace_scope 1: pidfd_getfd and process_vm_readv need the program to name
           its non-ancestor supervisor (EINVAL without Yama; survives exec). */
        if (spid > 0) (void)prctl(PR_SET_PTRACER, spid, 0, 0, 0);
    } else if (filter_errno == EACCES && !want_nnp) {
        fprintf(stderr, "supervisor_proto: not root: the filter needs no_new_privs; "
                        "run with --supervise to allow it\n");
    } else {
        fprintf(stderr, "supervisor_proto: no seccomp user notification (%s); running unsupervised\n",
                strerror(filter_errno));
    }
    /* The middle process exited right after its fork: reap it so the program
       inherits no zombie child. */
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {}
    close(sv[0]);
    execvp(argv[i], argv + i);
    fprintf(stderr, "supervisor_proto: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
