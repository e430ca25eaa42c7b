/* The cost of a failing bind to the host: how long bind() takes to return when
 * portshim reports it, with stderr on /dev/null and with stderr a full pipe
 * nobody reads (the report is dropped, never waited for). Each bind is to a
 * different 127.0.0.K address so the rate limit does not skip the diagnosis.
 * Prints "devnull_ms=M blocked_ms=M" (medians of 5). An alarm ends a run that
 * blocks (exit 3). Usage: LD_PRELOAD=... bench_failure */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median ms of 5 failing binds to 127.0.0.(first..first+4):port. */
static double failing_binds(int port, int first)
{
    double ms[5];
    for (int i = 0; i < 5; ++i) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)port);
        a.sin_addr.s_addr = htonl(0x7f000000u + (unsigned)(first + i));
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) exit(4);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        close(fd);
        ms[i] = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    }
    qsort(ms, 5, sizeof ms[0], cmp);
    return ms[2];
}

int main(void)
{
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 8) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &len) != 0)
        return 2;
    const int port = ntohs(a.sin_port);
    const int saved_stderr = dup(2);
    const int null_fd = open("/dev/null", O_WRONLY);
    dup2(null_fd, 2);
    const double devnull = failing_binds(port, 1);
    int p[2];
    if (pipe(p) != 0) return 2;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", p[1]);
    const int filler = open(link, O_WRONLY | O_NONBLOCK);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    while (filler >= 0 && write(filler, chunk, sizeof chunk) > 0) {
    }
    dup2(p[1], 2);
    alarm(5);
    const double blocked = failing_binds(port, 11);
    alarm(0);
    dup2(saved_stderr, 2);
    printf("devnull_ms=%.3f blocked_ms=%.3f\n", devnull, blocked);
    return 0;
}
