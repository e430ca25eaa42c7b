// The files portshim writes inside a host: a server under a small RLIMIT_FSIZE
// whose registry, log file or redirected stderr is past the limit (never SIGXFSZ,
// never a cut record), and log targets or state directories that are no ordinary
// file of ours (/proc, /sys, a FIFO, a device, a symlink): refused without being
// opened, and said once.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

using namespace portshim::test;
namespace fs = std::filesystem;

namespace {


constexpr std::size_t record_size = 512;

std::string contents(const std::string& path)
{
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_private(const std::string& path, const std::string& text)
{
    std::ofstream(path, std::ios::binary) << text;
    REQUIRE(::chmod(path.c_str(), 0600) == 0);
    REQUIRE(contents(path) == text);
}

/** `n` well-formed registry records of a long-gone process, as the writer lays them out. */
std::string old_records(int n)
{
    std::string text;
    for (int i = 1; i <= n; ++i) {
        std::string line = "L1 netns=0 inode=" + std::to_string(900000 + i) +
                           " proto=tcp addr=0.0.0.0 port=1 pid=1 start=1 time=1 uid=0 exe=/old";
        line.resize(record_size - 1, ' ');
        text += line + '\n';
    }
    return text;
}

/** `argv` run by /bin/sh after `setup` (e.g. "ulimit -f 8": 4096 bytes in dash's 512-byte blocks). */
std::vector<std::string> after_shell(const std::string& setup, std::vector<std::string> argv)
{
    std::vector<std::string> command{"/bin/sh", "-c", setup + " && exec \"$@\"", "sh"};
    command.insert(command.end(), argv.begin(), argv.end());
    return command;
}

/** Runs to the end; returns the exit status. */
int run(Process& process)
{
    const int status = process.wait(30s);
    INFO("stdout: " << process.out() << "\nstderr: " << process.err());
    REQUIRE(status >= 0);
    return status;
}

/** The output of the same command without the preload. */
std::string unpreloaded_output(const std::vector<std::string>& argv)
{
    Process plain(argv, Launch{});
    REQUIRE(run(plain) == 0);
    return plain.out();
}

/** Each registry line of `text` whose pid is `pid`; every line must be a whole record. */
std::vector<std::string> records_of(const std::string& text, int pid)
{
    INFO("registry: " << text);
    CHECK(text.size() % record_size == 0);
    std::vector<std::string> mine;
    const std::regex record("L1 netns=[0-9]+ inode=[0-9]+ proto=tcp addr=0\\.0\\.0\\.0 port=[0-9]+ "
                            "pid=([0-9]+) start=[0-9]+ time=[0-9]+ uid=[0-9]+ exe=[^ ]+ *");
    for (std::size_t at = 0; at + record_size <= text.size(); at += record_size) {
        const std::string line = text.substr(at, record_size - 1);
        std::smatch m;
        CHECK(text[at + record_size - 1] == '\n');
        REQUIRE(std::regex_match(line, m, record));
        if (std::stoi(m[1]) == pid)
            mine.push_back(line);
    }
    return mine;
}

/**
 * A server that forks, runs `exit 3` with system() and fails a bind, started
 * under a file-size limit of 4096 bytes with its registry pre-grown to
 * `registry` and its log file past the limit: it must behave as without the
 * preload, and the registry must hold whole records only.
 */
void server_past_the_size_limit(const std::string& registry)
{
    const TempDir dir;
    const std::string state = dir / "state", log = dir / "portshim.log";
    fs::create_directory(state);
    REQUIRE(::chmod(state.c_str(), 0700) == 0);
    write_private(state + "/listeners", registry);
    std::string old_log;
    while (old_log.size() < 9000)
        old_log += "portshim[1]: an older report\n";
    write_private(log, old_log);
    const auto argv = after_shell("ulimit -f 8", {prog("leaky_server"), "-f", "-s", "exit 3", "-b"});

    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state);
    launch.env.emplace_back("PORTSHIM_LOG", log);
    Process server(argv, launch);
    // Before the fix: killed by SIGXFSZ at the fork, status 128 + 25 = 153.
    CHECK(run(server) == 0);
    CHECK(server.out() == unpreloaded_output(argv));
    CHECK(server.err().empty());
    // The log file could take nothing whole: nothing was written to it.
    CHECK(contents(log) == old_log);
    // The registry rotated instead of crossing the limit: the old records are
    // kept whole in listeners.1, the new one alone in a fresh file.
    CHECK(contents(state + "/listeners.1") == registry);
    CHECK(records_of(contents(state + "/listeners"), server.pid()).size() == 1);
}

/** What a run of leaky_server -b logging to `log` says: its stdout, the events on its stderr. */
struct LoggedRun {
    int status = -1;
    std::string out;
    std::vector<Json> events;
    std::string err;
};

LoggedRun fail_bind_logging_to(const std::string& log)
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_LOG", log);
    Process server({prog("leaky_server"), "-b"}, launch);
    LoggedRun result;
    result.status = server.wait(10s); // a FIFO must not make it wait
    result.out = server.out();
    result.err = server.err();
    result.events = json_lines(server.err());
    return result;
}

