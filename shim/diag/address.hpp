// Addresses as operators read them, and the overlap rules of Linux bind():
// which bound address blocks which wanted address, explained in words.
#pragma once

#include "types.hpp"

#include <optional>
#include <string>
#include <string_view>

struct sockaddr;
struct sockaddr_storage;

namespace portshim {

/**
 * Endpoint from the address of a bind(2) or getsockname(2) on a socket of family
 * `domain` (SO_DOMAIN), read as the kernel reads it (inet_address.hpp): the
 * 24-byte RFC 2133 sockaddr_in6 and AF_UNSPEC with INADDR_ANY on an AF_INET
 * socket included; nullopt for what the kernel refuses and for other families.
 */
std::optional<Endpoint> endpoint_from_sockaddr(int domain, const sockaddr* sa, unsigned len);

/** The sockaddr_in/sockaddr_in6 for an endpoint (the inverse of endpoint_from_sockaddr); returns its length. */
unsigned sockaddr_from_endpoint(const Endpoint& ep, sockaddr_storage& out);

/** "0.0.0.0", "127.0.0.1", "::", "::ffff:1.2.3.4", "fe80::1%2". */
std::string format_address(const Endpoint& ep);

/** "0.0.0.0:8080" or "[::]:8080". */
std::string format_endpoint(const Endpoint& ep);

/** Parses "1.2.3.4", "::1", "[::1]" into an endpoint with the given port. */
std::optional<Endpoint> parse_address(std::string_view text, std::uint16_t port);

bool is_wildcard(const Endpoint& ep);
bool is_v4_mapped(const Endpoint& ep);
bool same_address(const Endpoint& a, const Endpoint& b);

/**
 * Whether a socket bound to `held` (with IPV6_V6ONLY = held_v6only for AF_INET6;
 * -1 unknown, treated as dual-stack) covers the address `wanted` (with its own
 * v6only), so that the two conflict on the same port. Ports are not compared.
 */
bool addresses_overlap(const Endpoint& held, int held_v6only, const Endpoint& wanted,
                       int wanted_v6only);

/**
 * One sentence explaining why `held` blocks `wanted`, e.g. "0.0.0.0 covers every
 * IPv4 address, including 127.0.0.1" or "[::] without IPV6_V6ONLY also accepts
 * IPv4, so it covers 0.0.0.0". Empty when the addresses are simply equal.
 */
std::string overlap_reason(const Endpoint& held, int held_v6only, const Endpoint& wanted,
                           int wanted_v6only);

/** "tcp", "udp", "unix". */
const char* proto_name(Proto p);

/** "EADDRINUSE" for 98, or "errno N". */
std::string errno_name(int err);

} // namespace portshim
