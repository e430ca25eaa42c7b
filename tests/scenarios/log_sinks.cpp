// Where reports go, proved with real failing daemons: PORTSHIM_LOG=path (created 0600,
// appended whole lines, refused unless a regular file of ours) and syslog datagrams.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::StartsWith;

namespace {

// What legacy_server writes to stderr on a failed bind, without the shim.
const std::string own_stderr = "bind: Address already in use\n";

std::string file_contents(const std::string& path)
{
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/** Every line of a log file, each parsed strictly; the file must end with a newline. */
std::vector<Json> parse_every_line(const std::string& log)
{
    INFO("log: " << log);
    REQUIRE_FALSE(log.empty());
    REQUIRE(log.back() == '\n');
    std::vector<Json> events;
    for (std::size_t at = 0; at < log.size();) {
        const std::size_t end = log.find('\n', at);
        const std::string line = log.substr(at, end - at);
        INFO("line: " << line);
        REQUIRE_NOTHROW(events.push_back(parse_json(line)));
        at = end + 1;
    }
    return events;
}

/** The preload, with reports sent to PORTSHIM_LOG=log. */
Launch logging_to(const std::string& log)
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_LOG", log);
    return launch;
}

/**
 * Starts a second legacy_server on the port, logging to `log`; it must fail as
 * without the shim. Returns its stderr and sets `pid`.
 */
std::string fail_logging_to(const std::string& log, int port, int& pid)
{
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, logging_to(log));
    require_failed_as_without_shim(daemon);
    pid = daemon.pid();
    return daemon.err();
}

/** A refused log file: the daemon fails as before, the report falls back to its stderr. */
void check_fell_back_to_stderr(int holder, int port, const std::string& log)
{
    Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, logging_to(log));
    require_failed_as_without_shim(daemon);
    const Json event = only_bind_failed_event(daemon);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["pid"].number() == daemon.pid());
    CHECK(holder_pids(event) == std::vector<int>{holder});
    // One config-error says why the report is not in the file.
    int refusals = 0;
    for (const Json& e : json_lines(daemon.err()))
        refusals += e["event"].str() == "config-error" &&
                    e["message"].str().find("PORTSHIM_LOG=" + log + " refused") != std::string::npos;
    CHECK(refusals == 1);
}

/** Sets the umask for the processes started in its lifetime. */
class ScopedUmask {
public:
    explicit ScopedUmask(mode_t mask) : saved_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(saved_); }
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

private:
    mode_t saved_;
};

/** The JSON after "<27>portshim[PID]: " (facility daemon, severity err), PID the event's. */
Json datagram_event(const std::string& datagram)
{
    INFO("datagram: " << datagram);
    const std::string prefix = "<27>portshim[";
    REQUIRE_THAT(datagram, StartsWith(prefix));
    const std::size_t close = datagram.find("]: ", prefix.size());
    REQUIRE(close != std::string::npos);
    const int pid = std::stoi(datagram.substr(prefix.size(), close - prefix.size()));
    Json event;
    REQUIRE_NOTHROW(event = parse_json(datagram.substr(close + 3)));
    CHECK(event["pid"].number() == pid);
    return event;
}

/** The single bind-failed datagram, for the holder on the port. */
void check_one_bind_failed_datagram(const Caught& caught, int holder, int port)
{
    INFO("stderr: " << caught.err);
    REQUIRE(caught.datagrams.size() == 1);
    const Json event = datagram_event(caught.datagrams[0]);
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["port"].number() == port);
    CHECK(holder_pids(event) == std::vector<int>{holder});
}

} // namespace

TEST_CASE("log file: created 0600 and appended to with nothing on stderr")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string log = dir / "portshim.log";

    int first = 0, second = 0;
    {
        // umask 0: the mode is the library's 0600, not the test runner's umask.
        const ScopedUmask permissive(0);
        CHECK(fail_logging_to(log, port, first) == own_stderr);
    }
    struct stat st {};
    REQUIRE(::lstat(log.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(st.st_uid == ::geteuid());

    std::vector<Json> events = parse_every_line(file_contents(log));
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"].str() == "bind-failed");
    CHECK(events[0]["cause"].str() == "previous-instance");
    CHECK(events[0]["pid"].number() == first);
    CHECK(events[0]["port"].number() == port);
    CHECK(holder_pids(events[0]) == std::vector<int>{holder.pid()});

    // A second failing start appends its line after the first.
    CHECK(fail_logging_to(log, port, second) == own_stderr);
    events = parse_every_line(file_contents(log));
    REQUIRE(events.size() == 2);
    CHECK(events[0]["pid"].number() == first);
    CHECK(events[1]["pid"].number() == second);
    CHECK(events[1]["cause"].str() == "previous-instance");
    REQUIRE(::lstat(log.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
}

TEST_CASE("log file: 8 daemons failing at once write one whole JSON line each")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string log = dir / "portshim.log";

    constexpr int count = 8;
    std::vector<std::unique_ptr<Process>> daemons;
    for (int i = 0; i < count; ++i)
        daemons.push_back(std::make_unique<Process>(
            std::vector<std::string>{prog("legacy_server"), "-p", std::to_string(port)}, logging_to(log)));
    std::multiset<int> failed_pids;
    for (const auto& daemon : daemons) {
        require_failed_as_without_shim(*daemon);
        CHECK(daemon->err() == own_stderr);
        failed_pids.insert(daemon->pid());
    }

    // One write(2) per event on an O_APPEND file: lines never interleave or tear.
    std::multiset<int> reported_pids;
    for (const Json& event : parse_every_line(file_contents(log))) {
        CHECK(event["event"].str() == "bind-failed");
        CHECK(event["cause"].str() == "previous-instance");
        CHECK(event["port"].number() == port);
        reported_pids.insert(static_cast<int>(event["pid"].number()));
    }
    CHECK(reported_pids == failed_pids);
}

TEST_CASE("log file: a symlink at the path is refused and the report goes to stderr")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string target = dir / "precious";
    write_file(target, "not a log: must stay as it is\n");
    REQUIRE(::symlink(target.c_str(), (dir / "portshim.log").c_str()) == 0);

    check_fell_back_to_stderr(holder.pid(), port, dir / "portshim.log");
    CHECK(file_contents(target) == "not a log: must stay as it is\n");
    struct stat st {};
    REQUIRE(::lstat((dir / "portshim.log").c_str(), &st) == 0);
    CHECK(S_ISLNK(st.st_mode));
}

TEST_CASE("log file: a dangling symlink at the path does not create its target")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string target = dir / "created-through-the-link";
    REQUIRE(::symlink(target.c_str(), (dir / "portshim.log").c_str()) == 0);

    check_fell_back_to_stderr(holder.pid(), port, dir / "portshim.log");
    struct stat st {};
    CHECK(::lstat(target.c_str(), &st) != 0);
}

