/* Runs one shell command through one of the exec/spawn calls portshim wraps, so a test can
 * compare every entry point with and without the preload: same output, same exit status,
 * same return value and errno when the program is missing. */
#define _GNU_SOURCE

#include "listener.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* Prints its arguments and one variable, then how many sockets the shell holds (all builtins:
 * no child process of its own). */
#define SCRIPT                                                                                  \
    "echo \"$0|$1|$2|${PORTSHIM_T_VAR-unset}\"; n=0; "                                          \
    "for f in /proc/$$/fd/*; do if [ -S \"$f\" ]; then n=$((n+1)); fi; done; echo \"sockets $n\""
#define ARGS "zero", "one two", "three"
/* system() and popen() take one command line: the same script and arguments, quoted. */
#define COMMAND "exec /bin/sh -c '" SCRIPT "' zero 'one two' three"

#define MISSING "portshim-no-such-program"
#define MISSING_PATH "/nonexistent/" MISSING

static char *script_argv[] = {"sh", "-c", SCRIPT, ARGS, NULL};
static char *missing_argv[] = {MISSING, NULL};

static void usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s MODE [-l]\n"
            "  MODE  execve execv execvp execvpe execveat execveat-empty fexecve execl execlp\n"
            "        execle posix_spawn posix_spawnp system popen: run\n"
            "          sh -c '%s' %s\n"
            "        (system, popen: the same as one command line, after \"exec /bin/sh -c\")\n"
            "        and print its output and \"child exit N\" (the exec calls run in a fork child);\n"
            "        MODE-missing: the same call on a program that does not exist (execveat-empty\n"
            "        and fexecve: /dev/null, not executable), printed as \"rc R errno NAME\"\n"
            "  -l    first listen on 127.0.0.1 (no SOCK_CLOEXEC; \"port P\" on stderr), and\n"
            "        say on stdout if the call changed the listener's fd flags\n"
            "Calls that take an environment get environ with PORTSHIM_T_VAR=from-envp.\n",
            prog, SCRIPT, "zero 'one two' three");
    exit(2);
}

/* environ with PORTSHIM_T_VAR replaced by "from-envp". */
static char **custom_envp(void)
{
    size_t n = 0;
    while (environ[n] != NULL)
        ++n;
    char **envp = calloc(n + 2, sizeof *envp);
    if (envp == NULL)
        die("calloc");
    size_t kept = 0;
    for (size_t i = 0; i < n; ++i)
        if (strncmp(environ[i], "PORTSHIM_T_VAR=", 15) != 0)
            envp[kept++] = environ[i];
    envp[kept] = "PORTSHIM_T_VAR=from-envp";
    return envp;
}

static int open_or_die(const char *path, int flags)
{
    int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0)
        die(path);
    return fd;
}

static const char *errno_name(int err)
{
    const char *name = err == 0 ? "0" : strerrorname_np(err);
    return name != NULL ? name : "unknown";
}

/* Runs one exec flavour on the script (missing: on a program that does not exist); returns
 * only when the call failed. */
static int run_exec(const char *call, int missing, char **envp)
{
    char **argv = missing ? missing_argv : script_argv;
    const char *path = missing ? MISSING_PATH : "/bin/sh";
    const char *file = missing ? MISSING : "sh";
    if (strcmp(call, "execve") == 0)
        return execve(path, argv, envp);
    if (strcmp(call, "execv") == 0)
        return execv(path, argv);
    if (strcmp(call, "execvp") == 0)
        return execvp(file, argv);
    if (strcmp(call, "execvpe") == 0)
        return execvpe(file, argv, envp);
    if (strcmp(call, "execveat") == 0)
        return execveat(open_or_die("/bin", O_RDONLY | O_DIRECTORY), file, argv, envp, 0);
    if (strcmp(call, "execveat-empty") == 0)
        return execveat(open_or_die(missing ? "/dev/null" : path, O_PATH), "", argv, envp,
                        AT_EMPTY_PATH);
    if (strcmp(call, "fexecve") == 0)
        return fexecve(open_or_die(missing ? "/dev/null" : path, O_RDONLY), argv, envp);
    if (strcmp(call, "execl") == 0)
        return missing ? execl(path, MISSING, (char *)NULL)
                       : execl(path, "sh", "-c", SCRIPT, ARGS, (char *)NULL);
    if (strcmp(call, "execlp") == 0)
        return missing ? execlp(file, MISSING, (char *)NULL)
                       : execlp(file, "sh", "-c", SCRIPT, ARGS, (char *)NULL);
    if (strcmp(call, "execle") == 0)
        return missing ? execle(path, MISSING, (char *)NULL, envp)
                       : execle(path, "sh", "-c", SCRIPT, ARGS, (char *)NULL, envp);
    return -2;
}

