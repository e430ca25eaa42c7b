// Programs the preload cannot reach, through portshim-run's supervisor (seccomp user
// notification): a Go HTTP server (default and static builds), a gcc -static C server
// and a raw syscall(SYS_bind) under --supervise get the preload's report, for their own
// pid, with "observed":"supervisor"; their error line and exit status stay their own.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string run = PORTSHIM_TEST_RUN;
const std::string supervise = PORTSHIM_TEST_SUPERVISE;
const std::string go = "/usr/bin/go";

/** The one bind-failed event, seen by the supervisor for the program started as `program`. */
Json supervised_event(const Process& program)
{
    const Json event = only_bind_failed_event(program);
    CHECK(event["observed"].str() == "supervisor");
    CHECK(static_cast<int>(event["pid"].number()) == program.pid());
    CHECK(event["errno"].number() == 98);
    return event;
}

/**
 * A Go HTTP server that prints "port P" once listening and serves "ok"; with a second
 * argument it listens on its own address again first. Log lines without time.
 */
const char* const go_server_source = R"(package main

import (
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
)

func main() {
	log.SetFlags(0)
	l, err := net.Listen("tcp", os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("port %d\n", l.Addr().(*net.TCPAddr).Port)
	if len(os.Args) > 2 { // "twice": listen on the same address again, as a double bind
		if _, err := net.Listen("tcp", l.Addr().String()); err != nil {
			log.Fatal(err)
		}
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	log.Fatal(http.Serve(l, nil))
}
)";

/** The Go server built by /usr/bin/go into `dir` as NAME, with cgo (default) or without. */
std::string build_go_server(const TempDir& dir, const std::string& name, bool cgo)
{
    std::ofstream(dir / "server.go") << go_server_source;
    Launch build;
    build.env = {{"GOCACHE", dir / "cache"}, {"HOME", dir.path()}, {"GO111MODULE", "off"},
                 {"CGO_ENABLED", cgo ? "1" : "0"}};
    Process go_build({go, "build", "-p", "1", "-o", dir / name, dir / "server.go"}, build);
    INFO("go build: " << go_build.err());
    REQUIRE(go_build.wait(90s) == 0);
    return dir / name;
}

/** The children of every thread of `pid` (/proc/PID/task/TID/children). */
std::string children_of(int pid)
{
    std::string all;
    const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = ::opendir(tasks.c_str());
    REQUIRE(dir != nullptr);
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        std::ifstream in(tasks + "/" + e->d_name + "/children");
        std::string line;
        std::getline(in, line);
        all += line;
    }
    ::closedir(dir);
    return all;
}

/**
 * PROGRAM run by portshim-run (with `flags`) on the port `holder` listens on: it fails
 * as without portshim, with `own_line` on stderr, and the supervisor names the cause
 * and the holder for the pid portshim-run was started as.
 */
void require_explained(const Process& holder, const std::vector<std::string>& program,
                       const std::string& own_line, const std::string& cause,
                       const std::vector<std::string>& flags = {"--json"})
{
    std::vector<std::string> argv{run};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), program.begin(), program.end());
    Process blocked(argv, Launch{});
    require_same_result(blocked, program, 1);
    CHECK_THAT(blocked.err(), Contains(own_line));
    const Json event = supervised_event(blocked);
    CHECK(event["cause"].str() == cause);
    CHECK(event["exe"].str() == program.front());
    CHECK(holder_pids(event) == std::vector<int>{holder.pid()});
}

} // namespace

