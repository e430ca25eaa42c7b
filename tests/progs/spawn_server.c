/* A legacy server that starts a helper the careless way: its listening socket has no
 * O_CLOEXEC, so the helper keeps the port busy after the server is killed. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "listener.h"

#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-4|-6] [-p PORT] [-m fork-exec|system|spawn]\n"
            "  -4/-6    address family of the wildcard listener (default -4)\n"
            "  -p PORT  port to listen on (default 0: the kernel picks)\n"
            "  -m MODE  how the helper (sleep 300) is started (default fork-exec):\n"
            "           fork-exec: fork, then execvp in the child\n"
            "           system:    system(\"sleep 300 & echo helper $!\")\n"
            "           spawn:     posix_spawnp\n"
            "Prints \"port P\", \"helper PID\" and, once the helper is started (for system:\n"
            "once the shell has exited), \"spawned\"; then waits until killed.\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    int family = AF_INET, port = 0;
    const char *mode = "fork-exec";
    int opt;

    while ((opt = getopt(argc, argv, "46p:m:")) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'p': port = atoi(optarg); break;
        case 'm': mode = optarg; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc ||
        (strcmp(mode, "fork-exec") != 0 && strcmp(mode, "system") != 0 && strcmp(mode, "spawn") != 0))
        usage(argv[0]);

    listen_tcp(family, NULL, port, &port);
    printf("port %d\n", port);
    fflush(stdout);

    char *const helper[] = {"sleep", "300", NULL};
    if (strcmp(mode, "fork-exec") == 0) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            execvp(helper[0], helper);
            _exit(127);
        }
        printf("helper %d\n", (int)pid);
    } else if (strcmp(mode, "system") == 0) {
        /* The shell prints the helper's pid: it is the shell's child, not ours. */
        int status = system("sleep 300 & echo helper $!");
        if (status != 0) {
            fprintf(stderr, "system: status %d\n", status);
            exit(1);
        }
    } else {
        pid_t pid;
        int err = posix_spawnp(&pid, helper[0], NULL, NULL, helper, environ);
        if (err != 0) {
            fprintf(stderr, "posix_spawnp: %s\n", strerror(err));
            exit(1);
        }
        printf("helper %d\n", (int)pid);
    }
    printf("spawned\n");
    fflush(stdout);

    for (;;)
        pause();
}
