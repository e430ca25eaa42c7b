// The libc functions behind the hooks: one typed table, each entry resolved
// once with dlsym(RTLD_NEXT) on first use, so hooks work before any constructor.
#pragma once

#include <cstdio>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>

namespace portshim::real {

int bind(int fd, const sockaddr* addr, socklen_t len);
int listen(int fd, int backlog);
int setsockopt(int fd, int level, int name, const void* value, socklen_t len);
int socket(int domain, int type, int protocol);
/** prctl(2) with the four arguments glibc's prctl reads. */
int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
/** syscall(2) with six arguments, as glibc's syscall passes them on. */
long syscall(long number, long a1, long a2, long a3, long a4, long a5, long a6);

pid_t fork();
int execve(const char* path, char* const argv[], char* const envp[]);
int execv(const char* path, char* const argv[]);
int execvp(const char* file, char* const argv[]);
int execvpe(const char* file, char* const argv[], char* const envp[]);
int execveat(int dirfd, const char* path, char* const argv[], char* const envp[], int flags);
int fexecve(int fd, char* const argv[], char* const envp[]);
int posix_spawn(pid_t* pid, const char* path, const posix_spawn_file_actions_t* actions,
                const posix_spawnattr_t* attr, char* const argv[], char* const envp[]);
int posix_spawnp(pid_t* pid, const char* file, const posix_spawn_file_actions_t* actions,
                 const posix_spawnattr_t* attr, char* const argv[], char* const envp[]);
int system(const char* command);
FILE* popen(const char* command, const char* mode);

/**
 * Resolves the exec functions now. The fork hook calls it in the parent: a
 * fork child must not be the first to call dlsym (it takes the loader's lock,
 * which another thread of the parent may have held at the fork).
 */
void resolve_exec_family();

} // namespace portshim::real