TEST_CASE("supervisor: a Go HTTP server started twice is the previous instance and another program's port is other-service and a double listen is self")
{
    if (::access(go.c_str(), X_OK) != 0) skip("golang-go is not installed");
    require_supervisor();
    TempDir dir;
    for (const bool cgo : {true, false}) {
        const std::string server = build_go_server(dir, cgo ? "server-default" : "server-static", cgo);
        INFO("Go server " << server);

        // The first instance, supervised itself: it serves, and runs as portshim-run's pid
        // (the holder's pid below is the one portshim-run was started as).
        Process first({run, "--json", "--", server, "127.0.0.1:0"}, Launch{});
        const int port = read_port(first);
        CHECK_THAT(exchange(port, "GET / HTTP/1.0\r\n\r\n"), Contains("\r\n\r\nok\n"));
        const std::string at = "127.0.0.1:" + std::to_string(port);
        require_explained(first, {server, at}, "listen tcp " + at + ": bind: address already in use",
                          "previous-instance");
        if (!cgo) gallery("previous-instance-go", {run, "--", server, at}, Launch{});

        // Invisible to it: no ptrace (strace attaches), no child of its own, and SIGTERM
        // ends it as it ends it unsupervised.
        if (::access("/usr/bin/strace", X_OK) == 0) {
            Process tracer({"/usr/bin/strace", "-f", "-e", "trace=none", "-p", std::to_string(first.pid())},
                           Launch{});
            CHECK(tracer.wait_for([&] { return tracer.err().find("attached") != std::string::npos; }));
            ::kill(tracer.pid(), SIGINT); // strace detaches on SIGINT
            CHECK(tracer.wait() != -1); // 130 here: strace re-raises SIGINT after detaching
            CHECK_THAT(exchange(port, "GET / HTTP/1.0\r\n\r\n"), Contains("\r\n\r\nok\n"));
        }
        CHECK(children_of(first.pid()).empty());
        ::kill(first.pid(), SIGTERM);
        CHECK(first.wait() == 128 + SIGTERM);

        // The same Go program listening twice: `self`, its own other socket.
        Process twice({run, "--json", "--", server, "127.0.0.1:0", "twice"}, Launch{});
        REQUIRE(twice.wait() == 1);
        CHECK_THAT(twice.err(), Contains(": bind: address already in use"));
        const Json self = supervised_event(twice);
        CHECK(self["cause"].str() == "self");
        CHECK(holder_pids(self) == std::vector<int>{twice.pid()});

        Process other({prog("legacy_server")}, Launch{});
        const std::string taken = "127.0.0.1:" + std::to_string(read_port(other));
        require_explained(other, {server, taken}, "listen tcp " + taken + ": bind: address already in use",
                          "other-service");
    }
}

TEST_CASE("supervisor: a gcc -static C server: previous instance and other service")
{
    require_supervisor();
    Process first({run, "--json", "--", prog("static_server")}, Launch{});
    const std::string port = std::to_string(read_port(first));
    require_explained(first, {prog("static_server"), "-p", port}, "bind: Address already in use",
                      "previous-instance");

    Process other({prog("legacy_server")}, Launch{});
    require_explained(other, {prog("static_server"), "-p", std::to_string(read_port(other))},
                      "bind: Address already in use", "other-service");
}

TEST_CASE("supervisor: a raw syscall bind under --supervise: previous instance and other service")
{
    require_supervisor();
    const std::vector<std::string> flags{"--supervise", "--json"};
    Process first({run, "--supervise", "--json", "--", prog("raw_server")}, Launch{});
    const std::string port = std::to_string(read_port(first));
    require_explained(first, {prog("raw_server"), port}, "bind: Address already in use",
                      "previous-instance", flags);

    Process other({prog("legacy_server")}, Launch{});
    require_explained(other, {prog("raw_server"), std::to_string(read_port(other))},
                      "bind: Address already in use", "other-service", flags);
}

TEST_CASE("supervisor: with libportshim.so in LD_PRELOAD the failure is reported once and for the program")
{
    require_supervisor();
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    // The supervisor performs the bind: preloaded itself, it would report it as its own too.
    Process blocked({run, "--json", "--", prog("static_server"), "-p", port}, preloaded());
    require_failed_as_without_shim(blocked);
    const Json event = supervised_event(blocked); // exactly one bind-failed event
    CHECK(event["cause"].str() == "other-service");
}

