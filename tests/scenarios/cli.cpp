// portshim why / wait and portshim-run, run for real: free and busy ports,
// waiting for a holder to exit, refusing what LD_PRELOAD cannot reach, and
// passing exit status and signals through, in the build and install trees.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process why({cli, "why", "--json", std::to_string(port)}, Launch{});
    REQUIRE(why.wait() == 1);
    const Json event = only_event(why.out());
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["cause"].str() == "other-service");
    CHECK(holder_pid(event) == server.pid());

    Process text({cli, "why", std::to_string(port)}, Launch{});
    REQUIRE(text.wait() == 1);
    // From outside the headline says what was asked, not that the CLI failed a bind.
    CHECK_THAT(text.out(), StartsWith("portshim: 0.0.0.0:" + std::to_string(port) + "/tcp is in use — other-service: pid " +
                                      std::to_string(server.pid())));
    CHECK_THAT(text.out(), !Contains("failed: EADDRINUSE"));
    CHECK_THAT(text.out(), !Contains("portshim["));
}

TEST_CASE("cli why: without --for a holder is never called a different program or a previous instance")
{
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process why({cli, "why", "--json", std::to_string(port)}, Launch{});
    REQUIRE(why.wait() == 1);
    const Json event = only_event(why.out());
    CHECK(event["cause"].str() == "other-service");
    const std::string why_lines = joined(event["why"]);
    CHECK_THAT(why_lines, !Contains("a different program"));
    CHECK_THAT(why_lines, Contains("which program is about to start is not known"));
    CHECK_THAT(event["fix"].str(), Contains("if pid " + std::to_string(server.pid()) + " is an old instance"));
}

TEST_CASE("cli why --for: the same program is the previous instance and another one another service")
{
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process same({cli, "why", "--json", "--for", prog("legacy_server") + " -p " + std::to_string(port),
                  std::to_string(port)},
                 Launch{});
    REQUIRE(same.wait() == 1);
    const Json previous = only_event(same.out());
    CHECK(previous["cause"].str() == "previous-instance");
    CHECK(holder_pid(previous) == server.pid());
    CHECK_THAT(joined(previous["why"]), Contains("it runs the same program: " + prog("legacy_server")));

    Process other({cli, "why", "--json", "--for", prog("other_daemon"), std::to_string(port)}, Launch{});
    REQUIRE(other.wait() == 1);
    const Json another = only_event(other.out());
    CHECK(another["cause"].str() == "other-service");
    CHECK_THAT(joined(another["why"]), Contains("a different program holds the port"));
}

