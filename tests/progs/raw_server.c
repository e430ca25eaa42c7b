/* A server that binds with syscall(SYS_bind), as runtimes that skip libc's bind do:
 * binds 127.0.0.1:PORT (0: the kernel picks), listens, prints "port P" and waits.
 * On a failed bind: perror("bind"), "errno=N" on stdout, exit 1. supervisor.cpp runs it. */
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_in a;
    socklen_t n = sizeof a;
    int fd;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)(argc > 1 ? atoi(argv[1]) : 0));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || syscall(SYS_bind, fd, (struct sockaddr *)&a, sizeof a) != 0) {
        const int e = errno;
        perror("bind");
        printf("errno=%d\n", e);
        return 1;
    }
    if (listen(fd, 16) != 0 || getsockname(fd, (struct sockaddr *)&a, &n) != 0) {
        perror("listen");
        return 1;
    }
    printf("port %u\n", (unsigned)ntohs(a.sin_port));
    fflush(stdout);
    for (;;)
        pause();
}
