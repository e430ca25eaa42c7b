// What the hooks know of each socket without asking it: the program's own
// SO_REUSEADDR/SO_REUSEPORT choices and socket()'s type, in a per-fd table;
// PORTSHIM_REUSEADDR's injection and the SO_REUSEPORT check after listen().
#pragma once

#include <sys/socket.h>

namespace portshim {

/**
 * After a successful socket(): remembers its type, so a report under a seccomp
 * filter can name tcp or udp without asking the socket. Keeps errno.
 */
void note_socket(int fd, int type) noexcept;

/** SOCK_STREAM or SOCK_DGRAM as socket() made `fd`, 0 when not known. */
int socket_type(int fd) noexcept;

/** A successful setsockopt of the program: notes SO_REUSEADDR choices and SO_REUSEPORT. */
void note_socket_option(int fd, int level, int name, const void* value, socklen_t len) noexcept;

/** `fd` is bound: a later socket with the same number starts without a choice. */
void forget_reuseaddr_choice(int fd) noexcept;

/**
 * PORTSHIM_REUSEADDR=1: sets SO_REUSEADDR on an IPv4/IPv6 TCP socket about to
 * bind, unless the program set SO_REUSEADDR itself (either value: an explicit
 * choice is respected). Never on UDP (two live binds would share a port),
 * never SO_REUSEPORT. Returns whether it set the option. Keeps errno.
 */
bool inject_reuseaddr(int fd, const sockaddr* addr, socklen_t len) noexcept;

/**
 * After a successful listen(): when the socket set SO_REUSEPORT, asks the
 * engine whether other programs now share the port. Keeps errno.
 */
void check_reuseport_sharing(int fd) noexcept;

} // namespace portshim
