/* Lists its own descriptors (readlink of /proc/self/fd/N, fd and status flags) before
 * and after a failing bind, then optionally execs a program that lists what it
 * inherited. Built twice: as fd_list it only lists (no exec of itself, which the
 * preload would count as a re-exec).
 * Usage: fd_hygiene [-l] PORT [LISTER]
 *   -l      first listen on an ephemeral port without O_CLOEXEC (a registry record
 *           and an exec-leak warning at the exec)
 *   LISTER  exec LISTER ("list" as its argument) after the failing bind
 * Prints "before FD FDFLAGS STATUSFLAGS TARGET" lines, "bind errno=E", "after ..."
 * lines, then LISTER prints "child ..." lines; exits 1 after a failed bind without LISTER.
 * fd_list list: prints the "child ..." lines only. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void list_fds(const char *label)
{
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        perror("opendir /proc/self/fd");
        exit(2);
    }
    int fds[1024], n = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;)
        if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(dir) && n < 1024)
            fds[n++] = atoi(e->d_name);
    closedir(dir);
    /* readdir order is the kernel's; print in fd order. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (fds[j] < fds[i]) {
                int t = fds[i];
                fds[i] = fds[j];
                fds[j] = t;
            }
    for (int i = 0; i < n; i++) {
        char path[64], target[4096];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len < 0)
            continue; /* closed meanwhile: cannot happen in this single-threaded program */
        target[len] = '\0';
        printf("%s %d %d %d %s\n", label, fds[i], fcntl(fds[i], F_GETFD), fcntl(fds[i], F_GETFL), target);
    }
}

static int tcp_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(2);
    }
    return fd;
}

static int bind_loopback(int fd, int port)
{
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return bind(fd, (struct sockaddr *)&sin, sizeof sin);
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "list") == 0) {
        list_fds("child");
        return 0;
    }
    int listener = 0, opt;
    while ((opt = getopt(argc, argv, "l")) != -1) {
        if (opt != 'l')
            return 2;
        listener = 1;
    }
    if (optind != argc - 1 && optind != argc - 2) {
        fprintf(stderr, "usage: fd_hygiene [-l] PORT [LISTER]\n");
        return 2;
    }
    const int port = atoi(argv[optind]);
    const char *lister = optind + 1 < argc ? argv[optind + 1] : NULL;

    if (listener) {
        int fd = tcp_socket();
        if (bind_loopback(fd, 0) != 0 || listen(fd, 4) != 0) {
            perror("listener");
            return 2;
        }
    }
    int fd = tcp_socket();
    list_fds("before");
    const int rc = bind_loopback(fd, port);
    printf("bind errno=%d\n", rc < 0 ? errno : 0);
    list_fds("after");
    fflush(stdout);
    if (lister != NULL) {
        execl(lister, lister, "list", (char *)NULL);
        perror("execl");
        return 2;
    }
    return rc < 0;
}
