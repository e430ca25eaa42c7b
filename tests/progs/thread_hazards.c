/* The places where a preload library is most likely to hang, crash or clobber errno
 * in a program it did not write: failing binds from many threads while another thread
 * forks, from fork handlers, from signal handlers (also while the program is inside
 * malloc), and vfork/posix_spawn from a threaded server. Every bind targets a port this
 * process listens on, so it must fail with EADDRINUSE; each mismatch is counted and
 * printed. stdout is the same with and without a preload (nothing variable in it). */
#define _GNU_SOURCE

#include "listener.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* More busy ports than portshim tracks for its rate limit (63), so failures in a round
 * robin keep reaching the diagnosis engine instead of being counted as repeats. */
enum { max_ports = 96, max_threads = 64 };
static struct sockaddr_in busy[max_ports];
static int busy_count = 1;

static atomic_int done;
static atomic_int mismatches;

/* Written by signal handlers: lock-free atomics only. */
static atomic_int handler_runs;
static atomic_int handler_mismatches;
static atomic_int handler_last_errno;

/* A child still running after this long is counted as hung and killed. */
static const double child_timeout_seconds = 10.0;

#define MISSING "/nonexistent/portshim-no-such-program"

/* Exit codes of a child, so the parent can say what went wrong. */
enum {
    child_ok = 0,
    child_bound = 3,
    child_wrong_errno = 4,
    child_exec_failed = 5,
    child_orphaned = 6,
    child_handler_missed = 7,
    child_handler_errno = 8,
    child_missing_ok = 42,
};

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s MODE [-t THREADS] [-n COUNT] [-p PORTS] [-i MICROSECONDS] [-m]\n"
            "  fork-thread    THREADS threads bind in a loop while one more thread forks COUNT\n"
            "                 children; each binds, then execs /bin/true (odd) or _exit(0)s\n"
            "  atfork-signal  COUNT forks whose prepare and child handlers raise SIGUSR1,\n"
            "                 whose handler binds (THREADS threads bind meanwhile)\n"
            "  signal-bind    SIGALRM every MICROSECONDS (default 200) binds from its handler\n"
            "                 while the main thread binds COUNT times, and until the handler\n"
            "                 ran 20 times (-m: the main thread also mallocs between binds)\n"
            "  spawn          COUNT rounds of vfork+execv and posix_spawn of /bin/echo (and of\n"
            "                 a missing program every 5th round) while THREADS threads bind\n"
            "  -p PORTS       listen on PORTS ports and bind them in turn (default 1, max %d)\n"
            "Prints \"ok MODE\" and exits 0 when every bind failed with EADDRINUSE and every\n"
            "child did what it should; otherwise \"mismatch: ...\" lines, \"failed MODE\", exit 1.\n",
            prog, max_ports);
    exit(2);
}

/* Counts a mismatch and describes the first few (stdio: never from a handler or child). */
static void mismatch(const char *what, long value)
{
    if (atomic_fetch_add(&mismatches, 1) < 10) {
        printf("mismatch: %s (%ld)\n", what, value);
        fflush(stdout);
    }
}

/* One bind of a fresh socket to busy port number `which`: the errno of the failure, 0
 * if it succeeded, -errno if socket() failed. Async-signal-safe; keeps errno. */
static int bind_once(unsigned which)
{
    const int saved = errno;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int err = -errno;
        errno = saved;
        return err;
    }
    const struct sockaddr_in *to = &busy[which % (unsigned)busy_count];
    int rc = bind(fd, (const struct sockaddr *)to, sizeof *to);
    int err = rc == 0 ? 0 : errno;
    close(fd);
    errno = saved;
    return err;
}

static void check_bind(const char *who, unsigned which)
{
    int err = bind_once(which);
    if (err != EADDRINUSE)
        mismatch(who, err);
}

static void *binder(void *arg)
{
    unsigned i = (unsigned)(long)arg;
    do
        check_bind("a thread's bind did not fail with EADDRINUSE; errno", i++);
    while (!atomic_load(&done));
    return NULL;
}

/* The signal handler of every mode: one failing bind, its errno checked. */
static void on_signal(int sig)
{
    (void)sig;
    const int n = atomic_fetch_add(&handler_runs, 1);
    const int err = bind_once((unsigned)n);
    if (err != EADDRINUSE) {
        atomic_fetch_add(&handler_mismatches, 1);
        atomic_store(&handler_last_errno, err);
    }
}