TEST_CASE("cli why --for: an interpreter's program as its options and a script's #! line say")
{
    const std::string python = "/usr/bin/python3";
    if (::access(python.c_str(), X_OK) != 0) skip(python + " is not installed (Debian package python3)");
    TempDir dir;
    const std::string script = dir / "app.py";
    {
        std::FILE* f = std::fopen(script.c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs("#!/usr/bin/python3 -u\nimport socket, time\ns = socket.socket()\ns.bind(('0.0.0.0', 0))\n"
                   "s.listen()\nprint('port %d' % s.getsockname()[1], flush=True)\ntime.sleep(60)\n",
                   f);
        std::fclose(f);
        REQUIRE(::chmod(script.c_str(), 0755) == 0);
    }
    Process server({python, "-W", "ignore", script}, Launch{});
    const int port = read_port(server);
    const auto cause_for = [&](const std::string& program) {
        Process why({cli, "why", "--json", "--for", program, std::to_string(port)}, Launch{});
        REQUIRE(why.wait() == 1);
        return only_event(why.out())["cause"].str();
    };
    // /usr/bin/python3, not "python3": PATH may start with a pyenv shim here.
    CHECK(cause_for(python + " -X dev '" + script + "'") == "previous-instance");
    CHECK(cause_for(script) == "previous-instance"); // run by its #! line: python3 -u app.py
    CHECK(cause_for(python + " -W ignore other.py") == "other-service");
    CHECK(cause_for(python + " -m app") == "other-service");

    // A launcher script in PATH (a pyenv shim: #!/usr/bin/env bash, then exec python3) may
    // exec the very program that holds the port: never "a different program".
    const std::string bin = dir / "bin";
    REQUIRE(::mkdir(bin.c_str(), 0755) == 0);
    const std::string shim = bin + "/python3";
    {
        std::FILE* f = std::fopen(shim.c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs("#!/bin/sh\nexec /usr/bin/python3 \"$@\"\n", f);
        std::fclose(f);
        REQUIRE(::chmod(shim.c_str(), 0755) == 0);
    }
    Process why({cli, "why", "--for", shim + " -W ignore '" + script + "'", std::to_string(port)},
                Launch{});
    REQUIRE(why.wait() == 1);
    CHECK_THAT(why.out(), Contains("is a shell script (" + shim + ") that may exec another program"));
    CHECK_THAT(why.out(), !Contains("a different program"));
}

TEST_CASE("cli why --for: a program that cannot be found or a bad quote is a usage error")
{
    for (const std::string& program : {std::string("no-such-program-here"), std::string("'java -jar"),
                                       std::string("  ")}) {
        Process why({cli, "why", "--for", program, "8080"}, Launch{});
        REQUIRE(why.wait() == 2);
        INFO("stderr: " << why.err());
        CHECK(why.out().empty());
        CHECK(std::count(why.err().begin(), why.err().end(), '\n') == 1);
        CHECK_THAT(why.err(), StartsWith("portshim: --for"));
    }
    Process missing({cli, "why", "8080", "--for"}, Launch{});
    REQUIRE(missing.wait() == 2);
}

TEST_CASE("cli why: a busy UDP port exits 1 and names the holder")
{
    Process server({prog("legacy_server"), "-u"}, Launch{});
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
    auto server = std::make_unique<Process>(std::vector<std::string>{prog("legacy_server")}, Launch{});
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
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process wait({cli, "wait", "--timeout", "1", "--json", std::to_string(port)}, Launch{});
    REQUIRE(wait.wait() == 1);
    bool reported = false;
    int waiting = 0;
    for (const Json& event : json_lines(wait.out())) {
        reported = reported || (event["event"].str() == "bind-failed" && holder_pid(event) == server.pid());
        if (event["event"].str() != "waiting") continue;
        // The library's waiting event: its envelope, where, holder and times.
        ++waiting;
        CHECK(event["pid"].number() == wait.pid());
        CHECK(event["proto"].str() == "tcp");
        CHECK(event["port"].number() == port);
        CHECK(event["holder"].number() == server.pid());
        CHECK(event["wait_seconds"].number() == 1);
        CHECK(event["timeout_left"].number() <= 1);
    }
    CHECK(reported);
    CHECK(waiting >= 1);
    CHECK_THAT(wait.err(), Contains("still in use after 1 s"));
}

TEST_CASE("cli wait: the last line comes after the report it concludes")
{
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process wait({cli, "wait", "--timeout", "1", std::to_string(port)}, Launch{});
    REQUIRE(wait.wait() == 1);
    INFO("stdout: " << wait.out() << "\nstderr: " << wait.err());
    // One stream, in order: waiting lines, the report, then the conclusion last.
    CHECK(wait.err().empty());
    const std::string target = "0.0.0.0:" + std::to_string(port) + "/tcp";
    const auto report = wait.out().find("portshim: " + target + " is in use — other-service");
    REQUIRE(report != std::string::npos);
    CHECK(wait.out().find("portshim: waiting for " + target) < report);
    CHECK_THAT(wait.out(), EndsWith("\nportshim: " + target + " still in use after 1 s\n"));
}

TEST_CASE("portshim-run: a static binary runs under the supervisor and --force is still accepted")
{
    Process supervised({run, "--", prog("static_true")}, Launch{});
    CHECK(supervised.wait() == 0);
    // Not root: one line says that --supervise would allow no_new_privs, then it runs unsupervised.
    if (::geteuid() != 0) CHECK_THAT(supervised.err(), Contains("--supervise"));
    Process forced({run, "--force", "--", prog("static_true")}, Launch{});
    CHECK(forced.wait() == 0);
}

TEST_CASE("portshim-run: bad options exit 2 with one line")
{
    for (const auto& args : std::vector<std::vector<std::string>>{
             {run, "--bogus", "--", "true"}, {run}, {run, "--wait", "soon", "--", "true"}}) {
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

    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    Process daemon(
        {prefix.path() + "/bin/portshim-run", "--json", "--", prog("legacy_server"), "-p", std::to_string(port)},
        Launch{});
    REQUIRE(daemon.wait() == 1);
    CHECK(daemon.out() == "errno=98\n");
    const Json event = only_event(daemon.err());
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pid(event) == server.pid());
    Process why({prefix.path() + "/bin/portshim", "why", std::to_string(port)}, Launch{});
    CHECK(why.wait() == 1);
    // The installed wrapper and manual page are the configured copies, with the version.
    Process version({prefix.path() + "/bin/portshim-run", "--version"}, Launch{});
    CHECK(version.wait() == 0);
    CHECK(version.out() == std::string("portshim-run ") + PORTSHIM_TEST_VERSION + "\n");
}

TEST_CASE("cli why: a stale unix path exits 1 and the file is left alone")
{
    TempDir dir;
    const std::string path = dir.path() + "/app.sock";
    {
        Process killed({prog("unix_server"), path}, Launch{});
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

namespace {

/** A run of a tool that must refuse: exit `status`, nothing on stdout, one "TOOL: " line. */
void check_one_line_refusal(Process& p, int status, const std::string& tool)
{
    INFO("stdout: " << p.out() << "\nstderr: " << p.err());
    CHECK(p.wait(15s) == status);
    CHECK(p.out().empty());
    CHECK_THAT(p.err(), StartsWith(tool + ": "));
    CHECK(std::count(p.err().begin(), p.err().end(), '\n') == 1);
}

/** Writes `text` to `path` with `mode`. */
void write_file(const std::string& path, const std::string& text, int mode)
{
    char octal[8];
    std::snprintf(octal, sizeof octal, "%o", mode);
    Process make({"/bin/sh", "-c", "printf '%s' \"$1\" >\"$0\" && chmod \"$2\" \"$0\"", path, text,
                  octal},
                 Launch{});
    REQUIRE(make.wait() == 0);
}

} // namespace

TEST_CASE("tools: check-preload and portshim-run never hang on a FIFO or a device")
{
    TempDir dir;
    const std::string fifo = dir / "fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0755) == 0);
    for (const std::string& target : {fifo, std::string("/dev/zero")}) {
        INFO("target " << target);
        // Before, open() without O_NONBLOCK waited for a writer forever (the wait() times out).
        Process check({cli, "check-preload", target}, Launch{});
        check_one_line_refusal(check, 126, "portshim");
        CHECK_THAT(check.err(), Contains("not a program"));
        Process wrapped({run, "--", target}, Launch{});
        check_one_line_refusal(wrapped, 126, "portshim-run");
        CHECK_THAT(wrapped.err(), Contains("not a program"));
    }
}

TEST_CASE("tools: portshim-run refuses at once in one line the values the library refuses")
{
    const std::string library = require_library();
    // The same values, given to the library directly: it reports each as a config-error.
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"PORTSHIM_WAIT", "99999"}, {"PORTSHIM_WAIT", "3601"}, {"PORTSHIM_WAIT", ""},
        {"PORTSHIM_LOG", "relative.log"}, {"PORTSHIM_LOG", "-"}};
    for (const auto& [name, value] : refused) {
        INFO(name << "=" << value);
        const std::string option = name == "PORTSHIM_WAIT" ? "--wait" : "--log";
        Process wrapped({run, option, value, "--", "sh", "-c", "echo ran"}, Launch{});
        check_one_line_refusal(wrapped, 2, "portshim-run");
        const std::string said = name + "=\"" + value + "\" is not valid (";
        CHECK_THAT(wrapped.err(), StartsWith("portshim-run: " + option + ": " + said));

        Launch direct;
        // PORTSHIM_LOG=stderr: a config-error reaches a piped stderr only when asked (rule 13).
        direct.env = {{"LD_PRELOAD", library}, {"PORTSHIM_FORMAT", "json"}, {"PORTSHIM_LOG", "stderr"},
                      {name, value}};
        Process host({prog("bind_probe"), "success"}, direct);
        REQUIRE(host.wait() == 0);
        bool reported = false;
        for (const Json& event : json_lines(host.err()))
            reported = reported || (event["event"].str() == "config-error" &&
                                    event["message"].str().find(said) == 0);
        CHECK(reported);
    }
    // A missing value: "--log --" and "--wait --" do not take the "--" as the value.
    for (const char* option : {"--log", "--wait"}) {
        Process wrapped({run, option, "--", "sh", "-c", "echo ran"}, Launch{});
        check_one_line_refusal(wrapped, 2, "portshim-run");
        CHECK_THAT(wrapped.err(), Contains(std::string(option) + " needs"));
    }
    // What the library accepts runs, with the value passed on.
    TempDir dir;
    Process accepted({run, "--wait", "3600", "--log", dir / "run.log", "--", "sh", "-c",
                      "echo \"$PORTSHIM_WAIT $PORTSHIM_LOG\""},
                     Launch{});
    CHECK(accepted.wait() == 0);
    CHECK(accepted.out() == "3600 " + dir / "run.log" + "\n");
}

TEST_CASE("tools: portshim-run runs what execvp runs and refuses only what cannot run")
{
    TempDir dir;
    const std::string no_shebang = dir / "no-shebang";
    write_file(no_shebang, "echo ran without a shebang\n", 0755);
    const std::string empty = dir / "empty";
    write_file(empty, "", 0755);
    const std::string not_executable = dir / "not-executable";
    write_file(not_executable, "#!/bin/sh\necho ran\n", 0644);
    const std::string lost_interpreter = dir / "lost-interpreter";
    write_file(lost_interpreter, "#!/nonexistent/sh\necho ran\n", 0755);

    // `true` is a shell builtin, but /usr/bin/true exists: execvp runs it.
    Process builtin({run, "--", "true"}, Launch{});
    CHECK(builtin.wait() == 0);
    CHECK(builtin.err().empty());
    // A script without #! runs with /bin/sh (execvp's ENOEXEC rule); an empty one too.
    Process script({run, "--", no_shebang}, Launch{});
    CHECK(script.wait() == 0);
    CHECK(script.out() == "ran without a shebang\n");
    Process nothing({run, "--", empty}, Launch{});
    CHECK(nothing.wait() == 0);
    // ... through PATH as well.
    Launch in_path;
    in_path.env = {{"PATH", dir.path() + ":/usr/bin:/bin"}};
    Process found({run, "--", "no-shebang"}, in_path);
    CHECK(found.wait() == 0);
    CHECK(found.out() == "ran without a shebang\n");

    // What cannot run: one line, and the shell's (and env(1)'s) status, 127 or 126.
    struct Refusal {
        std::string program;
        int status;
        std::string says;
    };
    for (const Refusal& r : {Refusal{"no-such-program-here", 127, "command not found"},
                             Refusal{dir / "missing", 127, "No such file or directory"},
                             Refusal{lost_interpreter, 127, "interpreter /nonexistent/sh"},
                             Refusal{not_executable, 126, "not executable"},
                             Refusal{dir.path(), 126, "a directory"}}) {
        INFO("program " << r.program);
        Process refused({run, "--", r.program}, Launch{});
        check_one_line_refusal(refused, r.status, "portshim-run");
        CHECK_THAT(refused.err(), Contains(r.says));
    }
}

TEST_CASE("tools: -- ends the options of portshim and both tools print their version")
{
    const int port = free_port();
    Process why({cli, "why", "--", std::to_string(port)}, Launch{});
    CHECK(why.wait() == 0);
    CHECK_THAT(why.out(), Contains(":" + std::to_string(port) + "/tcp is free"));
    Process why_json({cli, "why", "--json", "--", std::to_string(port)}, Launch{});
    CHECK(why_json.wait() == 0);
    const Json free_event = only_event(why_json.out());
    CHECK(free_event["event"].str() == "port-free");
    CHECK(free_event["pid"].number() == why_json.pid()); // the common keys, as every event has
    CHECK(free_event["port"].number() == port);
    Process check({cli, "check-preload", "--", "true"}, Launch{});
    CHECK(check.wait() == 0);

    Process version({cli, "--version"}, Launch{});
    CHECK(version.wait() == 0);
    CHECK(version.out() == std::string("portshim ") + PORTSHIM_TEST_VERSION + "\n");
    Process run_version({run, "--version"}, Launch{});
    CHECK(run_version.wait() == 0);
    CHECK(run_version.out() == std::string("portshim-run ") + PORTSHIM_TEST_VERSION + "\n");
    // --help stays.
    Process help({run, "--help"}, Launch{});
    CHECK(help.wait() == 0);
    CHECK_THAT(help.out(), Contains("--version"));
}
