// Leak warnings against the runtimes people deploy: a leak warning (exec-leak,
// inherited) must describe a leak that happens. Java's ProcessBuilder goes through
// jspawnhelper, which closes what it inherits; Python's Popen closes descriptors
// unless told not to, and searches PATH itself, one execve per candidate; Node and
// sshd fork children that leak nothing. Each scenario runs the real program, checks
// what portshim says, and checks the port itself: busy or free once the server is
// killed, as the warning claims. A runtime that is not installed is skipped.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <mutex>
#include <netinet/in.h>
#include <regex>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::EndsWith;

namespace {

/** 0 when a fresh IPv4 socket can bind 127.0.0.1:port (SO_REUSEADDR set), else errno. */
int bind_errno(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(static_cast<std::uint16_t>(port));
    const int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin);
    const int err = rc == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

/** The events named `name` among the program's JSON lines. */
std::vector<Json> events_named(const std::string& err, const std::string& name)
{
    std::vector<Json> out;
    for (Json& event : json_lines(err))
        if (event["event"].str() == name) out.push_back(std::move(event));
    return out;
}

/** The pid on a "child PID" line the servers below print after starting their child. */
int read_child(Process& server)
{
    const auto line = server.read_line();
    REQUIRE(line);
    REQUIRE(line->rfind("child ", 0) == 0);
    return std::stoi(line->substr(6));
}

/** Kills `pid` (a child the test's own child started) and waits until it is gone. */
void kill_orphan(int pid)
{
    ::kill(pid, SIGKILL);
    for (int i = 0; i < 200 && ::kill(pid, 0) == 0; ++i) ::usleep(10000);
}

/** Waits until `pid`, our child, has died (a zombie not yet reaped): its descriptors are closed. */
void wait_dead(int pid)
{
    const std::string stat = "/proc/" + std::to_string(pid) + "/stat";
    for (int i = 0; i < 500; ++i, ::usleep(10000)) {
        std::ifstream in(stat);
        std::string line;
        if (!std::getline(in, line)) return;
        const auto paren = line.rfind(')');
        if (paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z') return;
    }
    FAIL("pid " << pid << " did not die");
}

/** The first runnable DIR/sleep along `path`, as execvp(3) finds it. */
std::string sleep_along(const std::string& path)
{
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = path.find(':', start);
        const std::string candidate = path.substr(start, end - start) + "/sleep";
        if (::access(candidate.c_str(), X_OK) == 0) return candidate;
        if (end == std::string::npos) return "";
        start = end + 1;
    }
}

// A Java server as people write them: a ServerSocket, then ProcessBuilder.
const char* const spawner_java = R"(import java.net.ServerSocket;
public class Spawner {
    public static void main(String[] args) throws Exception {
        ServerSocket server = new ServerSocket(0);
        System.out.println("port " + server.getLocalPort());
        Process child = new ProcessBuilder("sleep", "60").start();
        System.out.println("child " + child.pid());
        Thread.sleep(60000);
    }
}
)";

/** The directory with Spawner.class, compiled once per run of this file. */
const std::string& java_classes()
{
    static TempDir dir;
    static std::once_flag compiled;
    std::call_once(compiled, [] {
        write_file(dir / "Spawner.java", spawner_java);
        Process javac({"/usr/bin/javac", "-d", dir.path(), dir / "Spawner.java"}, Launch{});
        REQUIRE(javac.wait(60s) == 0);
    });
    return dir.path();
}

struct JavaRun {
    std::string out, err;
    int status = -1;
    int port_after = -1; ///< bind_errno of the port once the JVM was killed, its child still running
};

/** The Java server started, its child running, then the JVM killed with SIGKILL. */
JavaRun run_java(const Launch& launch)
{
    Process jvm({"/usr/bin/java", "-cp", java_classes(), "Spawner"}, launch);
    const int port = read_port(jvm);
    const int child = read_child(jvm);
    ::kill(jvm.pid(), SIGKILL);
    JavaRun run;
    run.status = jvm.wait();
    run.port_after = bind_errno(port);
    kill_orphan(child);
    run.out = std::regex_replace(jvm.out(), std::regex("[0-9]+"), "N");
    run.err = jvm.err();
    return run;
}

const char* const popen_py = R"(import os, socket, subprocess, sys, time
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
server.set_inheritable(True)
print("port", server.getsockname()[1], flush=True)
child = subprocess.Popen(["sleep", "60"], close_fds=sys.argv[1] == "close")
print("child", child.pid, flush=True)
time.sleep(60)
)";

