// PORTSHIM_REUSEADDR=1 for legacy binaries: a restart past TIME_WAIT binds at
// once when both instances ran with it, the report says why when only the new
// one did, an explicit choice of the program is respected, and UDP is never touched.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

Launch with_reuseaddr()
{
    Launch launch = preloaded();
    launch.env = {{"PORTSHIM_REUSEADDR", "1"}};
    return launch;
}

} // namespace

TEST_CASE("reuseaddr: both instances under PORTSHIM_REUSEADDR restart past TIME_WAIT at once")
{
    const int port = leave_time_wait(with_reuseaddr());
    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, with_reuseaddr());
    CHECK(read_port(restarted) == port);
    CHECK(json_lines(restarted.err()).empty());
}

TEST_CASE("reuseaddr: only the new instance under it fails and the report says the old one lacked it")
{
    const int port = leave_time_wait(preloaded());
    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, with_reuseaddr());
    REQUIRE(restarted.wait() == 1);
    CHECK(restarted.out() == "errno=98\n");
    CHECK_THAT(restarted.err(), Contains("bind: Address already in use"));
    const auto events = json_lines(restarted.err());
    REQUIRE(events.size() == 1);
    CHECK(events[0]["cause"].str() == "time-wait");
    CHECK_THAT(joined(events[0]["why"]), Contains("portshim set SO_REUSEADDR on this socket") &&
                                             Contains("the previous instance ran without it"));
}

TEST_CASE("reuseaddr: an explicit SO_REUSEADDR=0 of the program is respected")
{
    const int port = leave_time_wait(preloaded(), true); // the old instance set the flag
    Process chose({prog("bind_probe"), "noreuse", std::to_string(port)}, with_reuseaddr());
    REQUIRE(chose.wait() == 0);
    CHECK(chose.out() == "rc=-1 errno=" + std::to_string(EADDRINUSE) + "\n");
    // The same bind without an explicit choice gets the flag and passes the remnant.
    Process injected({prog("bind_probe"), "inuse", std::to_string(port)}, with_reuseaddr());
    REQUIRE(injected.wait() == 0);
    CHECK(injected.out() == "rc=0 errno=0\n");
}

TEST_CASE("reuseaddr: UDP sockets are never given SO_REUSEADDR")
{
    Process holder({prog("legacy_server"), "-u", "-r"}, Launch{});
    const int port = read_port(holder);
    // With the flag injected, this second UDP bind would succeed and share the port.
    Process second({prog("legacy_server"), "-u", "-p", std::to_string(port)}, with_reuseaddr());
    REQUIRE(second.wait() == 1);
    CHECK(second.out() == "errno=98\n");
}
