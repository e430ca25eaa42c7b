/* Catches what a program sends to journald's native socket: as root, in a private mount
 * namespace with a tmpfs on /run/systemd (on /run where there is none), binds a datagram
 * socket at /run/systemd/journal/socket (as journald does), runs COMMAND and writes every
 * datagram received, as it came, to OUTDIR/1, OUTDIR/2, ...
 * Usage: journal_catcher [-n] [-e socket] [-j match|wrong] OUTDIR COMMAND [ARG...]
 *   -n          no socket at the path: journald is not running
 *   -e socket   COMMAND's fd 2 is a stream socket, as under StandardError=journal; what
 *               arrives on it is copied to this program's stderr
 *   -j match    COMMAND gets JOURNAL_STREAM="DEV:INODE" of its fd 2, as systemd sets it
 *   -j wrong    the same with another inode (fd 2 was redirected since)
 * Exits with COMMAND's status (128+signal when killed); 77 when the namespace cannot be
 * set up (not root, or unshare/mount refused in a container), 125 on other failures. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { cannot_set_up = 77, failed = 125 };

static int die(int status, const char *what)
{
    fprintf(stderr, "journal_catcher: %s: %s\n", what, strerror(errno));
    return status;
}

/* A private /run/systemd/journal for this process and its children: the host's stays untouched. */
static int private_journal_dir(void)
{
    if (geteuid() != 0) {
        fprintf(stderr, "journal_catcher: needs root\n");
        return -1;
    }
    struct stat st;
    const char *top = stat("/run/systemd", &st) == 0 ? "/run/systemd" : "/run";
    /* mount_namespaces(7): without MS_PRIVATE the tmpfs would propagate to the host. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") != 0 ||
        (mkdir("/run/systemd", 0755) != 0 && errno != EEXIST) ||
        mkdir("/run/systemd/journal", 0755) != 0) {
        fprintf(stderr, "journal_catcher: private /run/systemd/journal: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

static int bind_journal_socket(void)
{
    const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    strcpy(addr.sun_path, "/run/systemd/journal/socket");
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        return -1;
    /* journald's own receive buffer (journald-native.c): 8 MiB, so nothing is lost here. */
    const int size = 8 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
    return fd;
}

/* Every datagram waiting on fd, each into a file of its own under dir. */
static void drain_datagrams(int fd, const char *dir, int *count)
{
    static char buf[1 << 20];
    ssize_t got;
    while (fd >= 0 && ((got = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) >= 0 || errno == EINTR)) {
        if (got < 0)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%d", dir, ++*count);
        const int out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (out < 0 || write(out, buf, (size_t)got) != got)
            perror("journal_catcher: write");
        if (out >= 0)
            close(out);
    }
}

/* Copies what the command wrote to its stderr socket to ours; -1 once it is closed. */
static int relay(int fd)
{
    char buf[4096];
    const ssize_t got = read(fd, buf, sizeof buf);
    if (got > 0) {
        if (write(2, buf, (size_t)got) != got)
            perror("journal_catcher: write");
        return fd;
    }
    if (got < 0 && (errno == EAGAIN || errno == EINTR))
        return fd;
    close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *stderr_mode = NULL, *stream = NULL;
    int no_socket = 0, opt;
    while ((opt = getopt(argc, argv, "+ne:j:")) != -1) {
        if (opt == 'n')
            no_socket = 1;
        else if (opt == 'e')
            stderr_mode = optarg;
        else if (opt == 'j')
            stream = optarg;
        else
            return 2;
    }
    if (argc - optind < 2 || (stderr_mode && strcmp(stderr_mode, "socket") != 0) ||
        (stream && strcmp(stream, "match") != 0 && strcmp(stream, "wrong") != 0)) {
        fprintf(stderr, "usage: journal_catcher [-n] [-e socket] [-j match|wrong] OUTDIR COMMAND [ARG...]\n");
        return 2;
    }
    const char *dir = argv[optind];
    if (private_journal_dir() != 0)
        return cannot_set_up;
    const int journal = no_socket ? -1 : bind_journal_socket();
    if (!no_socket && journal < 0)
        return die(failed, "bind /run/systemd/journal/socket");

    int pair[2] = {-1, -1};
    if (stderr_mode && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, pair) != 0)
        return die(failed, "socketpair");

    const pid_t pid = fork();
    if (pid < 0)
        return die(failed, "fork");
    if (pid == 0) {
        /* dup2 clears O_CLOEXEC on the copy; the stream must block like journald's. */
        if (pair[1] >= 0 && (dup2(pair[1], 2) < 0 || fcntl(2, F_SETFL, 0) != 0))
            _exit(failed);
        struct stat st;
        if (stream && fstat(2, &st) == 0) {
            char value[64];
            snprintf(value, sizeof value, "%lu:%lu", (unsigned long)st.st_dev,
                     (unsigned long)st.st_ino + (strcmp(stream, "wrong") == 0));
            setenv("JOURNAL_STREAM", value, 1);
        }
        execvp(argv[optind + 1], argv + optind + 1);
        _exit(127);
    }
    if (pair[1] >= 0)
        close(pair[1]);

    /* Read while the command runs: the queue holds only net.unix.max_dgram_qlen datagrams. */
    int status = 0, count = 0;
    for (;;) {
        struct pollfd fds[2] = {{journal, POLLIN, 0}, {pair[0], POLLIN, 0}};
        poll(fds, 2, 50);
        drain_datagrams(journal, dir, &count);
        if (pair[0] >= 0 && fds[1].revents != 0)
            pair[0] = relay(pair[0]);
        const pid_t got = waitpid(pid, &status, WNOHANG);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR)
            return die(failed, "waitpid");
    }
    drain_datagrams(journal, dir, &count);
    while (pair[0] >= 0) {
        struct pollfd fd = {pair[0], POLLIN, 0};
        if (poll(&fd, 1, 0) <= 0)
            break;
        pair[0] = relay(pair[0]);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
