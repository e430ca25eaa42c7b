// haproxy as Debian ships it. In master-worker mode (-Ws, the systemd unit's) the master
// closes its listeners once its worker runs: a report must still tell the operator to stop
// the master, not the worker it would replace. A reload (-sf) binds a second instance next
// to the old one with SO_REUSEPORT: a hand-over, not a stranger taking half the traffic.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

const std::string haproxy = "/usr/sbin/haproxy";

void require_haproxy()
{
    require_library();
    if (::access(haproxy.c_str(), X_OK) != 0)
        skip(haproxy + " is not installed (Debian package haproxy; scripts/test installs it)");
}

/**
 * DIR/haproxy.cfg: one frontend on 127.0.0.1:PORT answering "ok". haproxy sets
 * SO_REUSEPORT on its listeners unless `noreuseport`; with it a second copy fails to bind.
 */
std::string config(const TempDir& dir, int port, bool reuseport)
{
    const std::string path = dir / "haproxy.cfg";
    std::ofstream file(path, std::ios::trunc);
    file << "global\n"
         << (reuseport ? "" : "    noreuseport\n")
         << "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
            "    timeout server 5s\n"
            "frontend fe\n    bind 127.0.0.1:"
         << port << "\n    http-request return status 200 content-type text/plain string ok\n";
    REQUIRE(file.good());
    return path;
}

/** haproxy's output with its pids ("[ALERT]    (4711) : ...") and the port replaced. */
std::string normalised(const std::string& text, int port)
{
    const std::string pids = std::regex_replace(text, std::regex(R"(\(\d+\))"), "(<pid>)");
    return std::regex_replace(pids, std::regex("\\b" + std::to_string(port) + "\\b"), "<port>");
}

/** The children of `pid` (/proc/PID/task/PID/children), polled until there is one. */
std::vector<int> children_of(int pid)
{
    std::vector<int> out;
    for (int tries = 0; tries < 500 && out.empty(); ++tries) {
        std::ifstream list("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
        for (int child; list >> child;) out.push_back(child);
        if (out.empty()) ::usleep(10'000);
    }
    return out;
}

/** The master's one worker, once it has forked it. */
int worker_of(Process& master)
{
    const std::vector<int> children = children_of(master.pid());
    REQUIRE(children.size() == 1);
    return children[0];
}

/** Stops a master-worker haproxy (SIGTERM to the master stops its workers) and reaps it. */
void stop(Process& master)
{
    REQUIRE(::kill(master.pid(), SIGTERM) == 0);
    CHECK(master.wait() != -1);
}

/** Waits until the program's stderr has a line containing `text`. */
bool said(Process& program, const std::string& text)
{
    return program.wait_for([&] { return program.err().find(text) != std::string::npos; }, 10s);
}

Launch with_state(Launch launch, const TempDir& state)
{
    launch.env.emplace_back("PORTSHIM_STATE_DIR", state.path());
    return launch;
}

} // namespace

TEST_CASE("haproxy master-worker: a second instance fails as before and the fix stops the master")
{
    require_haproxy();
    const TempDir dir, state;
    const int port = unused_port();
    const std::vector<std::string> argv{haproxy, "-f", config(dir, port, false), "-Ws"};
    Process first(argv, Launch{});
    wait_until_listening(first, port);
    const int worker = worker_of(first);
    const std::string master = std::to_string(first.pid());

    Process plain(argv, Launch{});
    const int plain_status = plain.wait(30s);
    const Launch launch = with_state(preloaded(), state);
    Process second(argv, launch);
    const int status = second.wait(30s);
    INFO("without the preload: status " << plain_status << "\nstderr: " << plain.err());
    INFO("with the preload: status " << status << "\nstderr: " << second.err());
    CHECK(plain_status > 0);
    CHECK(status == plain_status);
    CHECK(second.out() == plain.out());
    CHECK(normalised(without_portshim_lines(second.err()), port) == normalised(plain.err(), port));

    const Json event = only_bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{worker}); // the master holds no copy
    CHECK_THAT(event["summary"].str(), Contains("a worker of pid " + master));
    CHECK_THAT(event["fix"].str(), Contains("kill -TERM " + master + " and wait"));
    CHECK_THAT(event["fix"].str(), !Contains(std::to_string(worker)));
    CHECK_THAT(joined(event["why"]), Contains("its parent pid " + master));
    gallery("previous-instance-haproxy-master-worker", argv, launch);
    stop(first);
}

