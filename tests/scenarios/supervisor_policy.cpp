// What portshim-supervise does with the calls it cannot simply perform: a root server on
// a privileged port held by another program still gets the report, a program that dropped
// its capabilities still gets EACCES, AF_UNIX paths and another netns are predicted before
// the kernel runs the call; the program's own error line and exit status never change.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <random>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

const std::string run = PORTSHIM_TEST_RUN;
const std::string setpriv = "/usr/bin/setpriv";
/** setpriv's drop to nobody: no groups, and no capabilities left after the uid change. */
const std::vector<std::string> as_nobody{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"};

/** A free port below this netns's ip_unprivileged_port_start, found by binding it. */
int free_privileged_port()
{
    std::ifstream start_file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int start = 0;
    start_file >> start;
    if (start < 200) skip("ip_unprivileged_port_start is " + std::to_string(start) + ": no privileged port");
    std::mt19937 pick(static_cast<unsigned>(::getpid()));
    for (int tries = 0; tries < 200; ++tries) {
        const int port = 100 + static_cast<int>(pick() % static_cast<unsigned>(start - 100));
        const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(fd >= 0);
        sockaddr_in sin{};
        sin.sin_family = AF_INET;
        sin.sin_port = htons(static_cast<std::uint16_t>(port));
        const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&sin), sizeof sin) == 0;
        ::close(fd);
        if (free) return port;
    }
    FAIL("no free privileged port");
    return 0;
}

std::vector<std::string> under_run(const std::vector<std::string>& flags, const std::vector<std::string>& program)
{
    std::vector<std::string> argv{run};
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("--");
    argv.insert(argv.end(), program.begin(), program.end());
    return argv;
}

/** The one bind-failed event of `program`, for its pid, seen as `observed`. */
Json event_of(const Process& program, const std::string& observed)
{
    const Json event = only_bind_failed_event(program);
    CHECK(event["observed"].str() == observed);
    CHECK(static_cast<int>(event["pid"].number()) == program.pid());
    CHECK(event["errno"].number() == 98);
    return event;
}

/**
 * unix_server on `name` under --supervise, twice: the second fails as plain, and its
 * report (seen as `observed`) names the first as the previous instance.
 */
void require_live_name_explained(const std::string& name, const std::string& observed)
{
    const std::vector<std::string> program{prog("unix_server"), name};
    Process live(under_run({"--supervise"}, program), Launch{});
    REQUIRE(live.read_line() == std::optional<std::string>("listening"));
    Process second(under_run({"--supervise", "--json"}, program), Launch{});
    require_same_result(second, program, 1);
    const Json event = event_of(second, observed);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{live.pid()});
}

} // namespace

TEST_CASE("supervisor policy: a root server on a privileged port held by another program gets the report")
{
    require_supervisor();
    const std::string port = std::to_string(free_privileged_port());
    Process holder({prog("legacy_server"), "-p", port}, Launch{});
    REQUIRE(read_port(holder) == std::stoi(port));
    // Root and root: the same CAP_NET_BIND_SERVICE in one user ns, so performing is exact.
    const std::vector<std::string> program{prog("static_server"), "-p", port};
    Process blocked(under_run({"--json"}, program), Launch{});
    require_same_result(blocked, program, 1);
    CHECK_THAT(blocked.err(), Contains("bind: Address already in use"));
    const Json event = event_of(blocked, "supervisor");
    CHECK(event["cause"].str() == "other-service");
    CHECK(holder_pids(event) == std::vector<int>{holder.pid()});
}

TEST_CASE("supervisor policy: a root launcher whose program dropped to nobody without capabilities still gets EACCES")
{
    require_supervisor();
    require_program(setpriv, "util-linux");
    if (!readable_by_nobody({prog("static_server")})) skip("the build tree is not readable by nobody");
    const std::string port = std::to_string(free_privileged_port());
    std::vector<std::string> program = as_nobody;
    program.insert(program.end(), {prog("static_server"), "-p", port});
    // A free port: the root supervisor's bind would succeed where the program's fails.
    {
        Process dropped(under_run({"--supervise", "--json"}, program), Launch{});
        require_same_result(dropped, program, 1);
        CHECK_THAT(dropped.err(), Contains("bind: Permission denied"));
        CHECK(json_lines(dropped.err()).empty());
    }
    // A held port: EACCES comes first, so nothing is predicted or reported.
    Process holder({prog("legacy_server"), "-p", port}, Launch{});
    REQUIRE(read_port(holder) == std::stoi(port));
    Process dropped(under_run({"--supervise", "--json"}, program), Launch{});
    require_same_result(dropped, program, 1);
    CHECK_THAT(dropped.err(), Contains("bind: Permission denied"));
    CHECK(json_lines(dropped.err()).empty());
}

