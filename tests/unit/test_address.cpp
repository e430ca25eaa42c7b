// Address formatting and the bind() overlap rules, on plain endpoints.
#include "address.hpp"

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
    auto e = endpoint_from_sockaddr(reinterpret_cast<sockaddr*>(&in), sizeof in);
    REQUIRE(e);
    CHECK(format_endpoint(*e) == "127.0.0.1:8080");
    CHECK_FALSE(endpoint_from_sockaddr(reinterpret_cast<sockaddr*>(&in), sizeof in - 1));
    CHECK_FALSE(endpoint_from_sockaddr(nullptr, 0));
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(443);
    in6.sin6_addr = in6addr_loopback;
    e = endpoint_from_sockaddr(reinterpret_cast<sockaddr*>(&in6), sizeof in6);
    REQUIRE(e);
    CHECK(format_endpoint(*e) == "[::1]:443");
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
