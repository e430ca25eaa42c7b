// Host safety (issue 11): hosts that a diagnosis must never kill, crash, hang or
// feed. Each scenario reproduces the condition for real (a seccomp filter that
// kills, a 16 KiB thread stack, a stderr pipe nobody reads, a parent reading its
// helper's output as data) and asserts the host behaves exactly as without portshim.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {


/** A legacy server holding a port for the test's length. */
struct Holder {
    Process process{{prog("legacy_server")}, Launch{}};
    int port = read_port(process);
};

/**
 * The daemon under `mode`/`target` fails exactly as without the preload, and
 * the preloaded run writes the one short "not diagnosed" line naming seccomp
 * and the command to run from outside; returns that event.
 */
Json fails_with_short_line(int port, const std::string& mode, const std::string& target,
                           Launch launch = preloaded())
{
    const std::vector<std::string> argv{prog("seccomp_server"), "-p", std::to_string(port), "-m", mode,
                                        "-k", target};
    Process plain(argv, Launch{});
    const int plain_status = plain.wait();
    if (plain_status == 77)
        skip("cannot install a seccomp filter here: " + plain.err());
    INFO(mode << " filter killing " << target);
    REQUIRE(plain_status == 1);
    REQUIRE(plain.out() == "errno=98\n");

    Process daemon(argv, launch);
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["cause"].str() == "unknown");
    CHECK(event["proto"].str() == "tcp");
    CHECK(event["port"].number() == port);
    CHECK(event["errno"].number() == 98);
    CHECK_THAT(event["summary"].str(), Contains("not diagnosed") && Contains("seccomp filter"));
    CHECK(event["fix"].str() == "look from outside: portshim why " + std::to_string(port));
    return event;
}

} // namespace

TEST_CASE("safety: seccomp: a filter installed with prctl that kills netlink or unix sockets or /proc opens gets the short line")
{
    const Holder holder;
    for (const char* target : {"netlink", "unix", "openat"})
        fails_with_short_line(holder.port, "prctl", target);
}

TEST_CASE("safety: seccomp: a filter installed with syscall(SYS_seccomp) gets the short line")
{
    const Holder holder;
    for (const char* target : {"netlink", "unix", "openat"})
        fails_with_short_line(holder.port, "seccomp", target);
}

TEST_CASE("safety: seccomp: a filter installed past libc is read from the status file")
{
#if !defined(__x86_64__)
    skip("the raw seccomp system call of the test program is written for x86_64");
#endif
    // Only the kernel knows of this filter: /proc/thread-self/status tells. (A
    // filter that also kills openat, installed past libc, cannot be seen: README.)
    const Holder holder;
    for (const char* target : {"netlink", "unix"})
        fails_with_short_line(holder.port, "raw", target);
}

TEST_CASE("safety: seccomp: a filter inherited at exec gets the short line")
{
    const Holder holder;
    for (const char* target : {"netlink", "unix"})
        fails_with_short_line(holder.port, "exec", target);
}

TEST_CASE("safety: seccomp: a worker started under a filter with a listening socket is not killed at load")
{
    // The constructor's scan finds the inherited listener; looking closer takes
    // getsockopt, which this filter kills.
    const Holder holder;
    const std::vector<std::string> argv{prog("seccomp_server"), "-p", std::to_string(holder.port), "-m", "exec",
                                        "-k", "getsockopt", "-l"};
    Process plain(argv, Launch{});
    REQUIRE(plain.wait() == 1);
    Process daemon(argv, preloaded());
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK_THAT(event["summary"].str(), Contains("seccomp filter"));
}

TEST_CASE("safety: seccomp: under a filter that kills unix sockets PORTSHIM_LOG=syslog opens none")
{
    // The syslog sink needs socket(AF_UNIX): under a filter the line goes to stderr only.
    const Holder holder;
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_LOG", "syslog");
    fails_with_short_line(holder.port, "prctl", "unix", launch);
}

TEST_CASE("safety: seccomp: the short line in text names the call and the command to run")
{
    const Holder holder;
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_FORMAT", "text");
    Process daemon({prog("seccomp_server"), "-p", std::to_string(holder.port), "-m", "prctl", "-k", "netlink"},
                   launch);
    require_failed_as_without_shim(daemon);
    const std::string port = std::to_string(holder.port);
    CHECK_THAT(daemon.err(), Contains("]: bind(0.0.0.0:" + port + "/tcp) failed: EADDRINUSE — not diagnosed: "
                                      "the call failed under a seccomp filter") &&
                                 Contains("; look from outside: portshim why " + port + "\n"));
}

