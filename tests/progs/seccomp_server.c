/* A sandboxed daemon, vsftpd-style: creates its listening socket, installs a
 * seccomp filter that kills the process (SECCOMP_RET_KILL_PROCESS) on a system
 * call it never makes itself, then binds to a busy port and fails as any
 * daemon does: perror, "errno=98" on stdout, exit 1.
 * Usage: seccomp_server -p PORT -m prctl|seccomp|raw|exec -k netlink|unix|openat|getsockopt [-l]
 *   prctl:   prctl(PR_SET_SECCOMP) through libc
 *   seccomp: syscall(SYS_seccomp) through libc
 *   raw:     the seccomp system call made with an instruction, past libc (x86_64)
 *   exec:    installed, then this program exec'd again: the filter is inherited
 *   -l:      with exec, a listening socket without FD_CLOEXEC crosses the exec too
 *            (a worker handed its listener by a sandboxing parent)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH AUDIT_ARCH_AARCH64
#endif

static int install(const char *mode, const char *target)
{
#ifdef ARCH
    unsigned nr = SYS_socket;
    unsigned arg0 = 0;
    int any_arg = 0;
    if (strcmp(target, "netlink") == 0) arg0 = AF_NETLINK;
    else if (strcmp(target, "unix") == 0) arg0 = AF_UNIX;
    else if (strcmp(target, "openat") == 0) nr = SYS_openat, any_arg = 1;
    else if (strcmp(target, "getsockopt") == 0) nr = SYS_getsockopt, any_arg = 1;
    else return -1;
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arg0, 0, any_arg ? 0 : 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    if (any_arg) filter[6] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    struct sock_fprog prog = {(unsigned short)(sizeof filter / sizeof filter[0]), filter};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return -1;
    if (strcmp(mode, "prctl") == 0 || strcmp(mode, "exec") == 0)
        return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
    if (strcmp(mode, "seccomp") == 0)
        return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
#if defined(__x86_64__)
    if (strcmp(mode, "raw") == 0) {
        long ret;
        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"((long)SYS_seccomp), "D"((long)SECCOMP_SET_MODE_FILTER), "S"(0L),
                           "d"((long)&prog)
                         : "rcx", "r11", "memory");
        return ret == 0 ? 0 : -1;
    }
#endif
#endif
    (void)mode;
    (void)target;
    return -1;
}

int main(int argc, char **argv)
{
    int port = -1, opt, hold = 0;
    const char *mode = "prctl", *target = "netlink";
    while ((opt = getopt(argc, argv, "p:m:k:l")) != -1) {
        if (opt == 'l') hold = 1;
        else if (opt == 'p') port = atoi(optarg);
        else if (opt == 'm') mode = optarg;
        else if (opt == 'k') target = optarg;
        else return 2;
    }
    if (port < 0) {
        fprintf(stderr, "usage: seccomp_server -p PORT -m MODE -k TARGET\n");
        return 2;
    }
    if (strcmp(mode, "inherited") != 0) {
        if (hold) {
            const int l = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in any;
            memset(&any, 0, sizeof any);
            any.sin_family = AF_INET;
            if (l < 0 || bind(l, (struct sockaddr *)&any, sizeof any) != 0 || listen(l, 8) != 0) return 2;
        }
        if (install(mode, target) != 0) {
            perror("seccomp_server: installing the filter");
            return 77;
        }
        if (strcmp(mode, "exec") == 0) {
            char p[16];
            snprintf(p, sizeof p, "%d", port);
            execl("/proc/self/exe", argv[0], "-p", p, "-m", "inherited", "-k", target, (char *)NULL);
            perror("seccomp_server: exec");
            return 2;
        }
    }
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 2;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        const int err = errno;
        perror("bind");
        printf("errno=%d\n", err);
        return 1;
    }
    printf("bound\n");
    return 0;
}
