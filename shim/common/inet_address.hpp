// The address of an AF_INET or AF_INET6 bind(2) read the way Linux reads it, for
// the hooks library and the engine alike: header-only, no allocation, async-signal-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <netinet/in.h>
#include <sys/socket.h>

namespace portshim {

/** An IPv4 or IPv6 socket address as the kernel takes it from bind(2) or gives it from getsockname(2). */
struct InetAddress {
    int family = 0;                  ///< AF_INET or AF_INET6: the socket's family
    unsigned char addr[16] = {};     ///< network order; AF_INET uses the first 4 bytes
    std::uint16_t port = 0;          ///< host order
    std::uint32_t scope_id = 0;      ///< the interface of a link-local IPv6 address, else 0
};

/** sockaddr_in6 without sin6_scope_id (RFC 2133), which Linux still accepts. */
inline constexpr std::size_t sin6_len_rfc2133 = 24;

/** Whether the kernel reads sin6_scope_id for this address (__ipv6_addr_needs_scope_id). */
inline bool ipv6_needs_scope_id(const unsigned char (&a)[16]) noexcept {
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) return true; // link-local unicast fe80::/10
    // Multicast of interface-local (1) or link-local (2) scope.
    return a[0] == 0xff && ((a[1] & 0x0f) == 1 || (a[1] & 0x0f) == 2);
}

/**
 * Reads `sa` (of `len` bytes) as bind(2) does on a socket of family `domain`
 * (SO_DOMAIN; the socket decides, not sa_family alone):
 *  - AF_INET (net/ipv4/af_inet.c inet_bind_sk, __inet_bind): at least 16 bytes;
 *    sin_family AF_INET, or AF_UNSPEC with INADDR_ANY ("compatibility games").
 *  - AF_INET6 (net/ipv6/af_inet6.c inet6_bind_sk, __inet6_bind): at least 24
 *    bytes (SIN6_LEN_RFC2133); sin6_family AF_INET6; sin6_scope_id read only
 *    with all 28 bytes, and only for addresses that need a scope.
 * More than sizeof(sockaddr_storage) bytes is EINVAL (move_addr_to_kernel).
 * False for whatever the kernel refuses (EINVAL, EAFNOSUPPORT) and for other families.
 */
inline bool parse_inet_address(int domain, const void* sa, std::size_t len,
                               InetAddress& out) noexcept {
    out = InetAddress{};
    if (sa == nullptr || len > sizeof(sockaddr_storage)) return false;
    const auto* bytes = static_cast<const unsigned char*>(sa);
    if (domain == AF_INET) {
        if (len < sizeof(sockaddr_in)) return false;
        sockaddr_in in;
        std::memcpy(&in, bytes, sizeof in);
        const bool any = in.sin_addr.s_addr == htonl(INADDR_ANY);
        if (in.sin_family != AF_INET && !(in.sin_family == AF_UNSPEC && any)) return false;
        out.family = AF_INET;
        std::memcpy(out.addr, &in.sin_addr, 4);
        out.port = ntohs(in.sin_port);
        return true;
    }
    if (domain == AF_INET6) {
        if (len < sin6_len_rfc2133) return false;
        sockaddr_in6 in6{};
        std::memcpy(&in6, bytes, len < sizeof in6 ? len : sizeof in6);
        if (in6.sin6_family != AF_INET6) return false;
        out.family = AF_INET6;
        std::memcpy(out.addr, &in6.sin6_addr, 16);
        out.port = ntohs(in6.sin6_port);
        if (len >= sizeof in6 && ipv6_needs_scope_id(out.addr)) out.scope_id = in6.sin6_scope_id;
        return true;
    }
    return false;
}

/** The full sockaddr_in or sockaddr_in6 for `a`, zero-padded; returns its length (0 for no family). */
inline socklen_t to_sockaddr(const InetAddress& a, sockaddr_storage& out) noexcept {
    std::memset(&out, 0, sizeof out);
    if (a.family == AF_INET) {
        sockaddr_in in{};
        in.sin_family = AF_INET;
        in.sin_port = htons(a.port);
        std::memcpy(&in.sin_addr, a.addr, 4);
        std::memcpy(&out, &in, sizeof in);
        return sizeof in;
    }
    if (a.family == AF_INET6) {
        sockaddr_in6 in6{};
        in6.sin6_family = AF_INET6;
        in6.sin6_port = htons(a.port);
        in6.sin6_scope_id = a.scope_id;
        std::memcpy(&in6.sin6_addr, a.addr, 16);
        std::memcpy(&out, &in6, sizeof in6);
        return sizeof in6;
    }
    return 0;
}

} // namespace portshim
