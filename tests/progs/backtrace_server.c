/* A legacy server whose bind happens in a named function, built with -g: the
 * backtrace scenarios check that a report names open_listener_on_port and main.
 * -s binds from a signal handler instead; -u also prints where the unwinder's
 * and the C++ runtime's symbols resolve in this process's global scope. */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static int show_unwinder;

/* Where each symbol resolves from RTLD_DEFAULT: the object's path, or "none". */
static void print_global_scope(void)
{
    static const char *const names[] = {"_Unwind_Backtrace", "_Unwind_RaiseException", "_Unwind_Find_FDE",
                                        "__cxa_demangle", "unw_backtrace", "unw_getcontext"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
        void *sym = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        const char *where = sym == NULL ? "none" : dladdr(sym, &info) && info.dli_fname ? info.dli_fname : "?";
        printf("%s=%s\n", names[i], where);
    }
}

/* Not static and never inlined: its name must appear in the report's backtrace. */
__attribute__((noinline)) int open_listener_on_port(int wanted)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)wanted);
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        int saved = errno;
        perror("bind");
        if (show_unwinder)
            print_global_scope();
        printf("errno=%d\n", saved);
        fflush(stdout);
        exit(1);
    }
    if (listen(fd, 16) < 0) {
        perror("listen");
        exit(1);
    }
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
        perror("getsockname");
        exit(1);
    }
    return ntohs(sin.sin_port);
}

static void on_signal(int sig)
{
    (void)sig;
    printf("port %d\n", open_listener_on_port(port));
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int from_signal = 0, opt;
    while ((opt = getopt(argc, argv, "p:su")) != -1) {
        switch (opt) {
        case 'p': port = atoi(optarg); break;
        case 's': from_signal = 1; break;
        case 'u': show_unwinder = 1; break;
        default:
            fprintf(stderr, "usage: %s [-p PORT] [-s] [-u]\n"
                            "  -s  bind from a SIGUSR1 handler\n"
                            "  -u  on a failed bind, print where _Unwind_* and friends resolve\n"
                            "Prints \"port P\" once listening, then waits to be killed;\n"
                            "on a failed bind prints \"errno=N\" and exits 1.\n",
                    argv[0]);
            return 2;
        }
    }
    if (from_signal) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGUSR1, &sa, NULL);
        raise(SIGUSR1);
    } else {
        printf("port %d\n", open_listener_on_port(port));
        fflush(stdout);
    }
    for (;;)
        pause();
}
