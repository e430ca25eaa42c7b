// PORTSHIM_FORMAT=github and colour with real programs: a failing restart gives one
// ::error annotation and fails as without the shim; a helper started with the
// listening socket open gives a ::warning; text on a pipe is never coloured.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <sstream>
#include <string>
#include <vector>

using namespace portshim::test;

namespace {

/** A preloaded launch in the given format (the registry in the test's own directory). */
Launch in_format(const std::string& format, const TempDir& state)
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_FORMAT", format);
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    return launch;
}

/** The lines of `text` that are workflow commands ("::…"). */
std::vector<std::string> annotations(const std::string& text)
{
    std::vector<std::string> found;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("::", 0) == 0)
            found.push_back(line);
    return found;
}

} // namespace

TEST_CASE("github: a failing restart writes one ::error annotation and fails as without the shim")
{
    const TempDir state;
    Process first({prog("legacy_server")}, in_format("json", state));
    const int port = read_port(first);

    Process second({prog("legacy_server"), "-p", std::to_string(port)}, in_format("github", state));
    require_failed_as_without_shim(second);
    INFO("stderr: " << second.err());

    const std::vector<std::string> found = annotations(second.err());
    REQUIRE(found.size() == 1);
    CHECK(found[0].rfind("::error title=portshim%3A bind(0.0.0.0%3A" + std::to_string(port) +
                             "/tcp) failed%3A EADDRINUSE — previous-instance::pid " +
                             std::to_string(first.pid()) + " (",
                         0) == 0);
    CHECK(found[0].find("%0Afix: ") != std::string::npos);
    // Nothing in text besides the annotation: the program's own perror line only.
    CHECK(second.err().find("portshim[") == std::string::npos);
}

TEST_CASE("github: a helper keeping the listening socket gives a ::warning exec-leak annotation")
{
    const TempDir state;
    Process server({prog("spawn_server"), "-m", "fork-exec"}, in_format("github", state));
    const int port = read_port(server);
    const auto helper_line = server.read_line();
    REQUIRE(helper_line);
    REQUIRE(helper_line->rfind("helper ", 0) == 0);
    const int helper = std::stoi(helper_line->substr(7));
    struct KillHelper {
        int pid;
        ~KillHelper() { ::kill(pid, SIGKILL); } // sleep 300, no child of ours: killed by pid
    } guard{helper};
    REQUIRE(helper > 1);

    const std::string leak = "::warning title=portshim%3A exec-leak::running ";
    const std::string inherited = "::notice title=portshim%3A inherited::this process (";
    server.wait_for([&] {
        return server.err().find(leak) != std::string::npos &&
               server.err().find(inherited) != std::string::npos;
    });
    INFO("stderr: " << server.err());
    const std::vector<std::string> found = annotations(server.err());
    CHECK(found.size() >= 2);
    for (const std::string& line : found) {
        const bool known = line.rfind(leak, 0) == 0 || line.rfind(inherited, 0) == 0 ||
                           line.rfind("::notice title=portshim%3A fork::", 0) == 0;
        CHECK(known);
    }
    CHECK(server.err().find("(tcp 0.0.0.0:" + std::to_string(port) + ") open without O_CLOEXEC") !=
          std::string::npos);
    CHECK(server.err().find("%0Afix: create listening sockets with SOCK_CLOEXEC") != std::string::npos);
}

TEST_CASE("colour: text reports on a pipe stay plain whatever TERM says")
{
    const TempDir state;
    Process first({prog("legacy_server")}, in_format("json", state));
    const int port = read_port(first);

    Launch text = in_format("text", state);
    text.env.emplace_back("TERM", "xterm-256color");
    Process second({prog("legacy_server"), "-p", std::to_string(port)}, text);
    require_failed_as_without_shim(second);
    INFO("stderr: " << second.err());
    CHECK(second.err().find("failed: EADDRINUSE — previous-instance: ") != std::string::npos);
    CHECK(second.err().find('\x1b') == std::string::npos);
}
