/* Threads and fork together, the way a preload library is most likely to deadlock:
 * while T threads keep binding (and failing with EADDRINUSE) on a port this process
 * listens on, the main thread forks F children that bind once each, then half of
 * them exec /bin/true and half _exit(0). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include "listener.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Exit codes of a child, so the parent can say what went wrong. */
enum { child_ok = 0, child_bound = 3, child_wrong_errno = 4, child_exec_failed = 5, child_orphaned = 6 };

/* A child still running after this long is counted as hung and killed. */
static const double child_timeout_seconds = 10.0;

static struct sockaddr_in target;
static atomic_int done;
static atomic_long binds;
static atomic_int errors;

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-t THREADS] [-f FORKS]\n"
            "  -t THREADS  threads binding 127.0.0.1:PORT in a loop (default 8)\n"
            "  -f FORKS    children forked by the main thread (default 200)\n"
            "Prints \"ok forks=F binds=N errors=0\" and exits 0 when every bind failed with\n"
            "EADDRINUSE and every child exited 0; otherwise \"failed ...\" and exit 1.\n",
            prog);
    exit(2);
}

/* Counts an error and describes the first few on stderr. */
static void count_error(const char *what, long value)
{
    if (atomic_fetch_add(&errors, 1) < 10)
        fprintf(stderr, "fork_stress: %s (%ld)\n", what, value);
}

/* One bind of a fresh socket to the busy port; returns errno, 0 if it succeeded. */
static int bind_once(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int rc = bind(fd, (const struct sockaddr *)&target, sizeof target);
    int err = rc == 0 ? 0 : errno;
    close(fd);
    return err;
}

static void *binder(void *arg)
{
    (void)arg;
    do {
        int err = bind_once();
        atomic_fetch_add(&binds, 1);
        if (err != EADDRINUSE)
            count_error(err == 0 ? "a thread's bind succeeded" : "a thread's bind failed with errno", err);
    } while (!atomic_load(&done));
    return NULL;
}

static void child(int index, pid_t parent)
{
    /* Die with a parent that the test killed on a timeout (checked: it may be gone already). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(child_orphaned);
    int err = bind_once();
    if (err == 0)
        _exit(child_bound);
    if (err != EADDRINUSE)
        _exit(child_wrong_errno);
    if (index % 2 == 0)
        _exit(child_ok);
    char *const argv[] = {"/bin/true", NULL};
    execv(argv[0], argv);
    _exit(child_exec_failed);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for the child with a deadline: a child hung in the library is killed, not waited for. */
static void reap(pid_t pid)
{
    const double deadline = now() + child_timeout_seconds;
    long pause_ns = 20000;
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR) {
            count_error("waitpid failed with errno", errno);
            return;
        }
        if (now() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            count_error("a child hung and was killed; pid", pid);
            return;
        }
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 5000000)
            pause_ns *= 2;
    }
    if (!WIFEXITED(status))
        count_error("a child was killed by signal", WTERMSIG(status));
    else if (WEXITSTATUS(status) != child_ok)
        count_error("a child exited with status", WEXITSTATUS(status));
}

int main(int argc, char **argv)
{
    int threads = 8, forks = 200;
    int opt;

    while ((opt = getopt(argc, argv, "t:f:")) != -1) {
        switch (opt) {
        case 't': threads = atoi(optarg); break;
        case 'f': forks = atoi(optarg); break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || threads < 0 || threads > 64 || forks < 0)
        usage(argv[0]);

    /* The listener has no O_CLOEXEC: every child inherits it (fork events, exec leaks). */
    int port = 0;
    listen_tcp(AF_INET, "127.0.0.1", 0, &port);
    target.sin_family = AF_INET;
    target.sin_port = htons((unsigned short)port);
    target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    pthread_t tids[64];
    for (int i = 0; i < threads; i++) {
        int err = pthread_create(&tids[i], NULL, binder, NULL);
        if (err != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err));
            exit(1);
        }
    }
    const pid_t self = getpid();
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            count_error("fork failed with errno", errno);
            continue;
        }
        if (pid == 0)
            child(i, self);
        reap(pid);
    }
    atomic_store(&done, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);

    const int failed = atomic_load(&errors);
    printf("%s forks=%d binds=%ld errors=%d\n", failed ? "failed" : "ok", forks, atomic_load(&binds),
           failed);
    return failed ? 1 : 0;
}