TEST_CASE("supervisor: not root it sets no_new_privs only with --supervise and says so in one line otherwise")
{
    require_supervisor();
    const std::string cli = PORTSHIM_TEST_CLI;
    if (!readable_by_nobody({run, cli, supervise, prog("static_server"), prog("legacy_server")}))
        skip("the build tree is not readable by nobody");
    Launch nobody;
    nobody.as_nobody = true;
    Process holder({prog("legacy_server")}, nobody);
    const std::string port = std::to_string(read_port(holder));

    // Without --supervise: one line, then the program runs as without portshim.
    Process plain({run, "--json", "--", prog("static_server"), "-p", port}, nobody);
    require_failed_as_without_shim(plain);
    CHECK(json_lines(plain.err()).empty());
    CHECK_THAT(plain.err(), Contains("portshim-supervise: not root") && Contains("--supervise allows it"));
    CHECK(without_portshim_lines(plain.err()).find("portshim-supervise:") == 0);

    // With it: supervised under no_new_privs, the same report.
    Process allowed({run, "--supervise", "--json", "--", prog("static_server"), "-p", port}, nobody);
    require_failed_as_without_shim(allowed);
    const Json event = supervised_event(allowed);
    CHECK(event["cause"].str() == "other-service");
    CHECK(holder_pids(event) == std::vector<int>{holder.pid()});
}

TEST_CASE("supervisor: the supervisor holds none of the program's inherited descriptors")
{
    require_supervisor();
    TempDir dir;
    const std::string marker = dir / "inherited-marker";
    std::ofstream(marker) << "fd 7\n";
    const std::string path = dir / "app.sock";
    // fd 7 without O_CLOEXEC, as a socket-activated or leaked listener would come.
    Process server({"/bin/sh", "-c", "exec 7<\"$1\"; exec \"$2\" --supervise -- \"$3\" \"$4\"", "sh",
                    marker, run, prog("unix_server"), path},
                   Launch{});
    REQUIRE(server.read_line() == std::optional<std::string>("listening"));
    // Every process holding the file: the program only (not the supervisor, nor its middle fork).
    std::vector<int> holders;
    DIR* proc = ::opendir("/proc");
    REQUIRE(proc != nullptr);
    while (const dirent* p = ::readdir(proc)) {
        const int pid = std::atoi(p->d_name);
        if (pid <= 0) continue;
        const std::string fds = "/proc/" + std::string(p->d_name) + "/fd";
        DIR* d = ::opendir(fds.c_str());
        if (d == nullptr) continue;
        while (const dirent* f = ::readdir(d)) {
            char target[4096];
            const ssize_t n = ::readlinkat(::dirfd(d), f->d_name, target, sizeof target - 1);
            if (n > 0 && std::string(target, static_cast<std::size_t>(n)) == marker) {
                holders.push_back(pid);
                break;
            }
        }
        ::closedir(d);
    }
    ::closedir(proc);
    CHECK(holders == std::vector<int>{server.pid()});
}

TEST_CASE("supervisor: a supervised unix server's clients see the server itself as their peer")
{
    require_supervisor();
    TempDir dir;
    const std::string path = dir / "app.sock";
    Process server({run, "--supervise", "--", prog("unix_server"), path}, Launch{});
    REQUIRE(server.read_line() == std::optional<std::string>("listening"));
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    // SO_PEERCRED names whoever called listen(): the program, never its supervisor.
    ucred peer{};
    socklen_t len = sizeof peer;
    REQUIRE(::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) == 0);
    ::close(fd);
    CHECK(peer.pid == server.pid());
}

namespace {

/** The supervised program's launch with a registry of its own. */
Launch with_state_dir(const TempDir& state)
{
    Launch launch;
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    return launch;
}

/** True once `pid` runs `comm` (a forked helper has exec'd it), polled for up to 10 s. */
bool runs_comm(int pid, const std::string& comm)
{
    for (int tries = 0; tries < 1000; ++tries) {
        std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
        std::string line;
        if (std::getline(in, line) && line == comm)
            return true;
        ::usleep(10000);
    }
    return false;
}

/**
 * The helper (sleep 300) a spawn_server prints as "helper PID", once it has exec'd
 * sleep ("spawned"); SIGKILLed at the end of the scope (not our child).
 */
struct SpawnedHelper {
    int pid = 0;
    explicit SpawnedHelper(Process& server)
    {
        const auto line = server.read_line().value_or("");
        REQUIRE(line.rfind("helper ", 0) == 0);
        pid = std::atoi(line.c_str() + 7);
        REQUIRE(server.read_line().value_or("") == "spawned");
        REQUIRE(runs_comm(pid, "sleep"));
    }
    ~SpawnedHelper() { ::kill(pid, SIGKILL); }
    SpawnedHelper(const SpawnedHelper&) = delete;
    SpawnedHelper& operator=(const SpawnedHelper&) = delete;
};

/** A gcc -static server (no SO_REUSEADDR unless `own_flag`) serves one client, closing first, and exits. */
int static_time_wait(bool own_flag)
{
    std::vector<std::string> argv{prog("static_server"), "-c", "1"};
    if (own_flag)
        argv.push_back("-r");
    Process server(argv, Launch{});
    const int port = read_port(server);
    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);
    return port;
}

} // namespace

