// PORTSHIM_CLOEXEC=1 by socket, not by number: a descriptor another thread reuses
// while system() runs keeps its own FD_CLOEXEC, any number of listening sockets is
// kept out of the child, and the exec-leak events count honestly which were.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace portshim::test;

namespace {


// A shell script counting the sockets the shell itself holds (builtins only).
const std::string count_sockets =
    "n=0; for f in /proc/$$/fd/*; do if [ -S \"$f\" ]; then n=$((n+1)); fi; done; "
    "echo \"sockets $n\"";

/** PORTSHIM_CLOEXEC=1, events asked for on stderr (events about exec go there only then). */
Launch with_cloexec()
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_CLOEXEC", "1");
    launch.env.emplace_back("PORTSHIM_LOG", "stderr");
    return launch;
}

/** Runs `argv` to the end (exit 0 required) and returns it. */
std::unique_ptr<Process> run(const std::vector<std::string>& argv, const Launch& launch)
{
    auto process = std::make_unique<Process>(argv, launch);
    const int status = process->wait(30s);
    INFO("stdout: " << process->out() << "\nstderr: " << process->err());
    REQUIRE(status == 0);
    return process;
}

/** The sockets an exec-leak event is about: those listed plus those only counted. */
int sockets_in(const Json& event)
{
    return static_cast<int>(event["fds"].items().size() + event["fds_not_listed"].number());
}

/** Sockets the exec-leak events on `err` say were kept out (`closed`) or not. */
void count_exec_leaks(const std::string& err, int& kept_out, int& leaking)
{
    kept_out = leaking = 0;
    for (const Json& event : json_lines(err)) {
        if (event["event"].str() != "exec-leak" || !event["handover"].is_null())
            continue;
        (event["closed"].boolean() ? kept_out : leaking) += sockets_in(event);
    }
}

} // namespace

TEST_CASE("behaviour: PORTSHIM_CLOEXEC: a descriptor number another thread reuses during system() keeps its own FD_CLOEXEC")
{
    for (const std::string kind : {"socket", "file"}) {
        INFO("the thread puts a new " << kind << " on the number");
        const std::vector<std::string> argv{prog("cloexec_reuse"), "-k", kind};
        const auto plain = run(argv, Launch{});
        REQUIRE(plain->out() == "status 0\nreused cloexec=1\nkept cloexec=0\n");
        // Before the fix the flags were cleared by number once system() returned:
        // "reused cloexec=0", the thread's own O_CLOEXEC lost.
        const auto with = run(argv, with_cloexec());
        CHECK(with->out() == plain->out());
        int kept_out = 0, leaking = 0;
        count_exec_leaks(with->err(), kept_out, leaking);
        CHECK(kept_out == 2);
        CHECK(leaking == 0);
    }
}

TEST_CASE("behaviour: PORTSHIM_CLOEXEC: all of 42 listening sockets are kept out of a system() child and counted")
{
    const std::vector<std::string> argv{prog("leaky_server"), "-n", "42", "-s", count_sockets};
    const auto plain = run(argv, Launch{});
    REQUIRE(plain->out().find("sockets 42\n") != std::string::npos);

    const auto with = run(argv, with_cloexec());
    // Before the fix only the first 32 were kept out ("sockets 10") while the
    // event claimed all 42 were.
    CHECK(with->out().find("sockets 0\n") != std::string::npos);
    // Once system() returned every flag was put back as the program had it.
    CHECK(with->out().find("cloexec 0\n") != std::string::npos);
    int kept_out = 0, leaking = 0;
    count_exec_leaks(with->err(), kept_out, leaking);
    CHECK(kept_out == 42);
    CHECK(leaking == 0);
}

TEST_CASE("behaviour: PORTSHIM_CLOEXEC: sockets a vfork child cannot keep out are reported as leaking and not as closed")
{
    // A vfork child shares its parent's memory: portshim maps no pages there
    // (they would stay in the parent after the exec), so it keeps out as many
    // sockets as its stack-sized plan holds and must say which it did not.
    const std::vector<std::string> argv{prog("leaky_server"), "-n", "42", "-v", count_sockets};
    const auto with = run(argv, with_cloexec());
    INFO("stdout: " << with->out() << "\nstderr: " << with->err());
    int kept_out = 0, leaking = 0;
    count_exec_leaks(with->err(), kept_out, leaking);
    CHECK(kept_out + leaking == 42);
    CHECK(kept_out > 0);
    // The shell holds exactly the sockets reported as leaking.
    CHECK(with->out().find("sockets " + std::to_string(leaking) + "\n") != std::string::npos);
    CHECK(with->out().find("cloexec 0\n") != std::string::npos);
}
