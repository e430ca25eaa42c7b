/* A socket made in a network namespace of its own, bound from another: netns_bind PORT
 * (root) opens its netns, unshares a new one, makes a TCP socket there, goes back to the
 * first netns, drops to nobody (no capabilities left) and binds 0.0.0.0:PORT. The kernel
 * judges the privileged port by the socket's netns (sock_net), not by the caller's.
 * Prints "bound" and exits 0, or perror("bind") and exits 1; exit 77 with a reason when
 * it cannot set itself up. Used by supervisor_policy.cpp. */
#define _GNU_SOURCE

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: netns_bind PORT\n");
        return 2;
    }
    const int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0 || unshare(CLONE_NEWNET) != 0) {
        perror("netns_bind: unshare");
        return 77;
    }
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || setns(home, CLONE_NEWNET) != 0) {
        perror("netns_bind: setns");
        return 77;
    }
    if (setgroups(0, NULL) != 0 || setresgid(65534, 65534, 65534) != 0 || setresuid(65534, 65534, 65534) != 0) {
        perror("netns_bind: drop to nobody");
        return 77;
    }
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(argv[1]));
    if (bind(fd, (struct sockaddr*)&sin, sizeof sin) != 0) {
        perror("bind");
        return 1;
    }
    printf("bound\n");
    return 0;
}
