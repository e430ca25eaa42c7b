// One scenario per cause: make the port busy for real, start a legacy daemon under the
// preload, and check both the JSON verdict and that the daemon failed exactly as before.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <cstdlib>
#include <cerrno>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
using Catch::Matchers::VectorContains;

namespace {

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
    const Json event = only_bind_failed_event(program);
    INFO("stderr: " << program.err());

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
    Process first({prog("legacy_server")}, preloaded());
    const int port = read_port(first);

    Process second({prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(second);

    const Json event = bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["address"].str() == "0.0.0.0");
    CHECK(event["port"].number() == port);
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
    gallery("previous-instance", {prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
}

TEST_CASE("other-service: a different program holds the port")
{
    Process other({prog("other_daemon")}, preloaded());
    const int port = read_port(other);

    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(daemon);

    const Json event = bind_failed_event(daemon);
    CHECK(event["cause"].str() == "other-service");
    CHECK(event["port"].number() == port);
    CHECK_THAT(holder_pids(event), VectorContains(other.pid()));
    CHECK_THAT(event["holders"][0]["exe"].str(), EndsWith("other_daemon"));
    gallery("other-service", {prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
}

TEST_CASE("time-wait: restart after the server closed its connections first")
{
    Process server({prog("legacy_server"), "-c", "1"}, preloaded());
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);

    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(restarted);

    const Json event = bind_failed_event(restarted);
    CHECK(event["cause"].str() == "time-wait");
    CHECK(event["port"].number() == port);
    CHECK(event["holders"].items().empty());
    CHECK_THAT(event["summary"].str(), Contains("TIME_WAIT"));
    gallery("time-wait", {prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
}

namespace {

} // namespace

TEST_CASE("time-wait: the old listener set SO_REUSEADDR and the restart did not")
{
    const int port = leave_time_wait(preloaded(), true);

    Process restarted({prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
    require_failed_as_without_shim(restarted);
    const Json event = bind_failed_event(restarted);
    CHECK(event["cause"].str() == "time-wait");
    CHECK_THAT(joined(event["why"]), Contains("the old listener set SO_REUSEADDR"));
    CHECK_THAT(event["fix"].str(), Contains("SO_REUSEADDR"));

    // The verdict's fix works: with SO_REUSEADDR the same restart binds at once.
    Process fixed({prog("legacy_server"), "-r", "-p", std::to_string(port)}, preloaded());
    CHECK(read_port(fixed) == port);
}

TEST_CASE("time-wait: the restart set SO_REUSEADDR but the old listener did not")
{
    const int port = leave_time_wait(preloaded(), false);

    Process restarted({prog("legacy_server"), "-r", "-p", std::to_string(port)}, preloaded());
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
    Process daemon({prog("legacy_server"), "-a", "0.0.0.0", "-2", "::"}, preloaded());
    require_failed_as_without_shim(daemon);

    const Json event = bind_failed_event(daemon);
    CHECK(event["cause"].str() == "self");
    CHECK(event["address"].str() == "::");
    CHECK_THAT(holder_pids(event), VectorContains(daemon.pid()));
    gallery("self", {prog("legacy_server"), "-a", "0.0.0.0", "-2", "::"}, preloaded());
}

TEST_CASE("hidden-owner: root holds the port and nobody cannot see who")
{
    require_root("the holder runs as root and the failing copy as nobody");
    if (!readable_by_nobody({require_library(), prog("legacy_server")}))
        skip("the library or legacy_server is not readable by nobody");
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    Launch as_nobody = preloaded();
    as_nobody.as_nobody = true;
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, as_nobody);
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
    gallery("hidden-owner", {prog("legacy_server"), "-p", std::to_string(port)}, as_nobody);
}

namespace {

/** util-linux unshare(1) from PATH when it can make a PID namespace here; skips otherwise. */
std::string require_unshare_pid()
{
    std::string unshare;
    const char* path = std::getenv("PATH");
    std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
    for (std::size_t at = 0; at <= dirs.size() && unshare.empty();) {
        std::size_t end = dirs.find(':', at);
        if (end == std::string::npos)
            end = dirs.size();
        const std::string candidate = dirs.substr(at, end - at) + "/unshare";
        if (end > at && ::access(candidate.c_str(), X_OK) == 0)
            unshare = candidate;
        at = end + 1;
    }
    if (unshare.empty())
        skip("no unshare(1) in PATH");
    Process probe({unshare, "-p", "-f", "--kill-child", "--mount-proc", "true"}, Launch{});
    if (probe.wait() != 0)
        skip("unshare -p -f --kill-child --mount-proc is not possible here: " + probe.err());
    return unshare;
}

} // namespace

TEST_CASE("hidden-owner: root cannot see a holder in another PID namespace")
{
    require_root("PID namespaces need CAP_SYS_ADMIN");
    const std::string unshare = require_unshare_pid();
    Launch launch = preloaded();

    // Two "containers" sharing this network namespace, each with its own PID
    // namespace and /proc: neither can see the other's processes.
    const std::string scope = "portshim-test-" + std::to_string(::getpid()) + ".scope";
    ScratchCgroup cgroup(scope);
    std::vector<std::string> holder_argv{unshare, "-p", "-f", "--kill-child", "--mount-proc",
                                         prog("legacy_server")};
    if (!cgroup.path().empty())
        // Sockets belong to the cgroup of the process that creates them: move in first.
        holder_argv.insert(holder_argv.begin(),
                           {"/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"",
                            cgroup.path() + "/cgroup.procs"});
    Process holder(holder_argv, Launch{});
    const int port = read_port(holder);

    const std::vector<std::string> argv{unshare, "-p", "-f", "--kill-child", "--mount-proc",
                                        prog("legacy_server"), "-p", std::to_string(port)};
    Process daemon(argv, launch);
    require_failed_as_without_shim(daemon);

    std::vector<Json> events;
    for (Json& event : json_lines(daemon.err()))
        if (event["event"].str() == "bind-failed")
            events.push_back(std::move(event));
    INFO("stderr: " << daemon.err());
    REQUIRE(events.size() == 1);
    const Json& event = events.front();
    CHECK(event["pid"].number() == 1);  // the first process of its own PID namespace
    CHECK(event["cause"].str() == "hidden-owner");
    CHECK(event["port"].number() == port);
    CHECK(event["holders"].items().empty());
    CHECK_THAT(event["summary"].str(), Contains("root (uid 0)"));
    const std::string why = joined(event["why"]);
    CHECK_THAT(why, Contains("runs as root") && Contains("another PID namespace"));
    CHECK_THAT(why, !Contains("not root"));
    const std::string ss = "ss -tlnp 'sport = :" + std::to_string(port) + "'";
    CHECK_THAT(event["fix"].str(), Contains("sudo " + ss) && Contains("sudo nsenter -t PID -n " + ss));
    CHECK(event["confirm"][0].str() == ss);
    if (!cgroup.path().empty()) {
        CHECK_THAT(why, Contains("the socket was created in cgroup /" + scope +
                                 ": the systemd scope " + scope));
        CHECK_THAT(joined(event["confirm"]), Contains("systemctl status -- " + scope));
    }
    gallery("hidden-owner-pidns", argv, launch);
}

TEST_CASE("listen-inuse: two SO_REUSEADDR sockets in one process both listen")
{
    Process probe({prog("bind_probe"), "listen-inuse"}, preloaded());
    REQUIRE(probe.wait() == 0);
    CHECK(probe.out() == "rc=-1 errno=98\n");

    const Json event = bind_failed_event(probe, "listen");
    CHECK(event["cause"].str() == "self");
    CHECK(event["address"].str() == "127.0.0.1");
    CHECK_THAT(holder_pids(event), VectorContains(probe.pid()));
}

/** libportshim.so alone in a fresh directory, without libportshim-engine.so beside it. */
struct LoneLibrary {
    TempDir dir;
    std::string path = dir / "libportshim.so";
    LoneLibrary() { std::filesystem::copy_file(require_library(), path); }
};

TEST_CASE("engine missing: the daemon fails as before and the operator is told why")
{
    const LoneLibrary lone;
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    Launch launch = preloaded(); // PORTSHIM_FORMAT=json
    launch.env = {{"LD_PRELOAD", lone.path}};
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, launch);
    require_failed_as_without_shim(daemon);
    // The short bind-failed line of an undiagnosed call, in the configured format.
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["call"].str() == "bind");
    CHECK(event["port"].number() == port);
    CHECK(event["errno"].number() == 98);
    CHECK(event["cause"].str() == "unknown");
    CHECK(event["summary"].str() ==
          "not diagnosed: the call failed and the diagnosis engine could not be loaded");
    CHECK_THAT(joined(event["evidence"]), Contains(lone.dir / "libportshim-engine.so"));
    CHECK(event["fix"].str() == "look from outside: portshim why " + std::to_string(port));
}

TEST_CASE("engine missing: the line goes where PORTSHIM_LOG says in text and as a GitHub annotation")
{
    const LoneLibrary lone;
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    for (const std::string format : {"text", "github"}) {
        INFO("PORTSHIM_FORMAT=" << format);
        const std::string log = lone.dir / ("portshim-" + format + ".log");
        Launch launch = preloaded();
        launch.env = {{"LD_PRELOAD", lone.path}, {"PORTSHIM_LOG", log}, {"PORTSHIM_FORMAT", format}};
        Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, launch);
        require_failed_as_without_shim(daemon);
        CHECK_THAT(daemon.err(), !Contains("portshim"));
        std::ifstream in(log);
        const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CHECK_THAT(written, Contains("not diagnosed") &&
                                Contains("the diagnosis engine could not be loaded: " +
                                         (lone.dir / "libportshim-engine.so")) &&
                                Contains("portshim why " + std::to_string(port)));
        if (format == "github")
            CHECK_THAT(written, StartsWith("::error"));
        else
            CHECK_THAT(written, StartsWith("portshim[") &&
                                    Contains(":" + std::to_string(port) + "/tcp) failed: EADDRINUSE"));
    }
}
