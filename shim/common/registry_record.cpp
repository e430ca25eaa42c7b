// See registry_record.hpp. System calls and a stack buffer only: listen() may
// run on any thread of any host, and the hooks library has no C++ runtime.
#include "registry_record.hpp"

#include "inet_address.hpp"
#include "line_buffer.hpp"
#include "own_files.hpp"
#include "safe_write.hpp"
#include "sink.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portshim::registry {

namespace {

constexpr std::size_t record_size = 512;
constexpr off_t rotate_at = 2048 * record_size; // 1 MiB, then listeners.1

/** Bytes outside 0x21..0x7e, and '%', as %XX; "-" for an empty value. Stops before `limit`. */
void put_encoded(LineBuffer& out, const char* text, std::size_t n, std::size_t limit) {
    static const char hex[] = "0123456789ABCDEF";
    if (n == 0 || (n == 1 && text[0] == '-')) {
        out.put(n == 0 ? "-" : "%2D"); // "-" alone means empty
        return;
    }
    for (std::size_t i = 0; i < n; ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        const bool plain = c > 0x20 && c < 0x7f && c != '%';
        if (out.size() + (plain ? 1 : 3) > limit) break; // never cut inside a %XX
        if (plain) out.put(static_cast<char>(c));
        else out.put('%').put(hex[c >> 4]).put(hex[c & 0xf]);
    }
}

/** "/proc/PID/NAME" into `out`. */
void proc_path(char (&out)[64], int pid, const char* name) {
    LineBuffer path(out, sizeof out);
    path.put("/proc/").put_int(pid).put('/').put(name);
    out[path.size()] = '\0';
}

/** Field 22 of /proc/PID/stat: start time in clock ticks since boot; 0 unknown. */
unsigned long long start_ticks(int pid) {
    char buf[1024];
    char path[64];
    proc_path(path, pid, "stat");
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    const ssize_t n = ::read(fd, buf, sizeof buf - 1);
    ::close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    const char* p = std::strrchr(buf, ')'); // comm may contain spaces and parentheses
    if (p == nullptr) return 0;
    // After ") " come field 3 (state) .. field 22 (starttime): skip 19 separators.
    ++p;
    for (int field = 2; field < 22 && *p != '\0'; ++p)
        if (*p == ' ') ++field;
    unsigned long long ticks = 0;
    for (; *p >= '0' && *p <= '9'; ++p) ticks = ticks * 10 + static_cast<unsigned>(*p - '0');
    return ticks;
}

/** The record line, padded with spaces to record_size - 1 and ended by '\n'. */
bool build_record(const listeners::ListenFd& lf, int opener, const RecordSubject& subject,
                  char (&record)[record_size]) {
    LineBuffer out(record, sizeof record);
    out.put("L1 netns=").put_uint(subject.netns).put(" inode=").put_uint(lf.inode).put(" proto=");
    int port = 0;
    if (lf.family == AF_UNIX) {
        out.put("unix addr=");
        const auto* un = reinterpret_cast<const sockaddr_un*>(&lf.addr);
        const std::size_t base = offsetof(sockaddr_un, sun_path);
        std::size_t n = lf.addr_len > base ? lf.addr_len - base : 0;
        char path[sizeof un->sun_path + 1];
        std::size_t len = 0;
        if (n > 0 && un->sun_path[0] == '\0') {
            path[len++] = '@';
            for (std::size_t i = 1; i < n; ++i) path[len++] = un->sun_path[i];
        } else {
            for (std::size_t i = 0; i < n && un->sun_path[i] != '\0'; ++i) path[len++] = un->sun_path[i];
        }
        put_encoded(out, path, len, 300);
    } else if (InetAddress in; parse_inet_address(lf.family, &lf.addr, lf.addr_len, in)) {
        out.put(lf.type == SOCK_STREAM ? "tcp" : "udp").put(" addr=");
        out.put_address(reinterpret_cast<const sockaddr*>(&lf.addr));
        port = in.port;
    } else {
        return false;
    }
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    out.put(" port=").put_int(port).put(" pid=").put_int(opener);
    out.put(" start=").put_uint(start_ticks(opener)).put(" time=").put_int(now.tv_sec);
    out.put(" uid=").put_uint(subject.uid).put(" exe=");
    char exe[PATH_MAX];
    char exe_link[64];
    proc_path(exe_link, opener, "exe");
    const ssize_t n = ::readlink(exe_link, exe, sizeof exe);
    put_encoded(out, exe, n > 0 ? static_cast<std::size_t>(n) : 0, record_size - 1);
    std::size_t len = out.size();
    while (len < record_size - 1) record[len++] = ' ';
    record[record_size - 1] = '\n';
    return true;
}

/** The state directory as a descriptor, created 0700 if missing; -1 when refused, with `why`. */
int open_state_dir(const char* path, LineBuffer& why) {
    if (::mkdir(path, 0700) != 0 && errno != EEXIST) {
        why.put("cannot be created: ");
        put_errno(why, errno);
        return -1;
    }
    const int dir = ::open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) {
        const int err = errno;
        struct stat link;
        // open(2): a symlink gives ELOOP with O_NOFOLLOW, or ENOTDIR with O_DIRECTORY.
        if (err == ELOOP || err == ENOTDIR)
            why.put(::lstat(path, &link) == 0 ? file_kind(link.st_mode) : "not a directory");
        else if (err != EMFILE && err != ENFILE) // out of descriptors passes: no refusal
            why.put("cannot be opened: "), put_errno(why, err);
        return -1;
    }
    struct stat st;
    const char* fs = nullptr;
    if (::fstat(dir, &st) != 0 || !own_file(st, S_IFDIR, true, why) ||
        ((fs = pseudo_fs_of(dir)) != nullptr && (put_pseudo_fs(why, fs), true))) {
        ::close(dir);
        return -1;
    }
    return dir;
}