TEST_CASE("supervisor: a static server's helper keeps its socket after a SIGKILL and the restart names the helper from the registry")
{
    require_supervisor();
    const TempDir state;
    const Launch launch = with_state_dir(state);
    // A supervised gcc -static server forks a helper (sleep 300) that keeps the listening fd.
    auto server = std::make_unique<Process>(std::vector<std::string>{run, "--json", "--", prog("static_spawn_server")},
                                            launch);
    const int port = read_port(*server);
    const SpawnedHelper spawned(*server);
    const int helper = spawned.pid;
    const int opener = server->pid();
    server.reset(); // SIGKILL and reaped: only the helper holds the port now

    const std::vector<std::string> restart{prog("static_server"), "-p", std::to_string(port)};
    std::vector<std::string> argv{run, "--json", "--"};
    argv.insert(argv.end(), restart.begin(), restart.end());
    Process restarted(argv, launch);
    require_same_result(restarted, restart, 1);
    CHECK_THAT(restarted.err(), Contains("bind: Address already in use"));
    const Json event = supervised_event(restarted);
    CHECK(event["cause"].str() == "inherited-fd");
    CHECK(holder_pids(event) == std::vector<int>{helper});
    // The supervisor of the first server wrote its listen record, as the preload does.
    CHECK(event["opener"]["pid"].number() == opener);
    CHECK(event["opener"]["source"].str() == "registry");
    CHECK(event["opener"]["alive"].type() == Json::Type::boolean);
    CHECK_FALSE(event["opener"]["alive"].boolean());
}

TEST_CASE("supervisor: a static server's TIME_WAIT remnant is time-wait and --reuseaddr binds past remnants that carry the flag")
{
    require_supervisor();
    const auto restart = [](int port, bool reuseaddr) {
        std::vector<std::string> argv{run, "--json"};
        if (reuseaddr)
            argv.push_back("--reuseaddr");
        argv.insert(argv.end(), {"--", prog("static_server"), "-p", std::to_string(port)});
        return std::make_unique<Process>(argv, Launch{});
    };
    // Remnants of a server that did not set SO_REUSEADDR: they block every bind until they
    // expire, also with --reuseaddr (Linux copies the listener's flag into its remnants).
    const int bare = static_time_wait(false);
    for (const bool reuseaddr : {false, true}) {
        INFO("--reuseaddr " << reuseaddr);
        auto blocked = restart(bare, reuseaddr);
        require_same_result(*blocked, {prog("static_server"), "-p", std::to_string(bare)}, 1);
        CHECK_THAT(blocked->err(), Contains("bind: Address already in use"));
        const Json event = supervised_event(*blocked);
        CHECK(event["cause"].str() == "time-wait");
        CHECK(event["holders"].items().empty());
        CHECK((joined(event["why"]).find("portshim set SO_REUSEADDR") != std::string::npos) == reuseaddr);
    }

    // Remnants of a server that set it: the restart lacks the flag and fails; with
    // --reuseaddr the supervisor sets it on the program's socket and the bind succeeds.
    const int flagged = static_time_wait(true);
    auto blocked = restart(flagged, false);
    require_same_result(*blocked, {prog("static_server"), "-p", std::to_string(flagged)}, 1);
    CHECK(supervised_event(*blocked)["cause"].str() == "time-wait");
    auto bound = restart(flagged, true);
    CHECK(read_port(*bound) == flagged);
    CHECK(json_lines(bound->err()).empty());
}

