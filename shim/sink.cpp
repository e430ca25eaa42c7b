// See sink.hpp. No stdio (it would share buffers and locks with the host), no
// syslog(3) (it keeps a descriptor open and calls malloc), no allocation.
#include "sink.hpp"

#include "line_buffer.hpp"
#include "safe_write.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

namespace portshim::sink {

namespace {

std::atomic<bool> g_refusal_told{false}; // lock-free, so usable from a signal handler
std::atomic<unsigned> g_dropped{0};        // events no sink could take at once
std::atomic<unsigned> g_dropped_told{0};   // how many of them a note has named

/**
 * fd 2 is ours to write: open, not a socket (journald's stream, a client
 * connection), and the same file as at load when that was recorded. `st`
 * receives what fd 2 is.
 */
bool stderr_usable(const StderrIdentity* identity, struct stat& st) {
    if (::fstat(2, &st) != 0 || S_ISSOCK(st.st_mode)) return false;
    if (identity == nullptr || !identity->recorded) return true;
    return identity->open && st.st_dev == identity->dev && st.st_ino == identity->ino;
}

bool stderr_usable(const StderrIdentity* identity) {
    struct stat st;
    return stderr_usable(identity, st);
}

/** fd 2 can take a write now without blocking (a free pipe slot, room in a terminal's buffer). */
bool writable_now(int fd) {
    pollfd p{fd, POLLOUT, 0};
    int r;
    while ((r = ::poll(&p, 1, 0)) < 0 && errno == EINTR) {
    }
    return r == 1 && (p.revents & POLLOUT) != 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL)) == 0;
}

/**
 * A pipe or FIFO `fd` has room for `len` more bytes. Writes up to PIPE_BUF are
 * atomic: the non-blocking write itself says whether they fit. A longer one is
 * written only when the pipe's free capacity (F_GETPIPE_SZ less FIONREAD, with
 * two pages of slack for the kernel's page-sized slots) holds it whole.
 */
bool pipe_has_room(int fd, std::size_t len) {
    if (len <= PIPE_BUF) return true;
    int queued = 0;
    const int capacity = ::fcntl(fd, F_GETPIPE_SZ);
    if (capacity <= 0 || ::ioctl(fd, FIONREAD, &queued) != 0 || queued < 0) return false;
    return static_cast<std::size_t>(capacity - queued) >= len + 2 * 4096;
}

/**
 * The bytes to fd 2 without blocking. A regular file is written as it is. A
 * pipe or FIFO gets a descriptor of its own through /proc/self/fd/2, opened
 * O_NONBLOCK: the host's open file description, and its flags, stay untouched.
 * Anything else (a terminal), or a pipe without /proc, only when poll(2) says
 * it can take the bytes now. Never reopens a character device: /dev/ptmx or a
 * tape would not be the same file again.
 */
bool write_stderr_now(const struct stat& st, const char* text, std::size_t len) {
    if (S_ISREG(st.st_mode)) return safe_write(2, text, len);
    if (S_ISFIFO(st.st_mode)) {
        const int fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            struct stat own;
            bool ok = false;
            if (::fstat(fd, &own) == 0 && own.st_dev == st.st_dev && own.st_ino == st.st_ino)
                ok = pipe_has_room(fd, len) && safe_write(fd, text, len);
            ::close(fd);
            return ok;
        }
        // No reader left (ENXIO) or no /proc: at most one atomic write, only if it fits now.
        if (len > PIPE_BUF) return false;
    }
    return writable_now(2) && safe_write(2, text, len);
}

/** "N earlier events were dropped" in the event's format, or 0 bytes when none were. */
std::size_t dropped_note(const Config* config, char* buf, std::size_t size) {
    const unsigned dropped = g_dropped.load(std::memory_order_relaxed);
    const unsigned told = g_dropped_told.load(std::memory_order_relaxed);
    if (dropped == told) return 0;
    const unsigned count = dropped - told;
    LineBuffer line(buf, size);
    if (config != nullptr && config->format == Format::json) {
        put_json_event_head(line, "reports-dropped");
        line.put(",\"count\":").put_uint(count).put('}');
    } else {
        line.put("portshim[").put_int(::getpid()).put("]: warning: ").put_uint(count)
            .put(count == 1 ? " earlier report was" : " earlier reports were")
            .put(" dropped: their destination could not take them at once (a full pipe, a "
                 "stopped terminal or a busy syslog)");
    }
    return line.end_line().size();
}

/** Writes to fd 2 (`st`), preceded by the note of dropped events; counts a failure. */
void to_stderr(const Config* config, const struct stat& st, const char* text, std::size_t len) {
    char note[512];
    const unsigned dropped = g_dropped.load(std::memory_order_relaxed);
    const std::size_t note_len = dropped_note(config, note, sizeof note);
    if (note_len > 0 && write_stderr_now(st, note, note_len))
        g_dropped_told.store(dropped, std::memory_order_relaxed);
    if (!write_stderr_now(st, text, len)) g_dropped.fetch_add(1, std::memory_order_relaxed);
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
            msg.put(tag.data(), tag.size()).put(text, static_cast<std::size_t>(line_end - text));
            // MSG_DONTWAIT: a stalled journald must cost the report, never block the host.
            if (::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                         reinterpret_cast<const sockaddr*>(&addr), sizeof addr) < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
                g_dropped.fetch_add(1, std::memory_order_relaxed);
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

unsigned dropped_count() noexcept { return g_dropped.load(std::memory_order_relaxed); }

void write_restricted(const char* text, std::size_t len, const StderrIdentity* identity) noexcept {
    const int saved = errno;
    struct stat st;
    const bool ok = stderr_usable(identity, st) && (S_ISREG(st.st_mode) || len <= PIPE_BUF) &&
                    (S_ISREG(st.st_mode) || writable_now(2)) && safe_write(2, text, len);
    if (!ok) g_dropped.fetch_add(1, std::memory_order_relaxed);
    errno = saved;
}

void write_event(const Config& config, Level level, const char* text, std::size_t len,
                 const StderrIdentity* identity, Origin origin) noexcept {
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
        struct stat st;
        termios mode;
        // Rule 13: only a failure of this process may go to a stderr a parent could read as data.
        if (stderr_usable(identity, st) &&
            (origin == Origin::own_failure || config.stderr_asked || ::tcgetattr(2, &mode) == 0)) {
            if (note_len > 0) to_stderr(&config, st, note, note_len);
            to_stderr(&config, st, text, len);
        } else {
            if (note_len > 0) to_syslog(Level::warn, note, note_len);
            to_syslog(level, text, len);
        }
    }
    errno = saved;
}

} // namespace portshim::sink
