/* Load for bench/loaded-host: what a busy host looks like to a port diagnosis. Three modes,
 * each prints its facts on stdout and waits until killed (its processes die with it):
 *   procs N        N processes with 50 descriptors each (sockets, an unrelated listener, pipes, files)
 *   conns TW EST   TW TIME_WAIT remnants on a port P (a listener with SO_REUSEADDR that closed
 *                  first, then went away) and EST established connections on another listener
 *   serve P        a careless server: listens on P (SO_REUSEADDR, no O_CLOEXEC), starts a
 *                  helper (sleep) that inherits the socket, prints "helper PID", waits
 * and one that measures:
 *   time OUT CMD...  runs CMD once with stdout and stderr in the file OUT, prints its wall ms */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { fds_per_process = 50 };

static void die(const char *what)
{
    perror(what);
    exit(1);
}

static void usage(const char *prog)
{
    fprintf(stderr, "usage: %s procs N | conns TIME_WAIT ESTABLISHED | serve PORT | time OUT CMD...\n", prog);
    exit(2);
}

static int number(const char *text)
{
    char *end = NULL;
    long v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < 0 || v > 1000000)
        usage("bench_loaded_host");
    return (int)v;
}

static struct sockaddr_in loopback(const char *address, int port)
{
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, address, &sin.sin_addr) != 1)
        die("inet_pton");
    return sin;
}

/* A TCP listener on ADDRESS:PORT (0: the kernel picks); *bound gets the port. */
static int listener(const char *address, int port, int reuse, int backlog, int *bound)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("SO_REUSEADDR");
    struct sockaddr_in sin = loopback(address, port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("bind");
    if (listen(fd, backlog) < 0)
        die("listen");
    socklen_t len = sizeof sin;
    if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
        die("getsockname");
    *bound = ntohs(sin.sin_port);
    return fd;
}

/* A connected pair over loopback from client address FROM: *client and *server (the accepted end). */
static void connect_pair(int lfd, int port, const char *from, int *client, int *server)
{
    *client = socket(AF_INET, SOCK_STREAM, 0);
    if (*client < 0)
        die("socket");
    struct sockaddr_in src = loopback(from, 0);
    if (bind(*client, (struct sockaddr *)&src, sizeof src) < 0)
        die("bind client");
    struct sockaddr_in sin = loopback("127.0.0.1", port);
    if (connect(*client, (struct sockaddr *)&sin, sizeof sin) < 0)
        die("connect");
    *server = accept(lfd, NULL, NULL);
    if (*server < 0)
        die("accept");
}

static void wait_until_killed(void)
{
    for (;;)
        pause();
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* One loaded process: 50 descriptors above stdio, then sleep until the parent dies. */
static void loaded_child(void)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        die("prctl");
    int port = 0, n = 1;
    listener("127.0.0.1", 0, 0, 4, &port);       /* an unrelated service's listener */
    for (int i = 0; i < 2; i++, n++) {           /* bound UDP sockets */
        int fd = socket(AF_INET, SOCK_DGRAM, 0);
        struct sockaddr_in sin = loopback("127.0.0.1", 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0)
            die("udp");
    }
    for (int i = 0; i < 2; i++, n++)             /* TCP sockets not yet bound */
        if (socket(AF_INET, SOCK_STREAM, 0) < 0)
            die("socket");
    for (int i = 0; i < 2; i++, n += 2) {        /* unix socket pairs */
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            die("socketpair");
    }
    for (int i = 0; i < 8; i++, n += 2) {        /* pipes */
        int p[2];
        if (pipe(p) < 0)
            die("pipe");
    }
    static const char *const files[] = {"/dev/null", "/etc/passwd", "/proc/self/stat", "/"};
    for (int i = 0; n < fds_per_process; i++, n++)
        if (open(files[i % 4], O_RDONLY) < 0)
            die("open");
    wait_until_killed();
    _exit(0);
}

static int run_procs(int count)
{
    for (int i = 0; i < count; i++) {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0)
            loaded_child();
    }
    printf("ready %d\n", count);
    fflush(stdout);
    wait_until_killed();
    return 0;
}

static int run_conns(int time_wait, int established)
{
    raise_fd_limit();
    /* TIME_WAIT lands on the side that closes first: here the listener's side, on port P.
     * SO_REUSEADDR is copied into the remnants, so a server that sets it can bind P again. */
    int port = 0;
    int lfd = listener("0.0.0.0", 0, 1, 128, &port);
    for (int i = 0; i < time_wait; i++) {
        /* Clients from many addresses: a client port used again from the same address would
         * meet its old remnant and recycle it (a SYN to a TIME_WAIT socket reopens it). */
        char from[32];
        snprintf(from, sizeof from, "127.1.%d.%d", i / 200, i % 200 + 1);
        int client, server;
        connect_pair(lfd, port, from, &client, &server);
        close(server);
        close(client);
    }
    close(lfd);
    int other = 0;
    lfd = listener("127.0.0.1", 0, 0, 128, &other);
    for (int i = 0; i < established; i++) {
        int client, server;
        connect_pair(lfd, other, "127.0.0.1", &client, &server);
    }
    printf("port %d\nother %d\nready\n", port, other);
    fflush(stdout);
    wait_until_killed();
    return 0;
}

static int run_serve(int port)
{
    int bound = 0;
    listener("0.0.0.0", port, 1, 16, &bound); /* no O_CLOEXEC: the helper keeps it */
    pid_t helper = fork();
    if (helper < 0)
        die("fork");
    if (helper == 0) {
        execlp("sleep", "sleep", "600", (char *)NULL);
        _exit(127);
    }
    printf("port %d\nhelper %d\n", bound, (int)helper);
    fflush(stdout);
    wait_until_killed();
    return 0;
}

/* fork+exec+wait of CMD, timed with CLOCK_MONOTONIC: no shell or date(1) in the figure. */
static int run_time(const char *out, char **cmd)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execvp(cmd[0], cmd);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("%.1f\n", ms);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && strcmp(argv[1], "procs") == 0)
        return run_procs(number(argv[2]));
    if (argc == 4 && strcmp(argv[1], "conns") == 0)
        return run_conns(number(argv[2]), number(argv[3]));
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return run_serve(number(argv[2]));
    if (argc >= 4 && strcmp(argv[1], "time") == 0)
        return run_time(argv[2], argv + 3);
    usage(argv[0]);
    return 2;
}
