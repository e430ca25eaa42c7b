// See sink.hpp. No stdio (it would share buffers and locks with the host), no
// syslog(3) (it keeps a descriptor open and calls malloc), no allocation.
#include "sink.hpp"

#include "diag/markup.hpp"
#include "line_buffer.hpp"
#include "own_files.hpp"
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

std::atomic<unsigned> g_dropped{0};        // events no sink could take at once

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
            msg.put(tag.data(), tag.size()).put(text, static_cast<std::size_t>(line_end - text));
            // MSG_DONTWAIT: a stalled journald must cost the report, never block the host.
            ::sendto(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                     reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        }
        text = line_end + 1;
    }
    ::close(fd);
}

/**
 * Appends to the log file, or says in `why` why the path is refused. lstat
 * and statfs first, so a symlink, FIFO, device or kernel file at the path is
 * never even opened; then O_NONBLOCK (a FIFO planted meanwhile cannot block
 * the open), O_NOFOLLOW (nor can a symlink be followed) and the same checks on
 * what was opened, which must be the file looked at. An event that would not
 * fit whole under RLIMIT_FSIZE is dropped and counted (safe_write). Returns
 * false when the file was refused.
 */
bool to_file(const char* path, const char* text, std::size_t len, LineBuffer& why) {
    struct stat seen;
    const bool existed = ::lstat(path, &seen) == 0;
    if (!existed && errno != ENOENT) {
        why.put("cannot be looked at: ");
        put_errno(why, errno);
        return false;
    }
    if (existed && !own_file(seen, S_IFREG, false, why)) return false;
    if (const char* fs = existed ? pseudo_fs_at(path) : nullptr) {
        put_pseudo_fs(why, fs);
        return false;
    }
    const int fd = ::open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW |
                                    O_NOCTTY | O_NONBLOCK,
                          0600);
    if (fd < 0) {
        why.put("cannot be opened: ");
        put_errno(why, errno);
        return false;
    }
    struct stat st;
    bool ok = ::fstat(fd, &st) == 0 && own_file(st, S_IFREG, false, why);
    if (ok && existed && (st.st_dev != seen.st_dev || st.st_ino != seen.st_ino)) {
        why.put("replaced by another file while being opened");
        ok = false;
    }
    if (const char* fs = ok ? pseudo_fs_of(fd) : nullptr) {
        put_pseudo_fs(why, fs);
        ok = false;
    }
    if (ok && !safe_write(fd, text, len)) g_dropped.fetch_add(1, std::memory_order_relaxed);
    ::close(fd);
    return ok;
}

/** True the first time `note` is due in this process (see Config::notes_told). */
bool first_time(const Config& config, Note note) {
    const auto bit = static_cast<unsigned>(note);
    return (__atomic_fetch_or(&config.notes_told, bit, __ATOMIC_RELAXED) & bit) == 0;
}

/**
 * "SUBJECT refused (WHY); CONSEQUENCE" as a config-error: a text warning
 * line, a JSON object or a GitHub annotation like the engine's.
 */
__attribute__((noinline)) std::size_t refusal_note(const Config& config, const char* subject,
                                                  const char* why, const char* consequence,
                                                  char* buf, std::size_t size) {
    char message[sizeof config.log_path + 512];
    LineBuffer m(message, sizeof message);
    m.put(subject).put(" refused (").put(why).put("); ").put(consequence);
    message[m.size()] = '\0';
    LineBuffer line(buf, size);
    if (config.format == Format::json) {
        char exe[256];
        const ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
        exe[n > 0 ? n : 0] = '\0';
        line.put("{\"event\":\"config-error\",\"time\":\"").put_time_now().put("\",\"pid\":")
            .put_int(::getpid()).put(",\"exe\":").put_json(exe).put(",\"message\":").put_json(message).put('}');
    } else if (config.format == Format::github) {
        line.put("::").put(markup::github_command(Level::warn)).put(" title=")
            .escape(LineBuffer::Escape::github_property).put("portshim: configuration")
            .escape(LineBuffer::Escape::none).put("::")
            .escape(LineBuffer::Escape::github_message).put(message).escape(LineBuffer::Escape::none);
    } else {
        line.put("portshim[").put_int(::getpid()).put("]: warning: ").put(message);
    }
    return line.end_line().size();
}

/** The note for the refused log file. Out of line: its buffers are for the rare path. */
__attribute__((noinline)) std::size_t log_refusal_note(const Config& config, const char* why,
                                                      char* buf, std::size_t size) {
    char subject[sizeof config.log_path + 16];
    LineBuffer named(subject, sizeof subject - 1);
    named.put("PORTSHIM_LOG=").put(config.log_path);
    subject[named.size()] = '\0';
    return refusal_note(config, subject, why, "reports go here instead", buf, size);
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
    char why_storage[160]; // why the log file was refused
    LineBuffer why(why_storage, sizeof why_storage - 1);
    const bool refused = config.sink == Sink::file && !to_file(config.log_path, text, len, why);
    why_storage[why.size()] = '\0';
    if (config.sink == Sink::file && !refused) {
    } else if (config.sink == Sink::syslog) {
        to_syslog(level, text, len);
    } else {
        // Once per process, say why the report is not in the configured file.
        char note[1536];
        std::size_t note_len = 0;
        if (refused && first_time(config, Note::log_refused))
            note_len = log_refusal_note(config, why_storage, note, sizeof note);
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

void write_refusal(const Config& config, Note note, const char* subject, const char* why,
                   const char* consequence, const StderrIdentity* identity) noexcept {
    if (config.level < Level::warn || !first_time(config, note)) return;
    const int saved = errno;
    char storage[1536];
    const std::size_t len = refusal_note(config, subject, why, consequence, storage, sizeof storage);
    write_event(config, Level::warn, storage, len, identity);
    errno = saved;
}

} // namespace portshim::sink
