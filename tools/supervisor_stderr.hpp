// The supervisor's fd 2: /dev/null, except while it writes for a program, when it
// is that program's current fd 2 (docs/supervisor.md 6). A supervisor that kept the
// launcher's fd 2 would keep a captured stderr open (`$(...)`, ssh, CI) for as long
// as any supervised descendant lives, a daemon for instance.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace portshim::supervisor {

/** /dev/null on fd 2, kept at a descriptor of its own (park_stderr); -1: none could be opened. */
inline int& parked_null() {
    static int fd = -1;
    return fd;
}

/**
 * At start, after the sink's identity of fd 2 was recorded: /dev/null goes on fd 2.
 * Without /dev/null fd 2 stays as it is (closed, a later open could take it over).
 */
inline void park_stderr() {
    int& null = parked_null();
    if (null < 0) null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null >= 0) (void)::dup2(null, 2);
}

/**
 * While it lives, fd 2 is the program's fd 2 now (pidfd_getfd on `pidfd`, the
 * caller's), so the sink's checks (the identity recorded at start, the type) apply
 * to what the program holds, as the preload's do. The program closed its fd 2, or
 * is gone: /dev/null stays, which the identity check refuses (or, when the
 * program's stderr was /dev/null, takes: nothing reaches anyone).
 */
class ProgramStderr {
public:
    explicit ProgramStderr(int pidfd) {
        if (pidfd < 0 || parked_null() < 0) return;
        const int fd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, 2, 0));
        if (fd < 0) return;
        active_ = ::dup2(fd, 2) == 2;
        ::close(fd);
    }
    ~ProgramStderr() {
        if (active_) park_stderr();
    }
    ProgramStderr(const ProgramStderr&) = delete;
    ProgramStderr& operator=(const ProgramStderr&) = delete;

private:
    bool active_ = false;
};

} // namespace portshim::supervisor
