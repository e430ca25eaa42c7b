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
};

/**
 * Socket table, owners, this process and host facts for `req`. Every fd it
 * opens is O_CLOEXEC and closed before it returns; a failed probe becomes a
 * line of evidence.
 */
Observation observe(const Request& req, const ProbeEnv& env);

/** Binds a scratch SO_REUSEADDR TCP socket to req.local, then closes it. */
ReuseProbe probe_reuseaddr(const Request& req, BindFn bind_fn, std::string& evidence);

} // namespace portshim
