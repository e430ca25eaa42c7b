// Reliability (issue 7, "Threads and fork", "Early calls"): failing binds from many
// threads while another thread forks, from fork handlers and signal handlers, vfork and
// posix_spawn from a threaded server, and a library constructor that listens and fails a
// bind before portshim's constructor ran. Each program runs without and then with the
// preload: same stdout, empty stderr, exit 0; reports go to a log file that must parse.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <signal.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {


/** What one run left behind; `stacks` holds gdb's backtraces if it had to be killed. */
struct Run {
    int status = -1;
    std::string out, err, stacks;
    std::vector<Json> log;
    int pid = -1;
};

/** Every thread's stack of a live process (gdb), so a hang is reported where it hangs. */
std::string stacks_of(int pid)
{
    const std::string command =
        "gdb -batch -p " + std::to_string(pid) + " -ex 'thread apply all bt' 2>&1";
    std::string text;
    if (FILE* gdb = ::popen(command.c_str(), "r")) {
        char buf[4096];
        for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, gdb)) > 0;)
            text.append(buf, n);
        ::pclose(gdb);
    }
    return text;
}

/**
 * Runs argv to its end (EOF on its stdout and stderr), at most `limit`; a program still
 * running then is a hang: its stacks are kept, then it is killed. The log and the
 * registry go to a private directory.
 */
Run run(std::vector<std::string> argv, bool preload, std::chrono::seconds limit,
        std::vector<std::pair<std::string, std::string>> env = {})
{
    const TempDir dir;
    Launch launch = preload ? preloaded() : Launch{};
    launch.env = std::move(env);
    launch.env.emplace_back("PORTSHIM_STATE_DIR", dir.path());
    launch.env.emplace_back("PORTSHIM_LOG", dir / "log");
    Run result;
    Process program(std::move(argv), launch);
    result.pid = program.pid();
    const auto start = std::chrono::steady_clock::now();
    program.wait_for([] { return false; }, limit); // returns at EOF or at the limit
    if (std::chrono::steady_clock::now() - start >= limit)
        result.stacks = stacks_of(program.pid());
    result.status = program.wait(result.stacks.empty() ? 10s : 1s);
    result.out = program.out();
    result.err = program.err();
    std::ifstream in(dir / "log");
    const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    INFO("log: " << log);
    REQUIRE_NOTHROW(result.log = json_lines(log)); // every line whole JSON
    return result;
}

/** Runs a thread_hazards mode without and with the preload; both must pass alike. */
Run hazards_both_ways(const std::vector<std::string>& args, std::chrono::seconds limit)
{
    std::vector<std::string> argv{prog("thread_hazards")};
    argv.insert(argv.end(), args.begin(), args.end());
    const Run plain = run(argv, false, limit);
    INFO("without the preload: status " << plain.status << "\nstdout: " << plain.out
                                         << "\nstderr: " << plain.err);
    REQUIRE(plain.status == 0);
    const Run shimmed = run(argv, true, limit);
    INFO("with the preload: status " << shimmed.status << "\nstdout: " << shimmed.out
                                      << "\nstderr: " << shimmed.err << "\nstacks:\n"
                                      << shimmed.stacks);
    CHECK(shimmed.stacks.empty()); // did not hang
    CHECK(shimmed.status == 0);    // no crash, no errno mismatch
    CHECK(shimmed.out == plain.out);
    CHECK(shimmed.err == plain.err);
    return shimmed;
}

/** The events of one kind. */
std::vector<Json> named(const std::vector<Json>& log, const std::string& event)
{
    std::vector<Json> out;
    for (const Json& e : log)
        if (e["event"].str() == event)
            out.push_back(e);
    return out;
}

/** A fork child's failure in a threaded program: the async-signal-safe note, no diagnosis. */
bool undiagnosed_note(const Json& event)
{
    return event["cause"].str() == "unknown" && event["errno"].number() == 98 &&
           event["summary"].str().find("not diagnosed") != std::string::npos;
}

/** Children's failures (pid other than the program's) that were diagnosed in full. */
std::vector<std::string> diagnosed_in_children(const Run& r)
{
    std::vector<std::string> out;
    for (const Json& e : named(r.log, "bind-failed"))
        if (e["pid"].number() != r.pid && !undiagnosed_note(e))
            out.push_back(std::to_string(static_cast<long>(e["pid"].number())) + ": " +
                          e["summary"].str());
    return out;
}

} // namespace

TEST_CASE("reliability: 32 threads fail binds while another thread forks 64 children")
{
    const Run r = hazards_both_ways({"fork-thread", "-t", "32", "-n", "64"}, 40s);
    CHECK(r.out == "ok fork-thread\n");
    long notes = 0, own = 0;
    for (const Json& e : named(r.log, "bind-failed")) {
        notes += e["pid"].number() != r.pid && undiagnosed_note(e);
        own += e["pid"].number() == r.pid;
    }
    CHECK(own > 0);
    CHECK(notes == 64); // each child's bind, before its exec or _exit
    CHECK(diagnosed_in_children(r) == std::vector<std::string>{});
}

