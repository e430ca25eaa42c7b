/* Performs one socket call chosen by name and prints "rc=R errno=E": transparency
 * tests run it with and without the preload and compare what the program saw. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: bind_probe CASE [PORT]\n"
            "  success             bind 127.0.0.1:0\n"
            "  inuse PORT          bind 127.0.0.1:PORT\n"
            "  inuse-stderr-reused PORT FILE  close fd 2, open FILE (it becomes fd 2), then inuse\n"
            "  noreuse PORT        set SO_REUSEADDR=0 explicitly, then bind 127.0.0.1:PORT\n"
            "  eacces              bind 0.0.0.0:80 (run unprivileged)\n"
            "  ebadf               bind fd 1000\n"
            "  einval              bind the same socket twice\n"
            "  enotsock            bind a descriptor of /dev/null\n"
            "  listen-ebadf        listen on fd 1000\n"
            "  setsockopt-einval   SO_REUSEADDR with a 1-byte option\n"
            "  listen-inuse [PORT] two SO_REUSEADDR sockets on 127.0.0.1:PORT, both listen\n"
            "                      (PORT 0 or omitted: the port the first one gets)\n");
    exit(2);
}

static struct sockaddr_in loopback(const char *addr, int port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    return sin;
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    return fd;
}

/* Sets up everything but the call under test; setup failures exit 1, never print rc=. */
static void must(int rc, const char *what)
{
    if (rc < 0) {
        perror(what);
        exit(1);
    }
}

static int bind_to(int fd, const char *addr, int port)
{
    struct sockaddr_in sin = loopback(addr, port);
    return bind(fd, (struct sockaddr *)&sin, sizeof sin);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4)
        usage();
    const char *name = argv[1];
    int port = argc >= 3 ? atoi(argv[2]) : 0;
    int rc;
    int one = 1;

    if (strcmp(name, "success") == 0) {
        int fd = tcp_socket();
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", 0);
    } else if (strcmp(name, "inuse") == 0) {
        if (argc != 3)
            usage();
        int fd = tcp_socket();
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", port);
    } else if (strcmp(name, "inuse-stderr-reused") == 0) {
        /* A daemon that closed its stdio and opened a data file, which got fd 2. */
        if (argc != 4)
            usage();
        close(2);
        int data = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (data != 2)
            return 3;
        int fd = tcp_socket();
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", port);
    } else if (strcmp(name, "noreuse") == 0) {
        /* A program that chose SO_REUSEADDR=0 explicitly: PORTSHIM_REUSEADDR must respect it. */
        if (argc != 3)
            usage();
        int fd = tcp_socket();
        int zero = 0;
        must(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &zero, sizeof zero), "setsockopt");
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", port);
    } else if (strcmp(name, "eacces") == 0) {
        int fd = tcp_socket();
        errno = 0;
        rc = bind_to(fd, "0.0.0.0", 80);
    } else if (strcmp(name, "ebadf") == 0) {
        errno = 0;
        rc = bind_to(1000, "127.0.0.1", 0);
    } else if (strcmp(name, "einval") == 0) {
        int fd = tcp_socket();
        must(bind_to(fd, "127.0.0.1", 0), "bind");
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", 0);
    } else if (strcmp(name, "enotsock") == 0) {
        int fd = open("/dev/null", O_RDONLY);
        must(fd, "open /dev/null");
        errno = 0;
        rc = bind_to(fd, "127.0.0.1", 0);
    } else if (strcmp(name, "listen-ebadf") == 0) {
        errno = 0;
        rc = listen(1000, 16);
    } else if (strcmp(name, "setsockopt-einval") == 0) {
        int fd = tcp_socket();
        char small = 1;
        errno = 0;
        rc = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &small, sizeof small);
    } else if (strcmp(name, "listen-inuse") == 0) {
        int first = tcp_socket(), second = tcp_socket();
        must(setsockopt(first, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "setsockopt");
        must(setsockopt(second, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "setsockopt");
        must(bind_to(first, "127.0.0.1", port), "bind");
        struct sockaddr_in sin;
        socklen_t len = sizeof sin;
        must(getsockname(first, (struct sockaddr *)&sin, &len), "getsockname");
        /* Both bind while neither listens: SO_REUSEADDR allows it; the second listen fails. */
        must(bind_to(second, "127.0.0.1", ntohs(sin.sin_port)), "bind");
        must(listen(first, 16), "listen");
        errno = 0;
        rc = listen(second, 16);
    } else {
        usage();
    }

    printf("rc=%d errno=%d\n", rc, errno);
    return 0;
}
