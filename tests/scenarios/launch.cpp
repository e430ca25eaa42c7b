// portshim-supervise's launcher: the program is never exec'd under a filter that no
// supervisor serves (its binds would fail with ENOSYS). A supervisor that dies
// between the fork and its answer is replaced; without any, nothing runs.
// The deaths come from the test-build hook PORTSHIM_TEST_SUPERVISOR_DEATHS (launch.cpp).
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string supervise = PORTSHIM_TEST_SUPERVISE;
const std::string run = PORTSHIM_TEST_RUN;

/** bind_probe's successful bind+listen of 127.0.0.1:0 under the supervisor, the first `deaths` of which die. */
Process probe_with_deaths(int deaths)
{
    require_root("without root the seccomp filter needs no_new_privs (--supervise)");
    Launch launch;
    launch.env = {{"PORTSHIM_TEST_SUPERVISOR_DEATHS", std::to_string(deaths)}};
    return Process({supervise, "--", prog("bind_probe"), "success"}, launch);
}

} // namespace

TEST_CASE("launch: a supervisor that dies before its answer is replaced before the program runs")
{
    Process plain({prog("bind_probe"), "success"}, Launch{});
    REQUIRE(plain.wait() == 0);
    Process probe = probe_with_deaths(2);
    INFO("stderr: " << probe.err());
    // Before the retry: the launcher exec'd anyway and the bind failed with ENOSYS (errno=38).
    CHECK(probe.wait() == 0);
    CHECK(probe.out() == plain.out());
    CHECK(probe.err().empty());
}

TEST_CASE("launch: without a supervisor that answers the program is not run")
{
    Process probe = probe_with_deaths(3);
    INFO("stderr: " << probe.err());
    CHECK(probe.wait() == 126);
    CHECK(probe.out().empty()); // bind_probe never ran, so it met no ENOSYS
    CHECK_THAT(probe.err(), StartsWith("portshim-supervise: no supervisor could be started"));
    CHECK_THAT(probe.err(), Contains("ENOSYS"));
    CHECK(std::count(probe.err().begin(), probe.err().end(), '\n') == 1);
}

TEST_CASE("launch: a launcher started with SIGCHLD blocked leaves the program no SIGCHLD pending")
{
    require_supervisor();
    // The launcher's middle fork exits before the exec; its exit must not be a signal
    // that the program finds pending (blocked, it would survive the exec).
    Process plain({prog("sigchld_blocked"), prog("static_sigchld_pending")}, Launch{});
    REQUIRE(plain.wait() == 0);
    REQUIRE(plain.out() == "pending 0\n");
    Process supervised({prog("sigchld_blocked"), run, "--", prog("static_sigchld_pending")}, Launch{});
    INFO("stderr: " << supervised.err());
    CHECK(supervised.wait() == 0);
    CHECK(supervised.out() == plain.out());
    CHECK(supervised.err().empty());
}