TEST_CASE("supervisor policy: a supervised unix server on a stale path and on a live one is predicted before its own error")
{
    require_supervisor();
    const TempDir dir;
    const std::string path = dir / "app.sock";
    {
        Process killed({prog("unix_server"), path}, Launch{});
        REQUIRE(killed.read_line() == std::optional<std::string>("listening"));
        REQUIRE(::kill(killed.pid(), SIGKILL) == 0);
        REQUIRE(killed.wait() == 128 + SIGKILL);
    }
    const std::vector<std::string> program{prog("unix_server"), path};
    {
        Process stale(under_run({"--supervise", "--json"}, program), Launch{});
        require_same_result(stale, program, 1);
        CHECK_THAT(stale.err(), Contains("bind: Address already in use"));
        const Json event = event_of(stale, "supervisor-predicted");
        CHECK(event["cause"].str() == "stale-unix-socket");
        CHECK(event["path"].str() == path);
    }
    {
        // A relative path, resolved against the program's cwd, not the supervisor's (/).
        const std::vector<std::string> relative{"/bin/sh", "-c", "cd \"$1\" && exec \"$2\" app.sock", "sh",
                                                dir.path(), prog("unix_server")};
        Process stale(under_run({"--supervise", "--json"}, relative), Launch{});
        require_same_result(stale, relative, 1);
        const Json event = only_bind_failed_event(stale);
        CHECK(event["observed"].str() == "supervisor-predicted");
        CHECK(event["cause"].str() == "stale-unix-socket");
        CHECK(event["path"].str() == path);
    }
    {
        // Text: the report says it was predicted, then the program's own line follows.
        Process stale(under_run({"--supervise"}, program), Launch{});
        require_same_result(stale, program, 1);
        CHECK_THAT(stale.err(), Contains("stale-unix-socket") && Contains("predicted: seen by portshim-supervise"));
        CHECK(stale.err().find("portshim[") < stale.err().find("bind: Address already in use"));
    }
    REQUIRE(::unlink(path.c_str()) == 0);
    require_live_name_explained(path, "supervisor-predicted");
}

TEST_CASE("supervisor policy: a live abstract unix name is performed and explained")
{
    require_supervisor();
    // Abstract names record nothing of the caller: performed, so observed "supervisor".
    require_live_name_explained("@portshim-policy-" + std::to_string(::getpid()), "supervisor");
}

namespace {

/**
 * In a network namespace of its own (unshare -n, lo up), SETUP runs in sh ($1
 * legacy_server, $2 fetch, $3 PORT, $4 a scratch folder; it sets h to a holder to
 * stop at the end, if any), then static_server -p PORT dropped to nobody. The
 * supervisor can neither perform that bind (another netns, other capabilities)
 * nor read the port table from its own netns. Supervised and plain end the same;
 * returns the supervised run's one bind-failed event, predicted.
 */
/**
 * PROGRAM(scratch dir) under portshim-run --supervise --json and plain, each with a
 * scratch dir of its own: both fail with EADDRINUSE and exit 1 alike; the one event.
 */
Json failing_like_plain(const std::function<std::vector<std::string>(const std::string&)>& program,
                        const TempDir& dir)
{
    const TempDir plain_dir;
    Process blocked(under_run({"--supervise", "--json"}, program(dir.path())), Launch{});
    CHECK(blocked.wait() == 1);
    Process plain(program(plain_dir.path()), Launch{});
    REQUIRE(plain.wait() == 1);
    INFO("supervised stderr: " << blocked.err());
    CHECK(without_portshim_lines(blocked.err()) == plain.err());
    CHECK(blocked.out() == plain.out());
    CHECK_THAT(blocked.err(), Contains("bind: Address already in use"));
    return only_bind_failed_event(blocked);
}

Json nobody_in_own_netns(const std::string& setup, const std::string& port, const TempDir& dir)
{
    require_supervisor();
    require_program(setpriv, "util-linux");
    require_program("/usr/bin/unshare", "util-linux");
    require_program("/usr/sbin/ip", "iproute2");
    if (!readable_by_nobody({prog("static_server")})) skip("the build tree is not readable by nobody");
    std::string script = "ip link set lo up && h= && " + setup + "; ";
    for (const std::string& word : as_nobody) script += "'" + word + "' ";
    script += "\"$5\" -p \"$3\"; rc=$?; [ -z \"$h\" ] || { kill $h; wait $h; } 2>/dev/null; exit $rc";
    const auto program = [&](const std::string& scratch) {
        return std::vector<std::string>{"/usr/bin/unshare", "-n", "/bin/sh", "-c", script, "sh",
                                        prog("legacy_server"), prog("fetch"), port, scratch, prog("static_server")};
    };
    const Json event = failing_like_plain(program, dir);
    CHECK(event["observed"].str() == "supervisor-predicted");
    CHECK(event["errno"].number() == 98);
    return event;
}

/** A shell's wait for legacy_server's "port P" line in DIR/holder.out. */
std::string until_listening_in(const std::string& dir)
{
    return "until grep -q port \"" + dir + "/holder.out\" 2>/dev/null; do sleep 0.05; done";
}

/** SETUP's wait for legacy_server's "port P" line in $4/holder.out. */
const std::string until_listening = until_listening_in("$4");

} // namespace

