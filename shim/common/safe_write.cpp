// See safe_write.hpp. write(2): EPIPE also raises SIGPIPE, and a write at or
// past RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ; the default action of
// both ends the process (SIGXFSZ: exit status 153 with a core). Blocking them
// around the write keeps the host alive; the limit check before it keeps a
// write from being cut short at the limit (the kernel writes what fits, then
// fails the rest: generic_write_check_limits in mm/filemap.c).
#include "safe_write.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim {

namespace {

/** Consumes `sig` when it is pending now but was not before our write (then it is ours). */
void consume_own(int sig, const sigset_t& before) {
    if (sigismember(&before, sig) == 1) return;
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, sig);
    const timespec zero{};
    ::sigtimedwait(&only, nullptr, &zero);
}

} // namespace

bool fits_size_limit(int fd, std::size_t len) noexcept {
    const int saved = errno;
    rlimit limit{};
    bool fits = true;
    if (::getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        struct stat st;
        if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            const int flags = ::fcntl(fd, F_GETFL);
            const off_t at = flags >= 0 && (flags & O_APPEND) != 0 ? st.st_size : ::lseek(fd, 0, SEEK_CUR);
            fits = at >= 0 && static_cast<unsigned long long>(at) + len <= limit.rlim_cur;
        }
    }
    errno = saved;
    return fits;
}

bool safe_write(int fd, const char* data, std::size_t len) noexcept {
    if (!fits_size_limit(fd, len)) return false;
    sigset_t ours, old, pending;
    sigemptyset(&ours);
    sigaddset(&ours, SIGPIPE);
    sigaddset(&ours, SIGXFSZ);
    sigemptyset(&pending);
    ::sigpending(&pending);
    ::pthread_sigmask(SIG_BLOCK, &ours, &old);
    bool ok = true;
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            // Another writer may have grown the file since the check: EFBIG then.
            if (n < 0 && errno == EPIPE) consume_own(SIGPIPE, pending);
            if (n < 0 && errno == EFBIG) consume_own(SIGXFSZ, pending);
            ok = false;
            break;
        }
        data += n;
        len -= static_cast<std::size_t>(n);
    }
    ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return ok;
}

} // namespace portshim
