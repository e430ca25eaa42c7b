/* Process start cost: spawn PROGRAM N times per configuration — without a
 * preload, and with each LIBRARY given — interleaving the configurations spawn
 * by spawn so machine drift hits all alike. LD_PRELOAD is set only in the
 * children's environment. Prints the mean microseconds per spawn+exit, one
 * line per configuration, in the order given (the plain run first). */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

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

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s N PROGRAM [PRELOAD-LIBRARY...]\n", argv[0]);
        return 2;
    }
    const long n = strtol(argv[1], NULL, 10);
    const int configs = argc - 2; /* the plain run, then one per library */
    char *child_argv[] = {argv[2], NULL};
    char ***envs = calloc((size_t)configs, sizeof *envs);
    double *total = calloc((size_t)configs, sizeof *total);
    if (!envs || !total) return 1;
    for (int c = 0; c < configs; c++) envs[c] = child_env(c == 0 ? NULL : argv[2 + c]);

    for (long i = 0; i < n; i++) {
        for (int c = 0; c < configs; c++) {
            const double t0 = now_us();
            pid_t pid;
            if (posix_spawn(&pid, argv[2], NULL, NULL, child_argv, envs[c]) != 0) return 1;
            int status;
            if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status)) return 1;
            total[c] += now_us() - t0;
        }
    }
    for (int c = 0; c < configs; c++) printf("%.1f\n", total[c] / (double)n);
    return 0;
}
