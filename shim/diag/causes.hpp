// The rules: a pure function from the failing request and the probes' facts
// to one verdict with a stable cause id. No I/O here; every rule is unit-tested.
#pragma once

#include "types.hpp"

#include <string>
#include <string_view>

namespace portshim {

/** Chooses the cause of an EADDRINUSE and writes what the operator should read. */
Verdict diagnose(const Request& req, const Observation& obs);

/**
 * Whether two processes run the same program: the same executable (a
 * " (deleted)" suffix ignored), and for interpreters the same script or module.
 */
bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b);

/** "42 s", "3 min", "2 h 5 min", "3 days". */
std::string format_duration(double seconds);

/** Causes that go away without anyone acting: worth a PORTSHIM_WAIT retry. */
bool clears_by_itself(const std::string& cause);

/** Time until the last TIME_WAIT remnant overlapping the request expires, in ms; 0 none. */
std::uint32_t time_wait_left_ms(const Request& req, const Observation& obs);

/** Whether a socket of this state still has an owner that may be alive (not a remnant). */
bool is_live_state(const SocketEntry& s);

} // namespace portshim
