// The only definitions of libc names in portshim. Each hook forwards to libc
// and, when the call failed in a way worth explaining, asks runtime for a report.
#include "real.hpp"
#include "runtime.hpp"

#include <cerrno>
#include <sys/socket.h>

#define PORTSHIM_EXPORT extern "C" __attribute__((visibility("default")))

PORTSHIM_EXPORT int bind(int fd, const struct sockaddr* addr, socklen_t len) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::bind(fd, addr, len);
    const int entry_errno = errno;
    const bool injected = portshim::inject_reuseaddr(fd, addr, len);
    int rc = portshim::real::bind(fd, addr, len);
    if (rc == 0) portshim::forget_reuseaddr_choice(fd);
    if (rc == 0 || errno != EADDRINUSE) return rc;
    const int saved = errno;
    // PORTSHIM_WAIT: the program sees success (errno as it was) or the original error.
    if (portshim::report_failure(portshim::Call::bind, fd, addr, len, saved, injected) &&
        portshim::retry_bind(fd, addr, len) == 0) {
        portshim::forget_reuseaddr_choice(fd);
        errno = entry_errno;
        return 0;
    }
    errno = saved;
    return rc;
}

PORTSHIM_EXPORT int listen(int fd, int backlog) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::listen(fd, backlog);
    const int rc = portshim::real::listen(fd, backlog);
    if (rc == 0) portshim::check_reuseport_sharing(fd);
    if (rc == 0 || errno != EADDRINUSE) return rc;
    const int saved = errno;
    portshim::report_failure(portshim::Call::listen, fd, nullptr, 0, saved, false);
    errno = saved;
    return rc;
}

PORTSHIM_EXPORT int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    portshim::ensure_init();
    if (portshim::reentered()) return portshim::real::setsockopt(fd, level, name, value, len);
    const int rc = portshim::real::setsockopt(fd, level, name, value, len);
    if (rc == 0) portshim::note_socket_option(fd, level, name, value, len);
    return rc;
}

namespace {
// At load: note what fd 2 is and read the configuration. Hooks do not depend
// on it having run.
__attribute__((constructor)) void portshim_load() { portshim::load(); }
} // namespace
