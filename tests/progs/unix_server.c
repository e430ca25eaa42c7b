/* A unix-socket server written the way old daemons are: socket, bind, listen,
 * perror and exit(1), and no unlink() of a path left by a killed predecessor. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [-d] PATH\n"
            "  -d     SOCK_DGRAM instead of SOCK_STREAM\n"
            "  PATH   socket path; a leading '@' names an abstract socket\n"
            "Prints \"listening\" once bound; on a failed bind prints \"errno=N\" and exits 1.\n",
            prog);
    exit(2);
}

int main(int argc, char **argv)
{
    int type = SOCK_STREAM;
    int opt;
    while ((opt = getopt(argc, argv, "d")) != -1) {
        if (opt == 'd')
            type = SOCK_DGRAM;
        else
            usage(argv[0]);
    }
    if (optind + 1 != argc)
        usage(argv[0]);
    const char *path = argv[optind];

    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof addr.sun_path)
        usage(argv[0]);
    memcpy(addr.sun_path, path, n);
    if (path[0] == '@')
        addr.sun_path[0] = '\0'; /* abstract: the name is exactly the n bytes given */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));

    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    if (bind(fd, (struct sockaddr *)&addr, len) < 0) {
        int saved = errno;
        perror("bind");
        printf("errno=%d\n", saved);
        fflush(stdout);
        return 1;
    }
    if (type == SOCK_STREAM && listen(fd, 16) < 0) {
        perror("listen");
        return 1;
    }
    printf("listening\n");
    fflush(stdout);
    for (;;)
        pause();
}
