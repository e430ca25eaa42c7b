// Real Debian daemons under the preload: each serves the same bytes, prints the same and
// exits the same with and without it, and a second copy on its port fails as before
// while the report names the first one. A daemon that is not installed is skipped.
// Compared between runs: exit status, reply bytes, stdout, and stderr less portshim's
// lines, after normalised() has replaced pids, the port and clock readings.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <regex>
#include <sstream>
#include <string_view>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using Catch::Matchers::VectorContains;

namespace {

/** One daemon: where Debian installs it, how to start it on a port, what to say to it. */
struct Daemon {
    Daemon(std::string program_, std::string package_, std::string request_)
        : program(std::move(program_)), package(std::move(package_)), request(std::move(request_))
    {
    }

    std::string program;
    std::string package;
    /** Writes its private files (config, document root) under `dir` and returns its argv. */
    std::string request;
    std::function<std::vector<std::string>(const TempDir& dir, int port)> argv;
    bool half_close = false; ///< shutdown(SHUT_WR) after the request (an echo ends at EOF)
    std::vector<std::pair<std::string, std::string>> env;
};

const std::string body = "hello from the portshim daemon scenario\n";
const std::string http_get = "GET /index.html HTTP/1.0\r\nHost: localhost\r\n\r\n";

/** DIR/www/index.html, readable by nginx's workers (they run as nobody when started as root). */
std::string document_root(const TempDir& dir)
{
    const std::string www = dir / "www";
    REQUIRE(::chmod(dir.path().c_str(), 0755) == 0);
    ::mkdir(www.c_str(), 0755);
    // Written once: Last-Modified and ETag must match between the two runs.
    struct stat st {};
    if (::stat((www + "/index.html").c_str(), &st) != 0)
        write_file(www + "/index.html", body);
    return www;
}

Daemon nginx()
{
    Daemon d("/usr/sbin/nginx", "nginx-light", http_get);
    d.argv = [](const TempDir& dir, int port) {
        const std::string www = document_root(dir);
        std::string conf = "worker_processes 1;\nevents { worker_connections 64; }\nhttp {\n"
                           "  access_log off;\n";
        for (const char* temp : {"client_body", "proxy", "fastcgi", "uwsgi", "scgi"})
            conf += "  " + std::string(temp) + "_temp_path " + dir / temp + ";\n";
        conf += "  server { listen 127.0.0.1:" + std::to_string(port) + "; root " + www + "; }\n}\n";
        write_file(dir / "nginx.conf", conf);
        return std::vector<std::string>{
            "/usr/sbin/nginx", "-e", "stderr", "-g",
            "daemon off; master_process on; pid " + dir / "nginx.pid" + "; error_log stderr;",
            "-c", dir / "nginx.conf", "-p", dir.path() + "/"};
    };
    return d;
}

Daemon lighttpd()
{
    Daemon d("/usr/sbin/lighttpd", "lighttpd", http_get);
    d.argv = [](const TempDir& dir, int port) {
        write_file(dir / "lighttpd.conf", "server.document-root = \"" + document_root(dir) +
                                              "\"\nserver.bind = \"127.0.0.1\"\nserver.port = " +
                                              std::to_string(port) + "\n");
        return std::vector<std::string>{"/usr/sbin/lighttpd", "-D", "-f", dir / "lighttpd.conf"};
    };
    return d;
}

Daemon busybox_httpd()
{
    Daemon d("/usr/bin/busybox", "busybox", http_get);
    d.argv = [](const TempDir& dir, int port) {
        return std::vector<std::string>{"/usr/bin/busybox", "httpd", "-f", "-p",
                                        "127.0.0.1:" + std::to_string(port), "-h", document_root(dir)};
    };
    return d;
}

Daemon python_http_server()
{
    Daemon d("/usr/bin/python3", "python3", http_get);
    d.argv = [](const TempDir& dir, int port) {
        return std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(port),
                                        "--bind", "127.0.0.1", "--directory", document_root(dir)};
    };
    // Its "Serving HTTP on ..." line would otherwise die in the stdio buffer at SIGTERM.
    d.env = {{"PYTHONUNBUFFERED", "1"}};
    return d;
}