/**
 * The report of a failed bind falls back to stderr, preceded by one
 * config-error naming the log target and `reason`; the host's own output and
 * status are those of a run without the preload.
 */
void check_refused_log(const std::string& log, const std::string& reason)
{
    const LoggedRun run = fail_bind_logging_to(log);
    INFO("stdout: " << run.out << "\nstderr: " << run.err);
    CHECK(run.status == 0);
    CHECK(run.out == unpreloaded_output({prog("leaky_server"), "-b"}));
    int refusals = 0, reports = 0;
    for (const Json& event : run.events) {
        reports += event["event"].str() == "bind-failed" && event["errno"].number() == 98;
        refusals += event["event"].str() == "config-error";
        if (event["event"].str() == "config-error") {
            CHECK(event["message"].str().find("PORTSHIM_LOG=" + log + " refused") != std::string::npos);
            CHECK(event["message"].str().find(reason) != std::string::npos);
        }
    }
    CHECK(refusals == 1);
    CHECK(reports == 1);
}

/** Watches a path for being opened, by anyone (inotify(7) IN_OPEN). */
class OpenWatch {
public:
    explicit OpenWatch(const std::string& path) : fd_(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
    {
        REQUIRE(fd_ >= 0);
        REQUIRE(::inotify_add_watch(fd_, path.c_str(), IN_OPEN) >= 0);
    }
    ~OpenWatch() { ::close(fd_); }
    OpenWatch(const OpenWatch&) = delete;
    OpenWatch& operator=(const OpenWatch&) = delete;

    bool opened() const
    {
        alignas(inotify_event) char buf[4096];
        return ::read(fd_, buf, sizeof buf) > 0;
    }

private:
    int fd_;
};

/** Runs leaky_server -n 3 -f (a record due at each of three forks) with `state_dir`; returns stderr. */
std::string three_forks_with_state_dir(const std::string& state_dir)
{
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state_dir);
    launch.env.emplace_back("PORTSHIM_LOG", "stderr"); // asked for: events at fork go to stderr
    const std::vector<std::string> argv{prog("leaky_server"), "-n", "3", "-f"};
    Process server(argv, launch);
    REQUIRE(run(server) == 0);
    CHECK(server.out() == unpreloaded_output(argv));
    return server.err();
}

/** The config-errors about PORTSHIM_STATE_DIR=`dir` on `err`; each must name `reason`. */
int state_dir_refusals(const std::string& err, const std::string& dir, const std::string& reason)
{
    INFO("stderr: " << err);
    int n = 0;
    for (const Json& event : json_lines(err)) {
        if (event["event"].str() != "config-error")
            continue;
        ++n;
        CHECK(event["message"].str().find("PORTSHIM_STATE_DIR=" + dir + " refused (" + reason) !=
              std::string::npos);
    }
    return n;
}

} // namespace

TEST_CASE("safety: RLIMIT_FSIZE: a server whose registry and log file are past the limit forks and runs commands as without portshim")
{
    server_past_the_size_limit(old_records(16)); // 8192 bytes, twice the limit
}

TEST_CASE("safety: RLIMIT_FSIZE: a registry record that would cross the limit is never cut")
{
    // 3840 bytes: seven records and a torn one, so the next record would end at
    // 4352, past the 4096 limit; before the fix 256 bytes of it were written,
    // the rest raised SIGXFSZ.
    server_past_the_size_limit(old_records(8).substr(0, 7 * record_size + 256));
}

TEST_CASE("safety: RLIMIT_FSIZE: a report to a stderr redirected into a file past the limit never raises SIGXFSZ")
{
    const TempDir dir;
    const std::string err_file = dir / "server.err";
    const std::string old(8192, 'e');
    write_private(err_file, old);
    const auto argv = after_shell("exec 2>>'" + err_file + "' && ulimit -f 8",
                                  {prog("leaky_server"), "-f", "-s", "exit 3", "-b"});
    Launch launch = preloaded();
    launch.env.emplace_back("PORTSHIM_STATE_DIR", dir / "state");
    Process server(argv, launch);
    CHECK(run(server) == 0);
    CHECK(server.out() == unpreloaded_output(argv));
    CHECK(contents(err_file) == old);
}

