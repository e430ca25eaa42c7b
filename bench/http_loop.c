/* The request loop bench/supervise falls back to without wrk: SECONDS of
 * keep-alive GET / on 127.0.0.1:PORT over CONNECTIONS connections served
 * round-robin, one request in flight per connection. Prints requests per second. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reads one response: headers, then Content-Length bytes of body. 0 on success. */
static int read_response(int fd)
{
    char buf[4096];
    size_t have = 0;
    for (;;) {
        const ssize_t got = read(fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0) return -1;
        have += (size_t)got;
        buf[have] = '\0';
        const char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        const char *cl = strcasestr(buf, "Content-Length:");
        const size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
        if (have >= (size_t)(end + 4 - buf) + body) return 0;
    }
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s PORT SECONDS CONNECTIONS\n", argv[0]);
        return 2;
    }
    const int port = atoi(argv[1]), conns = atoi(argv[3]);
    const double seconds = atof(argv[2]);
    int fds[64];
    if (conns < 1 || conns > 64) return 2;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port),
                              .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    for (int c = 0; c < conns; c++) {
        fds[c] = socket(AF_INET, SOCK_STREAM, 0);
        const int one = 1;
        setsockopt(fds[c], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (fds[c] < 0 || connect(fds[c], (struct sockaddr *)&sin, sizeof sin) != 0) {
            perror("http_loop");
            return 1;
        }
    }
    static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    long done = 0;
    const double t0 = now_s();
    double t = t0;
    while (t - t0 < seconds) {
        for (int c = 0; c < conns; c++)
            if (write(fds[c], request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) return 1;
        for (int c = 0; c < conns; c++)
            if (read_response(fds[c]) != 0) return 1;
        done += conns;
        t = now_s();
    }
    printf("%.0f\n", (double)done / (t - t0));
    return 0;
}