Daemon redis()
{
    Daemon d("/usr/bin/redis-server", "redis-server",
             "*1\r\n$4\r\nPING\r\n*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n"
             "*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n*1\r\n$4\r\nQUIT\r\n");
    d.argv = [](const TempDir& dir, int port) {
        return std::vector<std::string>{"/usr/bin/redis-server", "--port", std::to_string(port),
                                        "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                        "--dir", dir.path(), "--daemonize", "no"};
    };
    return d;
}

Daemon memcached()
{
    Daemon d("/usr/bin/memcached", "memcached",
             "version\r\nset greeting 0 0 5\r\nhello\r\nget greeting\r\nquit\r\n");
    d.argv = [](const TempDir&, int port) {
        // -u is required when started as root, and ignored otherwise.
        return std::vector<std::string>{"/usr/bin/memcached", "-p", std::to_string(port),
                                        "-l", "127.0.0.1", "-U", "0", "-u", "root"};
    };
    return d;
}

Daemon socat()
{
    Daemon d("/usr/bin/socat", "socat", "echo through socat and cat\n");
    d.half_close = true;
    d.argv = [](const TempDir&, int port) {
        return std::vector<std::string>{
            "/usr/bin/socat", "TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,fork",
            "EXEC:cat"};
    };
    return d;
}

void require_installed(const Daemon& daemon)
{
    if (::access(daemon.program.c_str(), X_OK) != 0)
        skip(daemon.program + " is not installed (Debian package " + daemon.package +
             "; scripts/test installs it)");
}

/** How many sockets `pid` holds (links to socket:[INODE] in /proc/PID/fd). */
int open_sockets(int pid)
{
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    int sockets = 0;
    std::error_code ignored;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ignored)) {
        char target[64];
        const ssize_t len = ::readlink(entry.path().c_str(), target, sizeof target);
        sockets += len > 7 && std::string_view(target, 7) == "socket:" ? 1 : 0;
    }
    return sockets;
}

/**
 * Waits (at most 5 s) until the daemon holds no more sockets than `before`: it has closed
 * the connection on its side too. lighttpd exits 1 instead of 0 when SIGTERM arrives while
 * a closed connection is still in its list (it happens without the preload too).
 */
void wait_until_connection_closed(Process& daemon, int before)
{
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (open_sockets(daemon.pid()) > before && std::chrono::steady_clock::now() < deadline)
        daemon.wait_for([] { return false; }, 10ms);
}

/**
 * What may differ between two runs of the same daemon, replaced by a placeholder:
 * the given pids (the daemon's, ours: lighttpd names who sent SIGTERM) and port as whole
 * numbers, and clock readings — nginx/lighttpd/socat stamps, redis's "26 Nov 2026
 * 11:52:54.556" and "signal-handler (UNIX TIME)", python's [26/Nov/2026 11:52:57], and
 * the HTTP Date header. Everything else must match byte for byte.
 */
std::string normalised(std::string text, const std::vector<int>& pids, int port)
{
    static const std::pair<std::regex, const char*> clocks[] = {
        {std::regex(R"(\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?)"), "<time>"},
        {std::regex(R"(\d{1,2} [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d\.\d+)"), "<time>"},
        {std::regex(R"(\d\d/[A-Z][a-z]{2}/\d{4} \d\d:\d\d:\d\d)"), "<time>"},
        {std::regex(R"(signal-handler \(\d+\))"), "signal-handler (<time>)"},
        {std::regex(R"(Date: [^\r\n]*)"), "Date: <time>"},
    };
    for (const auto& [clock, placeholder] : clocks)
        text = std::regex_replace(text, clock, placeholder);
    for (const int pid : pids)
        text = std::regex_replace(text, std::regex("\\b" + std::to_string(pid) + "\\b"), "<pid>");
    return std::regex_replace(text, std::regex("\\b" + std::to_string(port) + "\\b"), "<port>");
}

