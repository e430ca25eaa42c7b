// See safe_write.hpp. write(2): EPIPE also raises SIGPIPE, whose default
// action ends the process; blocking it around the write keeps the host alive.
#include "safe_write.hpp"

#include <cerrno>
#include <csignal>
#include <ctime>
#include <pthread.h>
#include <unistd.h>

namespace portshim {

bool safe_write(int fd, const char* data, std::size_t len) noexcept {
    sigset_t pipe_only, old, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigemptyset(&pending);
    ::sigpending(&pending);
    const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
    bool ok = true;
    while (len > 0) {
        const ssize_t n = ::write(fd, data, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            if (n < 0 && errno == EPIPE && !was_pending) {
                const timespec zero{};
                ::sigtimedwait(&pipe_only, nullptr, &zero);
            }
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