TEST_CASE("safety: small stacks: a failing bind on a PTHREAD_STACK_MIN thread")
{
    const Holder holder;
    Process daemon({prog("small_stack"), "-p", std::to_string(holder.port), "-m", "thread"}, preloaded());
    const int status = daemon.wait();
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    REQUIRE(status == 1); // a crash here is 139 (SIGSEGV on the guard page)
    CHECK(daemon.out() == "errno=98\n");
    CHECK(only_bind_failed_event(daemon)["cause"].str() == "other-service");
}

TEST_CASE("safety: small stacks: a failing bind in a coroutine with an 8 KiB stack")
{
    const Holder holder;
    for (const char* size : {"8192", "16384"}) {
        Process daemon({prog("small_stack"), "-p", std::to_string(holder.port), "-m", "coroutine", "-s", size},
                       preloaded());
        const int status = daemon.wait();
        INFO(size << " bytes; stdout: " << daemon.out() << "\nstderr: " << daemon.err());
        REQUIRE(status == 1);
        CHECK(daemon.out() == "errno=98\n");
        const Json event = only_bind_failed_event(daemon);
        CHECK(event["cause"].str() == "other-service");
        // The report still names the code that called bind: the switch keeps unwind info.
        CHECK_THAT(event["backtrace"].items().empty() ? std::string() : event["backtrace"][0]["symbol"].str(),
                   Contains("bind_once"));
    }
}

TEST_CASE("safety: small stacks: system() from a PTHREAD_STACK_MIN thread of a listening server")
{
    // exec-leak territory: sorting the listening sockets and writing the event.
    Process plain({prog("small_stack"), "-p", "0", "-m", "system"}, Launch{});
    REQUIRE(plain.wait() == 0);
    REQUIRE(plain.out() == "status=3\n");
    Process daemon({prog("small_stack"), "-p", "0", "-m", "system"}, preloaded());
    const int status = daemon.wait();
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    REQUIRE(status == 0); // a crash here is 139
    CHECK(daemon.out() == "status=3\n");
    CHECK_THAT(daemon.err(), Contains("\"event\":\"exec-leak\""));
}

TEST_CASE("safety: small stacks: fork() from a PTHREAD_STACK_MIN thread of a listening server")
{
    // The registry's records are built at the first fork after listen().
    const TempDir state;
    Process plain({prog("small_stack"), "-p", "0", "-m", "fork"}, Launch{});
    REQUIRE(plain.wait() == 0);
    REQUIRE(plain.out() == "status=4\n");
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    launch.env.emplace_back("PORTSHIM_LEVEL", "debug"); // the fork event too
    Process daemon({prog("small_stack"), "-p", "0", "-m", "fork"}, launch);
    const int status = daemon.wait();
    INFO("stdout: " << daemon.out() << "\nstderr: " << daemon.err());
    REQUIRE(status == 0);
    CHECK(daemon.out() == "status=4\n");
    CHECK_THAT(daemon.err(), Contains("\"event\":\"fork\""));
    struct stat st {};
    CHECK(::stat((state / "listeners").c_str(), &st) == 0);
}

namespace {

/** Writes into `fd` (a pipe's write end) through a descriptor of its own until the pipe is full. */
void fill_pipe(int fd)
{
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const int own = ::open(link.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(own >= 0);
    const std::string chunk(4096, 'x');
    while (::write(own, chunk.data(), chunk.size()) > 0) {
    }
    ::close(own);
}

/** Reads what is in the pipe now, without waiting. */
std::string drain(int fd)
{
    std::string out;
    char buf[65536];
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

/** One line from `fd` within `timeout_ms`, without the newline; nullopt on timeout or EOF. */
std::optional<std::string> line_from(int fd, std::string& buffer, int timeout_ms)
{
    for (;;) {
        const auto nl = buffer.find('\n');
        if (nl != std::string::npos) {
            std::string line = buffer.substr(0, nl);
            buffer.erase(0, nl + 1);
            return line;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) != 1)
            return std::nullopt;
        char buf[4096];
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0)
            return std::nullopt;
        buffer.append(buf, static_cast<std::size_t>(n));
    }
}

} // namespace

