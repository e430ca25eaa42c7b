/* A program linked against early_listener (DT_NEEDED), so that library's constructor
 * runs before main and before the constructor of an LD_PRELOAD library it does not
 * depend on (ld.so initialises dependencies first). Prints "main port P", the port the
 * constructor listens on, and exits 0. */
#include <stdio.h>

int early_listener_port(void);

int main(void)
{
    printf("main port %d\n", early_listener_port());
    return 0;
}
