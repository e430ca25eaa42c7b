// State of the library inside a host program: one-time initialisation from
// any hook, the re-entry guard, and the failure path that runs a diagnosis.
#pragma once

#include "diag/types.hpp"

#include <sys/socket.h>

namespace portshim {

/** Reads the configuration once; safe from any hook, before or after the constructor. Keeps errno. */
void ensure_init() noexcept;

/**
 * True while this thread is inside the library's own work (diagnosis,
 * logging): a hook reached from there forwards to libc and does nothing else.
 */
bool reentered() noexcept;

/**
 * Runs a diagnosis for a call that failed with `err` and writes the report.
 * Never throws, never changes errno or the host's descriptors as seen on return.
 */
void report_failure(Call call, int fd, const sockaddr* addr, socklen_t len, int err) noexcept;

} // namespace portshim
