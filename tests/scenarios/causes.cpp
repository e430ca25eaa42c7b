// One scenario per cause: make the port busy for real, start a legacy daemon under the
// preload, and check both the JSON verdict and that the daemon failed exactly as before.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <regex>
#include <cstdlib>
#include <sys/socket.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::VectorContains;

namespace {

Launch preloaded()
{
    require_library();
    Launch launch;
    launch.preload = true;
    return launch;
}

// What an old daemon does on EADDRINUSE, with or without the shim: perror, errno=98, exit 1.
void require_failed_as_without_shim(Process& daemon)
{
    const int status = daemon.wait();
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    REQUIRE(status == 1);
    CHECK(daemon.out() == "errno=98\n");
    CHECK_THAT(daemon.err(), Contains("bind: Address already in use"));
}

void check_holder_keys(const Json& holder)
{
    INFO("holder keys: pid ppid comm exe cmdline uid fd cloexec");
    CHECK(holder["pid"].is_number());
    CHECK(holder["ppid"].is_number());
    CHECK(holder["comm"].is_string());
    CHECK(holder["exe"].is_string());
    CHECK(holder["cmdline"].is_string());
    CHECK(holder["uid"].is_number());
    CHECK(holder["fd"].is_number());
    CHECK(holder["cloexec"].type() == Json::Type::boolean);
}

bool all_strings(const Json& list)
{
    for (const Json& item : list.items())
        if (!item.is_string())
            return false;
    return list.is_array();
}

// The single bind-failed event on the program's stderr, checked against the DESIGN.md keys.
Json bind_failed_event(const Process& program, const std::string& call = "bind")
{
    INFO("stderr: " << program.err());
    std::vector<Json> events;
    for (Json& event : json_lines(program.err()))
        if (event["event"].str() == "bind-failed")
            events.push_back(std::move(event));
    REQUIRE(events.size() == 1);
    const Json& event = events.front();

    CHECK(std::regex_search(event["time"].str(), std::regex(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)")));
    CHECK(event["pid"].number() == program.pid());
    CHECK_FALSE(event["exe"].str().empty());
    CHECK(event["call"].str() == call);
    CHECK(event["proto"].str() == "tcp");
    CHECK(event["address"].is_string());
    CHECK(event["port"].number() > 0);
    CHECK(event["errno"].number() == 98);
    CHECK_FALSE(event["summary"].str().empty());
    CHECK(event["holders"].is_array());
    for (const Json& holder : event["holders"].items())
        check_holder_keys(holder);
    CHECK(all_strings(event["evidence"]));
    CHECK(event["fix"].is_string());
    CHECK(all_strings(event["confirm"]));
    CHECK(event["backtrace"].is_array());
    return event;
}

std::vector<int> holder_pids(const Json& event)
{
    std::vector<int> pids;
    for (const Json& holder : event["holders"].items())
        pids.push_back(static_cast<int>(holder["pid"].number()));
    return pids;
}

void require_ipv6()
{
    const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        skip("no IPv6 in this network namespace");
    ::close(fd);
}

} // namespace

TEST_CASE("previous-instance: the same daemon started twice")
{
    Process first({legacy_server()}, preloaded());
    const int port = read_port(first);

    Process second({legacy_server(), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(second);

    const Json event = bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["address"].str() == "0.0.0.0");
    CHECK(event["port"].number() == port);
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
    gallery("previous-instance", {legacy_server(), "-p", std::to_string(port)}, preloaded());
}

TEST_CASE("other-service: a different program holds the port")
{
    Process other({other_daemon()}, preloaded());
    const int port = read_port(other);

    Process daemon({legacy_server(), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(daemon);

    const Json event = bind_failed_event(daemon);
    CHECK(event["cause"].str() == "other-service");
    CHECK(event["port"].number() == port);
    CHECK_THAT(holder_pids(event), VectorContains(other.pid()));
    CHECK_THAT(event["holders"][0]["exe"].str(), EndsWith("other_daemon"));
    gallery("other-service", {legacy_server(), "-p", std::to_string(port)}, preloaded());
}

TEST_CASE("time-wait: restart after the server closed its connections first")
{
    Process server({legacy_server(), "-c", "1"}, preloaded());
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);

    Process restarted({legacy_server(), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(restarted);

    const Json event = bind_failed_event(restarted);
    CHECK(event["cause"].str() == "time-wait");
    CHECK(event["port"].number() == port);
    CHECK(event["holders"].items().empty());
    CHECK_THAT(event["summary"].str(), Contains("TIME_WAIT"));
    gallery("time-wait", {legacy_server(), "-p", std::to_string(port)}, preloaded());
}

namespace {

/** Serves one connection with or without SO_REUSEADDR, closing it first; returns the port. */
int leave_time_wait(bool reuseaddr)
{
    std::vector<std::string> argv{legacy_server(), "-c", "1"};
    if (reuseaddr)
        argv.push_back("-r");
    Process server(argv, preloaded());
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);
    return port;
}

std::string joined(const Json& list)
{
    std::string out;
    for (const Json& item : list.items())
        out += item.str() + "\n";
    return out;
}

} // namespace

TEST_CASE("time-wait: the old listener set SO_REUSEADDR and the restart did not")
{
    const int port = leave_time_wait(true);

    Process restarted({legacy_server(), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(restarted);
    const Json event = bind_failed_event(restarted);
    CHECK(event["cause"].str() == "time-wait");
    CHECK_THAT(joined(event["why"]), Contains("the old listener set SO_REUSEADDR"));
    CHECK_THAT(event["fix"].str(), Contains("SO_REUSEADDR"));

    // The verdict's fix works: with SO_REUSEADDR the same restart binds at once.
    Process fixed({legacy_server(), "-r", "-p", std::to_string(port)}, preloaded());
    CHECK(read_port(fixed) == port);
}

TEST_CASE("time-wait: the restart set SO_REUSEADDR but the old listener did not")
{
    const int port = leave_time_wait(false);

    Process restarted({legacy_server(), "-r", "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(restarted);
    const Json event = bind_failed_event(restarted);
    CHECK(event["cause"].str() == "time-wait");
    CHECK_THAT(joined(event["why"]),
               Contains("this socket set SO_REUSEADDR, but the previous instance did not"));
    CHECK_THAT(event["summary"].str(), Contains("the last expires in"));
}

TEST_CASE("self: :: without IPV6_V6ONLY after 0.0.0.0 in the same process")
{
    require_ipv6();
    Process daemon({legacy_server(), "-a", "0.0.0.0", "-2", "::"}, preloaded());
    require_failed_as_without_shim(daemon);

    const Json event = bind_failed_event(daemon);
    CHECK(event["cause"].str() == "self");
    CHECK(event["address"].str() == "::");
    CHECK_THAT(holder_pids(event), VectorContains(daemon.pid()));
    gallery("self", {legacy_server(), "-a", "0.0.0.0", "-2", "::"}, preloaded());
}

TEST_CASE("hidden-owner: root holds the port and nobody cannot see who")
{
    require_root("the holder runs as root and the failing copy as nobody");
    if (!readable_by_nobody({require_library(), legacy_server()}))
        skip("the library or legacy_server is not readable by nobody");
    Process holder({legacy_server()}, preloaded());
    const int port = read_port(holder);

    Launch as_nobody = preloaded();
    as_nobody.as_nobody = true;
    Process daemon({legacy_server(), "-p", std::to_string(port)}, as_nobody);
    require_failed_as_without_shim(daemon);

    const Json event = bind_failed_event(daemon);
    CHECK(event["cause"].str() == "hidden-owner");
    CHECK(event["port"].number() == port);
    CHECK(event["holders"].items().empty());
    CHECK_THAT(event["summary"].str(), Contains("root (uid 0)"));
    std::string confirm;
    for (const Json& command : event["confirm"].items())
        confirm += command.str() + "\n";
    CHECK_THAT(confirm, Contains("sudo ss") && Contains(":" + std::to_string(port)));
    gallery("hidden-owner", {legacy_server(), "-p", std::to_string(port)}, as_nobody);
}

TEST_CASE("listen-inuse: two SO_REUSEADDR sockets in one process both listen")
{
    Process probe({bind_probe(), "listen-inuse"}, preloaded());
    REQUIRE(probe.wait() == 0);
    CHECK(probe.out() == "rc=-1 errno=98\n");

    const Json event = bind_failed_event(probe, "listen");
    CHECK(event["cause"].str() == "self");
    CHECK(event["address"].str() == "127.0.0.1");
    CHECK_THAT(holder_pids(event), VectorContains(probe.pid()));
}

TEST_CASE("engine missing: the daemon fails as before and the operator is told why")
{
    // libportshim.so alone, without libportshim-engine.so beside it.
    char dir[] = "/tmp/portshim-lone-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string lone = std::string(dir) + "/libportshim.so";
    std::filesystem::copy_file(require_library(), lone);

    Process holder({legacy_server()}, Launch{});
    const int port = read_port(holder);
    Launch launch = preloaded();
    launch.env = {{"LD_PRELOAD", lone}};
    Process daemon({legacy_server(), "-p", std::to_string(port)}, launch);
    require_failed_as_without_shim(daemon);
    CHECK_THAT(daemon.err(), Contains("errno 98, but the diagnosis engine could not be loaded"));
    std::filesystem::remove_all(dir);
}
