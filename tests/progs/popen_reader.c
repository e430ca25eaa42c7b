/* A listening server that runs a helper with popen("CMD 2>&1") and reads its
 * output as data, as servers reading `ip`, `df` or a hook script's output do.
 * The helper inherits the listening socket (no SOCK_CLOEXEC). Prints
 * "port P" once listening, then "data=" and the helper's output exactly
 * (escaped: \n for newline), then exits 0. Usage: popen_reader CMD */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 8) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("popen_reader: listen");
        return 2;
    }
    printf("port %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s 2>&1", argv[1]);
    FILE *helper = popen(cmd, "r");
    if (helper == NULL) return 2;
    printf("data=");
    int c;
    while ((c = fgetc(helper)) != EOF) {
        if (c == '\n') fputs("\\n", stdout);
        else putchar(c);
    }
    putchar('\n');
    pclose(helper);
    return 0;
}