struct PythonRun {
    std::vector<Json> leaks, inherited;
    int server = 0, child = 0;
    int port_after = -1; ///< bind_errno once the server was killed, its child still running
    int status = -1;
    std::string err;
};

/** popen_py (close_fds from `mode`) under the preload, PATH starting with a directory that does not exist. */
PythonRun run_python(const std::string& mode, const std::string& path)
{
    TempDir dir;
    write_file(dir / "server.py", popen_py);
    Launch launch = preloaded();
    launch.env.push_back({"PATH", path});
    Process server({"/usr/bin/python3", dir / "server.py", mode}, launch);
    const int port = read_port(server);
    PythonRun run;
    run.child = read_child(server);
    run.server = server.pid();
    // A kept socket: sleep's own event comes once it has loaded, after Popen returned.
    if (mode == "keep")
        server.wait_for([&] { return server.err().find("\"event\":\"inherited\"") != std::string::npos; },
                        30s);
    ::kill(server.pid(), SIGKILL);
    wait_dead(server.pid());
    run.port_after = bind_errno(port);
    // sleep shares the server's stdout and stderr: gone first, so that they end.
    kill_orphan(run.child);
    run.status = server.wait();
    run.leaks = events_named(server.err(), "exec-leak");
    run.inherited = events_named(server.err(), "inherited");
    run.err = server.err();
    return run;
}

const char* const spawn_js = R"(const net = require('net');
const { spawn } = require('child_process');
const server = net.createServer();
server.listen(0, '127.0.0.1', () => {
  console.log('port ' + server.address().port);
  let left = 20;
  for (let i = 0; i < 20; i++)
    spawn('/bin/true').on('exit', (code) => {
      if (--left === 0) { console.log('children done'); server.close(); }
    });
});
)";

/** Twenty TCP connections to sshd, each reading the version banner. */
void read_banners(int port, int count)
{
    for (int i = 0; i < count; ++i) {
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons(static_cast<std::uint16_t>(port));
        REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0);
        timeval tv{5, 0};
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char banner[8] = {};
        REQUIRE(::read(fd, banner, 7) == 7);
        CHECK(std::string(banner) == "SSH-2.0");
        ::close(fd);
    }
}

struct SshdRun {
    std::string err;
    int status = -1;
};

/**
 * sshd -D -e with a private config and host key on a free port, 20 connections,
 * then SIGTERM. As root it runs as nobody: sshd's privilege separation wants
 * /run/sshd only when it runs as root, and the test does not touch /run.
 */