TEST_CASE("haproxy master-worker: another program on its port is told to stop the master")
{
    // haproxy itself preloaded: the registry names the master as the socket's opener,
    // and a worker that got it by fork is the design, not a leaked descriptor.
    require_haproxy();
    const TempDir dir, state;
    const int port = unused_port();
    Process first({haproxy, "-f", config(dir, port, false), "-Ws"}, with_state(preloaded(), state));
    wait_until_listening(first, port);
    const int worker = worker_of(first);
    const std::string master = std::to_string(first.pid());

    Process other({prog("legacy_server"), "-p", std::to_string(port)}, with_state(preloaded(), state));
    require_failed_as_without_shim(other);
    const Json event = only_bind_failed_event(other);
    CHECK(event["cause"].str() == "other-service");
    CHECK(holder_pids(event) == std::vector<int>{worker});
    CHECK(event["opener"]["pid"].number() == first.pid());
    CHECK_THAT(event["fix"].str(), Contains("stop pid " + master + " if"));
    CHECK_THAT(event["fix"].str(), !Contains(std::to_string(worker)));
    stop(first);
}

TEST_CASE("haproxy reload with -sf: the new instance shares the port with the old one as a hand-over")
{
    require_haproxy();
    const TempDir dir;
    const int port = unused_port();
    const std::vector<std::string> argv{haproxy, "-f", config(dir, port, true), "-db"};
    struct Reload {
        int old_pid = 0, old_status = -1;
        std::string reply, old_err, new_err;
    };
    // The old instance, then a new one told to take over (-sf OLD_PID); the old one exits.
    const auto reload = [&](const Launch& launch) {
        Process old(argv, Launch{});
        wait_until_listening(old, port);
        std::vector<std::string> fresh_argv = argv;
        fresh_argv.insert(fresh_argv.end(), {"-sf", std::to_string(old.pid())});
        Process fresh(fresh_argv, launch);
        Reload r;
        r.old_pid = old.pid();
        r.old_status = old.wait(20s);
        r.reply = exchange(port, "GET / HTTP/1.0\r\n\r\n");
        REQUIRE(::kill(fresh.pid(), SIGTERM) == 0);
        fresh.wait();
        r.old_err = normalised(old.err(), port);
        r.new_err = fresh.err();
        return r;
    };
    const Reload plain = reload(Launch{});
    const Reload shimmed = reload(preloaded());
    INFO("new instance with the preload: " << shimmed.new_err);
    CHECK_THAT(plain.reply, Contains("\r\n\r\nok"));
    CHECK(shimmed.reply == plain.reply);
    CHECK(shimmed.old_status == plain.old_status);
    CHECK(shimmed.old_err == plain.old_err);
    CHECK(normalised(without_portshim_lines(shimmed.new_err), port) == normalised(plain.new_err, port));

    const std::vector<Json> events = json_lines(shimmed.new_err);
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"].str() == "reuseport-shared");
    CHECK(events[0]["same_program"].boolean());
    CHECK(holder_pids(events[0]) == std::vector<int>{shimmed.old_pid});
}

TEST_CASE("haproxy master-worker started twice with SO_REUSEPORT: the old master is the one to stop")
{
    require_haproxy();
    const TempDir dir;
    const int port = unused_port();
    const std::vector<std::string> argv{haproxy, "-f", config(dir, port, true), "-Ws"};
    Process old(argv, Launch{});
    wait_until_listening(old, port);
    const int old_worker = worker_of(old);
    Launch text = preloaded();
    text.env.emplace_back("PORTSHIM_FORMAT", "text");
    Process fresh(argv, text);
    REQUIRE(said(fresh, "reuseport-shared: "));
    const std::string master = std::to_string(old.pid());
    INFO(fresh.err());
    CHECK_THAT(fresh.err(), Contains("with pid " + std::to_string(old_worker) +
                                     " (/usr/sbin/haproxy, a worker of pid " + master +
                                     "), an earlier instance of this program"));
    CHECK_THAT(fresh.err(), Contains("then stop the old one (kill -TERM " + master + ")"));
    CHECK_THAT(fresh.err(), !Contains("randomly reach the other program"));
    CHECK_THAT(fresh.err(), !Contains("warning:"));
    stop(fresh);
    stop(old);
}
