/* Binds to a busy port from a small stack, as threads created with
 * PTHREAD_STACK_MIN and coroutine libraries do, and fails as any daemon does:
 * "errno=98" on stdout, exit 1. Only bind() runs on the small stack.
 * Usage: small_stack -p PORT -m thread|coroutine|measure|system [-s BYTES]
 *   thread:    a pthread with a PTHREAD_STACK_MIN stack (and glibc's guard page)
 *   system:    listens (no SOCK_CLOEXEC) on 0.0.0.0:0, then such a thread runs
 *              system("exit 3") (exec-leak territory): prints "status=3", exit 0
 *   fork:      listens likewise, then such a thread forks a child that exits 4
 *              (the registry's records are written at that fork): "status=4" 
 *   coroutine: makecontext on BYTES (default 8192) with a PROT_NONE guard page below
 *   measure:   bind on a 256 KiB stack painted with a pattern; prints the bytes of
 *              it that bind() touched ("stack_bytes=N"): the caller's stack cost */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static int g_port;
static int g_err;
static ucontext_t g_main, g_coroutine;

static void bind_once(void)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)g_port);
    g_err = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : errno;
    close(fd);
}

static void *thread_main(void *arg)
{
    (void)arg;
    bind_once();
    return NULL;
}

static int g_status = -1;

static void *fork_main(void *arg)
{
    (void)arg;
    const pid_t pid = fork();
    if (pid == 0) _exit(4);
    if (pid > 0) waitpid(pid, &g_status, 0);
    return NULL;
}

static void *system_main(void *arg)
{
    (void)arg;
    g_status = system("exit 3");
    return NULL;
}

/* A pthread with a PTHREAD_STACK_MIN stack running `fn`, joined. */
static int on_small_thread(void *(*fn)(void *))
{
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
    if (pthread_create(&thread, &attr, fn, NULL) != 0) return -1;
    return pthread_join(thread, NULL);
}

static void coroutine_main(void)
{
    bind_once();
    swapcontext(&g_coroutine, &g_main);
}

/* A stack of `size` bytes above a guard page; `paint` fills it with a pattern first. */
static char *map_stack(size_t size, int paint)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, size + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || mprotect(mem, page, PROT_NONE) != 0) {
        perror("small_stack: mmap");
        exit(2);
    }
    if (paint) memset(mem + page, 0xa5, size);
    return mem + page;
}

static void run_coroutine(char *stack, size_t size)
{
    getcontext(&g_coroutine);
    g_coroutine.uc_stack.ss_sp = stack;
    g_coroutine.uc_stack.ss_size = size;
    g_coroutine.uc_link = &g_main;
    makecontext(&g_coroutine, coroutine_main, 0);
    swapcontext(&g_main, &g_coroutine);
}

int main(int argc, char **argv)
{
    const char *mode = "thread";
    size_t size = 8192;
    int opt;
    g_port = -1;
    while ((opt = getopt(argc, argv, "p:m:s:")) != -1) {
        if (opt == 'p') g_port = atoi(optarg);
        else if (opt == 'm') mode = optarg;
        else if (opt == 's') size = (size_t)atol(optarg);
        else return 2;
    }
    if (g_port < 0) {
        fprintf(stderr, "usage: small_stack -p PORT -m thread|coroutine|measure [-s BYTES]\n");
        return 2;
    }
    if (strcmp(mode, "thread") == 0) {
        if (on_small_thread(thread_main) != 0) return 2;
    } else if (strcmp(mode, "system") == 0 || strcmp(mode, "fork") == 0) {
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr;
        memset(&addr, 0, sizeof addr);
        addr.sin_family = AF_INET;
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0) return 2;
        if (on_small_thread(strcmp(mode, "fork") == 0 ? fork_main : system_main) != 0) return 2;
        printf("status=%d\n", WIFEXITED(g_status) ? WEXITSTATUS(g_status) : -1);
        return 0;
    } else if (strcmp(mode, "coroutine") == 0) {
        run_coroutine(map_stack(size, 0), size);
    } else if (strcmp(mode, "measure") == 0) {
        const size_t big = 256 * 1024;
        char *stack = map_stack(big, 1);
        run_coroutine(stack, big);
        size_t untouched = 0;
        while (untouched < big && (unsigned char)stack[untouched] == 0xa5) ++untouched;
        printf("stack_bytes=%zu\n", big - untouched);
    } else {
        return 2;
    }
    if (g_err != 0) {
        printf("errno=%d\n", g_err);
        return 1;
    }
    printf("bound\n");
    return 0;
}
