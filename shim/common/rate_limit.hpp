// The rate limit of reports: a program retrying a failing bind in a loop gets
// the first report in full, then at most one line per 10 s per address (the
// engine writes a one-line summary when the cause is still the same). Repeats
// in between cost no diagnosis at all. Plain atomics in one lazily mapped page.
#pragma once

#include <sys/socket.h>

namespace portshim::rate_limit {

/** The decision for one failure; hold it until done() when `report` is set. */
struct Ticket {
    void* entry = nullptr;     ///< the address's entry, claimed while a report runs
    bool report = true;        ///< run the engine now (first time, or 10 s since the last line)
    int repeats = 0;           ///< with report: failures not reported since the last line
    bool retry = false;        ///< without report: what the last diagnosis said of PORTSHIM_WAIT
    char cause[32] = {};       ///< with report: the last reported cause ("" none)
};

/**
 * Looks up the address of a failed call: `addr` for bind, the socket's own
 * name for listen (addr nullptr). Failures while another thread reports the
 * same address count as repeats. `subject`: the process the failure is
 * reported for when that is not this one (portshim-supervise keeps one
 * table for all the programs it supervises, each limited on its own); 0 for
 * this process. Keeps errno.
 */
Ticket check(bool listen_call, int fd, const sockaddr* addr, socklen_t len, int subject = 0) noexcept;

/** After the engine reported: remembers its cause and retry decision, releases the entry. */
void done(Ticket& ticket, const char* cause, bool retry) noexcept;

} // namespace portshim::rate_limit