static int is_exec(const char *call)
{
    static const char *const calls[] = {"execve",   "execv",          "execvp",  "execvpe",
                                        "execveat", "execveat-empty", "fexecve", "execl",
                                        "execlp",   "execle"};
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; ++i)
        if (strcmp(call, calls[i]) == 0)
            return 1;
    return 0;
}

static void print_exit(const char *what, int status)
{
    if (WIFEXITED(status))
        printf("%s exit %d\n", what, WEXITSTATUS(status));
    else
        printf("%s signal %d\n", what, WTERMSIG(status));
}

static void wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    print_exit("child", status);
}

/* The script through posix_spawn(p), system or popen (missing: a program that does not exist). */
static void run_spawn(const char *call, int missing, char **envp)
{
    if (strcmp(call, "posix_spawn") == 0 || strcmp(call, "posix_spawnp") == 0) {
        char **argv = missing ? missing_argv : script_argv;
        pid_t pid;
        errno = 0;
        int rc = strcmp(call, "posix_spawn") == 0
                     ? posix_spawn(&pid, missing ? MISSING_PATH : "/bin/sh", NULL, NULL, argv, envp)
                     : posix_spawnp(&pid, missing ? MISSING : "sh", NULL, NULL, argv, envp);
        int err = errno;
        if (rc != 0) {
            printf("rc %s errno %s\n", errno_name(rc), errno_name(err));
            return;
        }
        wait_child(pid);
    } else if (strcmp(call, "system") == 0) {
        int status = system(missing ? MISSING : COMMAND);
        if (status < 0)
            die("system");
        print_exit("system", status);
    } else {
        fflush(stdout); /* the shell writes to the same stdout through the pipe we read */
        FILE *shell = popen(missing ? MISSING : COMMAND, "r");
        if (shell == NULL)
            die("popen");
        char line[512];
        while (fgets(line, sizeof line, shell) != NULL)
            fputs(line, stdout);
        int status = pclose(shell);
        if (status < 0)
            die("pclose");
        print_exit("popen", status);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "-l") != 0))
        usage(argv[0]);
    char call[64];
    const char *mode = argv[1];
    const size_t len = strlen(mode);
    const int missing = len > 8 && strcmp(mode + len - 8, "-missing") == 0;
    if (len >= sizeof call)
        usage(argv[0]);
    memcpy(call, mode, len + 1);
    if (missing)
        call[len - 8] = '\0';
    const int spawn = strcmp(call, "posix_spawn") == 0 || strcmp(call, "posix_spawnp") == 0 ||
                      strcmp(call, "system") == 0 || strcmp(call, "popen") == 0;
    if (!is_exec(call) && !spawn)
        usage(argv[0]);

    int listener = -1, flags_before = 0;
    if (argc == 3) {
        int port;
        listener = listen_tcp(AF_INET, "127.0.0.1", 0, &port);
        flags_before = fcntl(listener, F_GETFD);
        fprintf(stderr, "port %d\n", port);
    }
    char **envp = custom_envp();
    fflush(stdout);

    if (spawn) {
        run_spawn(call, missing, envp);
    } else if (missing) {
        /* In this process: a failed exec returns, and the listener's flags must be as before. */
        errno = 0;
        int rc = run_exec(call, missing, envp);
        printf("rc %d errno %s\n", rc, errno_name(errno));
    } else {
        pid_t pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            run_exec(call, missing, envp);
            perror(call);
            _exit(127);
        }
        wait_child(pid);
    }

    if (listener >= 0 && fcntl(listener, F_GETFD) != flags_before)
        printf("listener fd flags changed: %d -> %d\n", flags_before, fcntl(listener, F_GETFD));
    return 0;
}
