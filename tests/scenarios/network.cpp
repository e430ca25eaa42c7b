// TCP/UDP scenarios of issue 3: an outbound connection on the wanted port, a container
// forwarder, a well-known service on 53, UDP and SO_REUSEPORT sharing rules, for real.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::VectorContains;

namespace {

/**
 * Waits for a daemon whose bind must fail exactly as without the shim (perror,
 * errno=98, exit 1) and returns its one bind-failed event.
 */
Json failed_bind(Process& daemon, const std::string& proto)
{
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    CHECK(event["pid"].number() == daemon.pid());
    CHECK(event["proto"].str() == proto);
    CHECK(event["errno"].number() == 98);
    CHECK_FALSE(event["summary"].str().empty());
    return event;
}

/** A port free right now on 0.0.0.0, for helpers that must name their port in argv. */
int free_tcp_port()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    socklen_t len = sizeof sin;
    const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&sin), sizeof sin) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0;
    ::close(fd);
    REQUIRE(ok);
    return ntohs(sin.sin_port);
}

/** legacy_server copied under another daemon's name, in a directory removed at the end. */
class Impostor {
public:
    explicit Impostor(const std::string& name)
    {
        char templ[] = "/tmp/portshim-net-XXXXXX";
        REQUIRE(::mkdtemp(templ) != nullptr);
        dir_ = templ;
        path_ = dir_ + "/" + name;
        std::filesystem::copy_file(prog("legacy_server"), path_);
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all |
                                                std::filesystem::perms::group_read |
                                                std::filesystem::perms::group_exec |
                                                std::filesystem::perms::others_read |
                                                std::filesystem::perms::others_exec);
    }
    ~Impostor()
    {
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    Impostor(const Impostor&) = delete;
    Impostor& operator=(const Impostor&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string dir_, path_;
};

} // namespace

TEST_CASE("outbound-collision: a server wants the local port of a client connection")
{
    Process listener({prog("legacy_server")}, Launch{});
    const int server_port = read_port(listener);
    Process client({prog("hold_connection"), std::to_string(server_port)}, Launch{});
    const auto line = client.read_line();
    REQUIRE(line);
    REQUIRE(line->rfind("local ", 0) == 0);
    const int port = std::atoi(line->c_str() + 6);

    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
    const Json event = failed_bind(daemon, "tcp");
    CHECK(event["cause"].str() == "outbound-collision");
    CHECK_THAT(holder_pids(event), VectorContains(client.pid()));
    CHECK_THAT(event["summary"].str(),
               Contains("127.0.0.1:" + std::to_string(port) + " -> 127.0.0.1:" +
                        std::to_string(server_port)) &&
                   Contains("ESTABLISHED"));
    CHECK_THAT(joined(event["why"]), Contains("net.ipv4.ip_local_port_range"));
    CHECK_THAT(event["fix"].str(), Contains("net.ipv4.ip_local_reserved_ports") &&
                                       Contains("existing connection keeps it"));
    gallery("outbound-collision", {prog("legacy_server"), "-p", std::to_string(port)}, preloaded());
}

TEST_CASE("container-proxy: docker-proxy publishes the port for a container")
{
    const Impostor proxy("docker-proxy");
    const std::string port = std::to_string(free_tcp_port());
    Process forwarder({proxy.path(), "-p", port, "--", "-proto", "tcp", "-host-ip", "0.0.0.0",
                       "-host-port", port, "-container-ip", "172.17.0.2", "-container-port", "80"},
                      Launch{});
    REQUIRE(read_port(forwarder) == std::stoi(port));

    Process daemon({prog("legacy_server"), "-p", port}, preloaded());
    const Json event = failed_bind(daemon, "tcp");
    CHECK(event["cause"].str() == "container-proxy");
    CHECK_THAT(holder_pids(event), VectorContains(forwarder.pid()));
    CHECK_THAT(event["summary"].str(), Contains("tcp 0.0.0.0:" + port + " -> 172.17.0.2:80"));
    CHECK_THAT(joined(event["confirm"]), Contains("docker ps --filter publish=" + port));
    gallery("container-proxy", {prog("legacy_server"), "-p", port}, preloaded());
}

