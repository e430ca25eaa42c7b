// A failed bind or listen described from its socket: the Request the rules
// judge. Shared by the engine (the hooks' failures) and the supervisor (a
// copy of a supervised program's socket, pidfd_getfd).
#pragma once

#include "common/engine_api.hpp"
#include "types.hpp"

#include <string>
#include <string_view>

namespace portshim {

/** getsockopt of one int option; false when it fails (not a socket, unknown option). */
bool socket_int_option(int fd, int level, int name, int& out);

/** The path of an AF_UNIX address, "@name" for an abstract one; empty when unnamed. */
std::string unix_path_of(const sockaddr* addr, socklen_t len);

/**
 * What the failing socket f.fd is and what it asked for: family, type,
 * options (getsockopt), inode (fstat) and the call's address (getsockname
 * for listen). A relative AF_UNIX path is made absolute against `cwd`, the
 * caller's working directory (empty: getcwd(), this process's). False when
 * the fd is no inet or unix socket of a kind the rules know.
 */
bool describe_request(const Failure& f, Request& req, std::string_view cwd = {});

} // namespace portshim
