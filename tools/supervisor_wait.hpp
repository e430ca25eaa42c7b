// PORTSHIM_WAIT for a bind the supervisor performed: it retries while the
// program waits in its bind, as the hooks retry in the program (README,
// PORTSHIM_WAIT), and stops early when the waiting thread has a signal to
// take (docs/supervisor-parity.md).
#pragma once

#include <cstdint>
#include <string_view>
#include <sys/socket.h>

namespace portshim::supervisor {

/**
 * Retries bind(sfd, addr, len) every 250 ms for up to `wait_seconds`. Returns
 * 0 when a retry succeeded, else -1: the time is up, a retry failed otherwise,
 * the notification `id` on `nfd` is no longer valid (the task died), or task
 * `tid` has a pending signal it catches and does not block. The last matters
 * because the filter's WAIT_KILLABLE_RECV holds back every non-fatal signal
 * while the program waits for our answer: without it a `systemctl stop` of a
 * Go server (which catches SIGTERM) would wait for the whole PORTSHIM_WAIT.
 */
int retry_bind(int nfd, std::uint64_t id, int tid, int sfd, const sockaddr* addr, socklen_t len,
               unsigned wait_seconds);

/**
 * From the text of /proc/PID/task/TID/status: a signal is pending for the
 * thread (SigPnd) or its process (ShdPnd) that the thread does not block
 * (SigBlk) and the process catches (SigCgt). False when a field is missing.
 */
bool catchable_signal_pending(std::string_view status);

} // namespace portshim::supervisor
