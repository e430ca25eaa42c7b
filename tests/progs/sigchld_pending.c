/* Prints "pending 1" when SIGCHLD is pending at start (sigpending), else "pending 0":
 * a program must not inherit a signal from its launcher's own children (launch.cpp). */
#define _DEFAULT_SOURCE

#include <signal.h>
#include <stdio.h>

int main(void)
{
    sigset_t set;
    sigemptyset(&set);
    if (sigpending(&set) != 0)
        return 2;
    printf("pending %d\n", sigismember(&set, SIGCHLD) == 1 ? 1 : 0);
    return 0;
}