TEST_CASE("supervisor: a supervised program retrying a failing bind in a loop gets one report")
{
    require_supervisor();
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    Launch json;
    json.env.emplace_back("PORTSHIM_FORMAT", "json");
    // portshim-supervise itself: retry_bind is dynamic, and no preload may answer first.
    Process retrier({supervise, "--", prog("retry_bind"), "-p", std::to_string(port), "-n", "300"}, json);
    REQUIRE(retrier.wait(60s) == 0);
    INFO("stderr: " << retrier.err());
    CHECK(retrier.out() == "failures=300 other=0\n");
    const std::vector<Json> events = json_lines(retrier.err());
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"].str() == "bind-failed");
    CHECK(events[0]["observed"].str() == "supervisor");
    CHECK(static_cast<int>(events[0]["pid"].number()) == retrier.pid());
    CHECK(holder_pids(events[0]) == std::vector<int>{holder.pid()});
}

TEST_CASE("supervisor: syslog's tag carries the program's pid as the report's own prefix does")
{
    require_supervisor();
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    Launch launch;
    launch.env = {{"PORTSHIM_LOG", "syslog"}, {"PORTSHIM_FORMAT", "text"}};
    const Caught caught = catch_syslog({run, "--", prog("static_server"), "-p", port}, launch);
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == "bind: Address already in use\n");
    REQUIRE(caught.datagrams.size() >= 2);
    // One tag per line, the program's: the supervisor's pid would leave the report's
    // own "portshim[PID]: " prefix in the message after a tag of its own.
    const std::string& headline = caught.datagrams[0];
    const std::size_t tag_end = headline.find("]: ");
    REQUIRE(tag_end != std::string::npos);
    CHECK_THAT(headline, StartsWith("<27>portshim["));
    CHECK_THAT(headline.substr(tag_end + 3),
               StartsWith("bind(0.0.0.0:" + port + "/tcp) failed: EADDRINUSE — other-service: "));
    for (const std::string& datagram : caught.datagrams) {
        INFO("datagram: " << datagram);
        CHECK(datagram.find("portshim[", datagram.find("]: ")) == std::string::npos);
    }
}

TEST_CASE("supervisor: --wait retries a performed bind until the previous instance is gone")
{
    require_supervisor();
    auto previous = std::make_unique<Process>(std::vector<std::string>{prog("static_server")}, Launch{});
    const int port = read_port(*previous);
    const int previous_pid = previous->pid();
    Process restarted({run, "--json", "--wait", "10", "--", prog("static_server"), "-p", std::to_string(port)},
                      Launch{});
    // The program waits in its bind while the supervisor retries.
    REQUIRE(restarted.wait_for([&] { return restarted.err().find("\"waiting\"") != std::string::npos; }));
    previous.reset(); // the old instance exits (SIGKILL, reaped): no connection lingers
    CHECK(read_port(restarted) == port);
    INFO("stderr: " << restarted.err());
    const auto events = json_lines(restarted.err());
    REQUIRE(events.size() == 2);
    CHECK(events[0]["event"].str() == "bind-failed");
    CHECK(events[0]["cause"].str() == "previous-instance");
    CHECK(events[0]["observed"].str() == "supervisor");
    CHECK(events[1]["event"].str() == "waiting");
    CHECK(events[1]["holder"].number() == previous_pid);
    CHECK(static_cast<int>(events[1]["pid"].number()) == restarted.pid());
}

TEST_CASE("supervisor: a Go server waiting in --wait is not kept from its SIGTERM")
{
    if (::access(go.c_str(), X_OK) != 0) skip("golang-go is not installed");
    require_supervisor();
    TempDir dir;
    const std::string server = build_go_server(dir, "server-static", false);
    Process first({server, "127.0.0.1:0"}, Launch{});
    const std::string at = "127.0.0.1:" + std::to_string(read_port(first));
    Process restarted({run, "--json", "--wait", "60", "--", server, at}, Launch{});
    REQUIRE(restarted.wait_for([&] { return restarted.err().find("\"waiting\"") != std::string::npos; }));
    // Go catches SIGTERM (and dies of it when nobody asked for it). Signals are held back
    // while the program waits for the supervisor: it stops waiting when one is pending.
    ::kill(restarted.pid(), SIGTERM);
    INFO("stderr: " << restarted.err());
    CHECK(restarted.wait(5s) == 128 + SIGTERM); // not after the 60 s
}

