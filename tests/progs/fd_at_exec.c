/* Runs PROGRAM with a listening socket on a chosen fd, behind unrelated
 * descriptors: a pipe's two ends and /dev/null on fds 3-5 (as under shells and
 * CI runners), then a TCP listener on 127.0.0.1 moved to fd FD. Prints
 * "port P", then execs PROGRAM, which inherits all of them. */
#define _POSIX_C_SOURCE 200809L

#include "listener.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s FD PROGRAM [ARG...]\n"
                        "  FD  where the listener goes (6 to 1090)\n", argv[0]);
        return 2;
    }
    const int at = atoi(argv[1]);
    if (at < 6 || at > 1090) {
        fprintf(stderr, "%s: FD %s is out of range (6 to 1090)\n", argv[0], argv[1]);
        return 2;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) die("getrlimit");
    if (limit.rlim_cur <= (rlim_t)at) { /* 1024 is the usual soft limit */
        limit.rlim_cur = (rlim_t)at + 1;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) die("setrlimit RLIMIT_NOFILE");
    }
    int p[2];
    if (pipe(p) != 0) die("pipe");
    if (open("/dev/null", O_RDWR) < 0) die("/dev/null");
    int port = 0;
    const int fd = listen_tcp(AF_INET, "127.0.0.1", 0, &port);
    if (fd != at) {
        if (dup2(fd, at) < 0) die("dup2");
        close(fd);
    }
    printf("port %d\n", port);
    fflush(stdout);
    execvp(argv[2], argv + 2);
    die(argv[2]);
}
