/* Runs a setuid program as nobody with a library in /etc/ld.so.preload, the one way
 * ld.so(8) preloads a library into a secure-execution (AT_SECURE) process. As root, in
 * a private mount namespace: an overlay on /etc whose upper layer (a tmpfs on STAGING)
 * holds ld.so.preload naming LIBRARY; the host's /etc is never written. Then drops to
 * uid/gid nobody and execs PROGRAM in this same process (no fork: its pid is ours).
 * Usage: secure_exec [-p] STAGING LIBRARY|- PROGRAM [ARG...]   ("-": no preload)
 *   -p  also a fresh /proc with hidepid=2 in that namespace: nobody sees only his own
 *       processes there, as on a hardened host (proc(5)); without -p and with "-",
 *       no namespace at all
 * Exits 77 when the namespace cannot be set up (not root, or refused in a container). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

enum { cannot_set_up = 77, failed = 125, nobody = 65534 };

static int refused(const char *what)
{
    fprintf(stderr, "secure_exec: %s: %s\n", what, strerror(errno));
    return cannot_set_up;
}

static int private_mounts(void)
{
    /* mount_namespaces(7): without MS_PRIVATE the mounts would propagate to the host. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
        return refused("private mount namespace");
    return 0;
}

/* /etc as before plus ld.so.preload = library, visible in this namespace only. */
static int preload_in_private_etc(const char *staging, const char *library)
{
    char upper[4096], work[4096], file[4096 + 16], options[2 * 4096 + 48];
    snprintf(upper, sizeof upper, "%s/upper", staging);
    snprintf(work, sizeof work, "%s/work", staging);
    snprintf(file, sizeof file, "%s/ld.so.preload", upper);
    snprintf(options, sizeof options, "lowerdir=/etc,upperdir=%s,workdir=%s", upper, work);
    if (mount("tmpfs", staging, "tmpfs", 0, "mode=0755") != 0)
        return refused("tmpfs on the staging directory");
    if (mkdir(upper, 0755) != 0 || mkdir(work, 0755) != 0)
        return refused("overlay directories");
    const int fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || dprintf(fd, "%s\n", library) < 0 || close(fd) != 0)
        return refused("ld.so.preload");
    if (mount("overlay", "/etc", "overlay", 0, options) != 0)
        return refused("overlay on /etc");
    return 0;
}

int main(int argc, char **argv)
{
    const int hidepid = argc > 1 && strcmp(argv[1], "-p") == 0;
    argc -= hidepid, argv += hidepid;
    if (argc < 4) {
        fprintf(stderr, "usage: secure_exec [-p] STAGING LIBRARY|- PROGRAM [ARG...]\n");
        return 2;
    }
    if (geteuid() != 0) {
        fprintf(stderr, "secure_exec: needs root\n");
        return cannot_set_up;
    }
    const int preload = strcmp(argv[2], "-") != 0;
    if (preload || hidepid) {
        const int status = private_mounts();
        if (status != 0)
            return status;
    }
    if (preload) {
        const int status = preload_in_private_etc(argv[1], argv[2]);
        if (status != 0)
            return status;
    }
    if (hidepid && mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2") != 0)
        return refused("/proc with hidepid=2");
    if (setgroups(0, NULL) != 0 || setgid(nobody) != 0 || setuid(nobody) != 0) {
        perror("secure_exec: switch to nobody");
        return failed;
    }
    execv(argv[3], argv + 3);
    perror("secure_exec: exec");
    return 127;
}