/** The listeners file may be appended to: else "its listeners file is REASON" in `why`. */
bool listeners_file_ok(const struct stat& st, LineBuffer& why) {
    char detail[96];
    LineBuffer reason(detail, sizeof detail);
    if (own_file(st, S_IFREG, false, reason)) return true;
    why.put("its listeners file is ").put(reason.data(), reason.size());
    return false;
}

/** STATE_DIR/listeners for appending; looked at before it is opened, so no FIFO or device is. */
int open_listeners(int dir, LineBuffer& why) {
    struct stat st;
    if (::fstatat(dir, "listeners", &st, AT_SYMLINK_NOFOLLOW) == 0 && !listeners_file_ok(st, why))
        return -1;
    const int fd = ::openat(dir, "listeners",
                            O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
                            0600);
    if (fd < 0) return -1;
    if (::fstat(fd, &st) != 0 || !listeners_file_ok(st, why)) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/**
 * Past rotate_at, or when the next record would not fit under this process's
 * RLIMIT_FSIZE (a server started with `ulimit -f` or LimitFSIZE=), the writer
 * holding the lock renames listeners to listeners.1 (when the name still
 * refers to the file it opened: another writer may have rotated first) and
 * returns a descriptor to a fresh file.
 */
int rotate_if_full(int dir, int fd, LineBuffer& why) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return fd;
    if (!fits_size_limit(fd, record_size)) {
        // A limit below one record: rotating would only throw the registry away.
        rlimit limit{};
        if (::getrlimit(RLIMIT_FSIZE, &limit) != 0 || limit.rlim_cur < record_size) return fd;
    } else if (st.st_size < rotate_at) {
        return fd;
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) return fd; // someone else is rotating: append here
    struct stat named;
    if (::fstatat(dir, "listeners", &named, AT_SYMLINK_NOFOLLOW) == 0 && named.st_ino == st.st_ino &&
        named.st_dev == st.st_dev)
        ::renameat(dir, "listeners", dir, "listeners.1");
    ::flock(fd, LOCK_UN);
    const int fresh = open_listeners(dir, why);
    if (fresh < 0) return fd;
    ::close(fd);
    return fresh;
}

/** Once per process: the state directory is refused, so nothing is recorded (sink::write_refusal). */
__attribute__((noinline)) void report_refused(const Config& config, const char* why,
                                              const StderrIdentity* identity) {
    char subject[sizeof config.state_dir + 32];
    LineBuffer named(subject, sizeof subject - 1);
    named.put("PORTSHIM_STATE_DIR=").put(config.state_dir);
    subject[named.size()] = '\0';
    sink::write_refusal(config, sink::Note::state_dir_refused, subject, why,
                        "listening sockets are not recorded, so a later inherited-fd report "
                        "cannot name the opener of a socket once it has exited",
                        identity);
}

} // namespace

void write_record(const Config& config, const listeners::ListenFd& fd, int opener,
                  const RecordSubject& subject) noexcept {
    if (config.state_dir[0] == '\0' || opener <= 0) return;
    const int saved = errno;
    char record[record_size];
    char reason[128];
    LineBuffer why(reason, sizeof reason - 1);
    if (build_record(fd, opener, subject, record)) {
        const int dir = open_state_dir(config.state_dir, why);
        if (dir >= 0) {
            int file = open_listeners(dir, why);
            if (file >= 0) {
                file = rotate_if_full(dir, file, why);
                // Whole or not at all: safe_write skips a record the limit would cut.
                safe_write(file, record, sizeof record);
                ::close(file);
            }
            ::close(dir);
        }
    }
    if (why.size() > 0) {
        reason[why.size()] = '\0';
        report_refused(config, reason, subject.identity);
    }
    errno = saved;
}

} // namespace portshim::registry
