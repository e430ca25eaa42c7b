// Native journal entries (PORTSHIM_LOG=journal, and by default on systemd's journal
// stream), proved with real failing daemons whose datagrams a catcher bound at
// /run/systemd/journal/socket receives inside a private mount namespace.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

// What legacy_server writes to stderr on a failed bind, without the shim.
const std::string own_stderr = "bind: Address already in use\n";

/** One entry's fields; a name may repeat. */
using Entry = std::multimap<std::string, std::string>;

/**
 * The native protocol parsed here on its own (not with the library's decoder, so
 * the two cannot agree on a mistake): NAME=value\n, or NAME\n, a little-endian
 * 64-bit length, the value and \n. Fails the test on any malformed byte.
 */
Entry parse_entry(const std::string& d)
{
    INFO("datagram: " << d);
    Entry entry;
    std::size_t at = 0;
    while (at < d.size()) {
        const std::size_t nl = d.find('\n', at);
        REQUIRE(nl != std::string::npos);
        const std::string line = d.substr(at, nl - at);
        REQUIRE_FALSE(line.empty());
        const std::size_t eq = line.find('=');
        if (eq != std::string::npos) {
            entry.emplace(line.substr(0, eq), line.substr(eq + 1));
            at = nl + 1;
            continue;
        }
        REQUIRE(d.size() - (nl + 1) >= 8);
        std::uint64_t len = 0;
        for (int i = 7; i >= 0; --i)
            len = (len << 8) | static_cast<unsigned char>(d[nl + 1 + static_cast<std::size_t>(i)]);
        const std::size_t value = nl + 9;
        REQUIRE(len < d.size() - value);
        REQUIRE(d[value + len] == '\n');
        entry.emplace(line, d.substr(value, len));
        at = value + len + 1;
    }
    for (const auto& field : entry) {
        INFO("field " << field.first);
        CHECK(field.first.size() <= 64);
        CHECK(field.first.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") == std::string::npos);
        CHECK(field.first[0] != '_');
    }
    return entry;
}

std::string only(const Entry& e, const std::string& name)
{
    INFO("field " << name);
    REQUIRE(e.count(name) == 1);
    return e.find(name)->second;
}

std::vector<std::string> all(const Entry& e, const std::string& name)
{
    std::vector<std::string> values;
    for (auto [it, end] = e.equal_range(name); it != end; ++it)
        values.push_back(it->second);
    return values;
}

struct Journaled {
    int status = -1;
    std::string out, err;
    std::vector<std::string> datagrams;
};

/**
 * Runs `command` with the preload (PORTSHIM_FORMAT=json and `env`, no PORTSHIM_LOG
 * unless given) under journal_catcher; skips where the namespace is refused.
 * `options`: journal_catcher's (-n, -e socket, -j match|wrong).
 */
Journaled catch_journal(const std::vector<std::string>& command,
                        const std::vector<std::pair<std::string, std::string>>& env,
                        const std::vector<std::string>& options = {}, bool preload = true)
{
    require_root("journal_catcher mounts a private /run/systemd/journal");
    Journaled caught;
    const TempDir dir;
    std::vector<std::string> argv{prog("journal_catcher")};
    argv.insert(argv.end(), options.begin(), options.end());
    // env applies the preload to the command only, never to the catcher itself.
    argv.insert(argv.end(), {dir.path(), "/usr/bin/env"});
    if (preload)
        argv.insert(argv.end(), {"LD_PRELOAD=" + require_library(), "PORTSHIM_FORMAT=json"});
    for (const auto& [name, value] : env)
        argv.push_back(name + "=" + value);
    argv.insert(argv.end(), command.begin(), command.end());
    Process catcher(argv, Launch{});
    caught.status = catcher.wait(30s);
    caught.out = catcher.out();
    caught.err = catcher.err();
    if (caught.status == 77)
        skip("no private /run/systemd/journal here: " + caught.err);
    for (int i = 1;; ++i) {
        std::ifstream in(dir / std::to_string(i), std::ios::binary);
        if (!in)
            break;
        caught.datagrams.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return caught;
}

std::vector<std::string> failing_daemon(int port)
{
    return {prog("legacy_server"), "-p", std::to_string(port)};
}

/** The host saw what it sees without the shim: exit 1, errno=98, its own stderr line. */
void check_host_unchanged(const Journaled& caught)
{
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_stderr);
}

/**
 * The one bind-failed entry: the sink's fields, MESSAGE the headline, the report
 * (JSON) agreeing with the fields; returns the entry.
 */
Entry only_bind_failed_entry(const Journaled& caught, int port, const std::string& cause)
{
    INFO("stderr: " << caught.err);
    REQUIRE(caught.datagrams.size() == 1);
    const Entry e = parse_entry(caught.datagrams[0]);
    CHECK_THAT(only(e, "MESSAGE"), StartsWith("bind(0.0.0.0:" + std::to_string(port) +
                                              "/tcp) failed: EADDRINUSE — " + cause + ": "));
    CHECK(only(e, "PRIORITY") == "3");
    CHECK(only(e, "SYSLOG_IDENTIFIER") == "portshim");
    CHECK(only(e, "PORTSHIM_EVENT") == "bind-failed");
    CHECK(only(e, "PORTSHIM_CAUSE") == cause);
    CHECK(only(e, "PORTSHIM_CALL") == "bind");
    CHECK(only(e, "PORTSHIM_PROTO") == "tcp");
    CHECK(only(e, "PORTSHIM_ADDRESS") == "0.0.0.0");
    CHECK(only(e, "PORTSHIM_PORT") == std::to_string(port));
    CHECK(only(e, "PORTSHIM_ERRNO") == "EADDRINUSE");
    CHECK_FALSE(only(e, "PORTSHIM_FIX").empty());
    Json report;
    REQUIRE_NOTHROW(report = parse_json(only(e, "PORTSHIM_REPORT")));
    CHECK(report["event"].str() == "bind-failed");
    CHECK(report["cause"].str() == cause);
    CHECK(only(e, "SYSLOG_PID") == std::to_string(static_cast<int>(report["pid"].number())));
    CHECK(only(e, "PORTSHIM_FIX") == report["fix"].str());
    return e;
}

/** No entry: the bind-failed report on stderr before the daemon's own line, as without a journal. */
void check_report_on_stderr(const Journaled& caught, int holder)
{
    INFO("stderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.datagrams.empty());
    REQUIRE_THAT(caught.err, EndsWith(own_stderr));
    const Json event = parse_json(caught.err.substr(0, caught.err.size() - own_stderr.size()));
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{holder});
}

/** A holder of a fresh port running from a copy of legacy_server at `exe`. */
std::unique_ptr<Process> holder_running_as(const std::string& exe)
{
    std::filesystem::copy_file(prog("legacy_server"), exe);
    REQUIRE(::chmod(exe.c_str(), 0755) == 0);
    return std::make_unique<Process>(std::vector<std::string>{exe}, preloaded());
}

} // namespace

