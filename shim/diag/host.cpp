// Host facts used in explanations: the ephemeral port range, reserved ports,
// boot time, user names and cgroups, read from files so tests can replay them.
#include "host.hpp"

#include <unistd.h>

#include "procfs.hpp"

#include <cerrno>
#include <climits>
#include <fcntl.h>
#include <linux/magic.h>
#include <new>
#include <string_view>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <vector>

namespace portshim::host {
namespace {

// /proc/stat has a line per CPU and an "intr" line per interrupt before
// "btime"; on large machines that is far beyond the usual small-file bound.
constexpr std::size_t proc_stat_limit = 1024 * 1024;

// Enough for tens of thousands of local accounts; a name not within it is
// reported as unknown rather than costing the host more memory.
constexpr std::size_t passwd_limit = 4 * 1024 * 1024;

// Real hierarchies are a few levels deep (kubepods: about six) with a few
// hundred cgroups of a few dozen files each; the bounds only stop a hostile
// or wrong root from costing the failing program much time.
constexpr int cgroup_max_depth = 32;
constexpr long cgroup_max_entries = 200000;

/** Depth-first search for the directory with one inode number. */
struct CgroupWalk {
    std::uint64_t id = 0;
    long entries_left = cgroup_max_entries;
    bool exhausted = false;
    std::string path;  ///< relative to the root while descending; the answer once found
};

bool inode_matches(const struct stat& st, std::uint64_t id) {
    // kernfs_id_ino() (include/linux/kernfs.h): the id is the inode number where
    // ino_t is 64-bit; 32-bit kernels keep a generation in the high word.
    const std::uint64_t ino = st.st_ino;
    return ino == id || (id >> 32 != 0 && ino == (id & 0xffffffffU));
}

// Searches the directory `name` below `dirfd`; on success walk.path is the answer.
bool walk_cgroups(int dirfd, const char* name, int depth, CgroupWalk& walk) {
    procfs::Dir dir(dirfd, name, O_NOFOLLOW);
    if (!dir.ok()) return false;
    while (const char* entry = dir.next()) {
        if (--walk.entries_left < 0) {
            walk.exhausted = true;
            return false;
        }
        // kernfs fills d_type; a tree without it costs one fstatat per entry.
        const unsigned char type = dir.type();
        if (type != DT_DIR && type != DT_UNKNOWN) continue;
        struct stat st{};
        if (::fstatat(dir.get(), entry, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        const std::size_t len = walk.path.size();
        walk.path += '/';
        walk.path += entry;
        if (inode_matches(st, walk.id)) return true;
        if (depth + 1 >= cgroup_max_depth) walk.exhausted = true;
        else if (walk_cgroups(dir.get(), entry, depth + 1, walk)) return true;
        if (walk.entries_left < 0) return false;
        walk.path.resize(len);
    }
    return false;
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

bool is_container_hash(std::string_view s) {
    return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string_view::npos;
}

/** "docker-ID.scope" (systemd driver) or "libpod-ID" (podman's cgroupfs driver). */
bool engine_scope(std::string_view component, CgroupFacts& facts) {
    struct Prefix {
        std::string_view prefix, engine;
    };
    static constexpr Prefix prefixes[] = {{"docker-", "docker"},
                                          {"libpod-", "podman"},
                                          {"cri-containerd-", "containerd"},
                                          {"crio-", "cri-o"}};
    std::string_view id = component;
    if (ends_with(id, ".scope")) id.remove_suffix(6);
    for (const Prefix& p : prefixes) {
        if (!starts_with(id, p.prefix)) continue;
        id.remove_prefix(p.prefix.size());
        // libpod-conmon-ID.scope and crio-conmon-ID.scope hold the monitor, not the container.
        if (id.empty() || starts_with(id, "conmon-")) return false;
        facts.engine.assign(p.engine);
        facts.container_id.assign(id);
        return true;
    }
    return false;
}

bool parse_int(std::string_view text, int& value) {
    std::uint64_t v = 0;
    if (!procfs::parse_u64(text, v) || v > static_cast<std::uint64_t>(INT_MAX)) return false;
    value = static_cast<int>(v);
    return true;
}

} // namespace

HostFacts read_facts(const std::string& proc_root) {
    HostFacts facts;
    try {
        std::string text;
        // proc(5) /proc/sys/net/ipv4/ip_local_port_range: "LOW\tHIGH\n".
        if (procfs::read_small_file(proc_root + "/sys/net/ipv4/ip_local_port_range", text) == 0) {
            std::string_view rest = text;
            int low = 0, high = 0;
            if (parse_int(procfs::next_field(rest), low) &&
                parse_int(procfs::next_field(rest), high)) {
                facts.port_range_low = low;
                facts.port_range_high = high;
            }
        }
        // A comma-separated list of ports and ranges, kept as the kernel prints it.
        if (procfs::read_small_file(proc_root + "/sys/net/ipv4/ip_local_reserved_ports", text) == 0)
            facts.reserved_ports.assign(procfs::trim(text));
    } catch (const std::bad_alloc&) {
        // The facts read so far stay; the rest remain unknown.
    }
    facts.now = wall_clock();
    return facts;
}

double wall_clock() {
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME, &ts) != 0) return 0;
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string self_exe() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

bool port_in_list(std::string_view list, int port) {
    while (!list.empty()) {
        const std::size_t comma = list.find(',');
        std::string_view item = list.substr(0, comma);
        list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
        const std::size_t dash = item.find('-');
        auto number = [](std::string_view t) {
            int n = 0;
            for (char c : t) {
                if (c < '0' || c > '9') continue; // blanks, a trailing newline
                n = n * 10 + (c - '0');
                if (n > 65535) return -1;
            }
            return n;
        };
        const int low = number(item.substr(0, dash));
        const int high = dash == std::string_view::npos ? low : number(item.substr(dash + 1));
        if (low > 0 && low <= port && port <= high) return true;
    }
    return false;
}

double boot_time(const std::string& proc_root) {
    try {
        std::string text;
        if (procfs::read_small_file(proc_root + "/stat", text, proc_stat_limit) != 0) return 0;
        // proc(5): "btime N", the boot time in seconds since the epoch.
        std::string_view value;
        std::uint64_t seconds = 0;
        if (!procfs::line_value(text, "btime ", value) || !procfs::parse_u64(value, seconds))
            return 0;
        return static_cast<double>(seconds);
    } catch (const std::bad_alloc&) {
        return 0;
    }
}

double start_time(double boot, std::uint64_t start_ticks) {
    // proc(5): starttime is in clock ticks since boot.
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (boot <= 0 || hz <= 0) return 0;
    return boot + static_cast<double>(start_ticks) / static_cast<double>(hz);
}

std::string user_from_passwd(std::string_view passwd_text, std::uint32_t uid) {
    // passwd(5): name:password:UID:GID:GECOS:directory:shell. Comments, blank
    // and short lines, and NIS "+"/"-" entries name nobody.
    std::size_t start = 0;
    while (start < passwd_text.size()) {
        std::size_t end = passwd_text.find('\n', start);
        if (end == std::string_view::npos) end = passwd_text.size();
        const std::string_view line = passwd_text.substr(start, end - start);
        start = end + 1;
        if (line.empty() || line[0] == '#' || line[0] == '+' || line[0] == '-') continue;
        const std::size_t name_end = line.find(':');
        if (name_end == 0 || name_end == std::string_view::npos) continue;
        const std::size_t pw_end = line.find(':', name_end + 1);
        if (pw_end == std::string_view::npos) continue;
        std::size_t uid_end = line.find(':', pw_end + 1);
        if (uid_end == std::string_view::npos) uid_end = line.size();
        std::uint64_t v = 0;
        if (!procfs::parse_u64(line.substr(pw_end + 1, uid_end - pw_end - 1), v) || v != uid)
            continue;
        try {
            return std::string(line.substr(0, name_end));
        } catch (const std::bad_alloc&) {
            return {};
        }
    }
    return {};
}

std::string user_name(const std::string& passwd_path, std::uint32_t uid) {
    // Never getpwuid(3): NSS may dlopen modules and open sockets inside the host.
    std::string text;
    if (procfs::read_small_file(passwd_path, text, passwd_limit) != 0) return {};
    std::string_view whole = text;
    // A cut last line could read "bob:x:100" for uid 10001: drop it.
    if (text.size() == passwd_limit) whole = whole.substr(0, whole.rfind('\n') + 1);
    return user_from_passwd(whole, uid);
}

std::string cgroup2_root(const std::string& base) {
    try {
        for (const std::string& root : {base, base + "/unified"}) {
            struct statfs fs{};
            if (::statfs(root.c_str(), &fs) == 0 &&
                static_cast<unsigned long>(fs.f_type) == CGROUP2_SUPER_MAGIC)
                return root;
        }
    } catch (const std::bad_alloc&) {
    }
    return {};
}

int cgroup_path(const std::string& root, std::uint64_t id, std::string& path) {
    path.clear();
    procfs::Fd top(::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!top.ok()) return errno;
    struct stat st{};
    if (::fstat(top.get(), &st) != 0) return errno;
    try {
        if (inode_matches(st, id)) {
            path = "/";
            return 0;
        }
        CgroupWalk walk;
        walk.id = id;
        if (walk_cgroups(top.get(), ".", 0, walk)) {
            path = std::move(walk.path);
            return 0;
        }
        return walk.exhausted ? E2BIG : ENOENT;
    } catch (const std::bad_alloc&) {
        path.clear();
        return ENOMEM;
    }
}

void name_cgroup(CgroupFacts& facts) {
    facts.kind = CgroupKind::none;
    facts.name.clear();
    facts.engine.clear();
    facts.container_id.clear();
    facts.user_unit = false;
    try {
        std::vector<std::string_view> parts;
        std::string_view rest = facts.path;
        while (!rest.empty()) {
            const std::size_t slash = rest.find('/');
            const std::string_view part = rest.substr(0, slash);
            if (!part.empty()) parts.push_back(part);
            rest.remove_prefix(slash == std::string_view::npos ? rest.size() : slash + 1);
        }
        // The deepest component wins: /system.slice/docker-ID.scope is the
        // container, not system.slice; podman adds a "container" leaf below it.
        for (std::size_t i = parts.size(); i-- > 0;) {
            const std::string_view part = parts[i];
            if (engine_scope(part, facts)) {
                facts.kind = CgroupKind::container;
            } else if (is_container_hash(part)) {
                // Docker's cgroupfs driver: /docker/ID; kubelet's: /kubepods/.../podUID/ID.
                facts.kind = CgroupKind::container;
                facts.container_id.assign(part);
                if (i > 0 && parts[i - 1] == "docker") facts.engine = "docker";
            } else if (ends_with(part, ".service")) {
                facts.kind = CgroupKind::unit;
            } else if (ends_with(part, ".scope")) {
                facts.kind = CgroupKind::scope;
            } else {
                continue;
            }
            facts.name.assign(part);
            // systemd --user units live below user@UID.service.
            for (std::size_t j = 0; j < i; ++j)
                if (starts_with(parts[j], "user@") && ends_with(parts[j], ".service"))
                    facts.user_unit = true;
            return;
        }
    } catch (const std::bad_alloc&) {
        facts.kind = CgroupKind::none;
        facts.name.clear();
    }
}

} // namespace portshim::host
