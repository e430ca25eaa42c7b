/* A threaded server whose second thread closes a listening socket and opens something
 * else on the same descriptor number, with O_CLOEXEC, while the main thread is inside
 * system(). Deterministic: the command itself wakes the thread through a pipe and waits
 * for its answer before the shell exits. Afterwards it prints the FD_CLOEXEC flag of the
 * reused number ("reused cloexec=1": as the thread set it) and of a second listener no
 * one touched ("kept cloexec=0"). Writes nothing to stderr unless something fails. */
#define _GNU_SOURCE

#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int reused_fd;
static int go[2], back[2];
static const char *kind = "socket";

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-k socket|file]\n"
            "  -k socket  the thread puts a new listening socket (SOCK_CLOEXEC) on the number\n"
            "  -k file    the thread puts /dev/null (O_CLOEXEC) on the number\n"
            "Prints \"status S\", \"reused cloexec=F\", \"kept cloexec=F\".\n",
            prog);
    exit(2);
}

static void *replace_fd(void *unused)
{
    (void)unused;
    char byte;
    if (read(go[0], &byte, 1) != 1)
        die("read");
    if (close(reused_fd) != 0)
        die("close");
    int fd;
    if (strcmp(kind, "file") == 0) {
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else {
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || listen(fd, 1) != 0)
            die("new listener");
    }
    if (fd < 0)
        die("open");
    if (fd != reused_fd) { /* the lowest free number is usually the one just closed */
        if (dup3(fd, reused_fd, O_CLOEXEC) != reused_fd)
            die("dup3");
        close(fd);
    }
    if (write(back[1], "x\n", 2) != 2)
        die("write");
    return NULL;
}

static int cloexec_of(int fd)
{
    const int flags = fcntl(fd, F_GETFD);
    return flags < 0 ? -1 : (flags & FD_CLOEXEC) != 0;
}

int main(int argc, char **argv)
{
    int opt;
    while ((opt = getopt(argc, argv, "k:")) != -1) {
        switch (opt) {
        case 'k': kind = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || (strcmp(kind, "socket") != 0 && strcmp(kind, "file") != 0))
        usage(argv[0]);

    int port;
    reused_fd = listen_tcp(AF_INET, NULL, 0, &port);
    const int kept_fd = listen_tcp(AF_INET, NULL, 0, &port);
    if (pipe(go) != 0 || pipe(back) != 0) /* no O_CLOEXEC: the shell uses them */
        die("pipe");
    pthread_t thread;
    if (pthread_create(&thread, NULL, replace_fd, NULL) != 0)
        die("pthread_create");

    char command[128];
    snprintf(command, sizeof command, "printf x >&%d; read -r answer <&%d", go[1], back[0]);
    const int status = system(command);
    pthread_join(thread, NULL);
    printf("status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    printf("reused cloexec=%d\nkept cloexec=%d\n", cloexec_of(reused_fd), cloexec_of(kept_fd));
    return 0;
}
