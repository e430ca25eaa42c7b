/* Success-path cost: N rounds of socket+bind(127.0.0.1:0)+listen+close; prints
 * nanoseconds per round. Run with and without LD_PRELOAD by bench/run. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const long n = argc > 1 ? strtol(argv[1], NULL, 10) : 100000;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0,
                              .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 16) != 0) {
            perror("bench");
            return 1;
        }
        close(fd);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    const double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%.0f\n", ns / (double)n);
    return 0;
}
