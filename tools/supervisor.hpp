// The supervisor half of portshim-supervise: answers the seccomp user
// notifications of a supervised program's bind and listen (docs/supervisor.md).
#pragma once

namespace portshim::supervisor {

/**
 * Serves the notify fd `notify_fd` until the filter has no more users
 * (POLLHUP: the last supervised task was reaped), then returns. Performs a
 * call on the program's own socket (pidfd_getfd) only where the kernel's
 * result cannot differ from the program's own call (see may_perform in
 * supervisor.cpp), else lets the kernel run it in the program
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE). A performed call that fails with
 * EADDRINUSE is diagnosed for the program's pid and reported before the
 * program gets the result.
 */
int serve(int notify_fd);

} // namespace portshim::supervisor
