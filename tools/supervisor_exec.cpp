// See supervisor_exec.hpp.
#include "supervisor_exec.hpp"
#include "supervisor_stderr.hpp"

#include "common/events.hpp"
#include "common/line_buffer.hpp"
#include "common/listen_fd.hpp"
#include "common/vocabulary.hpp"

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace portshim::supervisor {

namespace {

/** The NUL-terminated string at `remote` in task `tid`, at most 512 bytes; "" unreadable. */
std::string remote_string(int tid, unsigned long long remote) {
    std::string out;
    char chunk[128];
    while (out.size() < 512) {
        // Never across a page boundary: the next page may be unmapped.
        const unsigned long long page_left = 4096 - (remote & 4095);
        const std::size_t want = page_left < sizeof chunk ? static_cast<std::size_t>(page_left) : sizeof chunk;
        iovec local{chunk, want};
        iovec from{reinterpret_cast<void*>(remote), want};
        const ssize_t n = ::process_vm_readv(tid, &local, 1, &from, 1, 0);
        if (n <= 0) break;
        const void* nul = std::memchr(chunk, '\0', static_cast<std::size_t>(n));
        if (nul != nullptr) return out.append(chunk, static_cast<const char*>(nul) - chunk);
        out.append(chunk, static_cast<std::size_t>(n));
        remote += static_cast<unsigned long long>(n);
    }
    return out;
}

/** FD_CLOEXEC of the program's `fd`, from the "flags:" line of /proc/PID/fdinfo/FD (octal). */
bool cloexec_of(const std::string& proc, const char* fd) {
    const int f = ::open((proc + "/fdinfo/" + fd).c_str(), O_RDONLY | O_CLOEXEC);
    if (f < 0) return true; // closed meanwhile: nothing leaks
    char buf[256];
    const ssize_t n = ::read(f, buf, sizeof buf - 1);
    ::close(f);
    if (n <= 0) return true;
    buf[n] = '\0';
    const char* flags = std::strstr(buf, "flags:");
    return flags == nullptr || (std::strtoul(flags + 6, nullptr, 8) & O_CLOEXEC) != 0;
}

/** The program's fd `fd` when it is a listening socket, through our copy of it. */
bool describe_listener(int pidfd, int fd, listeners::ListenFd& out) {
    const int copy = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, fd, 0));
    if (copy < 0) return false;
    int listening = 0;
    socklen_t n = sizeof listening;
    struct stat st;
    out.fd = fd;
    out.addr_len = sizeof out.addr;
    socklen_t int_len = sizeof(int);
    const bool ok = ::getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &n) == 0 && listening != 0 &&
                    ::fstat(copy, &st) == 0 &&
                    ::getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &out.family, &int_len) == 0 &&
                    (int_len = sizeof(int), ::getsockopt(copy, SOL_SOCKET, SO_TYPE, &out.type, &int_len) == 0) &&
                    ::getsockname(copy, reinterpret_cast<sockaddr*>(&out.addr), &out.addr_len) == 0;
    out.inode = ok ? st.st_ino : 0;
    ::close(copy);
    return ok && (out.family == AF_INET || out.family == AF_INET6 || out.family == AF_UNIX);
}

/** The program the exec runs, as given (execveat with AT_EMPTY_PATH: the file behind dirfd). */
std::string exec_target(const seccomp_notif& req, const std::string& proc) {
    const int tid = static_cast<int>(req.pid);
    if (req.data.nr == __NR_execve) return remote_string(tid, req.data.args[0]);
    std::string path = remote_string(tid, req.data.args[1]);
    const int dirfd = static_cast<int>(req.data.args[0]);
    if (path.empty() && (req.data.args[4] & AT_EMPTY_PATH) != 0) {
        char link[PATH_MAX];
        const ssize_t n = ::readlink((proc + "/fd/" + std::to_string(dirfd)).c_str(), link, sizeof link - 1);
        path = n > 0 ? std::string(link, static_cast<std::size_t>(n)) : "(a program open as a descriptor)";
    }
    return path;
}

/** `target` as the program sees it: through its root, or its cwd when relative. */
std::string as_seen_by(const std::string& proc, const std::string& target) {
    return proc + (target[0] == '/' ? "/root" : "/cwd/") + target;
}

/** The exec runs the program's own executable again (a binary upgrade): a hand-over. */
bool targets_self(const std::string& proc, const std::string& seen) {
    struct stat self, other;
    return ::stat((proc + "/exe").c_str(), &self) == 0 && ::stat(seen.c_str(), &other) == 0 &&
           self.st_dev == other.st_dev && self.st_ino == other.st_ino;
}

} // namespace

void report_exec_leak(const Config& config, const StderrIdentity* identity, const seccomp_notif& req, int tgid,
                      int pidfd, std::unordered_set<unsigned long long>& warned) {
    const std::string proc = "/proc/" + std::to_string(tgid);
    DIR* dir = ::opendir((proc + "/fd").c_str());
    if (dir == nullptr) return;
    listeners::FdList leaks;
    bool news = false;
    while (const dirent* e = ::readdir(dir)) {
        const int fd = std::atoi(e->d_name);
        if (fd < 3) continue;
        char link[64];
        const ssize_t n = ::readlinkat(::dirfd(dir), e->d_name, link, sizeof link - 1);
        if (n <= 0 || std::strncmp(link, "socket:[", 8) != 0 || cloexec_of(proc, e->d_name)) continue;
        listeners::ListenFd lf;
        if (!describe_listener(pidfd, fd, lf)) continue;
        leaks.add(lf);
        if (warned.count(lf.inode) == 0) news = true;
    }
    ::closedir(dir);
    if (leaks.count == 0) return;
    const std::string target = exec_target(req, proc);
    // execvp tries every PATH entry: an exec that fails for sure leaks nothing (the
    // hooks likewise name only the program that will run).
    const std::string seen = target.empty() || target[0] == '(' ? target : as_seen_by(proc, target);
    if (!seen.empty() && seen[0] != '(' && ::access(seen.c_str(), X_OK) != 0) return;
    for (int i = 0; i < leaks.count; ++i) warned.insert(leaks.items[i].inode);
    const bool self = targets_self(proc, seen);
    const ProgramStderr program_stderr(pidfd); // the program's fd 2 of now
    set_subject_pid(tgid);
    events::report_exec_leak(config, identity, news && !self ? Level::warn : Level::debug, target.c_str(), nullptr,
                             false, self ? Handover::self_exec : Handover::none, leaks, tgid);
    set_subject_pid(0);
}

} // namespace portshim::supervisor
