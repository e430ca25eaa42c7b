// Address formatting and the bind() overlap rules, on plain endpoints.
#include "diag/address.hpp"
#include "common/inet_address.hpp"

#include <arpa/inet.h>
#include <cstring>

#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>

using namespace portshim;

namespace {
Endpoint ep(const char* text, std::uint16_t port = 8080) {
    auto e = parse_address(text, port);
    REQUIRE(e.has_value());
    return *e;
}
} // namespace

TEST_CASE("addresses format as ss prints them", "[address]") {
    CHECK(format_endpoint(ep("0.0.0.0")) == "0.0.0.0:8080");
    CHECK(format_endpoint(ep("::")) == "[::]:8080");
    CHECK(format_endpoint(ep("[::1]", 53)) == "[::1]:53");
    CHECK(format_address(ep("::ffff:127.0.0.1")) == "::ffff:127.0.0.1");
    CHECK_FALSE(parse_address("not-an-address", 1).has_value());
    CHECK_FALSE(parse_address("", 1).has_value());
}

TEST_CASE("endpoint_from_sockaddr reads both families and rejects short lengths", "[address]") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(8080);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto e = endpoint_from_sockaddr(AF_INET, reinterpret_cast<sockaddr*>(&in), sizeof in);
    REQUIRE(e);
    CHECK(format_endpoint(*e) == "127.0.0.1:8080");
    CHECK_FALSE(endpoint_from_sockaddr(AF_INET, reinterpret_cast<sockaddr*>(&in), sizeof in - 1));
    CHECK_FALSE(endpoint_from_sockaddr(AF_INET, nullptr, 0));
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    in6.sin6_addr = in6addr_loopback;
    e = endpoint_from_sockaddr(AF_INET6, reinterpret_cast<sockaddr*>(&in6), sizeof in6);
    REQUIRE(e);
    CHECK(format_endpoint(*e) == "[::1]:443");
    // The socket decides: an AF_INET6 address on an AF_INET socket is EAFNOSUPPORT.
    CHECK_FALSE(endpoint_from_sockaddr(AF_INET, reinterpret_cast<sockaddr*>(&in6), sizeof in6));
    CHECK_FALSE(endpoint_from_sockaddr(AF_UNIX, reinterpret_cast<sockaddr*>(&in), sizeof in));
}

namespace {

sockaddr_in6 v6(const char* text, std::uint16_t port, std::uint32_t scope = 0) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    REQUIRE(inet_pton(AF_INET6, text, &in6.sin6_addr) == 1);
    in6.sin6_scope_id = scope;
    return in6;
}

bool parses(int domain, const void* sa, std::size_t len, InetAddress& out) {
    return parse_inet_address(domain, sa, len, out);
}

} // namespace

TEST_CASE("inet addresses parse as Linux bind reads them: AF_INET", "[address]") {
    InetAddress a;
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(8080);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(parses(AF_INET, &in, sizeof in, a));
    CHECK(a.family == AF_INET);
    CHECK(a.port == 8080);
    CHECK(a.addr[0] == 127);
    CHECK(a.addr[3] == 1);
    CHECK(a.scope_id == 0);
    // Longer is fine (up to sockaddr_storage), shorter is EINVAL (inet_bind_sk).
    unsigned char big[sizeof(sockaddr_storage) + 1] = {};
    std::memcpy(big, &in, sizeof in);
    CHECK(parses(AF_INET, big, sizeof(sockaddr_storage), a));
    CHECK_FALSE(parses(AF_INET, big, sizeof(sockaddr_storage) + 1, a));
    for (std::size_t len : {0, 2, 8, 15}) CHECK_FALSE(parses(AF_INET, &in, len, a));
    CHECK_FALSE(parses(AF_INET, nullptr, sizeof in, a));

    // AF_UNSPEC with INADDR_ANY is taken as AF_INET ("compatibility games", __inet_bind).
    sockaddr_in unspec{};
    unspec.sin_family = AF_UNSPEC;
    unspec.sin_port = htons(8081);
    REQUIRE(parses(AF_INET, &unspec, sizeof unspec, a));
    CHECK(a.family == AF_INET);
    CHECK(a.port == 8081);
    const auto e = endpoint_from_sockaddr(AF_INET, reinterpret_cast<sockaddr*>(&unspec), sizeof unspec);
    REQUIRE(e);
    CHECK(format_endpoint(*e) == "0.0.0.0:8081");
    // ... but AF_UNSPEC with any other address is EAFNOSUPPORT, as is any other family.
    unspec.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_FALSE(parses(AF_INET, &unspec, sizeof unspec, a));
    in.sin_family = AF_INET6;
    CHECK_FALSE(parses(AF_INET, &in, sizeof in, a));
    // AF_UNSPEC is no IPv6 spelling: __inet6_bind wants AF_INET6.
    sockaddr_in6 unspec6{};
    CHECK_FALSE(parses(AF_INET6, &unspec6, sizeof unspec6, a));
}

