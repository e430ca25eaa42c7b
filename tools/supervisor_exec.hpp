// exec-leak for supervised programs: the filter sends execve/execveat to the
// supervisor, which lists the caller's listening sockets without FD_CLOEXEC
// from /proc before letting the exec run (CONTINUE), and writes the hooks'
// exec-leak event for them (docs/supervisor.md 1; docs/supervisor-parity.md).
#pragma once

#include "common/config.hpp"
#include "common/engine_api.hpp"

#include <linux/seccomp.h>
#include <unordered_set>

namespace portshim::supervisor {

/**
 * For an execve/execveat notification `req` of process `tgid` (`pidfd` its
 * pidfd): the exec-leak event for its listening sockets on fds 3 and up
 * without FD_CLOEXEC, as a warning the first time a socket leaks in this
 * supervisor (`warned`, by inode), else at debug level; an exec of the
 * program's own executable is a debug "self-exec" hand-over. Nothing when no
 * socket leaks. The caller answers CONTINUE whatever happens here.
 */
void report_exec_leak(const Config& config, const StderrIdentity* identity, const seccomp_notif& req, int tgid,
                      int pidfd, std::unordered_set<unsigned long long>& warned);

} // namespace portshim::supervisor
