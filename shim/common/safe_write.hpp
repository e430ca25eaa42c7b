// write(2) for a library inside someone else's process: everything or
// nothing more, retrying EINTR, and never letting SIGPIPE or SIGXFSZ reach
// the host.
#pragma once

#include <cstddef>

namespace portshim {

/**
 * Writes all `len` bytes to `fd` with SIGPIPE and SIGXFSZ blocked for this
 * thread. A SIGPIPE (a pipe whose reader has gone) or SIGXFSZ (a file past
 * the process's RLIMIT_FSIZE) this write raised is consumed; one that was
 * already pending stays for the host. A regular file is not written at all
 * when the bytes would not fit under RLIMIT_FSIZE (fits_size_limit): a record
 * or a line is never cut at the limit. Returns false on any error, or when
 * nothing was written. Plain system calls only, usable from both libraries.
 */
bool safe_write(int fd, const char* data, std::size_t len) noexcept;

/**
 * `len` more bytes written to `fd` at its current position (the end, for
 * O_APPEND) stay under this process's RLIMIT_FSIZE, which applies to regular
 * files only (setrlimit(2)). Anything else, or no limit, always fits. One
 * getrlimit(2) when there is no limit (the usual case). Keeps errno.
 */
bool fits_size_limit(int fd, std::size_t len) noexcept;

} // namespace portshim
