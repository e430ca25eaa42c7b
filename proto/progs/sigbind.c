// Binds and closes 127.0.0.1:0 N times while an SA_RESTART SIGALRM fires every
// millisecond; counts failed binds by errno (a restarted, already performed bind: EINVAL).
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static void on_alarm(int sig) { (void)sig; }

int main(int argc, char** argv) {
    int n = atoi(argv[1]), fails = 0, last = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, NULL);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < n; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) { ++fails; last = errno; }
        close(fd);
    }
    printf("%d binds, %d failed (last: %s)\n", n, fails, fails ? strerror(last) : "-");
    return 0;
}
