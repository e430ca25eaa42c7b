// See sink.hpp. No stdio (it would share buffers and locks with the host), no
// syslog(3) (it keeps a descriptor open and calls malloc), no allocation.
#include "sink.hpp"

#include "escape.hpp"
#include "journal.hpp"
#include "markup.hpp"
#include "line_buffer.hpp"
#include "own_files.hpp"
#include "safe_write.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <syslog.h>
#include <termios.h>
#include <unistd.h>

namespace portshim::sink {

namespace {

/** The counters of StderrIdentity; a stand-in where a caller has none (tests). */
const StderrIdentity& counters(const StderrIdentity* identity) {
    static StderrIdentity none;
    return identity != nullptr ? *identity : none;
}

/** One more event no sink could take at once (StderrIdentity::dropped). */
void count_dropped(const StderrIdentity* identity) {
    __atomic_fetch_add(&counters(identity).dropped, 1, __ATOMIC_RELAXED);
}

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
    // A pseudo-terminal slave (/dev/pts/N: majors 136-143) or a virtual console
    // (major 4) opens again as the same terminal, never as a new one.
    const unsigned major_dev = S_ISCHR(st.st_mode) ? major(st.st_rdev) : 0;
    const bool terminal = major_dev == 4 || (major_dev >= 136 && major_dev <= 143);
    if (S_ISFIFO(st.st_mode) || terminal) {
        const int fd = ::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0) {
            struct stat own;
            bool ok = false;
            if (::fstat(fd, &own) == 0 && own.st_dev == st.st_dev && own.st_ino == st.st_ino)
                ok = (terminal || pipe_has_room(fd, len)) && safe_write(fd, text, len);
            ::close(fd);
            return ok;
        }
        // No reader left (ENXIO) or no /proc: at most one atomic write, only if it fits now.
        if (len > PIPE_BUF) return false;
    }
    // Any other device: poll promises room for a little, not for a whole report.
    if (S_ISCHR(st.st_mode) && !terminal && len > 1024) return false;
    return writable_now(2) && safe_write(2, text, len);
}

/**
 * "N earlier reports were dropped" in the event's format, or 0 bytes when none
 * were; `*dropped` receives the count it covers, for note_written().
 */
std::size_t dropped_note(const Config& config, const StderrIdentity* identity, char* buf,
                         std::size_t size, unsigned* dropped) {
    *dropped = __atomic_load_n(&counters(identity).dropped, __ATOMIC_RELAXED);
    const unsigned told = __atomic_load_n(&counters(identity).dropped_told, __ATOMIC_RELAXED);
    if (*dropped == told) return 0;
    const unsigned count = *dropped - told;
    LineBuffer line(buf, size);
    if (config.format == Format::json) {
        put_json_event_head(line, "reports-dropped");
        line.put(",\"count\":").put_uint(count).put('}');
    } else {
        line.put("portshim[").put_int(subject_pid()).put("]: warning: ").put_uint(count)
            .put(count == 1 ? " earlier report was" : " earlier reports were")
            .put(" dropped: their destination could not take them at once (a full pipe, a "
                 "stopped terminal, a busy syslog or a file at its size limit)");
    }
    return line.end_line().size();
}

