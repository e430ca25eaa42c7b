// Address formatting and the overlap rules of Linux bind() (see
// net/ipv4/inet_connection_sock.c inet_bind_conflict and ipv6_rcv_saddr_equal).
#include "address.hpp"

#include "common/inet_address.hpp"

#include <arpa/inet.h>
#include <cstring>
#include <fmt/format.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

namespace portshim {

std::optional<Endpoint> endpoint_from_sockaddr(int domain, const sockaddr* sa, unsigned len) {
    InetAddress in;
    if (!parse_inet_address(domain, sa, len, in)) return std::nullopt;
    Endpoint ep;
    ep.family = in.family;
    std::memcpy(ep.addr.data(), in.addr, sizeof in.addr);
    ep.port = in.port;
    ep.scope_id = in.scope_id;
    return ep;
}

unsigned sockaddr_from_endpoint(const Endpoint& ep, sockaddr_storage& out) {
    InetAddress in;
    in.family = ep.family == AF_INET ? AF_INET : AF_INET6;
    std::memcpy(in.addr, ep.addr.data(), sizeof in.addr);
    in.port = ep.port;
    in.scope_id = ep.scope_id;
    return to_sockaddr(in, out);
}

std::string format_address(const Endpoint& ep) {
    char buf[INET6_ADDRSTRLEN] = {};
    if (ep.family == AF_INET) {
        if (inet_ntop(AF_INET, ep.addr.data(), buf, sizeof buf) == nullptr) return "?";
        return buf;
    }
    if (ep.family == AF_INET6) {
        if (inet_ntop(AF_INET6, ep.addr.data(), buf, sizeof buf) == nullptr) return "?";
        if (ep.scope_id != 0) return fmt::format("{}%{}", buf, ep.scope_id);
        return buf;
    }
    return "?";
}

std::string format_endpoint(const Endpoint& ep) {
    if (ep.family == AF_INET6) return fmt::format("[{}]:{}", format_address(ep), ep.port);
    return fmt::format("{}:{}", format_address(ep), ep.port);
}

std::optional<Endpoint> parse_address(std::string_view text, std::uint16_t port) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN] = {};
    std::memcpy(buf, text.data(), text.size());
    Endpoint ep;
    ep.port = port;
    if (inet_pton(AF_INET, buf, ep.addr.data()) == 1) {
        ep.family = AF_INET;
        return ep;
    }
    if (inet_pton(AF_INET6, buf, ep.addr.data()) == 1) {
        ep.family = AF_INET6;
        return ep;
    }
    return std::nullopt;
}

bool is_wildcard(const Endpoint& ep) {
    const std::size_t n = ep.family == AF_INET ? 4 : 16;
    for (std::size_t i = 0; i < n; ++i)
        if (ep.addr[i] != 0) return false;
    return true;
}

bool is_v4_mapped(const Endpoint& ep) {
    static constexpr std::uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return ep.family == AF_INET6 && std::memcmp(ep.addr.data(), prefix, 12) == 0;
}

bool same_address(const Endpoint& a, const Endpoint& b) {
    if (a.family != b.family) return false;
    return std::memcmp(a.addr.data(), b.addr.data(), a.family == AF_INET ? 4 : 16) == 0;
}

namespace {

/** The IPv4 view of an AF_INET6 endpoint (v4-mapped) for comparisons. */
Endpoint as_v4(const Endpoint& mapped) {
    Endpoint v4;
    v4.family = AF_INET;
    std::memcpy(v4.addr.data(), mapped.addr.data() + 12, 4);
    v4.port = mapped.port;
    return v4;
}

/** Does an IPv6 socket with this v6only/address accept IPv4 traffic at all? */
bool accepts_v4(const Endpoint& ep6, int v6only) {
    if (is_v4_mapped(ep6)) return true;
    return is_wildcard(ep6) && v6only != 1;
}

} // namespace

bool addresses_overlap(const Endpoint& held, int held_v6only, const Endpoint& wanted,
                       int wanted_v6only) {
    if (held.family == wanted.family) {
        if (is_wildcard(held) || is_wildcard(wanted)) {
            // [::] v6only=1 and ::ffff:a.b.c.d do not meet (ipv6_rcv_saddr_equal).
            if (held.family == AF_INET6) {
                if (is_wildcard(held) && held_v6only == 1 && is_v4_mapped(wanted)) return false;
                if (is_wildcard(wanted) && wanted_v6only == 1 && is_v4_mapped(held)) return false;
            }
            return true;
        }
        return same_address(held, wanted);
    }
    // Mixed families: only an IPv6 socket that accepts IPv4 can meet an IPv4 one.
    const Endpoint& v6 = held.family == AF_INET6 ? held : wanted;
    const Endpoint& v4 = held.family == AF_INET6 ? wanted : held;
    const int v6only = held.family == AF_INET6 ? held_v6only : wanted_v6only;
    if (!accepts_v4(v6, v6only)) return false;
    if (is_v4_mapped(v6)) {
        const Endpoint mapped = as_v4(v6);
        return is_wildcard(mapped) || is_wildcard(v4) || same_address(mapped, v4);
    }
    return true; // [::] dual-stack covers every IPv4 address
}

std::string overlap_reason(const Endpoint& held, int held_v6only, const Endpoint& wanted,
                           int wanted_v6only) {
    const std::string h = format_address(held);
    const std::string w = format_address(wanted);
    if (held.family == wanted.family && same_address(held, wanted)) return {};
    if (held.family == AF_INET6 && wanted.family == AF_INET && is_wildcard(held))
        return fmt::format("[{}] without IPV6_V6ONLY also accepts IPv4, so it covers {}", h, w);
    if (held.family == AF_INET && wanted.family == AF_INET6 && is_wildcard(wanted))
        return fmt::format("[{}] without IPV6_V6ONLY also wants every IPv4 address, "
                           "including {} held by the other socket",
                           w, h);
    if (is_wildcard(held) && held.family == AF_INET)
        return fmt::format("{} covers every IPv4 address, including {}", h, w);
    if (is_wildcard(held) && held.family == AF_INET6)
        return fmt::format("[{}] covers every IPv6 address, including {}", h, w);
    if (is_wildcard(wanted))
        return fmt::format("{} would cover every address, including {} already bound", w, h);
    (void)held_v6only;
    (void)wanted_v6only;
    return fmt::format("{} and {} are the same address", h, w);
}

const char* proto_name(Proto p) {
    switch (p) {
    case Proto::tcp: return "tcp";
    case Proto::udp: return "udp";
    case Proto::unix_stream:
    case Proto::unix_dgram: return "unix";
    }
    return "?";
}

std::string errno_name(int err) {
    if (const char* name = strerrorname_np(err)) return name;
    return fmt::format("errno {}", err);
}

} // namespace portshim
