/* The cost of a failing bind to the host: how long bind() takes to return when
 * portshim reports it, with stderr on /dev/null and with stderr a full pipe
 * nobody reads (the report is dropped, never waited for). Each bind is to a
 * different 127.0.0.K address so the rate limit does not skip the diagnosis.
 * Prints "devnull_ms=M blocked_ms=M" (medians of 5). An alarm ends a run that
 * blocks (-1). Usage: LD_PRELOAD=... bench_failure */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <sys/wait.h>
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

/* In a child started with stderr = `err_fd` (as at exec, so portshim takes it
 * for the program's stderr): median ms of 5 failing binds, 127.0.0.1-5. */
static double in_child(char *self, int err_fd, int port)
{
    int out[2];
    if (pipe(out) != 0) exit(2);
    const pid_t pid = fork();
    if (pid == 0) {
        char p[16];
        snprintf(p, sizeof p, "%d", port);
        dup2(err_fd, 2);
        dup2(out[1], 1);
        execl(self, self, p, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    char buf[64] = {0};
    const ssize_t n = read(out[0], buf, sizeof buf - 1);
    close(out[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return n > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? atof(buf) : -1;
}

int main(int argc, char **argv)
{
    if (argc == 2) { /* the child: stderr is what the parent chose */
        alarm(5);
        printf("%.3f\n", failing_binds(atoi(argv[1]), 1));
        return 0;
    }
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 8) != 0 ||
        getsockname(listener, (struct sockaddr *)&a, &len) != 0)
        return 2;
    const int port = ntohs(a.sin_port);
    const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    const double devnull = in_child(argv[0], null_fd, port);
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return 2;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", p[1]);
    const int filler = open(link, O_WRONLY | O_NONBLOCK);
    char chunk[4096];
    memset(chunk, 'x', sizeof chunk);
    while (filler >= 0 && write(filler, chunk, sizeof chunk) > 0) {
    }
    const double blocked = in_child(argv[0], p[1], port);
    printf("devnull_ms=%.3f blocked_ms=%.3f\n", devnull, blocked);
    return 0;
}