TEST_CASE("reliability: fork handlers raise a signal whose handler binds")
{
    // 96 busy ports: more than the rate limit tracks, so handler binds reach the engine.
    const Run r = hazards_both_ways({"atfork-signal", "-t", "4", "-n", "50", "-p", "96"}, 40s);
    CHECK(r.out == "ok atfork-signal\n");
    CHECK_FALSE(named(r.log, "bind-failed").empty());
    CHECK(diagnosed_in_children(r) == std::vector<std::string>{});
}

TEST_CASE("reliability: bind in a SIGALRM handler while the main thread binds")
{
    const Run r =
        hazards_both_ways({"signal-bind", "-n", "200", "-p", "96", "-i", "5000"}, 40s);
    CHECK(r.out == "ok signal-bind\n");
    CHECK_FALSE(named(r.log, "bind-failed").empty());
}

TEST_CASE("reliability: bind in a SIGALRM handler while the main thread is in malloc")
{
    // bind(2) is async-signal-safe (signal-safety(7)); the diagnosis must not make it unsafe.
    const Run r =
        hazards_both_ways({"signal-bind", "-n", "200", "-p", "96", "-i", "5000", "-m"}, 40s);
    CHECK(r.out == "ok signal-bind\n");
}

TEST_CASE("reliability: vfork and posix_spawn from a threaded server")
{
    const Run r = hazards_both_ways({"spawn", "-t", "4", "-n", "20", "-p", "2"}, 40s);
    std::string expected;
    for (int i = 0; i < 20; ++i)
        if (i % 5 != 4)
            expected += "vfork " + std::to_string(i) + "\nspawn " + std::to_string(i) + "\n";
    CHECK(r.out == expected + "ok spawn\n");

    // One exec-leak warning per socket, naming both listeners; every echo reports them.
    const auto leaks = named(r.log, "exec-leak");
    REQUIRE(leaks.size() == 1);
    CHECK(leaks[0]["target"].str() == "/bin/echo");
    CHECK(leaks[0]["fds"].items().size() == 2);
    const auto inherited = named(r.log, "inherited");
    CHECK(inherited.size() == 32); // 16 vfork and 16 posix_spawn children ran echo
    for (const Json& e : inherited) {
        CHECK(e["ppid"].number() == r.pid);
        CHECK(e["opener"]["pid"].number() == r.pid);
        CHECK(e["fds"].items().size() == 2);
    }
}

namespace {

/** "early port P" from the constructor's output; 0 if missing. */
int early_port(const std::string& out)
{
    std::smatch m;
    return std::regex_search(out, m, std::regex("early port ([0-9]+)\n")) ? std::stoi(m[1]) : 0;
}

/** The output with the (kernel-chosen) port replaced, to compare two runs. */
std::string without_port(const std::string& out)
{
    return std::regex_replace(out, std::regex("port [0-9]+"), "port P");
}

/**
 * A constructor's bind and listen before portshim's constructor (or after it, for the
 * order given): errno kept, the failure reported, the listener not called inherited.
 */
void check_early(const std::vector<std::string>& argv, const std::string& plain_preload,
                 const std::string& ld_preload, const std::string& expected_out)
{
    const Run plain = run(argv, false, 20s, {{"LD_PRELOAD", plain_preload}});
    INFO("without portshim: status " << plain.status << "\nstdout: " << plain.out
                                      << "\nstderr: " << plain.err);
    REQUIRE(plain.status == 0);
    REQUIRE(without_port(plain.out) == expected_out);

    const Run r = run(argv, false, 20s,
                      {{"LD_PRELOAD", ld_preload}, {"PORTSHIM_FORMAT", "json"}});
    INFO("LD_PRELOAD=" << ld_preload << "\nstatus " << r.status << "\nstdout: " << r.out
                       << "\nstderr: " << r.err << "\nstacks:\n" << r.stacks);
    CHECK(r.stacks.empty());
    CHECK(r.status == 0);
    CHECK(without_port(r.out) == expected_out); // errno kept on success and failure
    CHECK(r.err.empty());

    const int port = early_port(r.out);
    REQUIRE(port > 0);
    const auto failed = named(r.log, "bind-failed");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0]["pid"].number() == r.pid);
    CHECK(failed[0]["port"].number() == port);
    CHECK(failed[0]["errno"].number() == 98);
    CHECK(failed[0]["cause"].str() == "self");
    CHECK(named(r.log, "inherited").empty()); // the constructor's own listener
}

const std::string early_lines = "early port P\nearly listen errno-kept\nearly bind rc=-1 errno=98\n";

} // namespace

TEST_CASE("reliability: early calls from a DT_NEEDED library constructor")
{
    // ld.so initialises early_listener (a dependency) before the preloaded portshim.
    const std::string lib = require_library();
    check_early({prog("early_main")}, "", lib, early_lines + "main port P\n");
}

TEST_CASE("reliability: early calls from a constructor preloaded after portshim")
{
    // LD_PRELOAD=portshim:early: ld.so runs the later one's constructor first.
    const std::string lib = require_library();
    check_early({"/bin/true"}, prog("libearly_listener.so"), lib + ":" + prog("libearly_listener.so"), early_lines);
}

TEST_CASE("reliability: early calls from a constructor preloaded before portshim")
{
    // LD_PRELOAD=early:portshim: portshim's constructor runs first.
    const std::string lib = require_library();
    check_early({"/bin/true"}, prog("libearly_listener.so"), prog("libearly_listener.so") + ":" + lib, early_lines);
}
