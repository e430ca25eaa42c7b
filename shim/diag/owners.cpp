// Owner probe: which processes hold a socket inode, and the facts about each
// process that the rules compare (exe, argv, parent, start time, O_CLOEXEC).
#include "owners.hpp"

#include "host.hpp"
#include "procfs.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <fcntl.h>
#include <new>
#include <unistd.h>

namespace portshim::owners {
namespace {

// argv is for recognising a program (interpreter script, docker-proxy flags);
// a longer command line is cut rather than read whole into the host's heap.
constexpr std::size_t cmdline_limit = 64 * 1024;

// "PID", "PID/fd", "PID/fdinfo/FD" built on the stack: no allocation per fd.
class RelPath {
public:
    RelPath& add(std::string_view s) noexcept {
        const std::size_t n = std::min(s.size(), sizeof buf_ - 1 - len_);
        s.copy(buf_ + len_, n);
        len_ += n;
        buf_[len_] = '\0';
        return *this;
    }
    RelPath& add(int n) noexcept {
        char digits[16];
        const auto res = std::to_chars(digits, digits + sizeof digits, n);
        return add(std::string_view(digits, static_cast<std::size_t>(res.ptr - digits)));
    }
    const char* c_str() const noexcept { return buf_; }

private:
    char buf_[64] = {};
    std::size_t len_ = 0;
};

// Entries of PROC_ROOT and PID/fd that are plain decimal numbers ("self",
// "sys", "net" and friends are not processes).
bool parse_int_name(const char* name, int& value) {
    std::uint64_t v = 0;
    if (!procfs::parse_u64(name, v) || v > static_cast<std::uint64_t>(INT_MAX)) return false;
    value = static_cast<int>(v);
    return true;
}

// A process that exited between two reads shows up as ENOENT (its directory
// vanished) or ESRCH (proc(5): files of a dying task).
bool process_gone(int err) { return err == ENOENT || err == ESRCH; }

// read_process against an open PROC_ROOT; `boot` is host::boot_time, read
// once per scan. Returns 0 or the errno of the step that failed.
int read_process_at(int proc_fd, int pid, double boot, Holder& h) {
    procfs::Fd dir(::openat(proc_fd, RelPath().add(pid).c_str(),
                            O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.ok()) return errno;
    std::string text;
    if (const int err = procfs::read_small_file(dir.get(), "stat", text)) return err;
    if (!parse_stat(text, h)) return EBADMSG;
    h.pid = pid;
    // proc(5): exe of a replaced or removed binary reads "PATH (deleted)"; kept
    // as is, it is how an operator recognises an upgraded-but-not-restarted server.
    procfs::read_link(dir.get(), "exe", h.exe);
    h.argv.clear();
    if (procfs::read_small_file(dir.get(), "cmdline", text, cmdline_limit) == 0)
        h.argv = parse_cmdline(text);
    if (procfs::read_small_file(dir.get(), "status", text) == 0) parse_status_uid(text, h.uid);
    // proc(5): starttime is in clock ticks since boot.
    const long hz = ::sysconf(_SC_CLK_TCK);
    h.start_time = boot > 0 && hz > 0
                       ? boot + static_cast<double>(h.start_ticks) / static_cast<double>(hz)
                       : 0;
    return 0;
}

// Everything find_holders learns about one pid, read on its first matching fd.
struct ProcessCache {
    bool read = false;
    int err = 0;
    Holder base;
};

// Scans PID/fd of one process; returns false when its fd directory could not
// be read for a reason other than the process having exited.
bool scan_process(int proc_fd, const std::string& proc_root, int pid,
                  const std::vector<std::uint64_t>& wanted, double& boot,
                  std::vector<Holder>& out) {
    procfs::Dir fds(proc_fd, RelPath().add(pid).add("/fd").c_str());
    if (!fds.ok()) return process_gone(fds.error());
    ProcessCache cache;
    while (const char* name = fds.next()) {
        int fd = -1;
        if (!parse_int_name(name, fd)) continue;
        // A socket link is "socket:[INODE]": anything that fills this buffer is not one.
        char link[64];
        const ssize_t n = ::readlinkat(fds.get(), name, link, sizeof link);
        if (n <= 0 || static_cast<std::size_t>(n) >= sizeof link) continue;
        const std::uint64_t inode =
            parse_socket_link(std::string_view(link, static_cast<std::size_t>(n)));
        if (inode == 0 || !std::binary_search(wanted.begin(), wanted.end(), inode)) continue;

        if (!cache.read) {
            cache.read = true;
            if (boot < 0) boot = host::boot_time(proc_root);
            cache.err = read_process_at(proc_fd, pid, boot, cache.base);
            if (cache.err != 0) {
                // Degraded (EMFILE, say): keep the holder with what is known for sure.
                cache.base = Holder{};
                cache.base.pid = pid;
            }
        }
        if (process_gone(cache.err)) break;

        Holder h = cache.base;
        h.fd = fd;
        h.inode = inode;
        // fs/proc/fd.c reports O_CLOEXEC in "flags:" from the fd's close-on-exec bit.
        std::string fdinfo;
        const int err = procfs::read_small_file(
            proc_fd, RelPath().add(pid).add("/fdinfo/").add(fd).c_str(), fdinfo);
        if (process_gone(err)) continue;  // the descriptor was closed meanwhile
        int flags = 0;
        if (err == 0 && parse_fdinfo_flags(fdinfo, flags)) h.cloexec = (flags & O_CLOEXEC) != 0;
        out.push_back(std::move(h));
    }
    return true;
}

} // namespace

ScanStatus find_holders(const std::string& proc_root, const std::vector<std::uint64_t>& inodes,
                        std::vector<Holder>& out) {
    ScanStatus status;
    try {
        procfs::Dir procs(AT_FDCWD, proc_root.c_str());
        if (!procs.ok()) {
            status.error = procs.error();
            return status;
        }
        status.ok = true;
        if (inodes.empty()) return status;
        std::vector<std::uint64_t> wanted(inodes);
        std::sort(wanted.begin(), wanted.end());
        const std::size_t first_new = out.size();
        double boot = -1;  // read on the first match only
        while (const char* name = procs.next()) {
            int pid = 0;
            if (!parse_int_name(name, pid) || pid <= 0) continue;
            ++status.scanned;
            if (!scan_process(procs.get(), proc_root, pid, wanted, boot, out))
                ++status.unreadable;
        }
        // readdir order is arbitrary; reports and tests want a stable one.
        std::sort(out.begin() + static_cast<std::ptrdiff_t>(first_new), out.end(),
                  [](const Holder& a, const Holder& b) {
                      return a.pid != b.pid ? a.pid < b.pid : a.fd < b.fd;
                  });
    } catch (const std::bad_alloc&) {
        status.ok = false;
        status.error = ENOMEM;
    }
    return status;
}

bool read_process(const std::string& proc_root, int pid, Holder& h) {
    try {
        procfs::Fd proc(::open(proc_root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!proc.ok()) return false;
        return read_process_at(proc.get(), pid, host::boot_time(proc_root), h) == 0;
    } catch (const std::bad_alloc&) {
        return false;
    }
}

bool parse_stat(std::string_view text, Holder& h) {
    // proc(5): comm is "(name)" and the name itself may hold spaces and ')',
    // so it ends at the last ')' of the line.
    const std::size_t open = text.find('(');
    const std::size_t close = text.rfind(')');
    if (open == std::string_view::npos || close == std::string_view::npos || close < open)
        return false;
    std::uint64_t pid = 0;
    if (!procfs::parse_u64(procfs::trim(text.substr(0, open)), pid) || pid > INT_MAX) return false;
    // Fields after comm: 3 state, 4 ppid, ... 22 starttime.
    std::string_view rest = text.substr(close + 1);
    std::uint64_t ppid = 0, start_ticks = 0;
    for (int field = 3; field <= 22; ++field) {
        const std::string_view value = procfs::next_field(rest);
        if (value.empty()) return false;
        if (field == 4 && (!procfs::parse_u64(value, ppid) || ppid > INT_MAX)) return false;
        if (field == 22 && !procfs::parse_u64(value, start_ticks)) return false;
    }
    try {
        h.comm.assign(text.substr(open + 1, close - open - 1));
    } catch (const std::bad_alloc&) {
        return false;
    }
    h.pid = static_cast<int>(pid);
    h.ppid = static_cast<int>(ppid);
    h.start_ticks = start_ticks;
    return true;
}

bool parse_fdinfo_flags(std::string_view text, int& flags) {
    std::string_view value;
    std::uint64_t v = 0;
    if (!procfs::line_value(text, "flags:", value) || !procfs::parse_u64(value, v, 8) ||
        v > static_cast<std::uint64_t>(INT_MAX))
        return false;
    flags = static_cast<int>(v);
    return true;
}

bool parse_status_uid(std::string_view text, std::uint32_t& uid) {
    // proc(5): "Uid:" lists real, effective, saved set and filesystem uids.
    std::string_view rest;
    if (!procfs::line_value(text, "Uid:", rest)) return false;
    procfs::next_field(rest);
    std::uint64_t v = 0;
    if (!procfs::parse_u64(procfs::next_field(rest), v) || v > UINT32_MAX) return false;
    uid = static_cast<std::uint32_t>(v);
    return true;
}

std::vector<std::string> parse_cmdline(std::string_view text) {
    // proc(5): arguments end in NUL each; a process that rewrote its argv may
    // leave the last one unterminated, and that one still counts.
    std::vector<std::string> args;
    try {
        std::size_t start = 0;
        while (start < text.size()) {
            std::size_t end = text.find('\0', start);
            if (end == std::string_view::npos) end = text.size();
            args.emplace_back(text.substr(start, end - start));
            start = end + 1;
        }
    } catch (const std::bad_alloc&) {
        args.clear();
    }
    return args;
}

std::uint64_t parse_socket_link(std::string_view link) {
    constexpr std::string_view prefix = "socket:[";
    if (link.size() <= prefix.size() + 1 || link.substr(0, prefix.size()) != prefix ||
        link.back() != ']')
        return 0;
    std::uint64_t inode = 0;
    if (!procfs::parse_u64(link.substr(prefix.size(), link.size() - prefix.size() - 1), inode))
        return 0;
    return inode;
}

} // namespace portshim::owners
