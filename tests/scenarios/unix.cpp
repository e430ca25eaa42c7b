// AF_UNIX scenarios: a socket file left by a killed server, a live server on the
// same path, and a live abstract name; the daemon must fail exactly as before.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::VectorContains;

namespace {

/**
 * Waits for a unix_server whose bind must fail as it would without the shim
 * (perror, errno=98, exit 1) and returns its one bind-failed event.
 */
Json failed_unix_bind(Process& server, const std::string& path)
{
    require_failed_as_without_shim(server);
    const Json event = only_bind_failed_event(server);
    INFO("stdout: " << server.out() << "\nstderr: " << server.err());
    CHECK(event["pid"].number() == server.pid());
    CHECK(event["call"].str() == "bind");
    CHECK(event["proto"].str() == "unix");
    CHECK(event["path"].str() == path);
    CHECK(event["errno"].number() == 98);
    CHECK(event["holders"].is_array());
    CHECK(event["evidence"].is_array());
    return event;
}

bool is_socket_file(const std::string& path)
{
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

} // namespace

TEST_CASE("stale-unix-socket: a server killed without unlinking its socket file")
{
    const TempDir dir;
    const std::string path = dir / "app.sock";
    {
        Process killed({prog("unix_server"), path}, preloaded());
        REQUIRE(killed.read_line() == std::optional<std::string>("listening"));
        REQUIRE(::kill(killed.pid(), SIGKILL) == 0);
        REQUIRE(killed.wait() == 128 + SIGKILL);
    }
    REQUIRE(is_socket_file(path));

    Process restarted({prog("unix_server"), path}, preloaded());
    const Json event = failed_unix_bind(restarted, path);
    CHECK(event["cause"].str() == "stale-unix-socket");
    CHECK_THAT(event["summary"].str(), Contains(path));
    CHECK_THAT(event["summary"].str(), Contains("created"));
    CHECK_THAT(event["fix"].str(), Contains("rm " + path));
    CHECK(event["holders"].items().empty());
    // portshim only reports: the stale file is still there for the operator to remove.
    CHECK(is_socket_file(path));
    gallery("stale-unix-socket", {prog("unix_server"), path}, preloaded());
}

TEST_CASE("previous-instance: the same unix server started twice on one path")
{
    const TempDir dir;
    const std::string path = dir / "app.sock";
    Process first({prog("unix_server"), path}, preloaded());
    REQUIRE(first.read_line() == std::optional<std::string>("listening"));

    Process second({prog("unix_server"), path}, preloaded());
    const Json event = failed_unix_bind(second, path);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
    CHECK_THAT(event["summary"].str(), Contains("pid " + std::to_string(first.pid())));
    CHECK_THAT(event["summary"].str(), Contains("listens on " + path));
    CHECK(is_socket_file(path));
}

TEST_CASE("previous-instance: a unix datagram server started twice on one path")
{
    const TempDir dir;
    const std::string path = dir / "log.sock";
    Process first({prog("unix_server"), "-d", path}, preloaded());
    REQUIRE(first.read_line() == std::optional<std::string>("listening"));

    Process second({prog("unix_server"), "-d", path}, preloaded());
    const Json event = failed_unix_bind(second, path);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
}

TEST_CASE("previous-instance: a live abstract unix name is never stale")
{
    const std::string name = "@portshim-test-" + std::to_string(::getpid());
    Process first({prog("unix_server"), name}, preloaded());
    REQUIRE(first.read_line() == std::optional<std::string>("listening"));

    Process second({prog("unix_server"), name}, preloaded());
    const Json event = failed_unix_bind(second, name);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
    CHECK_THAT(event["summary"].str(), Contains(name));
}

namespace {

/** Whether a fix or why line tells the operator to remove `path` (or runs rm on it). */
bool advises_removing(const std::string& text)
{
    return text.find("rm ") != std::string::npos ||
           (text.find("remove") != std::string::npos && text.find("do not remove") == std::string::npos);
}

} // namespace

TEST_CASE("tools: portshim why advises removing a unix path only when it is a stale socket file")
{
    const std::string cli = PORTSHIM_TEST_CLI;
    const TempDir dir;
    const std::string file = dir / "config.txt";
    const std::string subdir = dir / "data";
    const std::string link = dir / "link.sock";
    const std::string dangling = dir / "dangling.sock";
    const std::string fifo = dir / "fifo";
    {
        Process touch({"/bin/sh", "-c", "echo secret >\"$0\" && mkdir \"$1\" && ln -s \"$0\" \"$2\" && "
                                        "ln -s \"$4/none\" \"$3\" && mkfifo \"$5\"",
                       file, subdir, link, dangling, dir.path(), fifo},
                      Launch{});
        REQUIRE(touch.wait() == 0);
    }
    struct Case {
        std::string path;
        std::string kind;
    };
    std::vector<Case> cases = {{file, "a regular file"}, {subdir, "a directory"},
                               {link, "a symbolic link"}, {dangling, "a symbolic link"},
                               {fifo, "a FIFO"}};
    struct stat shadow {};
    if (::lstat("/etc/shadow", &shadow) == 0) cases.push_back({"/etc/shadow", "a regular file"});
    for (const Case& c : cases) {
        INFO("target unix:" << c.path);
        Process why({cli, "why", "--json", "unix:" + c.path}, Launch{});
        REQUIRE(why.wait() == 1);
        const std::vector<Json> events = json_lines(why.out());
        REQUIRE(events.size() == 1);
        const Json& event = events.front();
        INFO("summary: " << event["summary"].str() << "\nfix: " << event["fix"].str());
        CHECK(event["cause"].str() == "unknown");
        CHECK_THAT(event["summary"].str(), Contains(c.kind) && Contains("no stale socket file"));
        CHECK_FALSE(advises_removing(event["fix"].str()));
        CHECK_FALSE(advises_removing(joined(event["why"])));
    }
    // Nothing was touched, not even through the links.
    struct stat st {};
    REQUIRE(::lstat(file.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK(st.st_size == 7);
    CHECK(::lstat(link.c_str(), &st) == 0);
    CHECK(::lstat(dangling.c_str(), &st) == 0);

    // The same under the preload: a daemon whose socket path is a regular file fails as
    // before, and its report does not suggest deleting the file either.
    Process daemon({prog("unix_server"), file}, preloaded());
    const Json event = failed_unix_bind(daemon, file);
    CHECK(event["cause"].str() == "unknown");
    CHECK_THAT(event["summary"].str(), Contains("a regular file"));
    CHECK_FALSE(advises_removing(event["fix"].str()));
    CHECK(::lstat(file.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
}