/** What one run showed: exit status, the reply and both outputs, normalised. */
struct Run {
    int status = -1;
    std::string reply, out, err;
    std::vector<Json> events;
};

/** The daemon's launch; preloaded with its state (listen/fork records) in `state`. */
Launch launch_for(const Daemon& daemon, bool preload, const TempDir& state)
{
    Launch launch = preload ? preloaded() : Launch{};
    launch.env = daemon.env;
    if (preload)
        launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    return launch;
}

/** Starts the daemon on a free port, talks to it once, stops it with SIGTERM. */
Run serve_once(const Daemon& daemon, const TempDir& files, bool preload)
{
    const TempDir state;
    const int port = unused_port();
    Process process(daemon.argv(files, port), launch_for(daemon, preload, state));
    wait_until_listening(process, port);
    const int sockets = open_sockets(process.pid());
    Run run;
    run.reply = exchange(port, daemon.request, daemon.half_close);
    wait_until_connection_closed(process, sockets);
    REQUIRE(::kill(process.pid(), SIGTERM) == 0);
    run.status = process.wait();
    const std::vector<int> pids{process.pid(), static_cast<int>(::getpid())};
    run.reply = normalised(run.reply, pids, port);
    run.out = normalised(process.out(), pids, port);
    run.err = normalised(without_portshim_lines(process.err()), pids, port);
    run.events = json_lines(process.err());
    return run;
}

/** Served bytes, exit status and output are the same with and without the preload. */
Run same_service_with_and_without_preload(const Daemon& daemon)
{
    require_installed(daemon);
    require_library();
    const TempDir files;
    const Run without = serve_once(daemon, files, false);
    const Run with = serve_once(daemon, files, true);

    INFO("without the preload: status " << without.status << "\nreply: " << without.reply
                                        << "\nstdout: " << without.out << "\nstderr: " << without.err);
    INFO("with the preload: status " << with.status << "\nreply: " << with.reply
                                     << "\nstdout: " << with.out << "\nstderr: " << with.err);
    CHECK(with.status == without.status);
    CHECK(with.reply == without.reply);
    CHECK(with.out == without.out);
    CHECK(with.err == without.err);
    for (const Json& event : with.events)
        CHECK(event["event"].str() != "bind-failed");
    return with;
}

/**
 * Starts the daemon, then a second copy on its port without and with the preload: the
 * copy fails the same way both times, and its one report says the first copy holds the
 * port. Returns that report.
 */
Json second_instance_names_the_first(const Daemon& daemon)
{
    require_installed(daemon);
    require_library();
    const TempDir files, state;
    const int port = unused_port();
    const std::vector<std::string> argv = daemon.argv(files, port);
    Process first(argv, launch_for(daemon, false, state));
    wait_until_listening(first, port);

    Process plain(argv, launch_for(daemon, false, state));
    const int plain_status = plain.wait(30s);
    Process second(argv, launch_for(daemon, true, state));
    const int status = second.wait(30s);

    const std::vector<int> first_pid{first.pid()};
    INFO("without the preload: status " << plain_status << "\nstdout: " << plain.out()
                                        << "\nstderr: " << plain.err());
    INFO("with the preload: status " << status << "\nstdout: " << second.out()
                                     << "\nstderr: " << second.err());
    CHECK(plain_status > 0);
    CHECK(status == plain_status);
    CHECK(normalised(second.out(), {second.pid()}, port) == normalised(plain.out(), {plain.pid()}, port));
    CHECK(normalised(without_portshim_lines(second.err()), {second.pid()}, port) ==
          normalised(plain.err(), {plain.pid()}, port));

    const Json event = only_bind_failed_event(second);
    CHECK(event["pid"].number() == second.pid());
    CHECK(event["call"].str() == "bind");
    CHECK(event["address"].str() == "127.0.0.1");
    CHECK(event["port"].number() == port);
    CHECK(event["errno"].number() == EADDRINUSE);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK_THAT(holder_pids(event), VectorContains(first.pid()));
    CHECK_THAT(event["summary"].str(), StartsWith("pid " + std::to_string(first.pid()) + " ("));
    CHECK_THAT(event["fix"].str(), Contains("kill -TERM " + std::to_string(first.pid())));

    REQUIRE(::kill(first.pid(), SIGTERM) == 0);
    CHECK(first.wait() != -1);
    return event;
}

} // namespace

