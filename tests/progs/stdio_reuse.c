/* A daemon whose fds 0-2 are not the terminal's: closed and reused for its own files,
 * or sockets. It fails a bind, then records what it saw in DIR/result.
 * Usage: stdio_reuse closed|inherited|sockets PORT DIR
 *   closed     closes 0, 1 and 2 itself, then opens DIR/0, DIR/1 and DIR/2 (fds 0-2)
 *   inherited  is started with 0-2 closed (2>&- and so on), then opens DIR/0..2 likewise
 *   sockets    puts one end of a socketpair on each of 0-2
 * Then binds 127.0.0.1:PORT and writes "errno=E" to DIR/result, for sockets followed by
 * "received A B C" (bytes waiting on the other end of 0, 1 and 2). Exits 1 when the
 * bind failed, 0 when it succeeded, 2 on a set-up failure (in DIR/result if possible). */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char result_path[4096];

/* fds 0-2 may be anything here: the outcome goes to DIR/result only. */
static void result(const char *text)
{
    int fd = open(result_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        if (write(fd, text, strlen(text)) < 0) {
            close(fd);
            _exit(2);
        }
        close(fd);
    }
}

static void fail(const char *what)
{
    char line[256];
    snprintf(line, sizeof line, "set-up failed: %s: %s\n", what, strerror(errno));
    result(line);
    _exit(2);
}

/* Opens DIR/0, DIR/1 and DIR/2, which must become fds 0, 1 and 2. */
static void open_own_files(const char *dir)
{
    for (int want = 0; want <= 2; want++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%d", dir, want);
        if (open(path, O_RDWR | O_CREAT | O_TRUNC, 0600) != want)
            fail(path);
    }
}

static ssize_t waiting_bytes(int fd)
{
    char buf[4096];
    ssize_t got = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : got;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    const char *mode = argv[1], *dir = argv[3];
    const int port = atoi(argv[2]);
    snprintf(result_path, sizeof result_path, "%s/result", dir);
    int peers[3] = {-1, -1, -1};

    if (strcmp(mode, "closed") == 0) {
        close(0);
        close(1);
        close(2);
        open_own_files(dir);
    } else if (strcmp(mode, "inherited") == 0) {
        for (int fd = 0; fd <= 2; fd++)
            if (fcntl(fd, F_GETFD) != -1)
                fail("started with fds 0-2 open");
        open_own_files(dir);
    } else if (strcmp(mode, "sockets") == 0) {
        for (int fd = 0; fd <= 2; fd++) {
            int pair[2];
            if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0)
                fail("socketpair");
            if (dup2(pair[0], fd) != fd)
                fail("dup2");
            close(pair[0]);
            peers[fd] = pair[1];
        }
    } else {
        return 2;
    }

    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        fail("socket");
    struct sockaddr_in sin = {0};
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const int rc = bind(s, (struct sockaddr *)&sin, sizeof sin);
    const int err = rc < 0 ? errno : 0;

    char line[128];
    snprintf(line, sizeof line, "errno=%d\n", err);
    result(line);
    if (peers[0] >= 0) {
        snprintf(line, sizeof line, "received %zd %zd %zd\n", waiting_bytes(peers[0]),
                 waiting_bytes(peers[1]), waiting_bytes(peers[2]));
        result(line);
    }
    return rc < 0 ? 1 : 0;
}