TEST_CASE("log file: a FIFO at the path neither blocks the host nor takes the report")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string fifo = dir / "portshim.log";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

    // No reader: a blocking open for writing would wait forever (fifo(7)).
    {
        Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, logging_to(fifo));
        REQUIRE(daemon.wait(5s) == 1);
        require_failed_as_without_shim(daemon);
        CHECK(only_bind_failed_event(daemon)["cause"].str() == "previous-instance");
    }
    // A reader: the open succeeds, but a FIFO is not a regular file, so nothing is written.
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(reader >= 0);
    {
        Process daemon({prog("legacy_server"), "-p", std::to_string(port)}, logging_to(fifo));
        const int status = daemon.wait(5s);
        char byte;
        const ssize_t got = ::read(reader, &byte, 1);
        ::close(reader);
        REQUIRE(status == 1);
        require_failed_as_without_shim(daemon);
        CHECK(only_bind_failed_event(daemon)["cause"].str() == "previous-instance");
        CHECK(got <= 0);
    }
}

TEST_CASE("log file: a file owned by another user is refused")
{
    require_root("the log file must belong to a user other than the daemon's");
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const TempDir dir;
    const std::string log = dir / "portshim.log";
    write_file(log, "nobody's file\n");
    REQUIRE(::chown(log.c_str(), nobody_uid, nobody_uid) == 0);
    REQUIRE(::chmod(log.c_str(), 0600) == 0);

    // Root may open it (CAP_DAC_OVERRIDE); the owner check is what refuses it.
    check_fell_back_to_stderr(holder.pid(), port, log);
    CHECK(file_contents(log) == "nobody's file\n");
    struct stat st {};
    REQUIRE(::stat(log.c_str(), &st) == 0);
    CHECK(st.st_uid == nobody_uid);
}

TEST_CASE("log syslog: PORTSHIM_LOG=syslog sends the JSON event as a daemon.err datagram")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_LOG", "syslog");

    const Caught caught = catch_syslog({prog("legacy_server"), "-p", std::to_string(port)}, launch);
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_stderr);
    check_one_bind_failed_datagram(caught, holder.pid(), port);
}

TEST_CASE("log syslog: a text report is one datagram per line with the tag once")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    Launch launch = preloaded();
    launch.env = {{"PORTSHIM_LOG", "syslog"}, {"PORTSHIM_FORMAT", "text"}};

    const Caught caught = catch_syslog({prog("legacy_server"), "-p", std::to_string(port)}, launch);
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_stderr);
    REQUIRE(caught.datagrams.size() >= 2);
    const std::string headline = caught.datagrams[0];
    const std::size_t tag_end = headline.find("]: ");
    REQUIRE(tag_end != std::string::npos);
    const std::string tag = headline.substr(0, tag_end + 3);
    CHECK_THAT(tag, StartsWith("<27>portshim["));
    CHECK_THAT(headline, StartsWith(tag + "bind(0.0.0.0:" + std::to_string(port) +
                                    "/tcp) failed: EADDRINUSE — previous-instance: "));
    for (const std::string& datagram : caught.datagrams) {
        INFO("datagram: " << datagram);
        CHECK_THAT(datagram, StartsWith(tag));
        CHECK(datagram.find("portshim[", tag.size()) == std::string::npos);
    }
}

TEST_CASE("log syslog: a daemon started with stderr closed reports to syslog")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);
    const std::vector<std::string> daemon{prog("legacy_server"), "-p", std::to_string(port)};

    const Caught without = catch_syslog(daemon, Launch{}, "closed");
    const Caught with = catch_syslog(daemon, preloaded(), "closed");
    INFO("stdout: " << with.out << "\nstderr: " << with.err);
    CHECK(without.datagrams.empty());
    CHECK(with.status == without.status);
    CHECK(with.status == 1);
    CHECK(with.out == without.out);
    CHECK(with.err.empty());
    check_one_bind_failed_datagram(with, holder.pid(), port);
}

TEST_CASE("log syslog: a daemon whose stderr is a socket reports to syslog")
{
    Process holder({prog("legacy_server")}, preloaded());
    const int port = read_port(holder);

    // As under journald's StandardError=journal: the stream is the program's, not ours.
    const Caught caught =
        catch_syslog({prog("legacy_server"), "-p", std::to_string(port)}, preloaded(), "socket");
    INFO("stdout: " << caught.out << "\nstderr: " << caught.err);
    CHECK(caught.status == 1);
    CHECK(caught.out == "errno=98\n");
    CHECK(caught.err == own_stderr);
    check_one_bind_failed_datagram(caught, holder.pid(), port);
}
