/* A server that sandboxes itself with Landlock (ABI 4, Linux 6.7: TCP bind ports) and then
 * binds 127.0.0.1:PORT and listens, the way a hardened daemon would: only the ports named
 * after PORT are allowed. Prints "port P" once listening, perror and exit 1 on a failed
 * bind, exit 77 with "landlock: ..." when the kernel cannot restrict bind ports.
 * Used by supervisor_policy.cpp: the supervisor must not perform a bind Landlock judges. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* include/uapi/linux/landlock.h of Linux 6.7 (Debian 12's headers predate the net fields). */
struct ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
};
struct net_port_attr {
    uint64_t allowed_access;
    uint64_t port;
};
#define ACCESS_NET_BIND_TCP (1ULL << 0)
#define RULE_NET_PORT 2
#define CREATE_RULESET_VERSION (1U << 0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s PORT [ALLOWED_PORT...]\n", argv[0]);
        return 2;
    }
    const long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, CREATE_RULESET_VERSION);
    if (abi < 4) {
        printf("landlock: ABI %ld, no TCP bind rules\n", abi);
        return 77;
    }
    struct ruleset_attr attr = {0, ACCESS_NET_BIND_TCP};
    const int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) {
        perror("landlock_create_ruleset");
        return 2;
    }
    for (int i = 2; i < argc; ++i) {
        struct net_port_attr allow = {ACCESS_NET_BIND_TCP, (uint64_t)atoi(argv[i])};
        if (syscall(SYS_landlock_add_rule, ruleset, RULE_NET_PORT, &allow, 0) != 0) {
            perror("landlock_add_rule");
            return 2;
        }
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_landlock_restrict_self, ruleset, 0) != 0) {
        perror("landlock_restrict_self");
        return 2;
    }
    close(ruleset);

    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(argv[1]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        const int saved = errno;
        perror("bind");
        printf("errno=%d\n", saved);
        fflush(stdout);
        return 1;
    }
    if (listen(fd, 16) < 0) {
        perror("listen");
        return 1;
    }
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    printf("port %d\n", ntohs(sin.sin_port));
    fflush(stdout);
    for (;;)
        pause();
}
