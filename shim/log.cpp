// Sinks for rendered events. Plain system calls only: no stdio (it would share
// buffers and locks with the host) and no syslog(3) (it keeps a descriptor open).
#include "log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <fmt/format.h>

namespace portshim::log {

namespace {

bool write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/** fd 2 is usable for us: open, and not a socket (journald's stream, a client connection). */
bool stderr_usable() {
    struct stat st;
    if (::fstat(2, &st) != 0) return false;
    return !S_ISSOCK(st.st_mode);
}

int severity(Level level) {
    switch (level) {
    case Level::error: return LOG_ERR;
    case Level::warn: return LOG_WARNING;
    case Level::info: return LOG_INFO;
    case Level::debug: return LOG_DEBUG;
    }
    return LOG_INFO;
}

/** One datagram per line to /dev/log, tagged portshim[PID] (RFC 3164 without timestamp). */
void to_syslog(Level level, std::string_view text) {
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, "/dev/log");
    const int pri = LOG_DAEMON | severity(level);
    const int pid = static_cast<int>(::getpid());
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        // Text lines already start "portshim[PID]: "; syslog wants the tag once.
        const std::string prefix = fmt::format("portshim[{}]: ", pid);
        if (line.substr(0, prefix.size()) == prefix) line.remove_prefix(prefix.size());
        if (line.empty()) continue;
        const std::string msg = fmt::format("<{}>{}{}", pri, prefix, line);
        ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL, reinterpret_cast<const sockaddr*>(&addr),
                 sizeof addr);
    }
    ::close(fd);
}

void to_file(const char* path, std::string_view text) {
    const int fd =
        ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0) return;
    write_all(fd, text);
    ::close(fd);
}

} // namespace

void emit(const Config& config, Level level, std::string_view text) noexcept {
    const int saved = errno;
    try {
        switch (config.sink) {
        case Sink::file: to_file(config.log_path, text); break;
        case Sink::syslog: to_syslog(level, text); break;
        case Sink::stderr_:
            if (stderr_usable()) write_all(2, text);
            else to_syslog(level, text);
            break;
        }
    } catch (...) {
        // Out of memory while formatting a syslog line: the report is lost, the host is not.
    }
    errno = saved;
}

} // namespace portshim::log