SshdRun run_sshd(Launch launch)
{
    TempDir dir;
    const std::string key = dir / "host_key";
    Process keygen({"/usr/bin/ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key}, Launch{});
    REQUIRE(keygen.wait(30s) == 0);
    const int port = unused_port();
    write_file(dir / "sshd_config", "ListenAddress 127.0.0.1:" + std::to_string(port) +
                                        "\nHostKey " + key + "\nPidFile none\nUsePAM no\nStrictModes no\n");
    if (::geteuid() == 0) {
        REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
        REQUIRE(::chown(key.c_str(), nobody_uid, static_cast<gid_t>(-1)) == 0);
        launch.as_nobody = true;
    }
    Process sshd({"/usr/sbin/sshd", "-D", "-e", "-f", dir / "sshd_config"}, launch);
    REQUIRE(sshd.wait_for([&] { return sshd.err().find("Server listening") != std::string::npos; }));
    read_banners(port, 20);
    // Each connection's child logs its end; wait for the last before stopping sshd.
    sshd.wait_for([&] {
        std::size_t n = 0;
        for (std::size_t at = 0; (at = sshd.err().find("127.0.0.1 port", at)) != std::string::npos; ++at) ++n;
        return n >= 20;
    });
    ::kill(sshd.pid(), SIGTERM);
    SshdRun run;
    run.status = sshd.wait();
    run.err = sshd.err();
    return run;
}

} // namespace

TEST_CASE("leaks: a Java server starting a program with ProcessBuilder leaks nothing and is told nothing")
{
    require_program("/usr/bin/javac", "openjdk-17-jdk-headless");
    require_library();
    const JavaRun plain = run_java(Launch{});
    const JavaRun shimmed = run_java(preloaded());
    // The host is unchanged: its output, and SIGKILL's status.
    CHECK(shimmed.out == plain.out);
    CHECK(shimmed.out == "port N\nchild N\n");
    CHECK(shimmed.status == 128 + SIGKILL);
    CHECK(plain.status == shimmed.status);
    // jspawnhelper closed the socket before it ran sleep: the JVM gone, the port is free.
    CHECK(plain.port_after == 0);
    CHECK(shimmed.port_after == 0);
    INFO(shimmed.err);
    CHECK(events_named(shimmed.err, "exec-leak").empty());
    CHECK(events_named(shimmed.err, "inherited").empty());

    // At debug the spawn of the helper is seen, and said to be no leak.
    Launch debug = preloaded();
    debug.env.push_back({"PORTSHIM_LEVEL", "debug"});
    const JavaRun told = run_java(debug);
    INFO(told.err);
    const std::vector<Json> spawns = events_named(told.err, "exec-leak");
    REQUIRE(spawns.size() == 1);
    CHECK_THAT(spawns[0]["target"].str(), EndsWith("/jspawnhelper"));
    CHECK(spawns[0]["handover"].str() == "closes-fds");
    const std::vector<Json> helper = events_named(told.err, "inherited");
    REQUIRE(helper.size() == 1);
    CHECK(helper[0]["handover"].str() == "closes-fds");
}

TEST_CASE("leaks: Python Popen with close_fds=False and an inheritable socket is a leak named after the program that ran")
{
    require_program("/usr/bin/python3", "python3");
    require_library();
    TempDir nowhere;
    const std::string path = nowhere / "missing" + ":/usr/bin:/bin";
    const PythonRun run = run_python("keep", path);
    INFO(run.err);
    CHECK(run.status == 128 + SIGKILL);
    // The leak is real: the server gone, its child sleep still holds the port.
    CHECK(run.port_after == EADDRINUSE);
    // One warning, naming the sleep that ran (not the missing first PATH candidate),
    // tagged with the server's pid, not the pid of the vfork child that exec'd it.
    REQUIRE(run.leaks.size() == 1);
    CHECK(run.leaks[0]["target"].str() == sleep_along(path));
    CHECK(run.leaks[0]["pid"].number() == run.server);
    CHECK(run.leaks[0]["handover"].is_null());
    CHECK(run.leaks[0]["fds"][0]["cloexec"].boolean() == false);
    // And sleep says it started holding a socket it did not open.
    REQUIRE(run.inherited.size() == 1);
    CHECK(run.inherited[0]["pid"].number() == run.child);
    CHECK(run.inherited[0]["ppid"].number() == run.server);
}

TEST_CASE("leaks: Python Popen with the default close_fds leaks nothing and is told nothing")
{
    require_program("/usr/bin/python3", "python3");
    require_library();
    const PythonRun run = run_python("close", "/usr/bin:/bin");
    INFO(run.err);
    CHECK(run.status == 128 + SIGKILL);
    CHECK(run.port_after == 0);
    CHECK(run.leaks.empty());
    CHECK(run.inherited.empty());
}

TEST_CASE("leaks: a Node server spawning 20 children prints nothing at the default level")
{
    require_program("/usr/bin/node", "nodejs");
    require_library();
    TempDir dir;
    write_file(dir / "server.js", spawn_js);
    const auto run = [&](const Launch& launch) {
        Process node({"/usr/bin/node", dir / "server.js"}, launch);
        const int status = node.wait(30s);
        CHECK(status == 0);
        return std::make_pair(std::regex_replace(node.out(), std::regex("[0-9]+"), "N"), node.err());
    };
    const auto plain = run(Launch{});
    const auto shimmed = run(preloaded());
    CHECK(shimmed.first == plain.first);
    CHECK(shimmed.first == "port N\nchildren done\n");
    CHECK(shimmed.second == plain.second);
    CHECK(shimmed.second.empty());
    // The forks are there at debug: the silence above is a judgement, not blindness.
    Launch debug = preloaded();
    debug.env.push_back({"PORTSHIM_LEVEL", "debug"});
    const auto told = run(debug);
    CHECK_FALSE(events_named(told.second, "fork").empty());
    CHECK(events_named(told.second, "exec-leak").empty());
}

TEST_CASE("leaks: sshd accepting 20 connections prints nothing at the default level")
{
    require_program("/usr/sbin/sshd", "openssh-server");
    require_program("/usr/bin/ssh-keygen", "openssh-client");
    require_library();
    const SshdRun plain = run_sshd(Launch{});
    const SshdRun run = run_sshd(preloaded());
    INFO(run.err);
    CHECK(run.status == plain.status);
    CHECK(json_lines(run.err).empty());
    CHECK(run.err.find("portshim") == std::string::npos);
    Launch debug = preloaded();
    debug.env.push_back({"PORTSHIM_LEVEL", "debug"});
    const SshdRun told = run_sshd(debug);
    CHECK(events_named(told.err, "fork").size() >= 16);
    CHECK(events_named(told.err, "exec-leak").empty());
}
