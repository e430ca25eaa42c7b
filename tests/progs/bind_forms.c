/* Binds a TCP socket with one of the address forms Linux accepts besides the
 * textbook ones, the way old code still spells them: AF_UNSPEC with INADDR_ANY
 * on an AF_INET socket, and the 24-byte RFC 2133 sockaddr_in6 without
 * sin6_scope_id. Fails like a legacy daemon: perror, "errno=N", exit 1. With -s
 * the bind runs in a SIGUSR1 handler (where portshim writes only its short note). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { sin6_len_rfc2133 = 24 };

static int g_fd = -1;
static struct sockaddr_storage g_addr;
static socklen_t g_len;
static volatile sig_atomic_t g_rc, g_errno;

static void bind_now(int sig)
{
    (void)sig;
    const int saved = errno;
    g_rc = bind(g_fd, (struct sockaddr *)&g_addr, g_len);
    g_errno = errno;
    errno = saved;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bind_forms [-s] FORM PORT\n"
            "  unspec-any      AF_INET socket, sin_family AF_UNSPEC, INADDR_ANY (16 bytes)\n"
            "  unspec-loopback AF_INET socket, sin_family AF_UNSPEC, 127.0.0.1 (EAFNOSUPPORT)\n"
            "  rfc2133-any     AF_INET6 socket, [::] in 24 bytes\n"
            "  rfc2133-mapped  AF_INET6 socket, [::ffff:127.0.0.1] in 24 bytes\n"
            "  full-any        AF_INET6 socket, [::] in 28 bytes\n"
            "  -s              bind in a SIGUSR1 handler\n"
            "Prints \"bound P\" and exits 0 once bound; on a failed bind prints \"errno=N\" and exits 1.\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const int in_handler = argc == 4 && strcmp(argv[1], "-s") == 0;
    if (argc != 3 + in_handler)
        usage();
    const char *form = argv[1 + in_handler];
    const int port = atoi(argv[2 + in_handler]);
    struct sockaddr_storage *ss = &g_addr;
    memset(ss, 0, sizeof *ss);
    int family = AF_INET;
    if (strcmp(form, "unspec-any") == 0 || strcmp(form, "unspec-loopback") == 0) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_UNSPEC;
        sin->sin_port = htons((unsigned short)port);
        sin->sin_addr.s_addr = htonl(form[7] == 'a' ? INADDR_ANY : INADDR_LOOPBACK);
        g_len = sizeof *sin;
    } else if (strcmp(form, "rfc2133-any") == 0 || strcmp(form, "rfc2133-mapped") == 0 ||
               strcmp(form, "full-any") == 0) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        family = AF_INET6;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        if (strcmp(form, "rfc2133-mapped") == 0)
            inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6->sin6_addr);
        /* What follows the 24 bytes must not matter: the kernel never reads it. */
        sin6->sin6_scope_id = form[0] == 'f' ? 0 : 0xdeadbeef;
        g_len = form[0] == 'f' ? sizeof *sin6 : sin6_len_rfc2133;
    } else {
        usage();
    }
    g_fd = socket(family, SOCK_STREAM, 0);
    if (g_fd < 0) {
        perror("socket");
        return 2;
    }
    if (in_handler) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = bind_now;
        sigaction(SIGUSR1, &sa, NULL);
        raise(SIGUSR1);
    } else {
        bind_now(0);
    }
    if (g_rc != 0) {
        errno = g_errno;
        perror("bind");
        printf("errno=%d\n", (int)g_errno);
        return 1;
    }
    struct sockaddr_storage got;
    socklen_t got_len = sizeof got;
    getsockname(g_fd, (struct sockaddr *)&got, &got_len);
    printf("bound %d\n", ntohs(((struct sockaddr_in *)&got)->sin_port));
    close(g_fd);
    return 0;
}
