/* A shared library whose constructor opens a listening socket and then fails a bind on
 * the same port, before the program's main and, depending on the load order, before
 * portshim's own constructor: a hook must work uninitialised and keep errno. Reports
 * on stdout with write(2): "early port P", "early listen errno-kept" (a successful
 * bind and listen left errno alone), "early bind rc=-1 errno=N" (the failing one). */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* An errno value no call here sets, to see whether a successful call touched errno. */
#define UNTOUCHED 4242

static void say(const char *line)
{
    ssize_t rc = write(1, line, strlen(line));
    (void)rc;
}

static int early_port;

/** The port the constructor listens on, 0 if it could not (for a program linked to this). */
__attribute__((visibility("default"))) int early_listener_port(void) { return early_port; }

__attribute__((constructor)) static void early_listener(void)
{
    char line[80];
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* No SOCK_CLOEXEC, as in legacy daemons; kept open for the life of the process. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        say("early socket failed\n");
        return;
    }
    errno = UNTOUCHED;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 8) < 0) {
        snprintf(line, sizeof line, "early listen failed errno=%d\n", errno);
        say(line);
        return;
    }
    const int kept = errno == UNTOUCHED;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        say("early getsockname failed\n");
        return;
    }
    early_port = ntohs(addr.sin_port);
    snprintf(line, sizeof line, "early port %d\n", early_port);
    say(line);
    say(kept ? "early listen errno-kept\n" : "early listen errno-changed\n");

    int second = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (second < 0) {
        say("early socket failed\n");
        return;
    }
    errno = UNTOUCHED;
    const int rc = bind(second, (struct sockaddr *)&addr, sizeof addr);
    snprintf(line, sizeof line, "early bind rc=%d errno=%d\n", rc, errno);
    say(line);
    close(second);
}
