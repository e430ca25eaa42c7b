/* What an unprivileged user squatting a port controls about his process, set to
 * whatever he likes (forgery scenarios): its argv[0], its comm and its other
 * arguments; the exe path is the name of the copy it runs from. And a server
 * that runs a command through system() with its listening socket inherited.
 * Usage:
 *   hostile_names exec0 ARGV0 MODE ARG...   re-exec itself with argv[0] = ARGV0
 *   hostile_names hold COMM [IGNORED...]    comm = COMM (prctl PR_SET_NAME), listen on
 *                                           0.0.0.0 (port from the kernel), print
 *                                           "port P", wait until killed
 *   hostile_names system COMMAND            listen as above, print "port P", run
 *                                           system(COMMAND), print "status S", exit 0 */
#define _GNU_SOURCE

#include "listener.h"

#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s exec0 ARGV0 MODE ARG... | hold COMM [IGNORED...] | system COMMAND\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "exec0") == 0) {
        execv("/proc/self/exe", argv + 2);
        die("execv");
    }
    if (argc < 3)
        usage(argv[0]);
    const int hold = strcmp(argv[1], "hold") == 0;
    if (!hold && strcmp(argv[1], "system") != 0)
        usage(argv[0]);
    if (hold && prctl(PR_SET_NAME, argv[2], 0, 0, 0) != 0)
        die("prctl");
    int port = 0;
    listen_tcp(AF_INET, NULL, 0, &port);
    printf("port %d\n", port);
    fflush(stdout);
    if (hold) {
        for (;;)
            pause();
    }
    const int status = system(argv[2]);
    printf("status %d\n", status);
    return 0;
}
