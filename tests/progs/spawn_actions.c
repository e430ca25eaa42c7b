/* A legacy server that starts a shell with posix_spawn file actions chosen by MODE, then
 * waits for it: the shell prints how many sockets it holds. Used by the scenarios of
 * spawn_actions.cpp (a leak warning only for file actions that leave the socket open).
 * Usage: spawn_actions MODE, MODE one of
 *   close      addclose(listener)                   the shell holds nothing
 *   closefrom  addclosefrom_np(3)                   the shell holds nothing
 *   dup2-self  adddup2(listener, listener)          the shell holds it
 *   dup2-move  adddup2(listener, 9)                 the shell holds it twice
 *   chdir      addchdir_np("/bin"), then "./sh"     the shell holds it
 *   bad-tag    an action of a kind glibc does not know (it skips it), then
 *              addclose(listener)                   the shell holds nothing
 * Prints "port P" on stderr, the shell's "sockets N" and "child exit S" on stdout;
 * exits with the shell's status. */
#define _GNU_SOURCE

#include "listener.h"

#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s close|closefrom|dup2-self|dup2-move|chdir|bad-tag\n", prog);
    exit(2);
}

static void check(int err, const char *what)
{
    if (err != 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(err));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2)
        usage(argv[0]);
    const char *mode = argv[1];
    int port = 0;
    const int fd = listen_tcp(AF_INET, NULL, 0, &port);
    fprintf(stderr, "port %d\n", port);

    posix_spawn_file_actions_t actions;
    check(posix_spawn_file_actions_init(&actions), "posix_spawn_file_actions_init");
    const char *shell = "/bin/sh";
    if (strcmp(mode, "close") == 0) {
        check(posix_spawn_file_actions_addclose(&actions, fd), "addclose");
    } else if (strcmp(mode, "closefrom") == 0) {
        check(posix_spawn_file_actions_addclosefrom_np(&actions, 3), "addclosefrom_np");
    } else if (strcmp(mode, "dup2-self") == 0) {
        check(posix_spawn_file_actions_adddup2(&actions, fd, fd), "adddup2");
    } else if (strcmp(mode, "dup2-move") == 0) {
        check(posix_spawn_file_actions_adddup2(&actions, fd, 9), "adddup2");
    } else if (strcmp(mode, "chdir") == 0) {
        check(posix_spawn_file_actions_addchdir_np(&actions, "/bin"), "addchdir_np");
        shell = "./sh"; /* relative to the child's directory, /bin: the test's has no sh */
#ifdef __GLIBC__
    } else if (strcmp(mode, "bad-tag") == 0) {
        /* glibc's first action's tag (posix/spawn_int.h) made one no glibc defines. */
        check(posix_spawn_file_actions_addclose(&actions, fd), "addclose");
        *(int *)(void *)actions.__actions = 99;
        check(posix_spawn_file_actions_addclose(&actions, fd), "addclose");
#endif
    } else {
        usage(argv[0]);
    }

    char *const args[] = {"sh", "-c",
                          "n=0; for f in /proc/$$/fd/*; do case $(readlink \"$f\") in socket:*) "
                          "n=$((n+1));; esac; done; echo \"sockets $n\"",
                          NULL};
    pid_t pid;
    check(posix_spawn(&pid, shell, &actions, NULL, args, environ), "posix_spawn");
    posix_spawn_file_actions_destroy(&actions);
    fflush(stdout);
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    printf("child exit %d\n", code);
    return code;
}
