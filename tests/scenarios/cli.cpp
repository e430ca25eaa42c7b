// portshim why / wait and portshim-run, run for real: free and busy ports,
// waiting for a holder to exit, refusing what LD_PRELOAD cannot reach, and
// passing exit status and signals through, in the build and install trees.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

const std::string cli = PORTSHIM_TEST_CLI;
const std::string run = PORTSHIM_TEST_RUN;

/** A port nobody uses right now: bound to port 0 by the kernel, then released. */
int free_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
    socklen_t len = sizeof sin;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    ::close(fd);
    return ntohs(sin.sin_port);
}

Json only_event(const std::string& text)
{
    INFO("output: " << text);
    auto events = json_lines(text);
    REQUIRE(events.size() == 1);
    return events.front();
}

int holder_pid(const Json& event) { return static_cast<int>(event["holders"][0]["pid"].number()); }

} // namespace

TEST_CASE("cli why: a free port exits 0 and says so")
{
    const int port = free_port();
    Process why({cli, "why", std::to_string(port)}, Launch{});
    REQUIRE(why.wait() == 0);
    CHECK(why.out() == "portshim: 0.0.0.0:" + std::to_string(port) + "/tcp is free: a bind would succeed now\n");
}

TEST_CASE("cli why: a busy TCP port exits 1 and names the holder")
{
    Process server({legacy_server()}, Launch{});
    const int port = read_port(server);
    Process why({cli, "why", "--json", std::to_string(port)}, Launch{});
    REQUIRE(why.wait() == 1);
    const Json event = only_event(why.out());
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["cause"].str() == "other-service");
    CHECK(holder_pid(event) == server.pid());

    Process text({cli, "why", std::to_string(port)}, Launch{});
    REQUIRE(text.wait() == 1);
    CHECK_THAT(text.out(), Contains("failed: EADDRINUSE — other-service: pid " + std::to_string(server.pid())));
}

TEST_CASE("cli why: a busy UDP port exits 1 and names the holder")
{
    Process server({legacy_server(), "-u"}, Launch{});
    const int port = read_port(server);
    Process why({cli, "why", "--udp", "--json", std::to_string(port)}, Launch{});
    REQUIRE(why.wait() == 1);
    const Json event = only_event(why.out());
    CHECK(event["proto"].str() == "udp");
    CHECK(holder_pid(event) == server.pid());
}

TEST_CASE("cli why: usage errors exit 2 with one line")
{
    for (const auto& args : std::vector<std::vector<std::string>>{
             {cli, "why", "70000"}, {cli, "why"}, {cli, "why", "--bogus", "80"}, {cli, "frobnicate"},
             {cli, "wait", "--timeout", "soon", "80"}}) {
        Process p(args, Launch{});
        CHECK(p.wait() == 2);
        CHECK(p.out().empty());
        CHECK_THAT(p.err(), StartsWith("portshim: "));
        CHECK(std::count(p.err().begin(), p.err().end(), '\n') == 1);
    }
}

TEST_CASE("cli wait: returns 0 once the holder exits")
{
    auto server = std::make_unique<Process>(std::vector<std::string>{legacy_server()}, Launch{});
    const int port = read_port(*server);
    Process wait({cli, "wait", "--timeout", "30", std::to_string(port)}, Launch{});
    // It reports the holder while waiting, then the holder goes away.
    const auto first = wait.read_line();
    REQUIRE(first);
    CHECK_THAT(*first, Contains("waiting for 0.0.0.0:" + std::to_string(port)));
    server.reset(); // SIGKILL and reap: the listener is gone, no connection lingers
    REQUIRE(wait.wait() == 0);
    CHECK_THAT(wait.out(), Contains("is free after"));
}

TEST_CASE("cli wait: times out with exit 1 and the last diagnosis")
{
    Process server({legacy_server()}, Launch{});
    const int port = read_port(server);
    Process wait({cli, "wait", "--timeout", "1", "--json", std::to_string(port)}, Launch{});
    REQUIRE(wait.wait() == 1);
    bool reported = false;
    for (const Json& event : json_lines(wait.out()))
        reported = reported || (event["event"].str() == "bind-failed" && holder_pid(event) == server.pid());
    CHECK(reported);
    CHECK_THAT(wait.err(), Contains("still in use after 1 s"));
}