/** The note covering `dropped` events was written. */
void note_written(const StderrIdentity* identity, unsigned dropped) {
    // Only ever raised: a note written by another thread meanwhile may have covered more.
    unsigned& told_ref = counters(identity).dropped_told;
    unsigned told = __atomic_load_n(&told_ref, __ATOMIC_RELAXED);
    while (static_cast<int>(dropped - told) > 0 &&
           !__atomic_compare_exchange_n(&told_ref, &told, dropped, true,
                                        __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
}

/** Writes to fd 2 (`st`), preceded by the note of dropped events; counts a failure. */
void to_stderr(const Config& config, const StderrIdentity* identity, const struct stat& st,
               const char* text, std::size_t len) {
    char note[512];
    unsigned dropped = 0;
    const std::size_t note_len = dropped_note(config, identity, note, sizeof note, &dropped);
    if (note_len > 0 && write_stderr_now(st, note, note_len)) note_written(identity, dropped);
    if (!write_stderr_now(st, text, len)) count_dropped(identity);
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
void to_syslog(const StderrIdentity* identity, Level level, const char* text, std::size_t len) {
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, "/dev/log", sizeof "/dev/log");
    char tag_storage[32];
    LineBuffer tag(tag_storage, sizeof tag_storage);
    tag.put("portshim[").put_int(subject_pid()).put("]: ");
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
            if (::sendto(fd, msg.data(), fitted != 0 ? head + fitted : msg.size(),
                         MSG_NOSIGNAL | MSG_DONTWAIT, reinterpret_cast<const sockaddr*>(&addr),
                         sizeof addr) < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
                count_dropped(identity);
        }
        text = line_end + 1;
    }
    ::close(fd);
}

/** "portshim[PID]: " at the start of text[0..len): its length, else 0. */
std::size_t tag_length(const char* text, std::size_t len) {
    char storage[32];
    LineBuffer tag(storage, sizeof storage);
    tag.put("portshim[").put_int(subject_pid()).put("]: ");
    return len >= tag.size() && std::memcmp(text, tag.data(), tag.size()) == 0 ? tag.size() : 0;
}

/**
 * fd 2 is the journal stream systemd connected (JOURNAL_STREAM names its
 * st_dev and st_ino, systemd.exec(7)); a program that redirected its fd 2
 * meanwhile no longer has it, and its children inherit the variable.
 */
bool stderr_is_journal_stream(const Config& config) {
    struct stat st;
    return config.journal_stream && ::fstat(2, &st) == 0 &&
           static_cast<unsigned long long>(st.st_dev) == config.journal_dev &&
           static_cast<unsigned long long>(st.st_ino) == config.journal_ino;
}

/**
 * One native journal entry (journal.hpp) for the event: MESSAGE (the
 * producer's headline, else the text's first line without its tag),
 * PRIORITY, SYSLOG_FACILITY, SYSLOG_IDENTIFIER, SYSLOG_PID (the subject's),
 * the producer's fields, PORTSHIM_DROPPED when earlier events were dropped,
 * and the whole rendered event as PORTSHIM_REPORT (a JSON one only whole:
 * a cut object would be no JSON; text is cut where the entry ends). Sent
 * with MSG_DONTWAIT: a busy journald costs the event (dropped, counted),
 * never a wait. Returns false when journald is not there or refuses the
 * datagram, so the caller falls back.
 */
__attribute__((noinline)) bool to_journal(const StderrIdentity* identity, Level level, const char* text, std::size_t len,
                const journal::Fields* fields) {
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    journal::Entry entry;
    const char* message = fields != nullptr ? fields->message : nullptr;
    std::size_t message_len = message != nullptr ? fields->message_len : 0;
    if (message == nullptr) {
        const std::size_t tag = tag_length(text, len);
        message = text + tag;
        const void* nl = std::memchr(message, '\n', len - tag);
        message_len = nl != nullptr ? static_cast<std::size_t>(static_cast<const char*>(nl) - message) : len - tag;
    }
    entry.add("MESSAGE", message, message_len);
    static constexpr const char* priorities[] = {"3", "4", "6", "7"}; // syslog(3)'s err, warning, info, debug
    entry.add("PRIORITY", priorities[static_cast<int>(level)], 1);
    entry.add("SYSLOG_FACILITY", "3", 1); // LOG_DAEMON, as the syslog sink's datagrams
    entry.add("SYSLOG_IDENTIFIER", "portshim", 8);
    char pid_storage[16];
    LineBuffer pid(pid_storage, sizeof pid_storage);
    pid.put_int(subject_pid());
    entry.add("SYSLOG_PID", pid.data(), pid.size());
    if (fields != nullptr)
        for (int i = 0; i < fields->count; ++i)
            entry.add(fields->items[i].name, fields->items[i].value, fields->items[i].len);
    const unsigned dropped = __atomic_load_n(&counters(identity).dropped, __ATOMIC_RELAXED);
    const unsigned told = __atomic_load_n(&counters(identity).dropped_told, __ATOMIC_RELAXED);
    char count_storage[16];
    LineBuffer count(count_storage, sizeof count_storage);
    if (dropped != told) {
        count.put_uint(dropped - told);
        entry.add("PORTSHIM_DROPPED", count.data(), count.size());
    }
    std::size_t report = len;
    while (report > 0 && text[report - 1] == '\n') --report;
    const std::size_t room = entry.room_for("PORTSHIM_REPORT");
    if (*text != '{' || report <= room) entry.add("PORTSHIM_REPORT", text, report, room);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, journal::socket_path, sizeof journal::socket_path);
    msghdr msg{};
    msg.msg_name = &addr;
    msg.msg_namelen = sizeof addr;
    msg.msg_iov = const_cast<iovec*>(entry.iov());
    msg.msg_iovlen = static_cast<std::size_t>(entry.iov_count());
    ssize_t sent;
    while ((sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 && errno == EINTR) {
    }
    const int err = errno;
    ::close(fd);
    if (sent >= 0) {
        if (dropped != told) note_written(identity, dropped);
        return true;
    }
    // journald is there but cannot take it now: the event is dropped, as by every sink.
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
        count_dropped(identity);
        return true;
    }
    return false; // no socket (ENOENT), nobody bound (ECONNREFUSED), not ours to use (EACCES)
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
bool to_file(const Config& config, const StderrIdentity* identity, const char* text,
             std::size_t len, LineBuffer& why) {
    const char* path = config.log_path;
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
    if (ok) {
        char note[512];
        unsigned dropped = 0;
        const std::size_t note_len = dropped_note(config, identity, note, sizeof note, &dropped);
        if (note_len > 0 && safe_write(fd, note, note_len)) note_written(identity, dropped);
        if (!safe_write(fd, text, len)) count_dropped(identity);
    }
    ::close(fd);
    return ok;
}

/** True the first time `note` is due in this process (see StderrIdentity::notes_told). */
bool first_time(const StderrIdentity* identity, Note note) {
    const auto bit = static_cast<unsigned>(note);
    return (__atomic_fetch_or(&counters(identity).notes_told, bit, __ATOMIC_RELAXED) & bit) == 0;
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
        put_json_event_head(line, "config-error");
        line.put(",\"message\":").put_json(message).put('}');
    } else if (config.format == Format::github) {
        line.put("::").put(markup::github_command(Level::warn)).put(" title=")
            .escape(LineBuffer::Escape::github_property).put("portshim: configuration")
            .escape(LineBuffer::Escape::none).put("::")
            .escape(LineBuffer::Escape::github_message).put_visible(message).escape(LineBuffer::Escape::none);
    } else {
        // The subject names a path from the environment: shown, never obeyed (rule 11).
        line.put("portshim[").put_int(subject_pid()).put("]: warning: ").put_visible(message);
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

void write_restricted(const char* text, std::size_t len,
                      const StderrIdentity* identity) noexcept {
    const int saved = errno;
    struct stat st;
    // Not safe_write: its signal mask and size-limit calls may not be the host's to make.
    // poll said a reader is there and there is room: no SIGPIPE, and no wait.
    bool ok = stderr_usable(identity, st) && (S_ISREG(st.st_mode) || len <= PIPE_BUF) &&
              (S_ISREG(st.st_mode) || writable_now(2));
    // A file past RLIMIT_FSIZE would raise SIGXFSZ, and no signal may be masked
    // here: skip what would not fit. (getrlimit: glibc's start-up made it.)
    rlimit limit{};
    if (ok && S_ISREG(st.st_mode) && ::getrlimit(RLIMIT_FSIZE, &limit) == 0 &&
        limit.rlim_cur != RLIM_INFINITY &&
        static_cast<rlim_t>(st.st_size) + len > limit.rlim_cur)
        ok = false;
    while (ok && len > 0) {
        const ssize_t n = ::write(2, text, len);
        if (n < 0 && errno == EINTR) continue;
        ok = n > 0;
        if (ok) text += n, len -= static_cast<std::size_t>(n);
    }
    if (!ok) count_dropped(identity);
    errno = saved;
}

void write_event(const Config& config, Level level, const char* text, std::size_t len,
                 const StderrIdentity* identity, Origin origin,
                 const journal::Fields* fields) noexcept {
    const int saved = errno;
    // The journal when asked for, or by default on systemd's journal stream; a journal
    // that is not there falls back to stderr or syslog like the default sink.
    if (len > 0 && (config.sink == Sink::journal ||
                    (config.sink == Sink::stderr_ && !config.stderr_asked &&
                     stderr_is_journal_stream(config))) &&
        to_journal(identity, level, text, len, fields)) {
        errno = saved;
        return;
    }
    char why_storage[160]; // why the log file was refused
    LineBuffer why(why_storage, sizeof why_storage - 1);
    const bool refused = config.sink == Sink::file && !to_file(config, identity, text, len, why);
    why_storage[why.size()] = '\0';
    if (config.sink == Sink::file && !refused) {
    } else if (config.sink == Sink::syslog) {
        to_syslog(identity, level, text, len);
    } else {
        // Once per process, say why the report is not in the configured file.
        char note[1536];
        std::size_t note_len = 0;
        if (refused && first_time(identity, Note::log_refused))
            note_len = log_refusal_note(config, why_storage, note, sizeof note);
        struct stat st;
        termios mode;
        // Rule 13: only a failure of this process may go to a stderr a parent could
        // read as data, unless stderr was asked for (or stands in for a refused file).
        if (stderr_usable(identity, st) &&
            (origin == Origin::own_failure || config.stderr_asked || refused ||
             ::tcgetattr(2, &mode) == 0)) {
            if (note_len > 0) to_stderr(config, identity, st, note, note_len);
            to_stderr(config, identity, st, text, len);
        } else {
            if (note_len > 0) to_syslog(identity, Level::warn, note, note_len);
            to_syslog(identity, level, text, len);
        }
    }
    errno = saved;
}

void write_refusal(const Config& config, Note note, const char* subject, const char* why,
                   const char* consequence, const StderrIdentity* identity) noexcept {
    if (config.level < Level::warn || !first_time(identity, note)) return;
    const int saved = errno;
    char storage[1536];
    const std::size_t len = refusal_note(config, subject, why, consequence, storage, sizeof storage);
    // Said from fork and exec paths: not about a failure of this process (rule 13).
    write_event(config, Level::warn, storage, len, identity, Origin::other);
    errno = saved;
}

} // namespace portshim::sink
