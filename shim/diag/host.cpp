// Host facts used in explanations: the ephemeral port range, reserved ports,
// boot time and user names, read from files so tests can replay them.
#include "host.hpp"

#include "procfs.hpp"

#include <climits>
#include <new>
#include <time.h>

namespace portshim::host {
namespace {

// /proc/stat has a line per CPU and an "intr" line per interrupt before
// "btime"; on large machines that is far beyond the usual small-file bound.
constexpr std::size_t proc_stat_limit = 1024 * 1024;

// Enough for tens of thousands of local accounts; a name not within it is
// reported as unknown rather than costing the host more memory.
constexpr std::size_t passwd_limit = 4 * 1024 * 1024;

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
    timespec ts{};
    if (::clock_gettime(CLOCK_REALTIME, &ts) == 0)
        facts.now = static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
    return facts;
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

} // namespace portshim::host
