// A legacy C server: binds PORT on 127.0.0.1 (0: any), prints the port, listens,
// then pauses; exits 1 with perror on failure. With "raw" it binds via syscall(SYS_bind).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char** argv) {
    int raw = argc > 2 && strcmp(argv[2], "raw") == 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = raw ? (int)syscall(SYS_bind, fd, &a, sizeof a) : bind(fd, (struct sockaddr*)&a, sizeof a);
    if (rc != 0) { perror("bind"); return 1; }
    socklen_t n = sizeof a;
    getsockname(fd, (struct sockaddr*)&a, &n);
    if (listen(fd, 16) != 0) { perror("listen"); return 1; }
    printf("%u\n", ntohs(a.sin_port));
    fflush(stdout);
    pause();
    return 0;
}
