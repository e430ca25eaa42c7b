// See sink.hpp. No stdio (it would share buffers and locks with the host), no
// syslog(3) (it keeps a descriptor open and calls malloc), no allocation.
#include "sink.hpp"

#include "diag/escape.hpp"
#include "line_buffer.hpp"
#include "safe_write.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

namespace portshim::sink {

namespace {

std::atomic<bool> g_refusal_told{false}; // lock-free, so usable from a signal handler

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
void to_syslog(Level level, const char* text, std::size_t len) {
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, "/dev/log", sizeof "/dev/log");
    char tag_storage[32];
    LineBuffer tag(tag_storage, sizeof tag_storage);
    tag.put("portshim[").put_int(::getpid()).put("]: ");
    const char* end = text + len;
    while (text < end) {
        const char* nl = static_cast<const char*>(std::memchr(text, '\n', static_cast<std::size_t>(end - text)));
        const char* line_end = nl != nullptr ? nl : end;
        // Text lines already start "portshim[PID]: "; syslog wants the tag once.
        if (static_cast<std::size_t>(line_end - text) >= tag.size() &&
            std::memcmp(text, tag.data(), tag.size()) == 0)
            text += tag.size();
        if (line_end > text) {
            char storage[2048];
            LineBuffer msg(storage, sizeof storage);
            msg.put('<').put_int(LOG_DAEMON | severity(level)).put('>');
            msg.put(tag.data(), tag.size());
            const std::size_t head = msg.size(), line = static_cast<std::size_t>(line_end - text);
            // A JSON event is shortened to fit the datagram, never cut mid-object.
            const std::size_t fitted =
                *text == '{' ? escape::json_fit(text, line, storage + head, sizeof storage - head) : 0;
            if (fitted == 0) msg.put(text, line);
            // MSG_DONTWAIT: a stalled journald must cost the report, never block the host.
            ::sendto(fd, msg.data(), fitted != 0 ? head + fitted : msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                     reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        }
        text = line_end + 1;
    }
    ::close(fd);
}

/**
 * Appends to the log file. O_NONBLOCK so a FIFO planted at the path cannot
 * block the open; O_NOFOLLOW refuses a symlink; then only a regular file owned
 * by our effective uid is written. Returns false when the file was refused.
 */
bool to_file(const char* path, const char* text, std::size_t len) {
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                                    O_NOCTTY | O_NONBLOCK,
                          0600);
    if (fd < 0) return false;
    struct stat st;
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid();
    if (ok) safe_write(fd, text, len);
    ::close(fd);
    return ok;
}

/** The warning that PORTSHIM_LOG was refused, as text or a config-error JSON event. */
std::size_t refusal_note(const Config& config, char* buf, std::size_t size) {
    constexpr const char* why = " refused (a symlink, a FIFO or device, not a regular file owned "
                                "by this user, or not writable); reports go here instead";
    LineBuffer line(buf, size);
    if (config.format == Format::json) {
        char exe[256];
        const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        char message[sizeof config.log_path + 160];
        LineBuffer m(message, sizeof message);
        m.put("PORTSHIM_LOG=").put(config.log_path).put(why);
        message[m.size()] = '\0';
        line.put("{\"event\":\"config-error\",\"time\":\"").put_time_now().put("\",\"pid\":")
            .put_int(::getpid()).put(",\"exe\":").put_json(exe).put(",\"message\":").put_json(message).put('}');
    } else {
        line.put("portshim[").put_int(::getpid()).put("]: warning: PORTSHIM_LOG=").put(config.log_path).put(why);
    }
    return line.end_line().size();
}

} // namespace

bool stderr_is_terminal(const StderrIdentity* identity) noexcept {
    const int saved = errno;
    termios mode;
    const bool terminal = stderr_usable(identity) && ::tcgetattr(2, &mode) == 0;
    errno = saved;
    return terminal;
}

void write_event(const Config& config, Level level, const char* text, std::size_t len,
                 const StderrIdentity* identity) noexcept {
    const int saved = errno;
    const bool refused = config.sink == Sink::file && !to_file(config.log_path, text, len);
    if (config.sink == Sink::file && !refused) {
    } else if (config.sink == Sink::syslog) {
        to_syslog(level, text, len);
    } else {
        // Once per process, say why the report is not in the configured file.
        char note[1536];
        std::size_t note_len = 0;
        if (refused && !g_refusal_told.exchange(true)) {
            note_len = refusal_note(config, note, sizeof note);
        }
        if (stderr_usable(identity)) {
            if (note_len > 0) safe_write(2, note, note_len);
            safe_write(2, text, len);
        } else {
            if (note_len > 0) to_syslog(Level::warn, note, note_len);
            to_syslog(level, text, len);
        }
    }
    errno = saved;
}

} // namespace portshim::sink
