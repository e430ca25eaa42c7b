// Reliability under resource faults, fd hygiene and secure execution: real failing
// binds at the descriptor limit, with fds 0-2 reused, in a chroot without /proc, around
// an exec, and in a setuid program; the host sees what it sees without the preload.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

namespace fs = std::filesystem;

std::string file_contents(const std::string& path)
{
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool exists(const std::string& path)
{
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

/** Runs argv without and with the preload; both must print the same and exit alike. */
std::string same_output_with_and_without_shim(const std::vector<std::string>& argv, int status,
                                              std::string* with_stderr = nullptr)
{
    Process without(argv, Launch{});
    REQUIRE(without.wait() == status);
    Process with(argv, preloaded());
    INFO("without the shim: " << without.out() << without.err());
    INFO("with the shim: " << with.out() << with.err());
    REQUIRE(with.wait() == status);
    CHECK(with.out() == without.out());
    if (with_stderr != nullptr)
        *with_stderr = with.err();
    return with.out();
}

/** Runs command under syslog_catcher (a private /dev/log); returns its status and datagrams. */
int run_catching_syslog(const std::vector<std::string>& command, std::vector<std::string>& datagrams)
{
    require_root("syslog_catcher mounts a private /dev to own /dev/log");
    const TempDir dir;
    std::vector<std::string> argv{prog("syslog_catcher"), dir / "datagrams", "/usr/bin/env",
                                  "LD_PRELOAD=" + require_library(), "PORTSHIM_FORMAT=json"};
    argv.insert(argv.end(), command.begin(), command.end());
    Process catcher(argv, Launch{});
    const int status = catcher.wait();
    if (status == 77)
        skip("no private /dev/log here: " + catcher.err());
    std::istringstream lines(file_contents(dir / "datagrams"));
    for (std::string line; std::getline(lines, line);)
        datagrams.push_back(line);
    return status;
}

/** "[12345]" in readlink targets (socket:[N], pipe:[N]) as "[]": inodes differ between runs. */
std::string without_inodes(const std::string& listing)
{
    return std::regex_replace(listing, std::regex(R"(\[[0-9]+\])"), "[]");
}

/** The lines of `text` that start with `label` and a space, the label removed. */
std::string lines_labelled(const std::string& text, const std::string& label)
{
    std::istringstream in(text);
    std::string out;
    for (std::string line; std::getline(in, line);)
        if (line.rfind(label + " ", 0) == 0)
            out += line.substr(label.size() + 1) + "\n";
    return out;
}

/** The directory holding libportshim.so and the engine next to it. */
fs::path library_dir() { return fs::path(require_library()).parent_path(); }

/**
 * Copies the files into root at their own absolute paths, with every library ldd lists
 * for them (the dynamic loader included), so they run chrooted there.
 */
void copy_with_libraries(const std::string& root, const std::vector<std::string>& files)
{
    std::vector<std::string> argv{"/bin/sh", "-c",
                                  R"sh(set -eu
root=$1; shift
for f in "$@"; do
  for lib in "$f" $(ldd "$f" | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
done)sh",
                                  "copy", root};
    argv.insert(argv.end(), files.begin(), files.end());
    Process copy(argv, Launch{});
    INFO("copy: " << copy.out() << copy.err());
    REQUIRE(copy.wait() == 0);
}

/** The config-error events whose message contains `text`. */
int config_errors_saying(const std::string& err, const std::string& text)
{
    int n = 0;
    for (const Json& event : json_lines(err))
        n += event["event"].str() == "config-error" && event["message"].str().find(text) != std::string::npos;
    return n;
}

} // namespace

/** The bind-failed events among a program's stderr lines, in order. */
std::vector<Json> bind_failed_events(const std::string& err)
{
    std::vector<Json> failures;
    for (const Json& event : json_lines(err))
        if (event["event"].str() == "bind-failed")
            failures.push_back(event);
    return failures;
}

TEST_CASE("reliability: at the RLIMIT_NOFILE limit the bind fails as before and no descriptor is kept")
{
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    const std::string program = prog("fd_exhaust");

    // Cold: the engine is not loaded yet; loading it needs a descriptor too.
    for (const std::string spare : {"0", "1", "3"}) {
        INFO("descriptors free at the bind: " << spare);
        std::string err;
        const std::string out = same_output_with_and_without_shim({program, "-s", spare, port}, 1, &err);
        CHECK_THAT(out, Contains("bind errno=98\nfree " + spare + "\nopen errno=24\n"));
        if (spare == "0")
            CHECK_THAT(err, Contains("engine could not be loaded") && Contains("Too many open files"));
    }
    // Warm: a first failure with descriptors to spare loaded the engine; the second
    // diagnosis runs with none left and must say what it could not see.
    std::string err;
    const std::string out = same_output_with_and_without_shim({program, "-w", "-s", "0", port}, 1, &err);
    CHECK_THAT(out, Contains("warm bind errno=98\n"));
    CHECK_THAT(out, Contains("bind errno=98\nfree 0\nopen errno=24\n"));
    const std::vector<Json> failures = bind_failed_events(err);
    INFO("stderr: " << err);
    REQUIRE(failures.size() == 2);
    CHECK(failures[0]["cause"].str() == "other-service");
    CHECK(failures[1]["address"].str() == "127.0.0.1");
    CHECK(failures[1]["cause"].str() == "unknown");
    CHECK_THAT(joined(failures[1]["evidence"]), Contains("netlink sock_diag failed: EMFILE"));
}

TEST_CASE("reliability: short of descriptors the report names EMFILE and recovers once they are free")
{
    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));

    // One descriptor free: sock_diag gets it, the /proc scan of the holders does not.
    // The verdict must not blame the kernel or permissions for what EMFILE hid.
    std::string err;
    same_output_with_and_without_shim({prog("fd_exhaust"), "-s", "1", port}, 1, &err);
    std::vector<Json> failures = bind_failed_events(err);
    INFO("stderr: " << err);
    REQUIRE(failures.size() == 1);
    CHECK_THAT(joined(failures[0]["why"]), Contains("ran out of file descriptors (EMFILE)"));
    CHECK_THAT(joined(failures[0]["why"]), !Contains("the kernel itself owns it"));
    CHECK_THAT(joined(failures[0]["evidence"]), Contains("EMFILE"));
    CHECK_THAT(joined(failures[0]["evidence"]), !Contains("unreadable without root"));

    // The engine could not be loaded at the limit (the short undiagnosed line says
    // so); with descriptors free again the next failure (another address, so not
    // rate-limited) gets a full diagnosis.
    same_output_with_and_without_shim({prog("fd_exhaust"), "-a", "-s", "0", port}, 1, &err);
    failures = bind_failed_events(err);
    INFO("stderr after the descriptors were freed: " << err);
    REQUIRE(failures.size() == 2);
    CHECK(failures[0]["cause"].str() == "unknown");
    CHECK_THAT(failures[0]["summary"].str(), Contains("the diagnosis engine could not be loaded"));
    CHECK_THAT(joined(failures[0]["evidence"]), Contains("Too many open files"));
    CHECK(failures[1]["address"].str() == "0.0.0.0");
    CHECK(failures[1]["cause"].str() == "other-service");
}

