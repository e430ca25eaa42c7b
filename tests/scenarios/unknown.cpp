// A hardened container's filter (seccomp refusing AF_NETLINK with EPERM, as
// inherited at exec) and no /proc (an empty tmpfs over it in a private mount
// namespace): the daemon fails as before. A seccomp filter's actions cannot be
// read, and another could kill, so no diagnosis runs under any filter: the
// short line, with the command to run from outside. (The unknown cause itself,
// when probes fail, is a unit test of the rules.)
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

TEST_CASE("unknown: under a filter refusing netlink and with no /proc the short line says where to look")
{
    require_root("an empty /proc needs a private mount namespace");
    struct stat st {};
    if (::stat("/usr/bin/unshare", &st) != 0 || ::stat("/bin/mount", &st) != 0)
        skip("util-linux unshare and mount are needed");
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    const std::vector<std::string> argv{
        "/usr/bin/unshare", "-m", "--", "/bin/sh", "-c",
        "mount -t tmpfs none /proc && exec \"$0\" \"$@\"", prog("no_netlink"), prog("legacy_server"),
        "-p", std::to_string(port)};
    Process daemon(argv, preloaded());
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["cause"].str() == "unknown");
    // No /proc here: the filter was learnt from prctl(PR_GET_SECCOMP).
    CHECK_THAT(event["summary"].str(), Contains("not diagnosed") && Contains("seccomp filter"));
    CHECK(event["fix"].str() == "look from outside: portshim why " + std::to_string(port));
}
