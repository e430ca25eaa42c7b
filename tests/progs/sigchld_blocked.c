/* Blocks SIGCHLD, as some service managers and shells leave it, then execs its
 * arguments: the launcher under test starts with SIGCHLD blocked (launch.cpp). */
#define _DEFAULT_SOURCE

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    sigset_t set;
    if (argc < 2)
        return 2;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return 2;
    execvp(argv[1], argv + 1);
    perror(argv[1]);
    return 127;
}
