// The rules: a pure function from the failing request and the probes' facts
// to one verdict with a stable cause id. No I/O here; every rule is unit-tested.
#pragma once

#include "types.hpp"

#include <cstdint>

namespace portshim {

/** Chooses the cause of an EADDRINUSE and writes what the operator should read. */
Verdict diagnose(const Request& req, const Observation& obs);

/** Time until the last TIME_WAIT remnant overlapping the request expires, in ms; 0 none. */
std::uint32_t time_wait_left_ms(const Request& req, const Observation& obs);

} // namespace portshim