TEST_CASE("reliability: fds 0-2 closed and reused for the daemon's files never receive a report")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    const std::string program = prog("stdio_reuse");
    // closed: 0-2 closed after the library was loaded; inherited: closed before exec.
    const std::vector<std::pair<std::string, std::vector<std::string>>> starts{
        {"closed", {program, "closed", port}},
        {"inherited", {"/bin/sh", "-c", "exec \"$0\" \"$@\" <&- >&- 2>&-", program, "inherited", port}}};
    for (const auto& [mode, command] : starts) {
        INFO("mode: " << mode);
        const TempDir without, with;
        std::vector<std::string> argv = command;
        argv.push_back(without.path());
        Process plain(argv, Launch{});
        REQUIRE(plain.wait() == 1);
        REQUIRE(file_contents(without / "result") == "errno=98\n");

        argv.back() = with.path();
        std::vector<std::string> datagrams;
        CHECK(run_catching_syslog(argv, datagrams) == 1);
        CHECK(file_contents(with / "result") == "errno=98\n");
        for (const char* fd : {"0", "1", "2"}) {
            INFO("the file opened as fd " << fd);
            CHECK(exists(with / fd));
            CHECK(file_contents(with / fd).empty());
        }
        // The report went to syslog instead, once.
        REQUIRE(datagrams.size() == 1);
        CHECK_THAT(datagrams[0], Contains("\"event\":\"bind-failed\""));
        CHECK_THAT(datagrams[0], Contains("\"cause\":\"other-service\""));
    }
}