TEST_CASE("journal: a previous instance's failing bind is one native entry with its fields")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    const Journaled caught = catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "journal"}});
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "previous-instance");
    CHECK(all(e, "PORTSHIM_HOLDER_PID") == std::vector<std::string>{std::to_string(holder.pid())});
    CHECK_THAT(only(e, "PORTSHIM_HOLDER_EXE"), EndsWith("/legacy_server"));
    CHECK(only(e, "PORTSHIM_HOLDERS") == "1");
    CHECK_THAT(only(e, "PORTSHIM_EXE"), EndsWith("/legacy_server"));
    if (const char* dump = std::getenv("PORTSHIM_TEST_JOURNAL_DUMP"))
        std::ofstream(dump, std::ios::binary) << caught.datagrams[0];
}

TEST_CASE("journal: a restart into TIME_WAIT is an entry with the time-wait cause")
{
    const int port = leave_time_wait(preloaded());

    const Journaled caught = catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "journal"}});
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "time-wait");
    CHECK(only(e, "PORTSHIM_HOLDERS") == "0");
    CHECK(e.count("PORTSHIM_HOLDER_PID") == 0);
    CHECK_THAT(only(e, "MESSAGE"), Contains("TIME_WAIT"));
}

TEST_CASE("journal: a holder's exe with a newline is one binary field and forges none")
{
    const TempDir dir;
    const std::string exe = dir / "srv\nPORTSHIM_CAUSE=forged";
    const auto holder = holder_running_as(exe);
    const int port = read_port(*holder);

    const Journaled caught = catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "journal"}});
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "other-service");
    CHECK(only(e, "PORTSHIM_HOLDER_EXE") == exe);
    CHECK(only(e, "PORTSHIM_HOLDER_PID") == std::to_string(holder->pid()));
    // The binary form: the name alone on its line, then the length.
    CHECK(caught.datagrams[0].find("\nPORTSHIM_HOLDER_EXE\n") != std::string::npos);
    // The escaped text stays one line: MESSAGE has no newline.
    CHECK(only(e, "MESSAGE").find('\n') == std::string::npos);
}

