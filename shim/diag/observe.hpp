// The imperative shell of the engine: runs the probes for one failing request
// and gathers their facts into an Observation for diagnose().
#pragma once

#include "types.hpp"

#include <string>
#include <sys/socket.h>

namespace portshim {

/** libc's bind, passed in so the engine never calls the library's own hook. */
using BindFn = int (*)(int, const sockaddr*, socklen_t);

/** Where the probes look; tests point them at recorded trees. */
struct ProbeEnv {
    std::string proc_root = "/proc";
    std::string passwd_path = "/etc/passwd";
    /** cgroup v2 mount (or its hybrid parent) searched for sockets nobody visible holds. */
    std::string cgroup_root = "/sys/fs/cgroup";
    /** For the scratch SO_REUSEADDR bind that tells TIME_WAIT cases apart; nullptr skips it. */
    BindFn bind_fn = nullptr;
    int self_pid = 0;                 ///< 0: getpid()
    /** The listen registry (Config::state_dir); empty: no records are read. */
    std::string state_dir;
    /** Registry records and inference facts about who opened the sockets; false skips them. */
    bool find_openers = true;
    /**
     * Secure execution (Config::secure): what the probes read with the
     * elevated rights about other users' processes (holders, their cgroups)
     * is left out, so the report shows only what getuid() could see (rule 12).
     */
    bool secure = false;
};

/**
 * Socket table, owners, this process and host facts for `req`; for live
 * sockets, their registry records and, for listeners without one, the facts
 * that tell an inherited descriptor. Every fd it opens is O_CLOEXEC and closed
 * before it returns; a failed probe becomes a line of evidence.
 */
Observation observe(const Request& req, const ProbeEnv& env);

/**
 * The registry records of `inodes`, each with whether its opener still runs
 * (the same pid and start ticks in PROC_ROOT). Records from another network
 * namespace than SELF_PID's are dropped with a line of evidence.
 */
std::vector<RecordedListen> recorded_listens(const std::string& state_dir,
                                             const std::string& proc_root, int self_pid,
                                             const std::vector<std::uint64_t>& inodes,
                                             std::vector<std::string>& evidence);

/** Binds a scratch SO_REUSEADDR TCP socket to req.local, then closes it. */
ReuseProbe probe_reuseaddr(const Request& req, BindFn bind_fn, std::string& evidence);

} // namespace portshim
