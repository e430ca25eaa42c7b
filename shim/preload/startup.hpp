// Start-up of the library inside a host program: the constructor's work, the
// configuration read once from any hook, its errors reported at the first
// hook call, and the listening sockets the process started with.
#pragma once

#include "common/config.hpp"
#include "common/engine_api.hpp"

namespace portshim {

/** The constructor's work: fd 2's identity, the configuration, the inherited sockets. */
void load() noexcept;

/**
 * Reads the configuration once, and on the first hook call of a process
 * reports configuration errors (so processes that never touch a socket stay
 * silent). Safe from any hook, before or after the constructor. Keeps errno.
 */
void ensure_init() noexcept;

/**
 * The configuration for hooks that may run in a fork child or a signal
 * handler (fork, exec): parses it if no hook did yet, but never loads the
 * engine to report configuration errors. Keeps errno.
 */
const Config& config_for_spawn() noexcept;

/** The configuration once read, the defaults while another thread reads it. */
const Config& config() noexcept;

/** fd 2 as it was at load, for the sink. */
const StderrIdentity* stderr_identity() noexcept;

} // namespace portshim
