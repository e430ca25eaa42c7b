// write(2) for a library inside someone else's process: everything or
// nothing more, retrying EINTR, and never letting SIGPIPE reach the host.
#pragma once

#include <cstddef>

namespace portshim {

/**
 * Writes all `len` bytes to `fd` with SIGPIPE blocked for this thread. A
 * SIGPIPE this write raised (a pipe whose reader has gone) is consumed; one
 * that was already pending stays for the host. Returns false on any error.
 * Plain system calls only, usable from both libraries.
 */
bool safe_write(int fd, const char* data, std::size_t len) noexcept;

} // namespace portshim