TEST_CASE("daemon nginx: serves and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(nginx());
    CHECK_THAT(run.reply, StartsWith("HTTP/1.1 200 OK\r\n") && Contains("\r\n\r\n" + body));
    // The master hands its listening socket to the worker it forks: normal, so
    // the fork event is debug and the default log has no line for it.
    bool fork_event = false;
    for (const Json& event : run.events)
        fork_event = fork_event || event["event"].str() == "fork";
    CHECK_FALSE(fork_event);
}

TEST_CASE("daemon nginx: a second master fails as before and the report names the first master")
{
    // The master binds; its worker inherited the socket, so both hold it, but the verdict's
    // principal is the master. nginx retries bind 5 times, 500 ms apart: one report.
    const Json event = second_instance_names_the_first(nginx());
    CHECK(event["holders"].items().size() >= 2);
    CHECK(event["holders"][0]["cmdline"].str().rfind("nginx: master process", 0) == 0);
    // The master is the process to stop, never a worker it would replace.
    const std::string worker = std::to_string(static_cast<int>(event["holders"][1]["pid"].number()));
    CHECK_THAT(event["fix"].str(), !Contains("kill -TERM " + worker));
    CHECK_THAT(event["summary"].str(), !Contains("a worker of"));
}

TEST_CASE("daemon lighttpd: serves and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(lighttpd());
    CHECK_THAT(run.reply, StartsWith("HTTP/1.0 200 OK\r\n") && Contains("\r\n\r\n" + body));
}

TEST_CASE("daemon lighttpd: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(lighttpd());
}

TEST_CASE("daemon busybox httpd: serves and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(busybox_httpd());
    CHECK_THAT(run.reply, StartsWith("HTTP/1.") && Contains("\r\n\r\n" + body));
}

TEST_CASE("daemon busybox httpd: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(busybox_httpd());
}

TEST_CASE("daemon python http.server: serves and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(python_http_server());
    CHECK_THAT(run.reply, StartsWith("HTTP/1.0 200 OK\r\n") && Contains("\r\n\r\n" + body));
    CHECK_THAT(run.out, StartsWith("Serving HTTP on 127.0.0.1 port <port>"));
}

TEST_CASE("daemon python http.server: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(python_http_server());
}

TEST_CASE("daemon redis-server: answers and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(redis());
    CHECK(run.reply == "+PONG\r\n+OK\r\n$5\r\nhello\r\n+OK\r\n");
}

TEST_CASE("daemon redis-server: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(redis());
}

TEST_CASE("daemon memcached: answers and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(memcached());
    CHECK_THAT(run.reply, StartsWith("VERSION ") &&
                              Contains("\r\nSTORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n"));
}

TEST_CASE("daemon memcached: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(memcached());
}

TEST_CASE("daemon socat: echoes and stops the same with and without the preload")
{
    const Run run = same_service_with_and_without_preload(socat());
    CHECK(run.reply == socat().request);
}

TEST_CASE("daemon socat: a second instance fails as before and the report names the first")
{
    second_instance_names_the_first(socat());
}
