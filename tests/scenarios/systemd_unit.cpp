// `portshim unit` for real: a unit file in a scratch root becomes a drop-in that
// systemd-analyze verify accepts, and the drop-in's own command lines, run as
// systemd would run them, wait for and diagnose a port a previous instance holds.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

const std::string cli = PORTSHIM_TEST_CLI;

std::string read_text(const std::string& path)
{
    std::ifstream in(path);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

/** The values of `key`= in `text`, in order. */
std::vector<std::string> values_of(const std::string& text, const std::string& key)
{
    std::vector<std::string> values;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (line.rfind(key + "=", 0) == 0) values.push_back(line.substr(key.size() + 1));
    return values;
}

/** A command line of the drop-in as systemd splits it; ours have no quotes (checked). */
std::vector<std::string> words_of(std::string line)
{
    REQUIRE(line.find_first_of("\"'\\%$") == std::string::npos);
    line.erase(0, line.find('/'));  // the prefixes before the path
    std::vector<std::string> words;
    std::istringstream in(line);
    for (std::string w; in >> w;) words.push_back(w);
    return words;
}

} // namespace

TEST_CASE("unit: the drop-in passes systemd-analyze verify and its ExecStart diagnoses a busy port")
{
    require_library();
    TempDir root;
    Process first({prog("legacy_server")}, Launch{});
    const int port = read_port(first);
    const std::string units = root.path() + "/etc/systemd/system";
    std::filesystem::create_directories(units);
    // A continuation line and the "-" prefix, as hand-written units have them.
    write_file(units + "/legacy.service", "[Unit]\nDescription=legacy server\n\n[Service]\n"
                                          "ExecStart=-" + prog("legacy_server") + " \\\n    -p " +
                                          std::to_string(port) + "\nRestart=on-failure\n");

    Process unit({cli, "unit", "--root", root.path(), "--write", "--port", std::to_string(port), "--timeout", "1",
                  "legacy.service"},
                 Launch{});
    REQUIRE(unit.wait() == 0);
    const std::string path = units + "/legacy.service.d/portshim.conf";
    CHECK(unit.out() == "portshim: wrote " + path + "\nrun: systemctl daemon-reload && systemctl restart legacy.service\n");
    struct stat st {};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0644);
    const std::string drop_in = read_text(path);
    INFO("drop-in:\n" << drop_in);
    CHECK_THAT(drop_in, StartsWith("# Written by `portshim unit`"));
    CHECK_THAT(drop_in, Contains("# Undo: rm " + path));

    if (access("/usr/bin/systemd-analyze", X_OK) == 0) {
        // SYSTEMD_UNIT_PATH (trailing ':' keeps the built-in directories): the unit and its drop-in.
        Process verify({"/usr/bin/systemd-analyze", "verify", units + "/legacy.service"},
                       Launch{false, false, {{"SYSTEMD_UNIT_PATH", units + ":"}, {"SYSTEMD_LOG_LEVEL", "notice"}}});
        const int verified = verify.wait(60s);
        INFO("systemd-analyze: " << verify.out() << verify.err());
        CHECK(verified == 0);
        CHECK(verify.out().empty());
    } else {
        WARN("systemd-analyze is not installed (Debian package systemd): the drop-in was not verified");
    }

    // What systemd would run: ExecStartPre first (the port is held: it times out and reports),
    // then the wrapped daemon, whose bind fails as without portshim, with the diagnosis.
    const auto pre = values_of(drop_in, "ExecStartPre");
    REQUIRE(pre.size() == 1);
    Process wait(words_of(pre[0]), Launch{});
    CHECK(wait.wait(30s) == 1);
    CHECK_THAT(wait.out(), Contains("still in use after 1 s"));

    const auto start = values_of(drop_in, "ExecStart");
    REQUIRE(start.size() == 2);
    CHECK(start[0].empty());
    CHECK_THAT(start[1], StartsWith("-/"));
    Process second(words_of(start[1]), Launch{false, false, {{"PORTSHIM_FORMAT", "json"}}});
    require_failed_as_without_shim(second);
    const Json event = only_bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{first.pid()});

    // Once the holder is gone the wait line lets the start go on.
    REQUIRE(::kill(first.pid(), SIGKILL) == 0);
    first.wait();
    Process free_now(words_of(pre[0]), Launch{});
    CHECK(free_now.wait(30s) == 0);
}

TEST_CASE("unit: a bad or missing unit is refused in one line with exit 2")
{
    TempDir root;
    const std::string units = root.path() + "/etc/systemd/system";
    std::filesystem::create_directories(units);
    write_file(units + "/noexec.service", "[Service]\nType=simple\n");
    write_file(units + "/app.socket", "[Socket]\nListenStream=8080\n");
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"missing.service"},
                                               {"noexec.service"},
                                               {"app.socket"},
                                               {"dir/legacy.service"},
                                               {"--port", "70000", "noexec.service"},
                                               {"--bogus", "noexec.service"},
                                               {}}) {
        std::vector<std::string> argv{cli, "unit", "--root", root.path()};
        argv.insert(argv.end(), args.begin(), args.end());
        Process unit(argv, Launch{});
        INFO("portshim unit " << (args.empty() ? "" : args.back()));
        CHECK(unit.wait() == 2);
        CHECK(unit.out().empty());
        CHECK_THAT(unit.err(), StartsWith("portshim: "));
        CHECK(std::count(unit.err().begin(), unit.err().end(), '\n') == 1);
    }
    // A drop-in it did not write stays unless --force.
    write_file(units + "/ok.service", "[Service]\nExecStart=/bin/true\n");
    std::filesystem::create_directories(units + "/ok.service.d");
    write_file(units + "/ok.service.d/portshim.conf", "[Service]\nNice=5\n");
    Process refused({cli, "unit", "--root", root.path(), "--write", "ok"}, Launch{});
    CHECK(refused.wait() == 1);
    CHECK_THAT(refused.err(), Contains("portshim did not write it"));
    CHECK(read_text(units + "/ok.service.d/portshim.conf") == "[Service]\nNice=5\n");
    Process forced({cli, "unit", "--root", root.path(), "--write", "--force", "ok"}, Launch{});
    CHECK(forced.wait() == 0);
    CHECK_THAT(read_text(units + "/ok.service.d/portshim.conf"), StartsWith("# Written by `portshim unit`"));
}
