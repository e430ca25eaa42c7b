// The rate limit: a daemon retrying a failing bind in a loop gets the first report in
// full, then at most one summary line per 10 s per address, and its own view of every
// attempt stays exactly what libc returned.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>

using namespace portshim::test;

namespace {


std::vector<Json> events_named(const std::vector<Json>& events, const std::string& name)
{
    std::vector<Json> out;
    for (const Json& e : events)
        if (e["event"].str() == name)
            out.push_back(e);
    return out;
}

} // namespace

TEST_CASE("rate limit: 1000 failing binds in a loop give one report")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    Process retrier({prog("retry_bind"), "-p", std::to_string(port), "-n", "1000"}, preloaded());
    REQUIRE(retrier.wait(40s) == 0);
    INFO("stderr: " << retrier.err());
    // Every attempt failed with EADDRINUSE, as without the shim.
    CHECK(retrier.out() == "failures=1000 other=0\n");

    const std::vector<Json> events = json_lines(retrier.err());
    const std::vector<Json> reports = events_named(events, "bind-failed");
    REQUIRE(reports.size() == 1);
    CHECK(reports[0]["cause"].str() == "other-service");
    CHECK(holder_pids(reports[0]) == std::vector<int>{holder.pid()});
    CHECK(reports[0]["port"].number() == port);
    // The loop takes well under 10 s, so no summary line is due yet: the log is bounded.
    CHECK(events.size() <= 2);
}

TEST_CASE("rate limit: after 10 s one summary line counts the failures since the report")
{
    Process holder({prog("other_daemon")}, preloaded());
    const int port = read_port(holder);

    // 500 attempts, a pause past the 10 s window, then one more: it gets the summary.
    Process retrier({prog("retry_bind"), "-p", std::to_string(port), "-n", "500", "-w", "10500", "-m", "1"},
                    preloaded());
    REQUIRE(retrier.wait(40s) == 0);
    INFO("stderr: " << retrier.err());
    CHECK(retrier.out() == "failures=501 other=0\n");

    const std::vector<Json> events = json_lines(retrier.err());
    const std::vector<Json> reports = events_named(events, "bind-failed");
    const std::vector<Json> repeated = events_named(events, "repeated");
    REQUIRE(reports.size() == 1);
    REQUIRE(repeated.size() == 1);
    CHECK(reports[0]["cause"].str() == "other-service");
    CHECK(repeated[0]["cause"].str() == "other-service");
    CHECK(repeated[0]["port"].number() == port);
    CHECK(repeated[0]["errno"].number() == 98);
    // 499 attempts skipped inside the window plus the one that wrote the line.
    CHECK(repeated[0]["repeats"].number() == 500);
}

TEST_CASE("rate limit: the text summary names the count and the cause")
{
    Process holder({prog("other_daemon")}, preloaded());
    const int port = read_port(holder);

    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_FORMAT", "text");
    Process retrier({prog("retry_bind"), "-p", std::to_string(port), "-n", "20", "-w", "10500", "-m", "1"},
                    launch);
    REQUIRE(retrier.wait(40s) == 0);
    INFO("stderr: " << retrier.err());
    CHECK(retrier.out() == "failures=21 other=0\n");
    CHECK_THAT(retrier.err(), Catch::Matchers::Contains(
                                  "failed 20 more times since the last report, same cause: other-service"));
}
