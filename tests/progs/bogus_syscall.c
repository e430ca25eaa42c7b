/* Calls syscall(-1, fd, 1, 2) on a fresh TCP socket, as a program probing for a
 * system call might, and prints its result and whether the socket now listens:
 * "rc=-1 errno=38 listening=0" from the kernel. The supervisor's filter compares
 * rules that are off with the placeholder number -1: it must not act on it. */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    const long rc = syscall(-1, fd, 1, 2);
    const int err = rc < 0 ? errno : 0;
    int listening = -1;
    socklen_t len = sizeof listening;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) listening = -1;
    printf("rc=%ld errno=%d listening=%d\n", rc, err, listening);
    return 0;
}
