// The CLI's strict parsing of targets and seconds, and ELF inspection for
// portshim-run on real binaries of this machine.
#include "executable.hpp"
#include "target.hpp"

#include "address.hpp"

#include <catch2/catch.hpp>

using namespace portshim;
using namespace portshim::cli;

TEST_CASE("targets: port alone, IPv4, bracketed IPv6, unix paths", "[cli]") {
    std::string error;
    auto t = parse_target("8080", false, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "0.0.0.0:8080");
    CHECK(t->proto == Proto::tcp);
    t = parse_target("127.0.0.53:53", true, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "127.0.0.53:53");
    CHECK(t->proto == Proto::udp);
    t = parse_target("[::]:443", false, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "[::]:443");
    t = parse_target("unix:/run/app.sock", false, error);
    REQUIRE(t);
    CHECK(t->proto == Proto::unix_stream);
    CHECK(t->unix_path == "/run/app.sock");
    CHECK(parse_target("unix:@abstract", false, error));
}

TEST_CASE("targets: every bad input has its one-line reason", "[cli]") {
    std::string error;
    CHECK_FALSE(parse_target("70000", false, error));
    CHECK(error == "port 70000 is out of range (1-65535)");
    CHECK_FALSE(parse_target("0", false, error));
    CHECK(error == "port 0 is out of range (1-65535)");
    CHECK_FALSE(parse_target("http", false, error));
    CHECK(error == "'http' is not a port number");
    CHECK_FALSE(parse_target("::1:80", false, error));
    CHECK(error == "write IPv6 addresses in brackets: [::1]:PORT");
    CHECK_FALSE(parse_target("example.com:80", false, error));
    CHECK(error == "'example.com' is not an IPv4 or IPv6 address");
    CHECK_FALSE(parse_target("unix:relative.sock", false, error));
    CHECK_FALSE(parse_target("unix:", false, error));
    CHECK_FALSE(parse_target("-5", false, error));
}

TEST_CASE("seconds: whole numbers up to a day", "[cli]") {
    CHECK(parse_seconds("0") == 0u);
    CHECK(parse_seconds("30") == 30u);
    CHECK(parse_seconds("86400") == 86400u);
    CHECK_FALSE(parse_seconds("86401"));
    CHECK_FALSE(parse_seconds("10s"));
    CHECK_FALSE(parse_seconds(""));
    CHECK_FALSE(parse_seconds("-1"));
}

TEST_CASE("executables: dynamic ELF and scripts are preloadable, others are not", "[cli]") {
    std::string detail;
    CHECK(inspect_executable("/bin/true", detail) == Reach::preloadable);
    CHECK(inspect_executable(PORTSHIM_TEST_SCRIPT, detail) == Reach::preloadable);
    CHECK(inspect_executable("/nonexistent/program", detail) == Reach::unreadable);
    CHECK(detail.find("No such file") != std::string::npos);
    CHECK(inspect_executable("/etc/passwd", detail) == Reach::unreadable);
    CHECK(inspect_executable(PORTSHIM_TEST_STATIC_PROGRAM, detail) == Reach::static_binary);
    CHECK(detail.find("statically linked") != std::string::npos);
}
