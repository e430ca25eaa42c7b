// Every exec and spawn call the library wraps, run on one shell command with and without
// the preload: the same output, exit status, return value and errno; one exec-leak warning.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <regex>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {


/** What one run of exec_variants left behind. */
struct Run {
    int status = -1;
    std::string out, err;
};

/** How to run it: preloaded or not, plus PORTSHIM_* variables; the registry stays in `state`. */
Launch launch_with(const TempDir& state, bool preload,
                   std::vector<std::pair<std::string, std::string>> env = {})
{
    Launch launch = preload ? preloaded() : Launch{};
    launch.env = std::move(env);
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    launch.env.emplace_back("PORTSHIM_T_VAR", "from-environ");
    return launch;
}

/** exec_variants MODE, with a listener first (-l) when `listener`. */
Run run(const std::string& mode, bool listener, const Launch& launch)
{
    std::vector<std::string> argv{prog("exec_variants"), mode};
    if (listener)
        argv.emplace_back("-l");
    Process program(argv, launch);
    Run result;
    result.status = program.wait();
    result.out = program.out();
    result.err = program.err();
    return result;
}

std::vector<Json> exec_leaks(const Run& run)
{
    std::vector<Json> leaks;
    for (Json& event : json_lines(run.err))
        if (event["event"].str() == "exec-leak")
            leaks.push_back(std::move(event));
    return leaks;
}

/** The "port P" line exec_variants -l writes on stderr. */
int listener_port(const Run& run)
{
    std::smatch match;
    REQUIRE(std::regex_search(run.err, match, std::regex("(^|\n)port ([0-9]+)\n")));
    return std::atoi(match[2].str().c_str());
}

bool is_false(const Json& value) { return value.type() == Json::Type::boolean && !value.boolean(); }
bool is_true(const Json& value) { return value.type() == Json::Type::boolean && value.boolean(); }

/** What the shell prints through MODE without the preload, when it holds `sockets` sockets. */
std::string expected_output(const std::string& mode, int sockets)
{
    const bool takes_envp = std::regex_match(mode, std::regex("execve|execvpe|execveat.*|fexecve|"
                                                              "execle|posix_spawnp?"));
    const std::string status = mode == "system" || mode == "popen" ? mode : "child";
    return std::string("zero|one two|three|") + (takes_envp ? "from-envp" : "from-environ") +
           "\nsockets " + std::to_string(sockets) + "\n" + status + " exit 0\n";
}

/** The single exec-leak event of a preloaded run that had a listener, as the README words it. */
Json only_leak(const std::string& mode, const Run& run)
{
    const auto leaks = exec_leaks(run);
    REQUIRE(leaks.size() == 1);
    const Json& leak = leaks[0];
    if (mode == "system" || mode == "popen")
        CHECK_THAT(leak["target"].str(), StartsWith("/bin/sh -c "));
    else
        CHECK_THAT(leak["target"].str(), Contains("sh"));
    CHECK(leak["fds"].items().size() == 1);
    CHECK(leak["fds"][0]["port"].number() == listener_port(run));
    CHECK(is_false(leak["fds"][0]["cloexec"]));
    CHECK(leak["handover"].is_null());
    return leak;
}

/**
 * MODE with and without the preload, with and without a listener, and with
 * PORTSHIM_CLOEXEC=1: the program's output and status never change, the leak is
 * reported once (a warning), and with PORTSHIM_CLOEXEC=1 the shell holds no socket.
 */
