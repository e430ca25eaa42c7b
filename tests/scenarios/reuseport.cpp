// SO_REUSEPORT split brain: a listen() that succeeds only because another
// program's listener also set SO_REUSEPORT is warned about, naming that program;
// an earlier instance of the same program is said to be a hand-over.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace portshim::test;

TEST_CASE("reuseport-shared: a second program sharing the port is named")
{
    Process old({prog("other_daemon"), "-R"}, Launch{});
    const int port = read_port(old);
    Process fresh({prog("legacy_server"), "-R", "-p", std::to_string(port)}, preloaded());
    CHECK(read_port(fresh) == port); // the listen succeeded: that is the danger
    // The warning is written before "port P" is printed, so it is complete by now.
    const auto events = json_lines(fresh.err());
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"].str() == "reuseport-shared");
    CHECK(events[0]["port"].number() == port);
    CHECK(events[0]["holders"][0]["pid"].number() == old.pid());
    CHECK_THAT(events[0]["holders"][0]["exe"].str(), Catch::Matchers::EndsWith("other_daemon"));
    CHECK_FALSE(events[0]["same_program"].boolean());
}

TEST_CASE("reuseport-shared: an earlier instance of the same program is named too")
{
    Process old({prog("legacy_server"), "-R"}, Launch{});
    const int port = read_port(old);
    Process fresh({prog("legacy_server"), "-R", "-p", std::to_string(port)}, preloaded());
    CHECK(read_port(fresh) == port);
    const auto events = json_lines(fresh.err());
    REQUIRE(events.size() == 1);
    CHECK(events[0]["holders"][0]["pid"].number() == old.pid());
    CHECK(events[0]["same_program"].boolean());
}

TEST_CASE("reuseport-shared: an earlier instance is a note that PORTSHIM_LEVEL=warn hides")
{
    Process old({prog("legacy_server"), "-R"}, Launch{});
    const int port = read_port(old);
    Launch warn = preloaded();
    warn.env.emplace_back("PORTSHIM_LEVEL", "warn");
    Process quiet({prog("legacy_server"), "-R", "-p", std::to_string(port)}, warn);
    CHECK(read_port(quiet) == port);
    CHECK(json_lines(quiet.err()).empty());
    // Another program sharing the port is still a warning at that level.
    Process stranger({prog("other_daemon"), "-R"}, Launch{});
    const int other_port = read_port(stranger);
    Process warned({prog("legacy_server"), "-R", "-p", std::to_string(other_port)}, warn);
    CHECK(read_port(warned) == other_port);
    CHECK(json_lines(warned.err()).size() == 1);
}

TEST_CASE("reuseport-shared: a lone SO_REUSEPORT listener is not warned about")
{
    Process alone({prog("legacy_server"), "-R"}, preloaded());
    read_port(alone);
    CHECK(json_lines(alone.err()).empty());
}
