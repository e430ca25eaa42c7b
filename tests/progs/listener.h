/* What the programs for inherited sockets share: a TCP listener opened the way legacy
 * daemons open it (no SOCK_CLOEXEC, so children inherit it), and perror-then-exit. */
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static inline void die(const char *what)
{
    perror(what);
    exit(1);
}

/* socket, bind, listen on ADDRESS (NULL: the wildcard) and PORT (0: the kernel picks);
 * returns the fd and sets *bound to the port. Exits on any failure. */
static inline int listen_tcp(int family, const char *address, int port, int *bound)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    void *ip;
    if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        sin6->sin6_addr = in6addr_any;
        ip = &sin6->sin6_addr;
        len = sizeof *sin6;
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        sin->sin_addr.s_addr = htonl(INADDR_ANY);
        ip = &sin->sin_addr;
        len = sizeof *sin;
    }
    if (address != NULL && inet_pton(family, address, ip) != 1) {
        fprintf(stderr, "bad address: %s\n", address);
        exit(2);
    }
    int fd = socket(family, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        die("bind");
    if (listen(fd, 16) < 0)
        die("listen");
    len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        die("getsockname");
    *bound = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                      : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
}