void runs_as_without_preload(const std::string& mode)
{
    const TempDir state;
    const Run plain = run(mode, true, launch_with(state, false));
    const Run plain_alone = run(mode, false, launch_with(state, false));
    INFO("without the preload: stdout: " << plain.out << "\nstderr: " << plain.err);
    REQUIRE(plain.status == 0);
    // Sockets the test itself passed on, if any, are in both counts.
    std::smatch inherited;
    REQUIRE(std::regex_search(plain_alone.out, inherited, std::regex("sockets ([0-9]+)")));
    const int others = std::atoi(inherited[1].str().c_str());
    REQUIRE(plain_alone.out == expected_output(mode, others));
    REQUIRE(plain.out == expected_output(mode, others + 1));

    const Run shimmed = run(mode, true, launch_with(state, true));
    INFO("preloaded: stdout: " << shimmed.out << "\nstderr: " << shimmed.err);
    CHECK(shimmed.status == plain.status);
    CHECK(shimmed.out == plain.out);
    CHECK(is_false(only_leak(mode, shimmed)["closed"]));

    // At level warn the leak is still reported: it is a warning, not information.
    const Run warned = run(mode, true, launch_with(state, true, {{"PORTSHIM_LEVEL", "warn"}}));
    INFO("PORTSHIM_LEVEL=warn: stdout: " << warned.out << "\nstderr: " << warned.err);
    CHECK(warned.out == plain.out);
    only_leak(mode, warned);

    const Run alone = run(mode, false, launch_with(state, true));
    INFO("preloaded without a listener: stdout: " << alone.out << "\nstderr: " << alone.err);
    CHECK(alone.status == plain_alone.status);
    CHECK(alone.out == plain_alone.out);
    CHECK(exec_leaks(alone).empty());

    // With PORTSHIM_CLOEXEC=1 the shell holds no socket, as when there was no listener, and
    // the listener's own flags are unchanged afterwards (exec_variants would say so).
    const Run kept_out = run(mode, true, launch_with(state, true, {{"PORTSHIM_CLOEXEC", "1"}}));
    INFO("PORTSHIM_CLOEXEC=1: stdout: " << kept_out.out << "\nstderr: " << kept_out.err);
    CHECK(kept_out.status == plain.status);
    CHECK(kept_out.out == plain_alone.out);
    CHECK(is_true(only_leak(mode, kept_out)["closed"]));
}

} // namespace

TEST_CASE("exec family: execve runs as without the preload and warns once")
{
    runs_as_without_preload("execve");
}

TEST_CASE("exec family: execv runs as without the preload and warns once")
{
    runs_as_without_preload("execv");
}

TEST_CASE("exec family: execvp runs as without the preload and warns once")
{
    runs_as_without_preload("execvp");
}

TEST_CASE("exec family: execvpe runs as without the preload and warns once")
{
    runs_as_without_preload("execvpe");
}

TEST_CASE("exec family: execveat runs as without the preload and warns once")
{
    runs_as_without_preload("execveat");
}

TEST_CASE("exec family: execveat with AT_EMPTY_PATH runs as without the preload and warns once")
{
    runs_as_without_preload("execveat-empty");
}

TEST_CASE("exec family: fexecve runs as without the preload and warns once")
{
    runs_as_without_preload("fexecve");
}

TEST_CASE("exec family: execl runs as without the preload and warns once")
{
    runs_as_without_preload("execl");
}

TEST_CASE("exec family: execlp runs as without the preload and warns once")
{
    runs_as_without_preload("execlp");
}

TEST_CASE("exec family: execle runs as without the preload and warns once")
{
    runs_as_without_preload("execle");
}

TEST_CASE("exec family: posix_spawn runs as without the preload and warns once")
{
    runs_as_without_preload("posix_spawn");
}

TEST_CASE("exec family: posix_spawnp runs as without the preload and warns once")
{
    runs_as_without_preload("posix_spawnp");
}

TEST_CASE("exec family: system runs as without the preload and warns once")
{
    runs_as_without_preload("system");
}

TEST_CASE("exec family: popen runs as without the preload and warns once")
{
    runs_as_without_preload("popen");
}

TEST_CASE("exec family: a missing program fails with the same return value and errno")
{
    const std::string call = GENERATE(as<std::string>{}, "execve", "execv", "execvp", "execvpe",
                                      "execveat", "execveat-empty", "fexecve", "execl", "execlp",
                                      "execle", "posix_spawn", "posix_spawnp", "system", "popen");
    const std::string mode = call + "-missing";
    const TempDir state;
    const Run plain = run(mode, false, launch_with(state, false));
    INFO(mode << " without the preload: stdout: " << plain.out << "\nstderr: " << plain.err);
    REQUIRE(plain.status == 0);
    REQUIRE(std::regex_match(plain.out, std::regex("rc -1 errno E[A-Z]+\n|rc E[A-Z]+ errno [0-9A-Z]+\n|"
                                                   "(system|popen) exit 127\n")));

    CHECK(run(mode, true, launch_with(state, false)).out == plain.out);
    for (const bool listener : {false, true})
        for (const bool cloexec : {false, true}) {
            const Launch launch = launch_with(state, true, {{"PORTSHIM_CLOEXEC", cloexec ? "1" : "0"}});
            const Run shimmed = run(mode, listener, launch);
            INFO("preloaded, listener " << listener << ", PORTSHIM_CLOEXEC=" << cloexec
                                        << ": stdout: " << shimmed.out << "\nstderr: " << shimmed.err);
            CHECK(shimmed.status == plain.status);
            CHECK(shimmed.out == plain.out);
        }
}