TEST_CASE("reliability: fds 0-2 that are sockets receive nothing from the shim")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    const TempDir without, with;
    Process plain({prog("stdio_reuse"), "sockets", port, without.path()}, Launch{});
    REQUIRE(plain.wait() == 1);
    REQUIRE(file_contents(without / "result") == "errno=98\nreceived 0 0 0\n");

    std::vector<std::string> datagrams;
    CHECK(run_catching_syslog({prog("stdio_reuse"), "sockets", port, with.path()}, datagrams) == 1);
    CHECK(file_contents(with / "result") == "errno=98\nreceived 0 0 0\n");
    REQUIRE(datagrams.size() == 1);
    CHECK_THAT(datagrams[0], Contains("\"cause\":\"other-service\""));
}

TEST_CASE("reliability: in a chroot without /proc the daemon fails as before and the report says /proc could not be read")
{
    require_root("chroot(2) needs CAP_SYS_CHROOT");
    struct stat st {};
    if (::stat("/usr/sbin/chroot", &st) != 0 || ::stat("/usr/bin/ldd", &st) != 0)
        skip("coreutils chroot and ldd are needed");
    Process holder({prog("legacy_server")}, Launch{});
    const int port = read_port(holder);
    const TempDir dir;
    const std::string root = dir / "root";
    std::vector<std::string> files{prog("legacy_server")};
    for (const auto& entry : fs::directory_iterator(library_dir()))
        if (entry.is_regular_file() && entry.path().extension() == ".so")
            files.push_back(entry.path());
    copy_with_libraries(root, files);
    REQUIRE_FALSE(exists(root + "/proc"));

    const std::vector<std::string> argv{"/usr/sbin/chroot", root, prog("legacy_server"), "-p", std::to_string(port)};
    Process daemon(argv, preloaded());
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    INFO("stderr: " << daemon.err());
    CHECK(event["port"].number() == port);
    CHECK(event["cause"].str() == "hidden-owner");
    CHECK_THAT(joined(event["evidence"]), Contains("/proc could not be listed: ENOENT"));
    // Nothing was read, so no process was ruled out: no claim about PID namespaces.
    CHECK_THAT(joined(event["why"]), !Contains("every process visible from here was read"));
}

