/* A daemon at its descriptor limit: lowers RLIMIT_NOFILE, fills every free fd, then
 * fails a bind; prints what it saw so that runs with and without the preload compare.
 * Usage: fd_exhaust [-w] [-a] [-s SPARE] PORT
 *   -w        warm: first fail a bind on 0.0.0.0:PORT with descriptors to spare
 *   -a        again: at the end, free the descriptors and fail a bind on 0.0.0.0:PORT
 *             ("again errno=E")
 *   -s SPARE  leave SPARE descriptors free for the failing bind (default 0)
 * Then binds 127.0.0.1:PORT with every other descriptor in use and prints
 * "bind errno=E", "free N" (how many opens succeed afterwards) and "open errno=E"
 * (the open that failed); exits 1 when that bind failed, 0 otherwise. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

enum { limit = 64 };

static int bind_to(const char *addr, int port, int *err)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(2);
    }
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, addr, &sin.sin_addr);
    int rc = bind(fd, (struct sockaddr *)&sin, sizeof sin);
    *err = rc < 0 ? errno : 0;
    return fd;
}

/* Opens /dev/null until open fails; returns how many succeeded, *err the failure. */
static int open_until_full(int *fds, int max, int *err)
{
    int n = 0;
    for (;;) {
        int fd = open("/dev/null", O_RDONLY);
        if (fd < 0) {
            *err = errno;
            return n;
        }
        if (n == max) {
            fprintf(stderr, "more than %d descriptors under RLIMIT_NOFILE %d\n", max, limit);
            exit(2);
        }
        fds[n++] = fd;
    }
}

int main(int argc, char **argv)
{
    int warm = 0, again = 0, spare = 0, opt;
    while ((opt = getopt(argc, argv, "was:")) != -1) {
        switch (opt) {
        case 'w': warm = 1; break;
        case 'a': again = 1; break;
        case 's': spare = atoi(optarg); break;
        default: return 2;
        }
    }
    if (optind + 1 != argc || spare < 0 || spare > 8) {
        fprintf(stderr, "usage: fd_exhaust [-w] [-a] [-s SPARE] PORT\n");
        return 2;
    }
    const int port = atoi(argv[optind]);
    int err = 0;
    if (warm) {
        close(bind_to("0.0.0.0", port, &err));
        printf("warm bind errno=%d\n", err);
    }

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_max < limit) {
        perror("getrlimit");
        return 2;
    }
    rl.rlim_cur = limit;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        perror("setrlimit");
        return 2;
    }
    int fds[limit];
    int filled = open_until_full(fds, limit, &err);
    if (filled <= spare + 1) {
        fprintf(stderr, "only %d descriptors were free\n", filled);
        return 2;
    }
    /* One more for the socket: SPARE descriptors stay free while bind fails. */
    for (int i = 0; i <= spare; i++)
        close(fds[--filled]);
    bind_to("127.0.0.1", port, &err);
    const int bind_errno = err;

    int after[limit];
    const int free_after = open_until_full(after, limit, &err);
    printf("filled %d\nbind errno=%d\nfree %d\nopen errno=%d\n", filled, bind_errno, free_after, err);
    if (again) {
        for (int i = 0; i < filled; i++)
            close(fds[i]);
        for (int i = 0; i < free_after; i++)
            close(after[i]);
        bind_to("0.0.0.0", port, &err);
        printf("again errno=%d\n", err);
    }
    fflush(stdout);
    return bind_errno != 0;
}
