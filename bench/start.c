/* Start cost of wrapped programs: N rounds, each spawning every command line once
 * (interleaved, so machine drift hits all alike) and waiting for its exit 0.
 * Command lines are separated by a lone "::"; their stdout is /dev/null. Prints the median microseconds of
 * spawn+exit per command line, one line each, in the order given.
 * Usage: bench_start N CMD [ARG...] [:: CMD [ARG...]]... */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N CMD [ARG...] [:: CMD [ARG...]]...\n", argv[0]);
        return 2;
    }
    const long n = strtol(argv[1], NULL, 10);
    char **cmds[64];
    int configs = 0;
    cmds[configs++] = &argv[2];
    for (int i = 2; i < argc && configs < 64; i++)
        if (strcmp(argv[i], "::") == 0) {
            argv[i] = NULL; /* ends the previous command line */
            cmds[configs++] = &argv[i + 1];
        }
    double *times = calloc((size_t)(configs * n), sizeof *times);
    posix_spawn_file_actions_t quiet;
    if (n < 1 || !times || posix_spawn_file_actions_init(&quiet) != 0 ||
        posix_spawn_file_actions_addopen(&quiet, 1, "/dev/null", O_WRONLY, 0) != 0)
        return 2;
    for (long i = 0; i < n; i++)
        for (int c = 0; c < configs; c++) {
            const double t0 = now_us();
            pid_t pid;
            int status;
            if (posix_spawnp(&pid, cmds[c][0], &quiet, NULL, cmds[c], environ) != 0 ||
                waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench_start: %s failed\n", cmds[c][0]);
                return 1;
            }
            times[c * n + i] = now_us() - t0;
        }
    for (int c = 0; c < configs; c++) {
        qsort(times + c * n, (size_t)n, sizeof *times, by_value);
        printf("%.0f\n", times[c * n + n / 2]);
    }
    return 0;
}
