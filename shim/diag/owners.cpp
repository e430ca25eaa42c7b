// Owner probe: which processes hold a socket inode, and the facts about each
// process that the rules compare (exe, argv, parent, start time, O_CLOEXEC).
#include "owners.hpp"

#include "elf.hpp"
#include "host.hpp"
#include "procfs.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <fcntl.h>
#include <new>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::owners {
namespace {

// argv is for recognising a program (interpreter script, docker-proxy flags);
// a longer command line is cut rather than read whole into the host's heap.
constexpr std::size_t cmdline_limit = 64 * 1024;

// A process maps a few dozen objects; a JVM or a browser may map hundreds,
// whose symbol tables are not worth reading in a failing program.
constexpr int max_objects = 64;
constexpr std::uint64_t symbol_table_budget = 256 * 1024 * 1024;
constexpr std::size_t maps_limit = 1024 * 1024;
constexpr std::size_t environ_limit = 256 * 1024;

constexpr std::string_view deleted_suffix = " (deleted)";

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// libc defines listen() and the loader never calls it: reading their tables
// costs time and can only say "no". portshim's own libraries do not count.
bool skipped_object(std::string_view path) {
    const std::string_view name = path.substr(path.rfind('/') + 1);
    for (const std::string_view prefix :
         {"libc.so", "libc-2.", "ld-linux", "ld-2.", "ld-musl", "libportshim"})
        if (starts_with(name, prefix)) return true;
    return false;
}

/** imports_symbol on the file at `path` (followed: /proc/PID/exe is a magic link). */
Tri file_imports(const std::string& path, std::string_view symbol, std::uint64_t& budget) {
    // O_NONBLOCK: whatever sits at the path (a FIFO) must not block the open.
    procfs::Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    struct stat st{};
    if (!fd.ok() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) return Tri::unknown;
    return elf::imports_symbol(fd.get(), symbol, budget);
}

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
    h.start_time = host::start_time(boot, h.start_ticks);
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
    if (!fds.ok()) {
        errno = fds.error();
        return process_gone(fds.error());
    }
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
            if (!scan_process(procs.get(), proc_root, pid, wanted, boot, out)) {
                // Out of descriptors or memory is our shortage, not a permission: the
                // rules must not read it as "another user's process".
                if (errno == EMFILE || errno == ENFILE || errno == ENOMEM) status.resource_error = errno;
                else ++status.unreadable;
            }
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
        while (!text.empty()) args.emplace_back(procfs::next_line(text, '\0'));
    } catch (const std::bad_alloc&) {
        args.clear();
    }
    return args;
}

Tri program_imports(const std::string& proc_root, int pid, std::string_view symbol) {
    try {
        const std::string dir = proc_root + "/" + std::to_string(pid);
        std::uint64_t budget = symbol_table_budget;
        bool unsure = false;
        // True when the object imports it; an unreadable one leaves the answer open.
        auto imports = [&](const std::string& path) {
            const Tri t = file_imports(path, symbol, budget);
            unsure = unsure || t == Tri::unknown;
            return t == Tri::yes;
        };
        if (imports(dir + "/exe")) return Tri::yes;
        std::string exe, maps;
        procfs::read_link(AT_FDCWD, (dir + "/exe").c_str(), exe);
        if (procfs::read_small_file(dir + "/maps", maps, maps_limit) != 0) return Tri::unknown;
        if (maps.size() >= maps_limit) unsure = true;  // cut: some objects were not listed
        int objects = 0;
        for (const std::string& path : parse_maps_objects(maps)) {
            if (path == exe || skipped_object(path)) continue;
            const std::string_view view = path;
            if (++objects > max_objects ||
                (view.size() > deleted_suffix.size() &&
                 view.substr(view.size() - deleted_suffix.size()) == deleted_suffix)) {
                unsure = true;  // over the bound, or replaced on disk since it was mapped
                continue;
            }
            // Through PID/root: the path as that process sees its own mount namespace.
            if (imports(dir + "/root" + path)) return Tri::yes;
        }
        return unsure ? Tri::unknown : Tri::no;
    } catch (const std::bad_alloc&) {
        return Tri::unknown;
    }
}

std::vector<std::string> parse_maps_objects(std::string_view text) {
    // proc(5): "ADDRESS PERMS OFFSET DEV INODE PATHNAME"; the path may hold blanks.
    std::vector<std::string> paths;
    try {
        while (!text.empty()) {
            std::string_view rest = procfs::next_line(text);
            procfs::next_field(rest);
            const std::string_view perms = procfs::next_field(rest);
            for (int i = 0; i < 3; ++i) procfs::next_field(rest);
            const std::string_view path = procfs::trim(rest);
            if (perms.size() < 3 || perms[2] != 'x' || path.empty() || path[0] != '/') continue;
            if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.emplace_back(path);
        }
    } catch (const std::bad_alloc&) {
        paths.clear();
    }
    return paths;
}

Tri parent_gone(const std::string& proc_root, const Holder& h) {
    if (h.pid == 1 || h.ppid <= 0) return Tri::unknown;
    if (h.ppid == 1) return Tri::yes;
    Holder parent;
    if (!read_process(proc_root, h.ppid, parent)) return Tri::unknown;
    // systemd --user sets PR_SET_CHILD_SUBREAPER (prctl(2)): orphans of the
    // session land there instead of at pid 1.
    if (parent.comm == "systemd" &&
        std::find(parent.argv.begin(), parent.argv.end(), "--user") != parent.argv.end())
        return Tri::yes;
    return Tri::no;
}

Tri socket_activated(const std::string& proc_root, int pid) {
    try {
        std::string env;
        if (procfs::read_small_file(proc_root + "/" + std::to_string(pid) + "/environ", env,
                                    environ_limit) != 0)
            return Tri::unknown;
        const std::string wanted = "LISTEN_PID=" + std::to_string(pid);
        for (const std::string& entry : parse_cmdline(env))
            if (starts_with(entry, "LISTEN_PID=")) return entry == wanted ? Tri::yes : Tri::no;
        return env.size() >= environ_limit ? Tri::unknown : Tri::no;
    } catch (const std::bad_alloc&) {
        return Tri::unknown;
    }
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
