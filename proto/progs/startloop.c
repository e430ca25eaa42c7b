// Start latency: runs COMMAND N times (fork, execvp, wait), prints the mean and median wall time.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    int n = atoi(argv[1]);
    double* t = calloc(n, sizeof *t), sum = 0;
    for (int i = 0; i < n; ++i) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        pid_t p = fork();
        if (p == 0) { execvp(argv[2], argv + 2); _exit(127); }
        int st;
        waitpid(p, &st, 0);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
        sum += t[i];
    }
    qsort(t, n, sizeof *t, cmp);
    printf("%s: mean %.0f us, median %.0f us (n=%d)\n", argv[2], sum / n, t[n / 2], n);
    return 0;
}