TEST_CASE("journal: an over-long value is cut and the entry stays whole")
{
    // An exe path of about 3000 bytes (PATH_MAX allows 4095): more than a field holds.
    const TempDir dir;
    std::filesystem::path deep = dir.path();
    for (int i = 0; i < 14; ++i)
        deep /= std::string(200, static_cast<char>('a' + i));
    std::filesystem::create_directories(deep);
    const std::string exe = deep / "long_daemon";
    const auto holder = holder_running_as(exe);
    const int port = read_port(*holder);

    const Journaled caught = catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "journal"}});
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "other-service");
    const std::string shown = only(e, "PORTSHIM_HOLDER_EXE");
    CHECK(shown.size() == 2048);
    CHECK(exe.compare(0, shown.size(), shown) == 0);
    CHECK(only(e, "PORTSHIM_HOLDER_PID") == std::to_string(holder->pid()));
    CHECK(caught.datagrams[0].size() <= 16384);
}

TEST_CASE("journal: on systemd's journal stream entries are native by default")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    // fd 2 is a stream socket and JOURNAL_STREAM names it, as systemd sets both up.
    const Journaled caught = catch_journal(failing_daemon(port), {}, {"-e", "socket", "-j", "match"});
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "previous-instance");
    CHECK(only(e, "PORTSHIM_HOLDER_PID") == std::to_string(holder.pid()));

    // An explicit PORTSHIM_LOG wins: stderr asked for is no journal entry.
    const Journaled asked =
        catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "stderr"}}, {"-e", "socket", "-j", "match"});
    CHECK(asked.status == 1);
    CHECK(asked.datagrams.empty());
}

TEST_CASE("journal: JOURNAL_STREAM naming another file leaves the stderr lines")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    // fd 2 was redirected after systemd set the variable: a pipe, not the stream it names.
    check_report_on_stderr(catch_journal(failing_daemon(port), {}, {"-j", "wrong"}), holder.pid());
}

TEST_CASE("journal: no journald falls back to the stderr report")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    check_report_on_stderr(catch_journal(failing_daemon(port), {{"PORTSHIM_LOG", "journal"}}, {"-n"}),
                           holder.pid());
}

TEST_CASE("journal: the supervisor's report names the supervised program's pid")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    std::vector<std::string> command{PORTSHIM_TEST_RUN, "--supervise", "--"};
    const std::vector<std::string> daemon = failing_daemon(port);
    command.insert(command.end(), daemon.begin(), daemon.end());
    const Journaled caught =
        catch_journal(command, {{"PORTSHIM_LOG", "journal"}, {"PORTSHIM_FORMAT", "json"}}, {}, false);
    check_host_unchanged(caught);
    const Entry e = only_bind_failed_entry(caught, port, "previous-instance");
    CHECK(only(e, "PORTSHIM_OBSERVED") == "supervisor");
    CHECK(only(e, "PORTSHIM_HOLDER_PID") == std::to_string(holder.pid()));
}

TEST_CASE("journal: the hooks' exec-leak and the child's inherited event are entries too")
{
    // A server runs system() with its listening socket inherited: the parent's hooks
    // warn (exec-leak), the shell's engine reports what it started holding (inherited).
    const Journaled caught =
        catch_journal({prog("hostile_names"), "system", "exit 0"}, {{"PORTSHIM_LOG", "journal"}});
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 0);
    CHECK_THAT(caught.out, StartsWith("port ") && EndsWith("\nstatus 0\n"));
    CHECK(caught.err.empty());
    std::multiset<std::string> events;
    for (const std::string& datagram : caught.datagrams) {
        const Entry e = parse_entry(datagram);
        events.insert(only(e, "PORTSHIM_EVENT"));
        CHECK(only(e, "SYSLOG_IDENTIFIER") == "portshim");
        CHECK(only(e, "MESSAGE").find('\n') == std::string::npos);
        CHECK_THAT(only(e, "PORTSHIM_REPORT"), StartsWith("{\"event\":\"" + only(e, "PORTSHIM_EVENT") + "\""));
        if (only(e, "PORTSHIM_EVENT") == "exec-leak")
            CHECK(only(e, "PRIORITY") == "4");
    }
    CHECK(events == std::multiset<std::string>{"exec-leak", "inherited"});
}
