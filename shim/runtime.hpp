// State of the library inside a host program: one-time initialisation from
// any hook, the re-entry guard, and the failure path that runs a diagnosis.
#pragma once

#include "diag/types.hpp"

#include <sys/socket.h>

namespace portshim {

/** The constructor's work: configuration, the real-function table, a fork handler. */
void load() noexcept;

/**
 * Reads the configuration once, and on the first hook call of a process
 * reports configuration errors (so processes that never touch a socket stay
 * silent). Safe from any hook, before or after the constructor. Keeps errno.
 */
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
