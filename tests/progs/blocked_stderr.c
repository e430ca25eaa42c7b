/* A daemon whose stderr is a pipe nobody drains: binds to a busy port twice
 * (0.0.0.0, then 127.0.0.1 after a line on stdin), writing nothing to stderr
 * itself, and prints the errno of each bind and fd 2's file status flags
 * before and after on stdout. Usage: blocked_stderr -p PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int bind_to(const char *ip, int port)
{
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &addr.sin_addr);
    const int err = bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0 ? 0 : errno;
    close(fd);
    return err;
}

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "-p") != 0) return 2;
    const int port = atoi(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("flags_before=%d\n", fcntl(2, F_GETFL));
    printf("first errno=%d\n", bind_to("0.0.0.0", port));
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) return 2;
    printf("second errno=%d\n", bind_to("127.0.0.1", port));
    printf("flags_after=%d\n", fcntl(2, F_GETFL));
    return 1;
}
