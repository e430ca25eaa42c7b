// The shim is a side channel: every call returns what libc returned, with the same errno,
// and a program whose binds succeed sees no output from it at all.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <unistd.h>

using namespace portshim::test;

namespace {

std::string failed_with(int err)
{
    return "rc=-1 errno=" + std::to_string(err) + "\n";
}

// Runs `bind_probe ARGS` without and then with the preload; returns the common stdout.
std::string same_result_with_and_without_shim(std::vector<std::string> args, bool as_nobody = false)
{
    args.insert(args.begin(), prog("bind_probe"));
    Launch plain;
    plain.as_nobody = as_nobody;
    Launch preloaded = plain;
    preloaded.preload = true;
    require_library();

    Process without(args, plain);
    const int status_without = without.wait();
    Process with(args, preloaded);
    const int status_with = with.wait();

    INFO("without the shim: " << without.out() << without.err());
    INFO("with the shim: " << with.out() << with.err());
    CHECK(status_with == status_without);
    CHECK(with.out() == without.out());
    return with.out();
}

} // namespace

TEST_CASE("transparent: bind succeeds")
{
    CHECK(same_result_with_and_without_shim({"success"}) == "rc=0 errno=0\n");
}

TEST_CASE("transparent: bind fails with EADDRINUSE")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const int port = read_port(holder);
    CHECK(same_result_with_and_without_shim({"inuse", std::to_string(port)}) == failed_with(EADDRINUSE));
}

TEST_CASE("transparent: bind fails with EACCES for nobody")
{
    require_root("bind_probe eacces runs as nobody");
    int unprivileged_start = 1024;
    std::ifstream("/proc/sys/net/ipv4/ip_unprivileged_port_start") >> unprivileged_start;
    if (unprivileged_start <= 80)
        skip("port 80 is not privileged here (ip_unprivileged_port_start)");
    if (!readable_by_nobody({require_library(), prog("bind_probe")}))
        skip("the library or bind_probe is not readable by nobody");
    CHECK(same_result_with_and_without_shim({"eacces"}, true) == failed_with(EACCES));
}

TEST_CASE("transparent: bind fails with EBADF")
{
    CHECK(same_result_with_and_without_shim({"ebadf"}) == failed_with(EBADF));
}

TEST_CASE("transparent: bind fails with EINVAL on a bound socket")
{
    CHECK(same_result_with_and_without_shim({"einval"}) == failed_with(EINVAL));
}

TEST_CASE("transparent: bind fails with ENOTSOCK")
{
    CHECK(same_result_with_and_without_shim({"enotsock"}) == failed_with(ENOTSOCK));
}

TEST_CASE("transparent: listen fails with EBADF")
{
    CHECK(same_result_with_and_without_shim({"listen-ebadf"}) == failed_with(EBADF));
}

TEST_CASE("transparent: setsockopt fails with EINVAL")
{
    CHECK(same_result_with_and_without_shim({"setsockopt-einval"}) == failed_with(EINVAL));
}

TEST_CASE("transparent: listen fails with EADDRINUSE")
{
    CHECK(same_result_with_and_without_shim({"listen-inuse"}) == failed_with(EADDRINUSE));
}

TEST_CASE("transparent: a server that binds fine sees no output from the shim")
{
    Launch preloaded;
    preloaded.preload = true;
    Process server({prog("legacy_server"), "-c", "1"}, preloaded);
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);
    CHECK(server.err().empty());
}

TEST_CASE("config: a bad PORTSHIM_FORMAT or PORTSHIM_LEVEL gives one warning each and the host runs as before")
{
    Launch bad;
    bad.preload = true;
    bad.env = {{"PORTSHIM_FORMAT", "xml"}, {"PORTSHIM_LEVEL", "loud"}};
    require_library();
    Process plain({prog("bind_probe"), "success"}, Launch{});
    REQUIRE(plain.wait() == 0);
    Process with({prog("bind_probe"), "success"}, bad);
    REQUIRE(with.wait() == 0);
    CHECK(with.out() == plain.out());
    // One line per bad variable, naming it and what it accepts; nothing else.
    CHECK(with.err() == "portshim[" + std::to_string(with.pid()) +
                            "]: warning: PORTSHIM_FORMAT=\"xml\" is not valid (text, json or "
                            "github); using the default\nportshim[" +
                            std::to_string(with.pid()) +
                            "]: warning: PORTSHIM_LEVEL=\"loud\" is not valid (error, warn, info "
                            "or debug); using the default\n");
}

TEST_CASE("stderr reused: a report never lands in the file a daemon opened as fd 2")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const int port = read_port(holder);
    char dir[] = "/tmp/portshim-fd2-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string data = std::string(dir) + "/data";
    Launch launch;
    launch.preload = true;
    require_library();
    Process probe({prog("bind_probe"), "inuse-stderr-reused", std::to_string(port), data}, launch);
    REQUIRE(probe.wait() == 0);
    CHECK(probe.out() == failed_with(EADDRINUSE));
    std::ifstream in(data);
    const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(contents.empty());
    std::filesystem::remove_all(dir);
}

TEST_CASE("stderr a closed pipe: the report is lost and the host is not killed by SIGPIPE")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const int port = read_port(holder);
    char dir[] = "/tmp/portshim-pipe-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string out = std::string(dir) + "/out";
    Launch launch;
    launch.preload = true;
    launch.env = {{"PORTSHIM_FORMAT", "text"}};
    require_library();
    // stderr goes into a pipe whose reader (true) has long exited when the bind fails.
    Process sh({"/bin/sh", "-c", "{ sleep 0.5; exec \"$0\" inuse \"$1\"; } 2>&1 >\"$2\" | true; sleep 1",
                prog("bind_probe"), std::to_string(port), out},
               launch);
    REQUIRE(sh.wait() == 0);
    std::ifstream in(out);
    const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(contents == failed_with(EADDRINUSE)); // bind_probe lived to print its result
    std::filesystem::remove_all(dir);
}
