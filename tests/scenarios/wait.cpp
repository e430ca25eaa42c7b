// PORTSHIM_WAIT for restart units: a bind whose cause clears by itself is
// retried until it succeeds or time runs out; a cause that will not clear
// (another service) fails at once as before.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

Launch waiting(const char* seconds)
{
    require_library();
    Launch launch;
    launch.preload = true;
    launch.env = {{"PORTSHIM_WAIT", seconds}};
    return launch;
}

std::vector<std::string> events_named(const std::string& err)
{
    std::vector<std::string> names;
    for (const Json& event : json_lines(err))
        names.push_back(event["event"].str());
    return names;
}

} // namespace

TEST_CASE("wait: a restart binds once the previous instance exits")
{
    auto previous = std::make_unique<Process>(std::vector<std::string>{prog("legacy_server")}, Launch{});
    const int port = read_port(*previous);
    const int previous_pid = previous->pid();
    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, waiting("10"));
    std::this_thread::sleep_for(1s);
    previous.reset(); // the old instance exits (SIGKILL, reaped): no connection lingers
    CHECK(read_port(restarted) == port);
    const auto events = json_lines(restarted.err());
    REQUIRE(events.size() == 2);
    CHECK(events[0]["event"].str() == "bind-failed");
    CHECK(events[0]["cause"].str() == "previous-instance");
    CHECK(events[1]["event"].str() == "waiting");
    CHECK(events[1]["holder"].number() == previous_pid);
    CHECK(events[1]["wait_seconds"].number() == 10);
}

TEST_CASE("wait: time runs out and the program sees the original error")
{
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, waiting("1"));
    REQUIRE(restarted.wait() == 1);
    CHECK(restarted.out() == "errno=98\n");
    CHECK_THAT(restarted.err(), Contains("bind: Address already in use"));
    CHECK(events_named(restarted.err()) == std::vector<std::string>{"bind-failed", "waiting"});
}

TEST_CASE("wait: another service is not waited for")
{
    Process other({prog("other_daemon")}, Launch{});
    const int port = read_port(other);
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, waiting("30"));
    REQUIRE(daemon.wait(5s) == 1); // at once, not after 30 s
    CHECK(daemon.out() == "errno=98\n");
    CHECK(events_named(daemon.err()) == std::vector<std::string>{"bind-failed"});
}
