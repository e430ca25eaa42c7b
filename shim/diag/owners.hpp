// Owner probe: which processes hold a socket inode, and the facts about each
// process that the rules compare (exe, argv, parent, start time, O_CLOEXEC).
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::owners {

/** Outcome of scanning PROC_ROOT for holders. */
struct ScanStatus {
    bool ok = false;        ///< PROC_ROOT could be listed at all
    int error = 0;          ///< errno when !ok
    int unreadable = 0;     ///< processes whose fd directory could not be read (permissions)
    int resource_error = 0; ///< EMFILE, ENFILE or ENOMEM while scanning: some processes not looked at
    int scanned = 0;        ///< processes looked at
};

/**
 * Walks PROC_ROOT/[0-9]* /fd, and for every descriptor whose link reads
 * "socket:[INODE]" with INODE in `inodes`, appends a Holder filled by
 * read_process() plus fd, inode and cloexec (from fdinfo). All files are
 * opened O_CLOEXEC and closed before returning.
 */
ScanStatus find_holders(const std::string& proc_root, const std::vector<std::uint64_t>& inodes,
                        std::vector<Holder>& out);

/** Fills pid, ppid, comm, exe, argv, uid, start_ticks, start_time of PROC_ROOT/PID. */
bool read_process(const std::string& proc_root, int pid, Holder& h);

/** Parses /proc/PID/stat (comm may hold spaces and parentheses). */
bool parse_stat(std::string_view text, Holder& h);

/** Parses the octal "flags:" line of /proc/PID/fdinfo/FD. */
bool parse_fdinfo_flags(std::string_view text, int& flags);

/** Effective uid from the "Uid:" line of /proc/PID/status. */
bool parse_status_uid(std::string_view text, std::uint32_t& uid);

/** Splits /proc/PID/cmdline on NUL. */
std::vector<std::string> parse_cmdline(std::string_view text);

/** "socket:[123]" -> 123; 0 when the link is not a socket. */
std::uint64_t parse_socket_link(std::string_view link);

// Facts for inferring that a holder inherited a socket (no registry record).

/**
 * Whether the program of PROC_ROOT/PID imports `symbol` (e.g. "listen"): its
 * executable, or a shared object mapped executable other than libc, the
 * dynamic loader and portshim's own libraries. Yes as soon as one does;
 * unknown when one could not be read, or more than 64 objects or 256 MiB of
 * symbol tables would have to be, and none does. Reads by pread, never maps.
 */
Tri program_imports(const std::string& proc_root, int pid, std::string_view symbol);

/**
 * Paths of the mappings in /proc/PID/maps text that are file-backed and
 * executable (the code of ELF objects), each once, in order of appearance;
 * a " (deleted)" suffix stays.
 */
std::vector<std::string> parse_maps_objects(std::string_view text);

/**
 * Whether h's parent is gone: its ppid is 1 (re-parented to init), or a
 * systemd --user manager (a subreaper that adopts a session's orphans).
 * Unknown for pid 1 and for a parent outside this PID namespace (ppid 0).
 */
Tri parent_gone(const std::string& proc_root, const Holder& h);

/**
 * Whether PROC_ROOT/PID/environ has LISTEN_PID=PID: systemd handed the process
 * its sockets (sd_listen_fds(3)), so it holds listeners it never opened by design.
 */
Tri socket_activated(const std::string& proc_root, int pid);

} // namespace portshim::owners
