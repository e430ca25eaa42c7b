/* Process start cost: spawn PROGRAM N times per configuration — without a
 * preload, and with each LIBRARY given — interleaving the configurations spawn
 * by spawn so machine drift hits all alike. LD_PRELOAD is set only in the
 * children's environment. Prints, one line per configuration in the order
 * given (the plain run first), the mean microseconds per spawn+exit and the
 * mean minor page faults of each child (wait4's rusage).
 * -f: the children also inherit unrelated descriptors (a pipe's two ends,
 * /dev/null and a regular file on fds 3-6), as under shells and CI runners. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* environ without LD_PRELOAD, plus LD_PRELOAD=lib when lib is not NULL. */
static char **child_env(const char *lib)
{
    size_t count = 0;
    while (environ[count]) count++;
    char **env = calloc(count + 2, sizeof *env);
    if (!env) exit(1);
    size_t k = 0;
    for (size_t i = 0; i < count; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0) env[k++] = environ[i];
    if (lib) {
        size_t len = strlen(lib) + sizeof "LD_PRELOAD=";
        env[k] = malloc(len);
        if (!env[k]) exit(1);
        snprintf(env[k++], len, "LD_PRELOAD=%s", lib);
    }
    env[k] = NULL;
    return env;
}

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Four inheritable descriptors that are not listening sockets. */
static int open_unrelated(void)
{
    int p[2];
    char file[] = "/tmp/bench_spawn.XXXXXX";
    if (pipe(p) != 0) return -1;
    const int null_fd = open("/dev/null", O_RDWR);
    const int reg = mkstemp(file);
    if (null_fd < 0 || reg < 0) return -1;
    unlink(file);
    return 0;
}

int main(int argc, char **argv)
{
    int arg = 1;
    if (argc > 1 && strcmp(argv[1], "-f") == 0) {
        if (open_unrelated() != 0) {
            perror("bench_spawn: -f");
            return 1;
        }
        arg++;
    }
    if (argc - arg < 2) {
        fprintf(stderr, "usage: %s [-f] N PROGRAM [PRELOAD-LIBRARY...]\n", argv[0]);
        return 2;
    }
    const long n = strtol(argv[arg], NULL, 10);
    char *program = argv[arg + 1];
    const int configs = argc - arg - 1; /* the plain run, then one per library */
    char *child_argv[] = {program, NULL};
    char ***envs = calloc((size_t)configs, sizeof *envs);
    double *total = calloc((size_t)configs, sizeof *total);
    double *faults = calloc((size_t)configs, sizeof *faults);
    if (n < 1 || !envs || !total || !faults) return 2;
    for (int c = 0; c < configs; c++) envs[c] = child_env(c == 0 ? NULL : argv[arg + 1 + c]);

    for (long i = 0; i < n; i++) {
        for (int c = 0; c < configs; c++) {
            const double t0 = now_us();
            pid_t pid;
            if (posix_spawn(&pid, program, NULL, NULL, child_argv, envs[c]) != 0) return 1;
            int status;
            struct rusage ru;
            if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status)) return 1;
            total[c] += now_us() - t0;
            faults[c] += (double)ru.ru_minflt;
        }
    }
    for (int c = 0; c < configs; c++)
        printf("%.1f %.2f\n", total[c] / (double)n, faults[c] / (double)n);
    return 0;
}