TEST_CASE("other-service: systemd-resolved holds 127.0.0.53:53 and a DNS server wants 0.0.0.0:53")
{
    require_root("port 53 is privileged");
    if (std::getenv("PORTSHIM_TEST_NO_NETNS") != nullptr)
        skip("needs the private network namespace: port 53 of the host stays untouched");
    const Impostor resolved("systemd-resolved");
    Process stub({resolved.path(), "-u", "-a", "127.0.0.53", "-p", "53"}, Launch{});
    const auto line = stub.read_line();
    if (!line || *line != "port 53")
        skip("127.0.0.53:53 is taken in this network namespace");

    Process dns({prog("legacy_server"), "-u", "-p", "53"}, preloaded());
    const Json event = failed_bind(dns, "udp");
    CHECK(event["cause"].str() == "other-service");
    CHECK_THAT(holder_pids(event), VectorContains(stub.pid()));
    CHECK_THAT(event["fix"].str(), Contains("DNSStubListener=no"));
    CHECK_THAT(joined(event["why"]),
               Contains("127.0.0.53:53 blocks 0.0.0.0:53 unless both sockets set SO_REUSEADDR"));
    gallery("other-service-systemd-resolved", {prog("legacy_server"), "-u", "-p", "53"}, preloaded());
}

TEST_CASE("udp: a second bind is refused unless both sides set SO_REUSEADDR")
{
    struct Case {
        bool first_reuse, second_reuse;
        const char* why;
    };
    for (const Case c : {Case{false, false, "this socket did not set SO_REUSEADDR"},
                         Case{true, false, "this socket did not set SO_REUSEADDR"},
                         Case{false, true, "this socket set SO_REUSEADDR, so the socket holding "
                                           "the port did not"}}) {
        INFO("first -r: " << c.first_reuse << ", second -r: " << c.second_reuse);
        std::vector<std::string> first_argv{prog("legacy_server"), "-u"};
        if (c.first_reuse)
            first_argv.push_back("-r");
        Process first(first_argv, Launch{});
        const std::string port = std::to_string(read_port(first));

        std::vector<std::string> argv{prog("legacy_server"), "-u", "-p", port};
        if (c.second_reuse)
            argv.push_back("-r");
        Process second(argv, preloaded());
        const Json event = failed_bind(second, "udp");
        CHECK(event["cause"].str() == "previous-instance");
        CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
        CHECK_THAT(joined(event["why"]), Contains("UDP rule") && Contains(c.why));
        if (!c.first_reuse && !c.second_reuse)
            gallery("previous-instance-udp", argv, preloaded());
    }
}

TEST_CASE("udp: with SO_REUSEADDR on both sides Linux lets the second bind succeed")
{
    Process first({prog("legacy_server"), "-u", "-r"}, Launch{});
    const int port = read_port(first);
    Process second({prog("legacy_server"), "-u", "-r", "-p", std::to_string(port)}, preloaded());
    CHECK(read_port(second) == port);
    CHECK(json_lines(second.err()).empty());
}

TEST_CASE("reuseport: the holder did not set SO_REUSEPORT")
{
    Process first({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(first));

    Process second({prog("legacy_server"), "-R", "-p", port}, preloaded());
    const Json event = failed_bind(second, "tcp");
    CHECK(event["cause"].str() == "previous-instance");
    CHECK_THAT(joined(event["why"]),
               Contains("the other socket did not set SO_REUSEPORT (both must, before bind)"));

    // Documented by the kernel (socket(7)): with the flag on both sides, same uid, both bind.
    Process sharer({prog("legacy_server"), "-R"}, Launch{});
    const std::string shared = std::to_string(read_port(sharer));
    Process both({prog("legacy_server"), "-R", "-p", shared}, preloaded());
    CHECK(read_port(both) == std::stoi(shared));
}

TEST_CASE("reuseport: sharing needs the same effective uid")
{
    require_root("the holder runs as root and the failing copy as nobody");
    if (!readable_by_nobody({require_library(), prog("legacy_server")}))
        skip("the library or legacy_server is not readable by nobody");
    Process holder({prog("legacy_server"), "-R"}, Launch{});
    const std::string port = std::to_string(read_port(holder));

    Launch as_nobody = preloaded();
    as_nobody.as_nobody = true;
    Process daemon({prog("legacy_server"), "-R", "-p", port}, as_nobody);
    const Json event = failed_bind(daemon, "tcp");
    CHECK(event["cause"].str() == "hidden-owner");
    CHECK_THAT(joined(event["why"]), Contains("SO_REUSEPORT sharing needs the same effective uid") &&
                                        Contains("root (uid 0)"));
}
