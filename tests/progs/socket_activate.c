/* A small systemd-socket-activate: listens on 127.0.0.1, then runs a program with the
 * socket as fd 3 and LISTEN_FDS=1, LISTEN_PID=its pid (sd_listen_fds(3)). With --check
 * it is that program: it verifies the hand-over it received. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "listener.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-p PORT] PROGRAM [ARG...]\n"
            "       %s --check\n"
            "  -p PORT  port to listen on at 127.0.0.1 (default 0: the kernel picks)\n"
            "Prints \"port P\", runs PROGRAM with the socket as fd 3, LISTEN_FDS=1 and\n"
            "LISTEN_PID set, and exits with its status (128+N if killed by signal N).\n"
            "--check: exit 0 after printing \"activated fd 3\" if this process received\n"
            "such a hand-over; otherwise print why and exit 1.\n",
            prog, prog);
    exit(2);
}

static int check(void)
{
    const char *listen_pid = getenv("LISTEN_PID");
    const char *listen_fds = getenv("LISTEN_FDS");
    if (listen_pid == NULL || atol(listen_pid) != (long)getpid()) {
        printf("LISTEN_PID=%s is not this process (%ld)\n", listen_pid ? listen_pid : "(unset)",
               (long)getpid());
        return 1;
    }
    if (listen_fds == NULL || strcmp(listen_fds, "1") != 0) {
        printf("LISTEN_FDS=%s, expected 1\n", listen_fds ? listen_fds : "(unset)");
        return 1;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) {
        printf("fd 3 is not a socket: %s\n", strerror(errno));
        return 1;
    }
    if (!listening) {
        printf("fd 3 is a socket that does not listen\n");
        return 1;
    }
    printf("activated fd 3\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--check") == 0)
        return check();

    int port = 0;
    int opt;
    /* "+": stop at the program, its options are its own. */
    while ((opt = getopt(argc, argv, "+p:")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (optind == argc)
        usage(argv[0]);

    const int fd = listen_tcp(AF_INET, "127.0.0.1", port, &port);
    printf("port %d\n", port);
    fflush(stdout);

    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* Single-threaded, so setenv between fork and exec is safe here. */
        if (fd != 3) {
            if (dup2(fd, 3) < 0)
                die("dup2");
            close(fd);
        }
        char value[32];
        snprintf(value, sizeof value, "%ld", (long)getpid());
        if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", value, 1) < 0)
            die("setenv");
        execvp(argv[optind], argv + optind);
        perror(argv[optind]);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
