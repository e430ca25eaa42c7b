// unknown: with sock_diag refused (seccomp) and no /proc (an empty tmpfs over
// it in a private mount namespace), the daemon still fails as before and the
// report says what was checked and which probe failed.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

TEST_CASE("unknown: no netlink and no /proc and the report says what failed")
{
    require_root("an empty /proc needs a private mount namespace");
    struct stat st {};
    if (::stat("/usr/bin/unshare", &st) != 0 || ::stat("/bin/mount", &st) != 0)
        skip("util-linux unshare and mount are needed");
    Process holder({legacy_server()}, Launch{});
    const int port = read_port(holder);
    const std::vector<std::string> argv{
        "/usr/bin/unshare", "-m", "--", "/bin/sh", "-c",
        "mount -t tmpfs none /proc && exec \"$0\" \"$@\"", PORTSHIM_TEST_NO_NETLINK, legacy_server(),
        "-p", std::to_string(port)};
    Process daemon(argv, preloaded());
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["cause"].str() == "unknown");
    const std::string evidence = joined(event["evidence"]);
    CHECK_THAT(evidence, Contains("netlink sock_diag refused: EPERM"));
    CHECK_THAT(evidence, Contains("failed too"));
    CHECK_THAT(event["summary"].str(), Contains("could not be read"));
    gallery("unknown", argv, preloaded());
}