TEST_CASE("portshim-run: refuses a static binary unless forced")
{
    Process refused({run, "--", PORTSHIM_TEST_STATIC_PROGRAM}, Launch{});
    CHECK(refused.wait() == 2);
    CHECK_THAT(refused.err(), Contains("refusing to run") && Contains("statically linked"));
    Process forced({run, "--force", "--", PORTSHIM_TEST_STATIC_PROGRAM}, Launch{});
    CHECK(forced.wait() == 0);
}

TEST_CASE("portshim-run: bad options and missing programs exit 2 with one line")
{
    for (const auto& args : std::vector<std::vector<std::string>>{
             {run, "--bogus", "--", "true"}, {run, "--", "no-such-program-here"}, {run},
             {run, "--wait", "soon", "--", "true"}}) {
        Process p(args, Launch{});
        CHECK(p.wait() == 2);
        CHECK_THAT(p.err(), StartsWith("portshim-run: "));
        CHECK(std::count(p.err().begin(), p.err().end(), '\n') == 1);
    }
}

TEST_CASE("portshim-run: exit status and SIGTERM pass through and LD_PRELOAD is appended")
{
    Process seven({run, "--", "sh", "-c", "exit 7"}, Launch{});
    CHECK(seven.wait() == 7);

    Process sleeper({run, "--", "sleep", "30"}, Launch{});
    ::usleep(200 * 1000); // the wrapper execs: its pid becomes sleep's pid
    ::kill(sleeper.pid(), SIGTERM);
    CHECK(sleeper.wait() == 128 + SIGTERM);

    Launch with_preload;
    with_preload.env = {{"LD_PRELOAD", require_library()}, {"PORTSHIM_FORMAT", "text"}};
    Process echo({run, "--json", "--", "sh", "-c", "echo \"$LD_PRELOAD $PORTSHIM_FORMAT\""}, with_preload);
    REQUIRE(echo.wait() == 0);
    CHECK(echo.out() == require_library() + ":" + require_library() + " json\n");
}

TEST_CASE("portshim-run: works from an install tree")
{
    require_library();
    TempDir prefix;
    Process install({PORTSHIM_TEST_CMAKE, "--install", PORTSHIM_TEST_BUILD_DIR, "--prefix", prefix.path()}, Launch{});
    REQUIRE(install.wait(60s) == 0);
    for (const char* file : {"/bin/portshim", "/bin/portshim-run", "/lib/portshim/libportshim.so",
                             "/lib/portshim/libportshim-engine.so", "/share/man/man1/portshim.1"})
        CHECK(std::filesystem::exists(prefix.path() + file));

    Process server({legacy_server()}, Launch{});
    const int port = read_port(server);
    Process daemon({prefix.path() + "/bin/portshim-run", "--json", "--", legacy_server(), "-p", std::to_string(port)},
                   Launch{});
    REQUIRE(daemon.wait() == 1);
    CHECK(daemon.out() == "errno=98\n");
    const Json event = only_event(daemon.err());
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pid(event) == server.pid());
    Process why({prefix.path() + "/bin/portshim", "why", std::to_string(port)}, Launch{});
    CHECK(why.wait() == 1);
}

TEST_CASE("cli why: a stale unix path exits 1 and the file is left alone")
{
    TempDir dir;
    const std::string path = dir.path() + "/app.sock";
    {
        Process killed({unix_server(), path}, Launch{});
        REQUIRE(killed.read_line() == std::optional<std::string>("listening"));
        REQUIRE(::kill(killed.pid(), SIGKILL) == 0);
        REQUIRE(killed.wait() == 128 + SIGKILL);
    }
    Process why({cli, "why", "--json", "unix:" + path}, Launch{});
    REQUIRE(why.wait() == 1);
    const Json event = only_event(why.out());
    CHECK(event["cause"].str() == "stale-unix-socket");
    CHECK(event["path"].str() == path);
    CHECK(std::filesystem::exists(path)); // diagnosing never unlinks
}
