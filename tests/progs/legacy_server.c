/* A server written the way old daemons are: socket, bind, listen, perror and exit(1).
 * Scenario tests start it twice (and as other_daemon) to make a port busy for real. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-4|-6] [-a ADDR] [-p PORT] [-r] [-R] [-v 0|1] [-c N] [-u] [-2 ADDR6] [-- IGNORED...]\n"
            "  -4/-6     address family (default -4)\n"
            "  -a ADDR   address to bind (default: the wildcard)\n"
            "  -p PORT   port to bind (default 0: the kernel picks)\n"
            "  -r        set SO_REUSEADDR\n"
            "  -R        set SO_REUSEPORT\n"
            "  -v 0|1    set IPV6_V6ONLY explicitly (with -6)\n"
            "  -c N      accept N connections, write a line to each, close first, exit 0\n"
            "  -u        UDP instead of TCP\n"
            "  -2 ADDR6  after binding, also bind [ADDR6]:same port without IPV6_V6ONLY\n"
            "  -- ...    ignore the rest (lets a copy wear another daemon's command line)\n"
            "Prints \"port P\" once bound; on a failed bind prints \"errno=N\" and exits 1.\n",
            prog);
    exit(2);
}

/* Fills *ss from family/address/port; the empty address means the wildcard. */
static socklen_t make_address(struct sockaddr_storage *ss, int family, const char *addr, int port)
{
    memset(ss, 0, sizeof *ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        sin6->sin6_addr = in6addr_any;
        if (*addr && inet_pton(AF_INET6, addr, &sin6->sin6_addr) != 1) {
            fprintf(stderr, "bad IPv6 address: %s\n", addr);
            exit(2);
        }
        return sizeof *sin6;
    }
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((unsigned short)port);
    sin->sin_addr.s_addr = htonl(INADDR_ANY);
    if (*addr && inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 address: %s\n", addr);
        exit(2);
    }
    return sizeof *sin;
}

static void bind_or_die(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
    if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
        int saved = errno;
        perror("bind");
        printf("errno=%d\n", saved);
        fflush(stdout);
        exit(1);
    }
}

static void die(const char *what)
{
    perror(what);
    exit(1);
}

int main(int argc, char **argv)
{
    int family = AF_INET, type = SOCK_STREAM, port = 0, reuse = 0, reuseport = 0, v6only = -1, connections = -1;
    const char *addr = "", *second = NULL;
    int opt;

    while ((opt = getopt(argc, argv, "46a:p:rRv:c:u2:")) != -1) {
        switch (opt) {
        case '4': family = AF_INET; break;
        case '6': family = AF_INET6; break;
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'r': reuse = 1; break;
        case 'R': reuseport = 1; break;
        case 'v': v6only = atoi(optarg); break;
        case 'c': connections = atoi(optarg); break;
        case 'u': type = SOCK_DGRAM; break;
        case '2': second = optarg; break;
        default: usage(argv[0]);
        }
    }
    /* getopt stops after "--": what follows belongs to the command line being imitated. */
    const int rest_ignored = optind > 1 && strcmp(argv[optind - 1], "--") == 0;
    if ((optind != argc && !rest_ignored) || (type == SOCK_DGRAM && connections >= 0))
        usage(argv[0]);
    signal(SIGPIPE, SIG_IGN);

    int fd = socket(family, type, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        die("setsockopt SO_REUSEADDR");
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        die("setsockopt SO_REUSEPORT");
    if (family == AF_INET6 && v6only >= 0 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0)
        die("setsockopt IPV6_V6ONLY");

    struct sockaddr_storage ss;
    bind_or_die(fd, &ss, make_address(&ss, family, addr, port));
    if (type == SOCK_STREAM && listen(fd, 16) < 0)
        die("listen");

    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        die("getsockname");
    port = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                    : ((struct sockaddr_in *)&ss)->sin_port);

    if (second) {
        /* The classic dual-stack mistake: [::] without IPV6_V6ONLY also covers 0.0.0.0. */
        int fd6 = socket(AF_INET6, type, 0);
        if (fd6 < 0)
            die("socket");
        struct sockaddr_storage ss6;
        bind_or_die(fd6, &ss6, make_address(&ss6, AF_INET6, second, port));
        if (type == SOCK_STREAM && listen(fd6, 16) < 0)
            die("listen");
    }

    printf("port %d\n", port);
    fflush(stdout);

    if (connections < 0) {
        for (;;)
            pause();
    }
    for (int i = 0; i < connections; i++) {
        int conn = accept(fd, NULL, NULL);
        if (conn < 0)
            die("accept");
        static const char line[] = "hello from legacy_server\n";
        if (write(conn, line, sizeof line - 1) < 0)
            perror("write");
        /* Closing first makes this side the active closer: TIME_WAIT lands on our port. */
        close(conn);
    }
    return 0;
}