TEST_CASE("inet addresses parse as Linux bind reads them: AF_INET6 lengths 24 and 28", "[address]") {
    InetAddress a;
    // 28 bytes: the scope of a link-local address is read.
    sockaddr_in6 ll = v6("fe80::1", 443, 7);
    REQUIRE(parses(AF_INET6, &ll, sizeof ll, a));
    CHECK(a.family == AF_INET6);
    CHECK(a.port == 443);
    CHECK(a.scope_id == 7);
    // 24 bytes (SIN6_LEN_RFC2133): accepted, sin6_scope_id never read.
    REQUIRE(parses(AF_INET6, &ll, sin6_len_rfc2133, a));
    CHECK(a.port == 443);
    CHECK(a.scope_id == 0);
    // Between 24 and 28: still no scope.
    CHECK(parses(AF_INET6, &ll, 27, a));
    CHECK(a.scope_id == 0);
    // Short: EINVAL (inet6_bind_sk).
    for (std::size_t len : {0, 2, 16, 23}) CHECK_FALSE(parses(AF_INET6, &ll, len, a));
    // A scope on an address that needs none is ignored by the kernel.
    sockaddr_in6 global = v6("2001:db8::1", 80, 7);
    REQUIRE(parses(AF_INET6, &global, sizeof global, a));
    CHECK(a.scope_id == 0);
    sockaddr_in6 mc = v6("ff02::1", 5353, 3);
    REQUIRE(parses(AF_INET6, &mc, sizeof mc, a));
    CHECK(a.scope_id == 3);
    // v4-mapped stays an IPv6 address of the IPv6 socket (the engine reads it as IPv4).
    sockaddr_in6 mapped = v6("::ffff:127.0.0.1", 8080);
    REQUIRE(parses(AF_INET6, &mapped, sin6_len_rfc2133, a));
    const auto e = endpoint_from_sockaddr(AF_INET6, reinterpret_cast<sockaddr*>(&mapped), sin6_len_rfc2133);
    REQUIRE(e);
    CHECK(is_v4_mapped(*e));
    CHECK(format_endpoint(*e) == "[::ffff:127.0.0.1]:8080");
    // An AF_INET address on an AF_INET6 socket is EAFNOSUPPORT.
    sockaddr_in in{};
    in.sin_family = AF_INET;
    unsigned char padded[sizeof(sockaddr_in6)] = {};
    std::memcpy(padded, &in, sizeof in);
    CHECK_FALSE(parses(AF_INET6, padded, sizeof padded, a));
}

TEST_CASE("to_sockaddr writes the full canonical sockaddr the parser reads back", "[address]") {
    InetAddress a;
    sockaddr_in6 ll = v6("fe80::1", 443, 7);
    REQUIRE(parses(AF_INET6, &ll, sizeof ll, a));
    sockaddr_storage ss;
    REQUIRE(to_sockaddr(a, ss) == sizeof(sockaddr_in6));
    InetAddress back;
    REQUIRE(parses(AF_INET6, &ss, sizeof(sockaddr_in6), back));
    CHECK(back.port == 443);
    CHECK(back.scope_id == 7);
    CHECK(std::memcmp(back.addr, a.addr, 16) == 0);
    sockaddr_in unspec{};
    unspec.sin_family = AF_UNSPEC;
    unspec.sin_port = htons(9);
    REQUIRE(parses(AF_INET, &unspec, sizeof unspec, a));
    REQUIRE(to_sockaddr(a, ss) == sizeof(sockaddr_in));
    CHECK(ss.ss_family == AF_INET);
    CHECK(to_sockaddr(InetAddress{}, ss) == 0);
}

TEST_CASE("wildcards cover specific addresses of their family", "[address]") {
    CHECK(addresses_overlap(ep("0.0.0.0"), -1, ep("127.0.0.1"), -1));
    CHECK(addresses_overlap(ep("127.0.0.1"), -1, ep("0.0.0.0"), -1));
    CHECK(addresses_overlap(ep("127.0.0.1"), -1, ep("127.0.0.1"), -1));
    CHECK_FALSE(addresses_overlap(ep("127.0.0.1"), -1, ep("127.0.0.2"), -1));
    CHECK(addresses_overlap(ep("::"), 1, ep("::1"), -1));
    CHECK(overlap_reason(ep("0.0.0.0"), -1, ep("127.0.0.1"), -1) ==
          "0.0.0.0 covers every IPv4 address, including 127.0.0.1");
    CHECK(overlap_reason(ep("127.0.0.1"), -1, ep("127.0.0.1"), -1).empty());
}

TEST_CASE("[::] without IPV6_V6ONLY overlaps IPv4, with it does not", "[address]") {
    CHECK(addresses_overlap(ep("::"), 0, ep("0.0.0.0"), -1));
    CHECK(addresses_overlap(ep("::"), 0, ep("127.0.0.1"), -1));
    CHECK_FALSE(addresses_overlap(ep("::"), 1, ep("0.0.0.0"), -1));
    CHECK_FALSE(addresses_overlap(ep("::1"), 0, ep("127.0.0.1"), -1));
    // The other direction: 0.0.0.0 held, dual-stack [::] wanted.
    CHECK(addresses_overlap(ep("0.0.0.0"), -1, ep("::"), 0));
    CHECK_FALSE(addresses_overlap(ep("0.0.0.0"), -1, ep("::"), 1));
    CHECK(overlap_reason(ep("::"), 0, ep("0.0.0.0"), -1) ==
          "[::] without IPV6_V6ONLY also accepts IPv4, so it covers 0.0.0.0");
    CHECK(overlap_reason(ep("0.0.0.0"), -1, ep("::"), 0).find("IPV6_V6ONLY") != std::string::npos);
}

TEST_CASE("v4-mapped addresses meet their IPv4 twins only", "[address]") {
    CHECK(addresses_overlap(ep("::ffff:127.0.0.1"), 0, ep("127.0.0.1"), -1));
    CHECK(addresses_overlap(ep("::ffff:127.0.0.1"), 0, ep("0.0.0.0"), -1));
    CHECK_FALSE(addresses_overlap(ep("::ffff:127.0.0.1"), 0, ep("10.0.0.1"), -1));
    CHECK_FALSE(addresses_overlap(ep("::"), 1, ep("::ffff:127.0.0.1"), -1));
}

TEST_CASE("errno names", "[address]") {
    CHECK(errno_name(EADDRINUSE) == "EADDRINUSE");
    CHECK(errno_name(EPERM) == "EPERM");
}
