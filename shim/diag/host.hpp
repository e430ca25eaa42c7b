// Host facts used in explanations: the ephemeral port range, reserved ports,
// boot time, user names and cgroups, read from files so tests can replay them.
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace portshim::host {

/** The wall clock, seconds since the epoch. */
double wall_clock();

/** readlink of /proc/self/exe; empty when unreadable. */
std::string self_exe();

/** Port range, reserved ports and the wall clock, read from PROC_ROOT/sys. */
HostFacts read_facts(const std::string& proc_root);

/**
 * Whether `port` is in a sysctl port list such as net.ipv4.ip_local_reserved_ports
 * ("8080,9000-9100", maybe with blanks and a newline); false when the list is empty.
 */
bool port_in_list(std::string_view list, int port);

/** "btime" from PROC_ROOT/stat, seconds since the epoch; 0 unknown. */
double boot_time(const std::string& proc_root);

/** A process start in clock ticks since boot (/proc/PID/stat field 22) as wall clock; 0 unknown. */
double start_time(double boot, std::uint64_t start_ticks);

/** The user name for `uid` in passwd-format text; empty when absent. */
std::string user_from_passwd(std::string_view passwd_text, std::uint32_t uid);

/** user_from_passwd on the file at `passwd_path`; never calls NSS. */
std::string user_name(const std::string& passwd_path, std::uint32_t uid);

/**
 * The cgroup v2 hierarchy to search: `base` when it is a cgroup2 mount, else
 * BASE/unified (systemd's hybrid layout) when that is; empty when neither.
 */
std::string cgroup2_root(const std::string& base);

/**
 * Finds the directory below `root` whose inode number is `id` (a cgroup v2 id,
 * as INET_DIAG_CGROUP_ID reports it) and stores its path relative to `root`
 * in `path` ("/" for the root itself). Walks without following symlinks, within
 * fixed depth and entry bounds. Returns 0, ENOENT when absent, E2BIG when the
 * bounds stopped the walk, or the errno of opening `root`.
 */
int cgroup_path(const std::string& root, std::uint64_t id, std::string& path);

/**
 * Names what runs in `facts.path`: the deepest component that is a container
 * engine's scope (docker-ID.scope, libpod-ID.scope, cri-containerd-ID.scope,
 * crio-ID.scope, or a 64-hex-digit directory of the cgroupfs drivers), a
 * systemd `.service` or another `.scope`. Fills kind, name, engine,
 * container_id and user_unit.
 */
void name_cgroup(CgroupFacts& facts);

} // namespace portshim::host
