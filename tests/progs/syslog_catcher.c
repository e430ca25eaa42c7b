/* Catches what a program sends to syslog: as root, in a private mount namespace with a
 * tmpfs on /dev, binds a datagram socket at /dev/log (as journald and rsyslogd do), runs
 * COMMAND and writes every datagram received, one per line, to OUTPUT.
 * Usage: syslog_catcher [-e closed|socket] OUTPUT COMMAND [ARG...]
 *   -e closed   COMMAND starts with fd 2 closed (a daemon started with 2>&-)
 *   -e socket   COMMAND's fd 2 is a stream socket, as under journald's StandardError=journal;
 *               what arrives on it is copied to this program's stderr
 * Exits with COMMAND's status (128+signal when killed); 77 when the namespace cannot be
 * set up (not root, or unshare/mount refused in a container), 125 on other failures. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { cannot_set_up = 77, failed = 125 };

static int die(int status, const char *what)
{
    fprintf(stderr, "syslog_catcher: %s: %s\n", what, strerror(errno));
    return status;
}

/* A private /dev for this process and its children: the host's /dev/log stays untouched. */
static int private_dev(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "syslog_catcher: needs root\n");
        return -1;
    }
    /* mount_namespaces(7): without MS_PRIVATE the tmpfs would propagate to the host. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") != 0) {
        fprintf(stderr, "syslog_catcher: private /dev: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int bind_dev_log(void)
{
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, "/dev/log");
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return -1;
    return fd;
}

/* Every datagram waiting on fd, each written to out as one line. */
static void drain_datagrams(int fd, int out)
{
    char buf[65536];
    ssize_t got;
    while ((got = recv(fd, buf, sizeof buf - 1, MSG_DONTWAIT)) >= 0 || errno == EINTR) {
        if (got < 0)
            continue;
        buf[got] = '\n';
        if (write(out, buf, (size_t)got + 1) != got + 1)
            perror("syslog_catcher: write");
    }
}

/* Copies what the command wrote to its stderr socket to ours; -1 once it is closed. */
static int relay(int fd)
{
    char buf[4096];
    const ssize_t got = read(fd, buf, sizeof buf);
    if (got > 0) {
        if (write(2, buf, (size_t)got) != got)
            perror("syslog_catcher: write");
        return fd;
    }
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return fd;
    close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *stderr_mode = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "+e:")) != -1) {
        if (opt != 'e')
            return 2;
        stderr_mode = optarg;
    }
    if (argc - optind < 2 || (stderr_mode && strcmp(stderr_mode, "closed") != 0 &&
                              strcmp(stderr_mode, "socket") != 0)) {
        fprintf(stderr, "usage: syslog_catcher [-e closed|socket] OUTPUT COMMAND [ARG...]\n");
        return 2;
    }
    const int out = open(argv[optind], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return die(failed, argv[optind]);
    if (private_dev() != 0)
        return cannot_set_up;
    const int dev_log = bind_dev_log();
    if (dev_log < 0)
        return die(failed, "bind /dev/log");

    int pair[2] = {-1, -1};
    if (stderr_mode && strcmp(stderr_mode, "socket") == 0 &&
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0)
        return die(failed, "socketpair");

    const pid_t pid = fork();
    if (pid < 0)
        return die(failed, "fork");
    if (pid == 0) {
        if (stderr_mode && strcmp(stderr_mode, "closed") == 0)
            close(2);
        /* dup2 clears O_CLOEXEC on the copy; the stream must block like journald's. */
        if (pair[1] >= 0 && (dup2(pair[1], 2) < 0 || fcntl(2, F_SETFL, 0) != 0))
            _exit(failed);
        execvp(argv[optind + 1], argv + optind + 1);
        _exit(127);
    }
    if (pair[1] >= 0)
        close(pair[1]);

    /* Read while the command runs: the queue holds only net.unix.max_dgram_qlen datagrams. */
    int status = 0;
    for (;;) {
        struct pollfd fds[2] = {{dev_log, POLLIN, 0}, {pair[0], POLLIN, 0}};
        poll(fds, pair[0] >= 0 ? 2 : 1, 50);
        drain_datagrams(dev_log, out);
        if (pair[0] >= 0 && fds[1].revents != 0)
            pair[0] = relay(pair[0]);
        const pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR)
            return die(failed, "waitpid");
    }
    drain_datagrams(dev_log, out);
    while (pair[0] >= 0) {
        struct pollfd fd = {pair[0], POLLIN, 0};
        if (poll(&fd, 1, 0) <= 0)
            break;
        pair[0] = relay(pair[0]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