TEST_CASE("reliability: the descriptors are the same before and after a diagnosis and an exec'd program inherits none of ours")
{
    Process holder({prog("legacy_server"), "-a", "127.0.0.1"}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    const TempDir state;
    for (const bool listener : {false, true}) {
        INFO((listener ? "with a listening socket (registry, exec-leak)" : "without a listening socket"));
        std::vector<std::string> argv{prog("fd_hygiene")};
        if (listener)
            argv.push_back("-l");
        argv.insert(argv.end(), {port, prog("fd_list")});
        Process without(argv, Launch{});
        REQUIRE(without.wait() == 0);
        Launch launch = preloaded();
        launch.env.emplace_back("PORTSHIM_STATE_DIR", state / "state");
        Process with(argv, launch);
        REQUIRE(with.wait() == 0);
        INFO("without the shim: " << without.out() << without.err());
        INFO("with the shim: " << with.out() << with.err());
        CHECK_THAT(with.out(), Contains("bind errno=98\n"));
        CHECK_FALSE(lines_labelled(with.out(), "after").empty());
        CHECK(lines_labelled(with.out(), "after") == lines_labelled(with.out(), "before"));
        CHECK_FALSE(lines_labelled(with.out(), "child").empty());
        CHECK(without_inodes(with.out()) == without_inodes(without.out()));
        // The diagnosis happened: the fd sets were compared around a real report.
        CHECK(only_bind_failed_event(with)["cause"].str() == "other-service");
    }
}

TEST_CASE("reliability: under secure execution PORTSHIM_LOG and PORTSHIM_STATE_DIR are ignored and nothing is written")
{
    require_root("a setuid-root program and a private mount namespace");
    const SetuidTree tree;
    const TempDir& dir = tree.dir();
    const std::string& library = tree.library();
    tree.setuid_copy(prog("legacy_server"), "setuid_server");
    tree.setuid_copy(prog("prefork_server"), "setuid_prefork");
    // A place root could write and nobody could not: only the setuid program's root euid reaches it.
    fs::create_directories(dir / "private");
    const std::string log = dir / "private/log", state_dir = dir / "private/state";
    Launch launch;
    launch.env = {{"PORTSHIM_FORMAT", "json"}, {"PORTSHIM_LOG", log}, {"PORTSHIM_STATE_DIR", state_dir}};

    Process holder({prog("legacy_server")}, Launch{});
    const std::string port = std::to_string(read_port(holder));
    Process without({prog("secure_exec"), dir / "staging", "-", dir / "setuid_server", "-p", port}, launch);
    Process with({prog("secure_exec"), dir / "staging", library, dir / "setuid_server", "-p", port}, launch);
    const int status_without = without.wait();
    const int status_with = with.wait();
    if (status_with == 77)
        skip("no private mount namespace here: " + with.err());
    INFO("without the library: " << without.out() << without.err());
    INFO("with the library: " << with.out() << with.err());
    REQUIRE(status_without == 1);
    CHECK(status_with == status_without);
    CHECK(with.out() == without.out());
    CHECK(with.out() == "errno=98\n");
    // The library was loaded (ld.so.preload) and said why it ignored both paths.
    CHECK(config_errors_saying(with.err(), "PORTSHIM_LOG ignored under secure execution") == 1);
    CHECK(config_errors_saying(with.err(), "PORTSHIM_STATE_DIR ignored under secure execution") == 1);
    // Root's listener is withheld from nobody's report (rule 12): its owner is hidden.
    CHECK(only_bind_failed_event(with)["cause"].str() == "hidden-owner");
    CHECK_FALSE(exists(log));

    // A prefork master records its listener at the first fork, unless secure.
    Process prefork({prog("secure_exec"), dir / "staging", library, dir / "setuid_prefork", "-w", "1"}, launch);
    const auto first = prefork.read_line();
    const auto worker = prefork.read_line();
    INFO("prefork: " << prefork.out() << prefork.err());
    REQUIRE(first);
    REQUIRE(worker);
    CHECK(worker->rfind("worker ", 0) == 0);
    CHECK(config_errors_saying(prefork.err(), "PORTSHIM_STATE_DIR ignored") <= 1);
    CHECK_FALSE(exists(state_dir));
    CHECK_FALSE(exists(log));
    CHECK(fs::is_empty(dir / "private"));
}

TEST_CASE("reliability: a symlink or another user's directory at PORTSHIM_STATE_DIR receives no registry record")
{
    require_root("the state directory must belong to another user");
    const TempDir dir;
    const auto start_prefork = [&](const std::string& state_dir) {
        Launch launch = preloaded();
        launch.env.emplace_back("PORTSHIM_STATE_DIR", state_dir);
        auto server = std::make_unique<Process>(
            std::vector<std::string>{prog("prefork_server"), "-w", "1"}, launch);
        REQUIRE(server->read_line());
        const auto worker = server->read_line(); // printed after the fork: the record is written
        INFO("stderr: " << server->err());
        REQUIRE(worker);
        CHECK(worker->rfind("worker ", 0) == 0);
        return server;
    };
    // Control: a directory of our own gets the record, so the trigger works.
    fs::create_directories(dir / "own");
    REQUIRE(::chmod((dir / "own").c_str(), 0700) == 0);
    { auto server = start_prefork(dir / "own"); }
    CHECK(exists(dir / "own/listeners"));

    fs::create_directories(dir / "target");
    REQUIRE(::chmod((dir / "target").c_str(), 0700) == 0);
    REQUIRE(::symlink((dir / "target").c_str(), (dir / "link").c_str()) == 0);
    { auto server = start_prefork(dir / "link"); }
    CHECK_FALSE(exists(dir / "target/listeners"));

    // A dangling symlink: nothing is created at its target either.
    REQUIRE(::symlink((dir / "missing").c_str(), (dir / "dangling").c_str()) == 0);
    { auto server = start_prefork(dir / "dangling"); }
    CHECK_FALSE(exists(dir / "missing"));

    fs::create_directories(dir / "foreign");
    REQUIRE(::chmod((dir / "foreign").c_str(), 0700) == 0);
    REQUIRE(::chown((dir / "foreign").c_str(), nobody_uid, nobody_uid) == 0);
    { auto server = start_prefork(dir / "foreign"); }
    CHECK_FALSE(exists(dir / "foreign/listeners"));
}