TEST_CASE("behaviour: log target: PORTSHIM_LOG=/proc/self/comm leaves the host's name alone")
{
    // Before the fix the report was written there: the host became "{"event":"bind-f".
    check_refused_log("/proc/self/comm", "on proc");
}

TEST_CASE("behaviour: log target: PORTSHIM_LOG=/proc/self/mem does not swallow the report")
{
    check_refused_log("/proc/self/mem", "on proc");
}

TEST_CASE("behaviour: log target: a file on sysfs is refused and left as it was")
{
    require_root("only root may open a sysfs attribute for writing");
    // A setting whose parser takes only "always", "madvise" or "never"
    // (mm/huge_memory.c): the report written there before the fix was rejected
    // with EINVAL, and so lost; the setting itself cannot change.
    const std::string knob = "/sys/kernel/mm/transparent_hugepage/enabled";
    if (::access(knob.c_str(), W_OK) != 0)
        skip(knob + " is not writable here");
    const std::string before = contents(knob);
    check_refused_log(knob, "on sysfs");
    CHECK(contents(knob) == before);
}

TEST_CASE("behaviour: log target: a FIFO at PORTSHIM_LOG is never opened and never waited for")
{
    const TempDir dir;
    const std::string fifo = dir / "fifo.log";
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    // A reader, so that an open for writing would succeed (fifo(7)) and be seen.
    const int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    REQUIRE(reader >= 0);
    {
        const OpenWatch watch(fifo);
        check_refused_log(fifo, "a FIFO");
        CHECK_FALSE(watch.opened());
    }
    char byte;
    CHECK(::read(reader, &byte, 1) <= 0);
    ::close(reader);
}

TEST_CASE("behaviour: log target: a device node at PORTSHIM_LOG is never opened")
{
    require_root("mknod(2) of a character device needs CAP_MKNOD");
    const TempDir dir;
    const std::string null = dir / "null.log";
    REQUIRE(::mknod(null.c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0);
    const OpenWatch watch(null);
    check_refused_log(null, "a character device");
    CHECK_FALSE(watch.opened());
}

TEST_CASE("behaviour: state dir: a refused PORTSHIM_STATE_DIR is said once across several forks")
{
    const TempDir dir;
    fs::create_directory(dir / "target");
    REQUIRE(::chmod((dir / "target").c_str(), 0700) == 0);
    REQUIRE(::symlink((dir / "target").c_str(), (dir / "link").c_str()) == 0);
    CHECK(state_dir_refusals(three_forks_with_state_dir(dir / "link"), dir / "link",
                             "a symbolic link") == 1);
    CHECK_FALSE(fs::exists(dir / "target/listeners"));

    fs::create_directory(dir / "open");
    REQUIRE(::chmod((dir / "open").c_str(), 0777) == 0);
    CHECK(state_dir_refusals(three_forks_with_state_dir(dir / "open"), dir / "open",
                             "writable by group or others (mode 0777)") == 1);
    CHECK_FALSE(fs::exists(dir / "open/listeners"));

    write_private(dir / "file", "");
    CHECK(state_dir_refusals(three_forks_with_state_dir(dir / "file"), dir / "file",
                             "a regular file") == 1);

    CHECK(state_dir_refusals(three_forks_with_state_dir("/proc/self/fdinfo"), "/proc/self/fdinfo",
                             "on proc") == 1);

    // Control: a directory of its own gets the three records and no complaint.
    fs::create_directory(dir / "own");
    REQUIRE(::chmod((dir / "own").c_str(), 0700) == 0);
    CHECK(state_dir_refusals(three_forks_with_state_dir(dir / "own"), dir / "own", "") == 0);
    CHECK(contents(dir / "own/listeners").size() == 3 * record_size);

    if (::geteuid() == 0) {
        fs::create_directory(dir / "foreign");
        REQUIRE(::chmod((dir / "foreign").c_str(), 0700) == 0);
        REQUIRE(::chown((dir / "foreign").c_str(), nobody_uid, nobody_uid) == 0);
        CHECK(state_dir_refusals(three_forks_with_state_dir(dir / "foreign"), dir / "foreign",
                                 "owned by uid 65534, not uid 0") == 1);
        CHECK_FALSE(fs::exists(dir / "foreign/listeners"));
    }
}