TEST_CASE("supervisor: --reuseaddr respects a program that set SO_REUSEADDR itself")
{
    require_supervisor();
    // Remnants that carry the flag: a bind passes them only with SO_REUSEADDR set.
    const std::string port = std::to_string(static_time_wait(true));
    Launch reuseaddr;
    reuseaddr.env.emplace_back("PORTSHIM_REUSEADDR", "1");
    for (const std::string how : {"noreuse", "inuse"}) {
        INFO(how);
        Process plain({prog("bind_probe"), how, port}, Launch{});
        REQUIRE(plain.wait() == 0);
        // portshim-supervise itself: bind_probe is dynamic, and no preload may decide first.
        Process supervised({supervise, "--", prog("bind_probe"), how, port}, reuseaddr);
        REQUIRE(supervised.wait() == 0);
        CHECK(plain.out() == "rc=-1 errno=98\n");
        // The program's own SO_REUSEADDR=0 is its choice: the bind fails as without
        // portshim. Without a choice the supervisor sets it, and the bind passes.
        CHECK(supervised.out() == (how == "noreuse" ? plain.out() : "rc=0 errno=0\n"));
    }
}

TEST_CASE("supervisor: a static server that starts a helper with its listening socket gets one exec-leak warning")
{
    require_supervisor();
    Launch launch;
    launch.env = {{"PORTSHIM_LOG", "stderr"}}; // exec-leak is not a failure of the program: asked for
    Process server({run, "--json", "--", prog("static_spawn_server")}, launch);
    const int port = read_port(server);
    const SpawnedHelper spawned(server);
    const int helper = spawned.pid;
    CHECK(server.wait_for([&] { return server.err().find('\n') != std::string::npos; }));
    INFO("stderr: " << server.err());
    // One event, for the exec that runs (execvp's attempts on other PATH entries fail).
    const std::vector<Json> events = json_lines(server.err());
    REQUIRE(events.size() == 1);
    const Json& leak = events[0];
    CHECK(leak["event"].str() == "exec-leak");
    CHECK(static_cast<int>(leak["pid"].number()) == helper); // the fork child that execs
    CHECK(leak["exe"].str() == prog("static_spawn_server"));
    CHECK_THAT(leak["target"].str(), Contains("sleep"));
    CHECK(::access(leak["target"].str().c_str(), X_OK) == 0);
    CHECK(leak["fds"][0]["fd"].number() >= 3);
    CHECK(leak["fds"][0]["port"].number() == port);
    CHECK(leak["fds"][0]["cloexec"].type() == Json::Type::boolean);
    CHECK_FALSE(leak["fds"][0]["cloexec"].boolean());
}

TEST_CASE("supervisor: a program handed a listening socket by its parent gets no exec-leak for its own start")
{
    require_supervisor();
    // The parent (a socket-activating supervisor, a shell holding a listener) passes a
    // listening socket without O_CLOEXEC: portshim-run's exec of the program is its
    // start, not a leak, and must not wait for the supervisor either.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    Launch launch;
    launch.env = {{"PORTSHIM_LOG", "stderr"}};
    Process started({run, "--json", "--", prog("static_true")}, launch);
    const int status = started.wait();
    ::close(fd);
    INFO("stderr: " << started.err());
    CHECK(status == 0);
    CHECK(started.err().empty());
}

TEST_CASE("supervisor: a system call number no rule names runs as the kernel decides")
{
    require_supervisor();
    // -1 is the number the filter compares rules that are off with (setsockopt without
    // --reuseaddr, execve at PORTSHIM_LEVEL=error): the kernel's ENOSYS, no listen.
    for (const char* level : {"info", "error"}) {
        const std::vector<std::string> program{prog("bogus_syscall")};
        Launch launch;
        launch.env = {{"PORTSHIM_LEVEL", level}};
        Process supervised({run, "--supervise", "--", prog("bogus_syscall")}, launch);
        require_same_result(supervised, program, 0);
        CHECK(supervised.out() == "rc=-1 errno=38 listening=0\n");
    }
}

