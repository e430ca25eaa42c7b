// Programs the preload cannot reach, through portshim-run's supervisor (seccomp user
// notification): a Go HTTP server (default and static builds), a gcc -static C server
// and a raw syscall(SYS_bind) under --supervise get the preload's report, for their own
// pid, with "observed":"supervisor"; their error line and exit status stay their own.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <cstdio>
#include <dirent.h>
#include <fstream>
#include <optional>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

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
