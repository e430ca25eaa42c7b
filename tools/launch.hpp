// The launcher half of portshim-supervise: installs the seccomp filter that sends
// bind and listen to a supervisor, hands the notify fd to a supervisor that is
// not the program's child, and execs the program under this pid
// (docs/supervisor.md 1 and 2).
#pragma once

#include <string>

namespace portshim::supervisor {

/** One line on stderr, "portshim-supervise: …". */
void say(const std::string& text);

/**
 * Runs `command` (argv-style, null-terminated; found as execvp finds it) under
 * the filter, or unsupervised after one line when the filter cannot be
 * installed. `nnp_allowed`: PR_SET_NO_NEW_PRIVS may be set when not root.
 * `serve_exe`: the portshim-supervise binary the supervisor re-execs as (`--serve
 * FD`); empty: this executable. Returns only when nothing was exec'd: 127 (not
 * found), 126 (cannot run, or no supervisor could be started under the filter).
 */
int run_supervised(char** command, bool nnp_allowed, const std::string& serve_exe = {});

} // namespace portshim::supervisor