TEST_CASE("supervisor policy: a program that dropped to nobody in a netns of its own is predicted from that netns")
{
    const TempDir dir;
    // Inside a fresh netns every port is free: the number is ours to choose.
    const std::string port = std::to_string(unused_port());
    // The holder (root, supervised too) listens there first.
    const Json event = nobody_in_own_netns("{ \"$1\" -p \"$3\" >\"$4/holder.out\" 2>&1 & h=$!; }; " +
                                               until_listening + "; echo $h >\"$4/holder.pid\"",
                                           port, dir);
    CHECK(event["cause"].str() == "other-service");
    std::ifstream holder_pid(dir / "holder.pid");
    int holder = 0;
    holder_pid >> holder;
    CHECK(holder_pids(event) == std::vector<int>{holder});
}

TEST_CASE("supervisor policy: a TIME_WAIT remnant in a program's own netns is predicted as time-wait")
{
    const TempDir dir;
    const std::string port = std::to_string(unused_port());
    // legacy_server (no SO_REUSEADDR) serves one connection, closing first, and exits:
    // its side stays in TIME_WAIT, and static_server without SO_REUSEADDR cannot bind.
    const Json event = nobody_in_own_netns("{ \"$1\" -c 1 -p \"$3\" >\"$4/holder.out\" 2>&1 & t=$!; }; " +
                                               until_listening + "; \"$2\" \"$3\" >/dev/null; wait $t",
                                           port, dir);
    CHECK(event["cause"].str() == "time-wait");
    CHECK(event["holders"].items().empty());
}

TEST_CASE("supervisor policy: a server that sandboxed itself with Landlock gets its own EACCES and no guessed report")
{
    require_supervisor();
    {
        Process probe({prog("landlock_bind"), "0"}, Launch{});
        if (probe.wait() == 77) skip("no Landlock TCP bind rules here: " + probe.out());
    }
    Process holder({prog("legacy_server")}, Launch{});
    const std::string held = std::to_string(read_port(holder));
    const std::string free_port = std::to_string(unused_port());
    // Not allowed by its own ruleset: a free port and a held one are both EACCES (the
    // LSM hook runs before the port table); the supervisor's own bind would succeed.
    for (const std::string& port : {free_port, held}) {
        const std::vector<std::string> program{prog("landlock_bind"), port};
        Process denied(under_run({"--supervise", "--json"}, program), Launch{});
        require_same_result(denied, program, 1);
        CHECK_THAT(denied.err(), Contains("bind: Permission denied"));
        CHECK(json_lines(denied.err()).empty());
    }
    // Allowed: the kernel's own EADDRINUSE. Its ruleset cannot be read back, so the
    // supervisor cannot know it was allowed and says nothing rather than guess.
    const std::vector<std::string> program{prog("landlock_bind"), held, held};
    Process blocked(under_run({"--supervise", "--json"}, program), Launch{});
    require_same_result(blocked, program, 1);
    CHECK_THAT(blocked.err(), Contains("bind: Address already in use"));
    CHECK(json_lines(blocked.err()).empty());
    // A program that never restricted itself is still performed and explained on this host.
    const std::vector<std::string> plain_server{prog("static_server"), "-p", held};
    Process explained(under_run({"--json"}, plain_server), Launch{});
    require_same_result(explained, plain_server, 1);
    CHECK(event_of(explained, "supervisor")["cause"].str() == "other-service");
}