static void install(int sig)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) < 0)
        die("sigaction");
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits for a child with a deadline (a child hung in a library is killed, not waited
 * for) and checks its exit status. */
static void reap(pid_t pid, int expected, const char *what)
{
    const double deadline = now() + child_timeout_seconds;
    long pause_ns = 20000;
    int status = 0;
    for (;;) {
        pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR) {
            mismatch("waitpid failed with errno", errno);
            return;
        }
        if (now() > deadline) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            mismatch("a child hung and was killed; pid", pid);
            return;
        }
        struct timespec ts = {0, pause_ns};
        nanosleep(&ts, NULL);
        if (pause_ns < 5000000)
            pause_ns *= 2;
    }
    if (!WIFEXITED(status))
        mismatch(what, 128 + WTERMSIG(status));
    else if (WEXITSTATUS(status) != expected)
        mismatch(what, WEXITSTATUS(status));
}

/* In a fork child: die with a parent that the test killed on a timeout. */
static void die_with(pid_t parent)
{
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
        _exit(child_orphaned);
}

/* A fork child's own bind, then _exit(0) or exec /bin/true. */
static void child_binds_then_leaves(unsigned index)
{
    int err = bind_once(index);
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

static int forks = 100;

static void *forker(void *arg)
{
    (void)arg;
    const pid_t self = getpid();
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            mismatch("fork failed with errno", errno);
            continue;
        }
        if (pid == 0) {
            die_with(self);
            child_binds_then_leaves((unsigned)i);
        }
        reap(pid, child_ok, "a child of the forking thread exited with");
    }
    return NULL;
}

static void fork_thread(void)
{
    pthread_t tid;
    int err = pthread_create(&tid, NULL, forker, NULL);
    if (err != 0) {
        fprintf(stderr, "pthread_create: %s\n", strerror(err));
        exit(1);
    }
    pthread_join(tid, NULL);
}

static void raise_in_handler(void) { raise(SIGUSR1); }

static void atfork_signal(void)
{
    install(SIGUSR1);
    if (pthread_atfork(raise_in_handler, NULL, raise_in_handler) != 0)
        die("pthread_atfork");
    const pid_t self = getpid();
    for (int i = 0; i < forks; i++) {
        const int before = atomic_load(&handler_runs);
        pid_t pid = fork();
        if (pid < 0) {
            mismatch("fork failed with errno", errno);
            continue;
        }
        if (pid == 0) {
            die_with(self);
            /* The prepare handler ran in the parent before the copy, the child handler here. */
            if (atomic_load(&handler_runs) != before + 2)
                _exit(child_handler_missed);
            if (atomic_load(&handler_mismatches) != 0)
                _exit(child_handler_errno);
            child_binds_then_leaves((unsigned)i);
        }
        if (atomic_load(&handler_runs) != before + 1)
            mismatch("the prepare handler's signal handler did not run once; runs",
                     atomic_load(&handler_runs) - before);
        reap(pid, child_ok, "a child of an atfork-signalling fork exited with");
    }
}