TEST_CASE("safety: blocked stderr: a failing bind returns at once and the next report counts the dropped one")
{
    const Holder holder;
    const std::string library = require_library();
    int err_pipe[2], out_pipe[2], in_pipe[2];
    REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(in_pipe, O_CLOEXEC) == 0);
    fill_pipe(err_pipe[1]); // the daemon's stderr: full, and nobody reads it yet
    const std::string port = std::to_string(holder.port);
    std::vector<std::string> env{"PATH=/usr/bin:/bin", "LD_PRELOAD=" + library, "PORTSHIM_FORMAT=json"};
    std::vector<char*> c_env;
    for (auto& e : env)
        c_env.push_back(e.data());
    c_env.push_back(nullptr);
    std::string program = prog("blocked_stderr"), flag = "-p";
    char* argv[] = {program.data(), flag.data(), const_cast<char*>(port.c_str()), nullptr};
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        if (::dup2(in_pipe[0], 0) < 0 || ::dup2(out_pipe[1], 1) < 0 || ::dup2(err_pipe[1], 2) < 0)
            ::_exit(127);
        ::execve(argv[0], argv, c_env.data());
        ::_exit(127);
    }
    ::close(in_pipe[0]);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    std::string out;
    const auto flags_before = line_from(out_pipe[0], out, 10000);
    const auto first = line_from(out_pipe[0], out, 10000);
    INFO("stdout so far: " << out);
    // Before the fix the daemon sat in write(2) on its full stderr here, forever.
    CHECK(first == std::optional<std::string>("first errno=98"));
    std::string err = drain(err_pipe[0]);
    REQUIRE(::write(in_pipe[1], "go\n", 3) == 3);
    const auto second = line_from(out_pipe[0], out, 10000);
    const auto flags_after = line_from(out_pipe[0], out, 10000);
    ::close(in_pipe[1]);
    int status = 0;
    for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) == 0; ++i)
        ::usleep(100000);
    if (::waitpid(pid, &status, WNOHANG) == 0) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL("the daemon did not exit");
    }
    err += drain(err_pipe[0]);
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 1);
    CHECK(second == std::optional<std::string>("second errno=98"));
    // fd 2 kept its file status flags: no O_NONBLOCK was set on the host's pipe.
    REQUIRE(flags_before.has_value());
    CHECK(flags_after == std::optional<std::string>("flags_after=" + flags_before->substr(13)));
    const std::string reports = err.substr(err.find_first_not_of('x'));
    INFO("stderr after the filler: " << reports);
    const std::vector<Json> events = json_lines(reports);
    REQUIRE(events.size() == 2);
    CHECK(events[0]["event"].str() == "reports-dropped");
    CHECK(events[0]["count"].number() == 1);
    CHECK(events[1]["event"].str() == "bind-failed");
    CHECK(events[1]["address"].str() == "127.0.0.1");
}

TEST_CASE("behaviour: data streams: a helper read with popen 2>&1 gets no portshim line in its output")
{
    // The helper inherits the server's listening socket: its `inherited` event is
    // about a process that failed no bind, so it must not land in the data.
    Process plain({prog("popen_reader"), "/bin/echo hello"}, Launch{});
    const int plain_port = read_port(plain);
    (void)plain_port;
    REQUIRE(plain.wait() == 0);
    const std::string expected = plain.out().substr(plain.out().find("data="));
    CHECK(expected == "data=hello\\n\n");

    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_LOG", ""); // the default sink, as an operator runs it
    Process server({prog("popen_reader"), "/bin/echo hello"}, launch);
    read_port(server);
    REQUIRE(server.wait() == 0);
    INFO("stderr: " << server.err());
    CHECK(server.out().substr(server.out().find("data=")) == expected);

    // A bad PORTSHIM_* value inherited by a helper that binds: its config-error
    // (said at its first socket call) stays out of the data too.
    const std::string binder = prog("bind_probe") + " success";
    Process plain_binder({prog("popen_reader"), binder}, Launch{});
    read_port(plain_binder);
    REQUIRE(plain_binder.wait() == 0);
    const std::string bound = plain_binder.out().substr(plain_binder.out().find("data="));
    CHECK(bound == "data=rc=0 errno=0\\n\n");
    Launch bad = launch;
    bad.env.emplace_back("PORTSHIM_WAIT", "soon");
    Process misconfigured({prog("popen_reader"), binder}, bad);
    read_port(misconfigured);
    REQUIRE(misconfigured.wait() == 0);
    CHECK(misconfigured.out().substr(misconfigured.out().find("data=")) == bound);

    // Asked for explicitly, PORTSHIM_LOG=stderr still puts every event on stderr.
    Process asked({prog("popen_reader"), "/bin/echo hello"}, preloaded());
    read_port(asked);
    REQUIRE(asked.wait() == 0);
    CHECK_THAT(asked.out(), Contains("\"event\":\"inherited\""));
}