TEST_CASE("supervisor policy: a root program in a netns of its own is performed and diagnosed in that netns")
{
    require_supervisor();
    require_program("/usr/bin/unshare", "util-linux");
    require_program("/usr/sbin/ip", "iproute2");
    const TempDir dir;
    // A privileged port with the supervisor's own capabilities: performed, whatever the
    // netns. The holder exists only in the program's netns, so a diagnosis run in the
    // supervisor's would find nobody there.
    const std::string script =
        "ip link set lo up && { \"$1\" -p 80 >\"$3/holder.out\" 2>&1 & h=$!; }; " + until_listening_in("$3") +
        "; echo $h >\"$3/holder.pid\"; \"$2\" -p 80; rc=$?; { kill $h; wait $h; } 2>/dev/null; exit $rc";
    const auto program = [&](const std::string& scratch) {
        return std::vector<std::string>{"/usr/bin/unshare", "-n", "/bin/sh", "-c", script, "sh",
                                        prog("legacy_server"), prog("static_server"), scratch};
    };
    const Json event = failing_like_plain(program, dir);
    CHECK(event["observed"].str() == "supervisor");
    CHECK(event["cause"].str() == "other-service");
    std::ifstream holder_pid(dir / "holder.pid");
    int holder = 0;
    holder_pid >> holder;
    CHECK(holder_pids(event) == std::vector<int>{holder});
}

TEST_CASE("supervisor policy: a socket made in another netns is judged by the port start of that netns and not of the caller")
{
    require_supervisor();
    require_program("/usr/bin/unshare", "util-linux");
    // Supervisor and program in a private netns whose port start is 0; the program's
    // socket comes from a fresh netns (start 1024) and is bound as nobody after the
    // program went back: the kernel says EACCES (sock_net decides), so must the supervisor.
    const std::string script =
        "echo 0 >/proc/sys/net/ipv4/ip_unprivileged_port_start && exec \"$@\"";
    const auto in_start_zero = [&](const std::vector<std::string>& program) {
        std::vector<std::string> argv{"/usr/bin/unshare", "-n", "/bin/sh", "-c", script, "sh"};
        argv.insert(argv.end(), program.begin(), program.end());
        return argv;
    };
    const std::vector<std::string> program{prog("netns_bind"), "80"};
    {
        Process probe(in_start_zero(program), Launch{});
        const int status = probe.wait();
        if (status == 77) skip("netns_bind cannot set itself up: " + probe.err());
        REQUIRE(status == 1);
    }
    Process supervised(in_start_zero(under_run({"--supervise", "--json"}, program)), Launch{});
    require_same_result(supervised, in_start_zero(program), 1);
    CHECK_THAT(supervised.err(), Contains("bind: Permission denied"));
    CHECK(json_lines(supervised.err()).empty());
}

TEST_CASE("supervisor policy: a supervisor that cannot join the program's netns names no holder from its own")
{
    require_supervisor();
    require_program(setpriv, "util-linux");
    require_program("/usr/bin/unshare", "util-linux");
    require_program("/usr/sbin/ip", "iproute2");
    if (!readable_by_nobody({run, prog("legacy_server"), prog("static_server")}))
        skip("the build tree is not readable by nobody");
    {
        Process probe({setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/unshare", "-rn",
                       "/bin/true"},
                      Launch{});
        if (probe.wait() != 0) skip("nobody cannot make a user namespace here: " + probe.err());
    }
    // A root listener on PORT here, and the same PORT held and wanted inside the
    // program's own netns (unshare -rn as nobody: the supervisor, nobody too, cannot setns).
    Process outer({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(outer));
    const TempDir dir;
    REQUIRE(::chmod(dir.path().c_str(), 0777) == 0); // written by the program's root, nobody outside
    const std::string script = "ip link set lo up && { \"$1\" -p \"$3\" >\"$4/holder.out\" 2>&1 & h=$!; }; " +
                               until_listening + "; \"$2\" -p \"$3\"; rc=$?; { kill $h; wait $h; } 2>/dev/null; exit $rc";
    std::vector<std::string> program{"/usr/bin/unshare", "-rn", "/bin/sh", "-c", script, "sh",
                                     prog("legacy_server"), prog("static_server"), port, dir.path()};
    std::vector<std::string> argv = as_nobody;
    const std::vector<std::string> supervised_run = under_run({"--supervise", "--json"}, program);
    argv.insert(argv.end(), supervised_run.begin(), supervised_run.end());
    Process supervised(argv, Launch{});
    CHECK(supervised.wait() == 1);
    INFO("supervised stderr: " << supervised.err());
    CHECK_THAT(supervised.err(), Contains("bind: Address already in use"));
    // A diagnosis from the supervisor's netns would describe the outer root listener
    // (a hidden owner to nobody): nothing is said rather than that.
    for (const Json& event : json_lines(supervised.err()))
        CHECK(event["event"].str() != "bind-failed");
}
