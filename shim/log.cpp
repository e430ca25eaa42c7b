// Sinks for rendered events. Plain system calls only: no stdio (it would share
// buffers and locks with the host) and no syslog(3) (it keeps a descriptor open).
#include "log.hpp"

#include "safe_write.hpp"

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

bool write_all(int fd, std::string_view text) { return safe_write(fd, text.data(), text.size()); }

/**
 * fd 2 is ours to write: open, not a socket (journald's stream, a client
 * connection), and the same file as at load when that was recorded.
 */
bool stderr_usable(const StderrIdentity* identity) {
    struct stat st;
    if (::fstat(2, &st) != 0 || S_ISSOCK(st.st_mode)) return false;
    if (identity == nullptr || !identity->recorded) return true;
    return identity->open && st.st_dev == identity->dev && st.st_ino == identity->ino;
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
        // MSG_DONTWAIT: a stalled journald must cost the report, never block the host.
        ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                 reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    }
    ::close(fd);
}

/**
 * Appends to the log file. O_NONBLOCK so a FIFO planted at the path cannot
 * block the open; O_NOFOLLOW refuses a symlink; then only a regular file owned
 * by our effective uid is written. Returns false when the file was refused.
 */
bool to_file(const char* path, std::string_view text) {
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                                    O_NOCTTY | O_NONBLOCK,
                          0600);
    if (fd < 0) return false;
    struct stat st;
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid();
    if (ok) write_all(fd, text);
    ::close(fd);
    return ok;
}

} // namespace

void emit(const Config& config, Level level, std::string_view text,
          const StderrIdentity* identity) noexcept {
    const int saved = errno;
    try {
        // A refused log file (symlink, FIFO, someone else's) falls back to stderr/syslog.
        if (config.sink == Sink::file && to_file(config.log_path, text)) {
        } else if (config.sink == Sink::syslog) {
            to_syslog(level, text);
        } else if (stderr_usable(identity)) {
            write_all(2, text);
        } else {
            to_syslog(level, text);
        }
    } catch (...) {
        // Out of memory while formatting a syslog line: the report is lost, the host is not.
    }
    errno = saved;
}

} // namespace portshim::log
