// AF_UNIX probe: which sockets are bound to a path or abstract name (unix
// sock_diag), what lstat says about the path, and whether anyone accepts on it.
#pragma once

#include "observe.hpp"
#include "sockets.hpp"
#include "types.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace portshim::unix_sockets {

/**
 * Builds one SOCK_DIAG_BY_FAMILY dump request (nlmsghdr + unix_diag_req) for
 * AF_UNIX sockets in every state, asking for their name, file (VFS) and uid.
 */
std::vector<std::uint8_t> build_request(std::uint32_t seq);

/**
 * Parses a buffer of netlink messages from a unix sock_diag dump. Appends one
 * entry per socket that has an address (UNIX_DIAG_NAME); unbound sockets say
 * nothing about a path. Never reads past `len`; malformed messages end the
 * parse with error = EBADMSG.
 */
sockets::DumpStatus parse_dump(const std::uint8_t* data, std::size_t len,
                               std::vector<UnixSocket>& out);

/**
 * Dumps every bound AF_UNIX socket of this network namespace. Opens its own
 * SOCK_CLOEXEC netlink socket (never bound) and closes it. Returns 0 or an errno.
 */
int query_netlink(std::vector<UnixSocket>& out);

/** lstat() of `path`: whether it exists, its file type, mtime, inode and device. */
UnixPath inspect_path(const std::string& path);

/**
 * A non-blocking connect() to `path` from a scratch SOCK_CLOEXEC socket of
 * `type`, closed at once; fills path.connect and path.connect_error. Never
 * for abstract names ("@..."): they have no file to go stale.
 */
void connect_test(const std::string& path, int type, UnixPath& path_facts);

/**
 * Whether `s` is bound to the wanted address: for a path, the same file
 * (UNIX_DIAG_VFS inode and device against lstat); for an abstract name, the
 * same name. `type` is the failing socket's (abstract names are per type).
 */
bool bound_to(const UnixSocket& s, const std::string& wanted, int type, const UnixPath& path);

/**
 * Fills obs.unix_sockets (sockets bound to req.unix_path), obs.unix_path,
 * their holders from PROC_ROOT and evidence lines. Every fd it opens is
 * O_CLOEXEC and closed before it returns; it never unlinks anything.
 */
void observe_unix(const Request& req, const ProbeEnv& env, Observation& obs);

} // namespace portshim::unix_sockets