static void signal_bind(long interval_us, int use_malloc)
{
    install(SIGALRM);
    struct itimerval every = {{interval_us / 1000000, interval_us % 1000000},
                              {interval_us / 1000000, interval_us % 1000000}};
    if (setitimer(ITIMER_REAL, &every, NULL) < 0)
        die("setitimer");
    /* At least 20 handler runs, however fast the main thread's binds are. */
    for (int i = 0; i < forks || atomic_load(&handler_runs) < 20; i++) {
        check_bind("the main thread's bind did not fail with EADDRINUSE; errno", (unsigned)i);
        if (use_malloc) {
            /* Keeps the main thread inside malloc most of the time, holding its lock. */
            enum { blocks_per_round = 4096 };
            static void *blocks[blocks_per_round];
            for (int j = 0; j < blocks_per_round; j++) {
                blocks[j] = malloc(16 + (size_t)((i + j) % 64) * 64);
                if (blocks[j] != NULL)
                    memset(blocks[j], j, 16);
            }
            for (int j = 0; j < blocks_per_round; j++)
                free(blocks[j]);
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    if (atomic_load(&handler_runs) == 0)
        mismatch("the SIGALRM handler never ran", 0);
}

/* vfork, then execv in the child (its own frame: nothing here outlives the vfork).
 * A child whose program is missing exits child_missing_ok if execv said ENOENT. */
static __attribute__((noinline)) pid_t vfork_exec(const char *path, char **argv)
{
    pid_t pid = vfork();
    if (pid == 0) {
        execv(path, argv);
        _exit(errno == ENOENT ? child_missing_ok : child_exec_failed);
    }
    return pid;
}

static void spawn_rounds(void)
{
    for (int i = 0; i < forks; i++) {
        char number[16];
        snprintf(number, sizeof number, "%d", i);
        const int missing = i % 5 == 4;
        char *echo_vfork[] = {"echo", "vfork", number, NULL};
        char *echo_spawn[] = {"echo", "spawn", number, NULL};
        char *absent[] = {"absent", NULL};

        fflush(stdout);
        pid_t pid = vfork_exec(missing ? MISSING : "/bin/echo", missing ? absent : echo_vfork);
        if (pid < 0) {
            mismatch("vfork failed with errno", errno);
            continue;
        }
        reap(pid, missing ? child_missing_ok : child_ok, "a vfork child exited with");

        int rc = posix_spawn(&pid, missing ? MISSING : "/bin/echo", NULL, NULL,
                             missing ? absent : echo_spawn, environ);
        if (missing) {
            if (rc != ENOENT)
                mismatch("posix_spawn of a missing program returned", rc);
            if (rc == 0)
                reap(pid, 127, "a posix_spawn child of a missing program exited with");
        } else if (rc != 0) {
            mismatch("posix_spawn returned", rc);
        } else {
            reap(pid, child_ok, "a posix_spawn child exited with");
        }
    }
}

int main(int argc, char **argv)
{
    int threads = 0, use_malloc = 0;
    long interval_us = 200;
    int opt;

    if (argc < 2)
        usage(argv[0]);
    const char *mode = argv[1];
    optind = 2;
    while ((opt = getopt(argc, argv, "t:n:p:i:m")) != -1) {
        switch (opt) {
        case 't': threads = atoi(optarg); break;
        case 'n': forks = atoi(optarg); break;
        case 'p': busy_count = atoi(optarg); break;
        case 'i': interval_us = atol(optarg); break;
        case 'm': use_malloc = 1; break;
        default: usage(argv[0]);
        }
    }
    if (optind != argc || threads < 0 || threads > max_threads || forks < 0 || busy_count < 1 ||
        busy_count > max_ports || interval_us < 1)
        usage(argv[0]);
    if (strcmp(mode, "fork-thread") != 0 && strcmp(mode, "atfork-signal") != 0 &&
        strcmp(mode, "signal-bind") != 0 && strcmp(mode, "spawn") != 0)
        usage(argv[0]);

    /* No O_CLOEXEC, as legacy daemons do: children inherit them (fork events, exec leaks). */
    for (int i = 0; i < busy_count; i++) {
        int port = 0;
        listen_tcp(AF_INET, "127.0.0.1", 0, &port);
        busy[i].sin_family = AF_INET;
        busy[i].sin_port = htons((unsigned short)port);
        busy[i].sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }

    pthread_t tids[max_threads];
    for (int i = 0; i < threads; i++) {
        int err = pthread_create(&tids[i], NULL, binder, (void *)(long)i);
        if (err != 0) {
            fprintf(stderr, "pthread_create: %s\n", strerror(err));
            exit(1);
        }
    }

    if (strcmp(mode, "fork-thread") == 0)
        fork_thread();
    else if (strcmp(mode, "atfork-signal") == 0)
        atfork_signal();
    else if (strcmp(mode, "signal-bind") == 0)
        signal_bind(interval_us, use_malloc);
    else
        spawn_rounds();

    atomic_store(&done, 1);
    for (int i = 0; i < threads; i++)
        pthread_join(tids[i], NULL);
    if (atomic_load(&handler_mismatches) != 0)
        mismatch("a signal handler's bind did not fail with EADDRINUSE; last errno",
                 atomic_load(&handler_last_errno));

    const int failed = atomic_load(&mismatches);
    printf("%s %s\n", failed ? "failed" : "ok", mode);
    return failed ? 1 : 0;
}
