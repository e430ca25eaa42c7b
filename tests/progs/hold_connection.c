/* A client that keeps one outbound connection open: connects to 127.0.0.1:PORT, prints
 * "local L" (the ephemeral port the kernel chose) and waits to be killed. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: hold_connection PORT\n"
                        "Connects to 127.0.0.1:PORT, prints \"local L\", sleeps until killed.\n");
        return 2;
    }
    struct sockaddr_in peer;
    memset(&peer, 0, sizeof peer);
    peer.sin_family = AF_INET;
    peer.sin_port = htons((unsigned short)atoi(argv[1]));
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&peer, sizeof peer) < 0) {
        perror("connect");
        return 1;
    }
    struct sockaddr_in local;
    socklen_t len = sizeof local;
    if (getsockname(fd, (struct sockaddr *)&local, &len) < 0) {
        perror("getsockname");
        return 1;
    }
    printf("local %d\n", ntohs(local.sin_port));
    fflush(stdout);
    for (;;)
        pause();
}
