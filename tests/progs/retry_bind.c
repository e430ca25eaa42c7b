/* A program that retries a failing bind in a loop, as impatient daemons do:
 * N attempts on 0.0.0.0:PORT (each a new socket), then optionally a pause and
 * M more. Prints "failures=F other=O" and exits 0; used for the rate limit. */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static long failures, other;

static void attempts(int port, long n)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) {
            perror("socket");
            exit(1);
        }
        if (bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
            if (errno == EADDRINUSE)
                failures++;
            else
                other++;
        }
        close(fd);
    }
}

int main(int argc, char **argv)
{
    int port = 0, opt;
    long n = 1, m = 0, wait_ms = 0;
    while ((opt = getopt(argc, argv, "p:n:w:m:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'n': n = atol(optarg); break;
        case 'w': wait_ms = atol(optarg); break;
        case 'm': m = atol(optarg); break;
        default:
            fprintf(stderr, "usage: %s -p PORT [-n N] [-w MS -m M]\n", argv[0]);
            return 2;
        }
    }
    if (port <= 0 || port > 65535) {
        fprintf(stderr, "%s: -p PORT (1-65535) is required\n", argv[0]);
        return 2;
    }
    attempts(port, n);
    if (m > 0) {
        struct timespec pause = {wait_ms / 1000, (wait_ms % 1000) * 1000000L};
        while (nanosleep(&pause, &pause) != 0 && errno == EINTR) {
        }
        attempts(port, m);
    }
    printf("failures=%ld other=%ld\n", failures, other);
    return 0;
}
