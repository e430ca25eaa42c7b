/* A prefork server in the old style: the master listens (no O_CLOEXEC), forks N
 * workers that share the socket and block in accept(), then waits until killed. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "listener.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-p PORT] [-w N]\n"
            "  -p PORT  port to listen on, wildcard IPv4 (default 0: the kernel picks)\n"
            "  -w N     number of workers (default 4)\n"
            "Prints \"port P\", then one \"worker PID\" line per worker; waits until killed.\n"
            "Workers die with the master (PR_SET_PDEATHSIG).\n",
            prog);
    exit(2);
}

static void serve(int fd, pid_t master)
{
    /* A test killing the master by pid must not leave workers behind. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != master)
        _exit(1);
    for (;;) {
        int conn = accept(fd, NULL, NULL);
        if (conn >= 0)
            close(conn);
        else if (errno != EINTR && errno != ECONNABORTED)
            _exit(1);
    }
}

int main(int argc, char **argv)
{
    int port = 0, workers = 4;
    int opt;

    while ((opt = getopt(argc, argv, "p:w:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 'w': workers = atoi(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || workers < 1)
        usage(argv[0]);

    const int fd = listen_tcp(AF_INET, NULL, port, &port);
    printf("port %d\n", port);
    fflush(stdout); /* before fork, or every worker would print it again */

    const pid_t master = getpid();
    for (int i = 0; i < workers; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            serve(fd, master);
        printf("worker %d\n", (int)pid);
        fflush(stdout);
    }
    for (;;)
        pause();
}