TEST_CASE("supervisor: --wait announces no wait for a failure the kernel gives the program itself")
{
    require_supervisor();
    // A live unix path: never performed, so the kernel's EADDRINUSE reaches the program
    // at once, whatever --wait says; a "waiting" event would promise what does not happen.
    const TempDir dir;
    const std::string path = dir / "app.sock";
    Process first({prog("unix_server"), path}, Launch{});
    REQUIRE(first.read_line() == std::optional<std::string>("listening"));
    const std::vector<std::string> program{prog("unix_server"), path};
    Process second({run, "--supervise", "--json", "--wait", "5", "--", prog("unix_server"), path}, Launch{});
    require_same_result(second, program, 1);
    const Json event = only_bind_failed_event(second);
    CHECK(event["observed"].str() == "supervisor-predicted");
    CHECK(event["cause"].str() == "previous-instance");
    for (const Json& line : json_lines(second.err())) CHECK(line["event"].str() != "waiting");
}

TEST_CASE("supervisor: root without CAP_SYS_ADMIN is supervised under no_new_privs with --supervise")
{
    require_supervisor();
    require_program("/usr/bin/setpriv", "util-linux");
    // A container's root: uid 0, but CAP_SYS_ADMIN out of the bounding set. seccomp then
    // needs no_new_privs exactly as for any other user.
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    const std::vector<std::string> no_admin{"/usr/bin/setpriv", "--bounding-set", "-sys_admin", "--inh-caps",
                                            "-sys_admin", "--"};
    std::vector<std::string> argv = no_admin;
    for (const std::string& word : {run, std::string("--supervise"), std::string("--json"), std::string("--"),
                                    prog("static_server"), std::string("-p"), port})
        argv.push_back(word);
    Process allowed(argv, Launch{});
    require_failed_as_without_shim(allowed);
    const Json event = supervised_event(allowed);
    CHECK(event["cause"].str() == "other-service");
    // Without --supervise: the one line names the reason.
    argv = no_admin;
    for (const std::string& word : {run, std::string("--json"), std::string("--"), prog("static_server"),
                                    std::string("-p"), port})
        argv.push_back(word);
    Process plain(argv, Launch{});
    require_failed_as_without_shim(plain);
    CHECK_THAT(plain.err(), Contains("no CAP_SYS_ADMIN") && Contains("--supervise allows it"));
}

TEST_CASE("supervisor: a supervised program that leaves a daemon behind ends its captured stderr when it exits")
{
    require_supervisor();
    TempDir dir;
    const std::string pidfile = dir / "daemon.pid";
    // The daemon has 0-2 on /dev/null; the supervisor, which lives as long as it does,
    // must not keep the program's stderr pipe open ($(...), ssh, CI capture).
    struct KillDaemon {
        std::string pidfile;
        ~KillDaemon()
        {
            int pid = 0;
            std::ifstream(pidfile) >> pid;
            if (pid > 0) ::kill(pid, SIGKILL); // sleep 30, no child of ours: killed by pid
        }
    } daemon{pidfile};
    const auto start = std::chrono::steady_clock::now();
    Process program({run, "--supervise", "--", "/bin/sh", "-c",
                     "sleep 30 </dev/null >/dev/null 2>&1 & echo $! >\"$1\"", "sh", pidfile},
                    Launch{});
    const int status = program.wait(10s);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    INFO("stderr: " << program.err());
    CHECK(status == 0);
    CHECK(elapsed < 5s); // before: the pipe stayed open until the daemon exited
    CHECK(program.err().empty());
}

TEST_CASE("supervisor: a report is not written into a data file the program put on its fd 2")
{
    require_supervisor();
    // As the preload's sink: fd 2 at start is the program's stderr; a file that later
    // took its place is data, and a report there would corrupt it.
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    TempDir dir;
    const std::string data = dir / "data.txt";
    Process program({run, "--supervise", "--", "/bin/sh", "-c", "exec 2>>\"$1\"; exec \"$2\" \"$3\"", "sh", data,
                     prog("raw_server"), port},
                    Launch{});
    CHECK(program.wait() == 1);
    std::ifstream in(data);
    const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("data file: " << written);
    INFO("stderr: " << program.err());
    CHECK(written == "bind: Address already in use\n"); // the program's own line only
    CHECK(program.err().empty());
}
