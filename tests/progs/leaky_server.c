/* A legacy server with many listeners and careless children: it listens on N TCP sockets
 * without O_CLOEXEC (ports the kernel picks), optionally forks after each listen a child
 * that exits at once, runs one command with system() or vfork+exec, and tries one bind of
 * a port it holds itself; then it exits. Everything portshim does around fork and exec
 * (registry records, fork and exec-leak events, PORTSHIM_CLOEXEC=1) happens for real,
 * while the program's own behaviour, its stdout and exit status, can be compared with and
 * without the preload. It writes nothing to stderr. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-n N] [-f] [-s COMMAND | -v COMMAND] [-b]\n"
            "  -n N        listen on N IPv4 TCP sockets (default 1), without O_CLOEXEC\n"
            "  -f          fork after each listen; the child _exits 0, the parent reaps it\n"
            "  -s COMMAND  then run COMMAND with system()\n"
            "  -v COMMAND  then run /bin/sh -c COMMAND with vfork and execl\n"
            "  -b          then bind another socket to the first listener's port\n"
            "Prints \"listening N\", \"status S\" (the command's exit status), \"bind errno=E\",\n"
            "\"cloexec K\" (how many of the N listeners have FD_CLOEXEC at the end), \"comm NAME\"\n"
            "(from /proc/self/comm) and \"done\".\n",
            prog);
    exit(2);
}

/* The old way to start a helper cheaply: the child borrows our memory until it execs. */
static int run_vforked(const char *command)
{
    int status;
    pid_t pid = vfork();
    if (pid < 0)
        die("vfork");
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    return status;
}

int main(int argc, char **argv)
{
    int count = 1, fork_each = 0, try_bind = 0;
    const char *command = NULL;
    int use_vfork = 0;
    int opt;

    while ((opt = getopt(argc, argv, "n:fs:v:b")) != -1) {
        switch (opt) {
        case 'n': count = atoi(optarg); break;
        case 'f': fork_each = 1; break;
        case 's': command = optarg; use_vfork = 0; break;
        case 'v': command = optarg; use_vfork = 1; break;
        case 'b': try_bind = 1; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || count < 1 || count > 1000)
        usage(argv[0]);

    int *fds = calloc((size_t)count, sizeof *fds);
    int first_port = 0;
    if (fds == NULL)
        die("calloc");
    for (int i = 0; i < count; i++) {
        int port = 0;
        fds[i] = listen_tcp(AF_INET, NULL, 0, &port);
        if (i == 0)
            first_port = port;
        if (fork_each) {
            fflush(stdout);
            pid_t pid = fork();
            if (pid < 0)
                die("fork");
            if (pid == 0)
                _exit(0);
            if (waitpid(pid, NULL, 0) != pid)
                die("waitpid");
        }
    }
    printf("listening %d\n", count);
    fflush(stdout); /* before the command writes to the same stdout */

    if (command != NULL) {
        int status;
        if (use_vfork) {
            status = run_vforked(command);
        } else {
            status = system(command);
        }
        printf("status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    }

    if (try_bind) {
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((unsigned short)first_port);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            die("socket");
        int rc = bind(fd, (struct sockaddr *)&sin, sizeof sin);
        printf("bind errno=%d\n", rc == 0 ? 0 : errno);
        close(fd);
    }

    int cloexec = 0;
    for (int i = 0; i < count; i++)
        if ((fcntl(fds[i], F_GETFD) & FD_CLOEXEC) != 0)
            cloexec++;
    printf("cloexec %d\n", cloexec);
    /* Its name as ps shows it: writing to /proc/self/comm renames a process. */
    char comm[64] = "";
    const int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    const ssize_t n = fd >= 0 ? read(fd, comm, sizeof comm - 1) : -1;
    if (fd >= 0)
        close(fd);
    comm[n > 0 ? n : 0] = '\0';
    printf("comm %s", comm); /* it ends with a newline */
    printf("done\n");
    return 0;
}
