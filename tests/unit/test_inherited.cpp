// The inherited-fd rule on plain data: with a registry record (the opener
// exited, closed its copy, or still holds it) and inferred from /proc facts
// without one, against the daemons that look alike but opened their sockets.
#include "diag/causes.hpp"
#include "diag/causes_inherited.hpp"
#include "fixtures.hpp"
#include "diag/report.hpp"

#include <catch2/catch.hpp>
#include <algorithm>
#include <sys/socket.h>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

/** The registry's record of pid `pid` (started at tick `ticks`) listening on `inode`. */
RecordedListen recorded(std::uint64_t inode, int pid, std::uint64_t ticks, const char* exe,
                        bool alive) {
    RecordedListen r;
    r.record.inode = inode;
    r.record.proto = "tcp";
    r.record.address = "0.0.0.0";
    r.record.port = 8080;
    r.record.pid = pid;
    r.record.start_ticks = ticks;
    r.record.time = 1'800'000'000 - 600;
    r.record.exe = exe;
    r.alive = alive;
    r.start_time = 1'800'000'000 - 700;
    return r;
}

/** A helper that kept the server's listener: /usr/bin/sleep, re-parented to init. */
Holder orphaned_helper(std::uint64_t inode = 5555) {
    Holder h = holder(4121, 1, "/usr/bin/sleep", {"sleep", "3600"}, inode, 3,
                      1'800'000'000 - 500, 2000);
    h.parent_gone = Tri::yes;
    h.imports_listen = Tri::no;
    h.socket_activated = Tri::no;
    return h;
}

/** This process (pid 4120, /opt/legacy/server) restarting on 0.0.0.0:8080, held by `h`. */
Observation held_by(const Holder& h) {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {h};
    return o;
}

} // namespace

TEST_CASE("inherited-fd: the recorded opener exited, a helper holds the socket", "[inherited]") {
    Observation o = held_by(orphaned_helper());
    o.records = {recorded(5555, 4112, 1000, "/opt/legacy/server", false)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "inherited-fd");
    CHECK(v.summary == "0.0.0.0:8080 was opened by pid 4112 (/opt/legacy/server), which has "
                       "exited; held now by pid 4121 (/usr/bin/sleep), which inherited it as fd 3 "
                       "without O_CLOEXEC");
    REQUIRE(v.holders.size() == 1);
    CHECK(v.holders[0].pid == 4121);
    REQUIRE(v.opener);
    CHECK(v.opener->pid == 4112);
    CHECK(v.opener->exe == "/opt/legacy/server");
    CHECK_FALSE(v.opener->alive);
    CHECK_FALSE(v.opener->holds);
    CHECK(v.opener->source == "registry");
    CHECK(v.opener->start_time == 1'800'000'000 - 700);
    CHECK(any_contains(v.why, "registry names pid 4112 as the process that called listen() on "
                              "this socket 10 min ago; pid 4121 never did"));
    CHECK(any_contains(v.why, "without O_CLOEXEC stays open across exec"));
    CHECK(contains(v.fix, "kill -TERM 4121"));
    CHECK(contains(v.fix, "SOCK_CLOEXEC (or set FD_CLOEXEC) in /opt/legacy/server"));
    CHECK(contains(v.fix, "PORTSHIM_CLOEXEC=1 (portshim-run --cloexec)"));
    CHECK(v.confirm.at(0) == "ls -l /proc/4121/fd/3");
    CHECK(v.confirm.at(1) == "ps -o pid,ppid,lstart,args -p 4121");
    // PORTSHIM_WAIT: the holder may exit by itself.
    CHECK(clears_by_itself(v.cause));
}

TEST_CASE("inherited-fd: the opener still runs but closed its copy", "[inherited]") {
    Observation o = held_by(orphaned_helper());
    o.records = {recorded(5555, 4112, 1000, "/opt/legacy/server", true)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "inherited-fd");
    CHECK(contains(v.summary, "opened by pid 4112 (/opt/legacy/server), which still runs but has "
                              "closed its copy; held now by pid 4121"));
    REQUIRE(v.opener);
    CHECK(v.opener->alive);
    CHECK_FALSE(v.opener->holds);
}

TEST_CASE("inherited-fd: the opener's pid was reused by the holder", "[inherited]") {
    Holder h = orphaned_helper();
    h.pid = 4112;  // the same pid, a later process (other start ticks)
    Observation o = held_by(h);
    RecordedListen r = recorded(5555, 4112, 1000, "/opt/legacy/server", false);
    r.pid_reused = true;
    o.records = {r};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "inherited-fd");
    CHECK(contains(v.summary, "which has exited (its pid now belongs to a later process); held "
                              "now by pid 4112 (/usr/bin/sleep)"));
}

TEST_CASE("the recorded opener still holding the socket is named, as other rules say", "[inherited]") {
    // pid 300 got the socket later (SCM_RIGHTS, say) but started earlier: without
    // the record the oldest holder would be named.
    Holder early = holder(300, 1, "/usr/bin/proxy", {"proxy"}, 5555, 9, 0, 500);
    Holder opener = holder(4112, 1, "/opt/other/server", {"/opt/other/server"}, 5555, 3, 0, 1000);
    Observation o = held_by(early);
    o.holders.push_back(opener);
    o.records = {recorded(5555, 4112, 1000, "/opt/other/server", true)};
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    REQUIRE(v.holders.size() == 2);
    CHECK(v.holders[0].pid == 4112);
    CHECK(contains(v.summary, "pid 4112 (/opt/other/server)"));
    REQUIRE(v.opener);
    CHECK(v.opener->holds);
    CHECK(v.opener->alive);

    // The same program as this process: the previous instance, named by the record.
    o.holders[1].exe = "/opt/legacy/server";
    o.records[0].record.exe = "/opt/legacy/server";
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(v.holders.at(0).pid == 4112);
}

TEST_CASE("a forked child of this same program keeps it: still the previous instance", "[inherited]") {
    Holder worker = orphaned_helper();
    worker.exe = "/opt/legacy/server";
    worker.argv = {"/opt/legacy/server", "--worker"};
    Observation o = held_by(worker);
    o.records = {recorded(5555, 4112, 1000, "/opt/legacy/server", false)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(v.holders.at(0).pid == 4121);
    CHECK(any_contains(v.why, "pid 4112 (/opt/legacy/server) opened the socket, which has "
                              "exited; pid 4121 holds it now, which inherited it as fd 3 without "
                              "O_CLOEXEC"));
    CHECK(contains(v.fix, "kill -TERM 4121"));
    REQUIRE(v.opener);
    CHECK_FALSE(v.opener->holds);
}

TEST_CASE("inherited-fd inferred without a record when every fact holds", "[inherited]") {
    const Observation o = held_by(orphaned_helper());
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "inherited-fd");
    CHECK(v.summary == "inferred: 0.0.0.0:8080 is held by pid 4121 (/usr/bin/sleep), which "
                       "inherited it as fd 3 without O_CLOEXEC from a parent that has exited; its "
                       "program never calls listen()");
    CHECK(any_contains(v.why, "inferred, as no registry record names the opener: pid 4121's "
                              "parent is gone (it was re-parented to pid 1)"));
    REQUIRE(v.opener);
    CHECK(v.opener->source == "inferred");
    CHECK(v.opener->pid == 0);
    CHECK(contains(v.fix, "kill -TERM 4121"));
    CHECK(contains(v.fix, "SOCK_CLOEXEC (or set FD_CLOEXEC) in the program that opened it"));
}

TEST_CASE("two holders on two addresses: the verdict and the fix account for both", "[inherited]") {
    // bench/loaded-host at N=100: the restart on 0.0.0.0:8080 overlaps an inherited helper
    // on 127.0.0.2 and the previous instance on 127.0.0.1; stopping one alone frees nothing.
    Observation o = observation_of_self();
    const Holder previous = holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 6666, 3,
                                   1'800'000'000 - 150);
    for (const bool helper_first : {true, false}) {
        const SocketEntry helper_socket = tcp("127.0.0.2", 8080, tcp_state::listen, 5555);
        const SocketEntry previous_socket = tcp("127.0.0.1", 8080, tcp_state::listen, 6666);
        o.sockets = helper_first ? std::vector<SocketEntry>{helper_socket, previous_socket}
                                 : std::vector<SocketEntry>{previous_socket, helper_socket};
        o.holders = {orphaned_helper(5555), previous};
        const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
        INFO("helper first: " << helper_first << "\nsummary: " << v.summary << "\nfix: " << v.fix);
        CHECK(cause_id(v.cause) == (helper_first ? "inherited-fd" : "previous-instance"));
        REQUIRE(v.holders.size() == 2);
        CHECK(v.holders[0].pid == (helper_first ? 4121 : 4112));
        CHECK(v.holders[1].pid == (helper_first ? 4112 : 4121));
        CHECK(contains(v.summary, "; 1 more process holds the port too"));
        CHECK(contains(v.fix, "kill -TERM 4121"));
        CHECK(contains(v.fix, "kill -TERM 4112"));
        CHECK(contains(v.fix, helper_first ? "the port is also held — previous-instance (pid 4112"
                                           : "the port is also held — inherited-fd ("));
    }
}

TEST_CASE("a holder's other sockets on the port add no second fix", "[inherited]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.1", 8080, tcp_state::listen, 6666),
                 tcp("127.0.0.2", 8080, tcp_state::listen, 6667)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 6666, 3),
                 holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 6667, 4)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(v.holders.size() == 1);
    CHECK_FALSE(contains(v.summary, "more process"));
    CHECK_FALSE(contains(v.fix, "also held"));
}

TEST_CASE("a worker sharing a named holder's other socket joins once and is named in the fix", "[inherited]") {
    // The previous instance 4112 listens on 127.0.0.1 and 127.0.0.2; its forked
    // worker 4130 shares the second socket. 4112 is named once, 4130 is added once.
    Observation o = observation_of_self();
    for (const bool shared_first : {true, false}) {
        const SocketEntry own = tcp("127.0.0.1", 8080, tcp_state::listen, 6666);
        const SocketEntry shared = tcp("127.0.0.2", 8080, tcp_state::listen, 6667);
        o.sockets = shared_first ? std::vector<SocketEntry>{shared, own} : std::vector<SocketEntry>{own, shared};
        o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 6666, 3),
                     holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 6667, 4),
                     holder(4130, 4112, "/opt/legacy/server", {"/opt/legacy/server"}, 6667, 4)};
        const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
        INFO("shared first: " << shared_first << "\nsummary: " << v.summary << "\nfix: " << v.fix);
        std::vector<int> seen;
        for (const Holder& h : v.holders) {
            CHECK(std::find(seen.begin(), seen.end(), h.pid) == seen.end());
            seen.push_back(h.pid);
        }
        CHECK(std::find(seen.begin(), seen.end(), 4112) != seen.end());
        CHECK(std::find(seen.begin(), seen.end(), 4130) != seen.end());
        if (!contains(v.summary, "; 1 more process holds the port too"))
            CHECK_FALSE(contains(v.summary, "more process"));  // one verdict named both
        // Named through the shared socket, 4130 is the master's worker (the master's
        // fix stops both); named after 4112's own socket, it gets its own words.
        if (!shared_first) CHECK(contains(v.fix, "kill -TERM 4130"));
    }
}

TEST_CASE("no inference unless every fact is positive", "[inherited]") {
    SECTION("a legacy daemon that daemonized itself still imports listen()") {
        Holder daemon = orphaned_helper();
        daemon.exe = "/usr/sbin/legacyd";
        daemon.imports_listen = Tri::yes;
        const Verdict v = diagnose(bind_request("0.0.0.0", 8080), held_by(daemon));
        CHECK(cause_id(v.cause) == "other-service");
        CHECK_FALSE(v.opener);
    }
    SECTION("the same daemon as this program is the previous instance") {
        Holder daemon = orphaned_helper();
        daemon.exe = "/opt/legacy/server";
        daemon.imports_listen = Tri::yes;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), held_by(daemon)).cause) ==
              "previous-instance");
    }
    SECTION("imports unknown (a static or unreadable program)") {
        Holder h = orphaned_helper();
        h.imports_listen = Tri::unknown;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), held_by(h)).cause) == "other-service");
    }
    SECTION("the descriptor has O_CLOEXEC") {
        Holder h = orphaned_helper();
        h.cloexec = true;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), held_by(h)).cause) == "other-service");
    }
    SECTION("its parent still runs") {
        Holder h = orphaned_helper();
        h.ppid = 4000;
        h.parent_gone = Tri::no;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), held_by(h)).cause) == "other-service");
    }
    SECTION("systemd handed it the socket (LISTEN_PID)") {
        Holder h = orphaned_helper();
        h.socket_activated = Tri::yes;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), held_by(h)).cause) == "other-service");
    }
    SECTION("another holder of the socket imports listen()") {
        Observation o = held_by(orphaned_helper());
        Holder other = holder(500, 1, "/usr/sbin/server", {"server"}, 5555, 4, 0, 100);
        other.imports_listen = Tri::yes;
        o.holders.push_back(other);
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), o).cause) == "other-service");
    }
    SECTION("not a listener") {
        Observation o = held_by(orphaned_helper());
        o.sockets[0].state = tcp_state::close;
        CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), o).cause) == "other-service");
    }
}

TEST_CASE("inherited-fd on a unix socket path", "[inherited]") {
    Observation o = observation_of_self();
    UnixSocket s;
    s.type = SOCK_STREAM;
    s.state = tcp_state::listen;
    s.inode = 5555;
    s.name = "/run/app.sock";
    o.unix_sockets = {s};
    o.holders = {orphaned_helper()};
    RecordedListen r = recorded(5555, 4112, 1000, "/opt/legacy/server", false);
    r.record.proto = "unix";
    o.records = {r};
    Request req;
    req.proto = Proto::unix_stream;
    req.err = 98;
    req.unix_path = "/run/app.sock";
    const Verdict v = diagnose(req, o);
    CHECK(cause_id(v.cause) == "inherited-fd");
    CHECK(contains(v.summary, "/run/app.sock was opened by pid 4112 (/opt/legacy/server), which "
                              "has exited; held now by pid 4121"));
    CHECK(any_contains(v.confirm, "ss -xlp | grep -F -- /run/app.sock"));
}

TEST_CASE("bind-failed JSON carries the opener only when known", "[inherited]") {
    const ReportContext ctx{4120, "/opt/legacy/server", 1'800'000'000.25};
    const Request req = bind_request("0.0.0.0", 8080);
    Observation o = held_by(orphaned_helper());
    o.records = {recorded(5555, 4112, 1000, "/opt/legacy/server", false)};
    const std::string json = render_json(req, diagnose(req, o), ctx);
    CHECK(contains(json, "\"cause\":\"inherited-fd\""));
    CHECK(contains(json, "\"cloexec\":false}],\"opener\":{\"pid\":4112,\"exe\":"
                         "\"/opt/legacy/server\",\"start_time\":\"2027-01-15T07:48:20.000Z\","
                         "\"alive\":false,\"source\":\"registry\"},\"why\":["));

    const std::string inferred = render_json(req, diagnose(req, held_by(orphaned_helper())), ctx);
    CHECK(contains(inferred, "\"opener\":{\"pid\":null,\"exe\":null,\"start_time\":null,"
                             "\"alive\":false,\"source\":\"inferred\"}"));

    Holder daemon = orphaned_helper();
    daemon.imports_listen = Tri::yes;
    CHECK_FALSE(contains(render_json(req, diagnose(req, held_by(daemon)), ctx), "\"opener\""));
}

// ---- the inherited event: who opened the sockets a process started with ----

namespace {

/** This process: the server, started at tick 3000, re-executed or started by something else. */
Holder started_server() {
    return holder(4200, 4112, "/opt/legacy/server", {"/opt/legacy/server", "-p", "8080"}, 0, -1,
                  1'800'000'000 - 10, 3000);
}

InheritedReport judged(const std::vector<StartupSocket>& listed,
                       const std::vector<RecordedListen>& records, const Holder& parent,
                       int more = 0) {
    InheritedReport r;
    r.more = more;
    rule_inherited_event(listed, records, started_server(), parent, r);
    return r;
}

} // namespace

TEST_CASE("inherited event: every socket from LISTEN_FDS is systemd's hand-over", "[inherited]") {
    const std::vector<StartupSocket> systemd = {{5555, true}, {5556, true}};
    CHECK(judged(systemd, {}, Holder{}).handover == Handover::listen_fds);
    // A socket beyond those listed, or one not passed by systemd: not all by design.
    CHECK(judged(systemd, {}, Holder{}, 1).handover == Handover::none);
    CHECK(judged({{5555, true}, {5556, false}}, {}, Holder{}).handover == Handover::none);
    CHECK(judged({}, {}, Holder{}).handover == Handover::none);
    CHECK_FALSE(judged(systemd, {}, Holder{}).opener);
}

TEST_CASE("inherited event: the first listed socket with a record names the opener", "[inherited]") {
    const std::vector<RecordedListen> records = {
        recorded(5556, 4300, 500, "/usr/bin/other", true),
        recorded(5555, 4112, 1000, "/usr/sbin/supervisor", false)};
    const InheritedReport r = judged({{5555, false}, {5556, false}}, records, Holder{});
    REQUIRE(r.opener);
    CHECK(r.opener->pid == 4112); // 5555 comes first in the scan, though its record is second
    CHECK(r.opener->exe == "/usr/sbin/supervisor");
    CHECK(r.opener->source == "registry");
    CHECK(r.opener->start_time == 1'800'000'000 - 700);
    CHECK_FALSE(r.opener->alive);
    CHECK_FALSE(r.opener->holds);
    CHECK(r.handover == Handover::none); // another program opened it and has exited: worth telling

    const InheritedReport alive = judged({{5556, false}}, records, Holder{});
    REQUIRE(alive.opener);
    CHECK(alive.opener->pid == 4300);
    CHECK(alive.opener->alive);
}

TEST_CASE("inherited event: a program re-executing itself is a hand-over", "[inherited]") {
    // In place: the record names this very process (same pid, same start ticks).
    const InheritedReport in_place =
        judged({{5555, false}}, {recorded(5555, 4200, 3000, "/usr/bin/old-name", false)}, Holder{});
    REQUIRE(in_place.opener);
    CHECK(in_place.opener->holds);
    CHECK(in_place.opener->alive);
    CHECK(in_place.handover == Handover::self_exec);
    // The same pid started later is another process: not this one.
    const InheritedReport reused =
        judged({{5555, false}}, {recorded(5555, 4200, 2000, "/usr/bin/old-name", false)}, Holder{});
    REQUIRE(reused.opener);
    CHECK_FALSE(reused.opener->holds);
    CHECK(reused.handover == Handover::none);
    // nginx-style: an old master of the same program opened it.
    CHECK(judged({{5555, false}}, {recorded(5555, 4112, 1000, "/opt/legacy/server", false)},
                 Holder{})
              .handover == Handover::self_exec);
    // Without a record the parent decides: the same program, or another one.
    const Holder old_master = holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 0, -1);
    const Holder shell = holder(4112, 1, "/bin/bash", {"bash", "start.sh"}, 0, -1);
    CHECK(judged({{5555, false}}, {}, old_master).handover == Handover::self_exec);
    CHECK(judged({{5555, false}}, {}, shell).handover == Handover::none);
    CHECK(judged({{5555, false}}, {}, Holder{}).handover == Handover::none); // parent unknown
    // With a record the record decides, not the parent.
    CHECK(judged({{5555, false}}, {recorded(5555, 4300, 500, "/usr/bin/other", false)}, old_master)
              .handover == Handover::none);
}

TEST_CASE("inherited event: a spawn helper that closes inherited descriptors before exec is no leak", "[inherited]") {
    const std::vector<RecordedListen> records = {recorded(5555, 4112, 1000, "/usr/bin/java", true)};
    const Holder java = holder(4112, 1, "/usr/lib/jvm/java-17-openjdk-amd64/bin/java",
                               {"java", "-cp", "/srv/app", "Server"}, 0, -1);
    InheritedReport r;
    Holder helper = started_server();
    helper.exe = "/usr/lib/jvm/java-17-openjdk-amd64/lib/jspawnhelper";
    rule_inherited_event({{5555, false}}, records, helper, java, r);
    CHECK(r.handover == Handover::closes_fds);
    REQUIRE(r.opener);
    CHECK(r.opener->pid == 4112);
    // Another program the JVM runs with the socket kept open is still told.
    helper.exe = "/usr/bin/jspawnhelper-wrapper";
    InheritedReport other;
    rule_inherited_event({{5555, false}}, records, helper, java, other);
    CHECK(other.handover == Handover::none);
    // So is a program that only has the helper's file name.
    helper.exe = "/tmp/x/jspawnhelper";
    InheritedReport named;
    rule_inherited_event({{5555, false}}, records, helper, java, named);
    CHECK(named.handover == Handover::none);
}

TEST_CASE("fd_closing_helper: OpenJDK's lib/jspawnhelper and nothing else", "[inherited]") {
    CHECK(fd_closing_helper("/usr/lib/jvm/java-17-openjdk-amd64/lib/jspawnhelper"));
    CHECK(fd_closing_helper("/opt/jdk-21/lib/jspawnhelper"));
    // The file name alone is anyone's program: not under JAVA_HOME/lib.
    CHECK_FALSE(fd_closing_helper("jspawnhelper"));
    CHECK_FALSE(fd_closing_helper("/tmp/x/jspawnhelper"));
    CHECK_FALSE(fd_closing_helper("/tmp/xlib/jspawnhelper"));
    CHECK_FALSE(fd_closing_helper("lib/jspawnhelper"));
    CHECK_FALSE(fd_closing_helper("/usr/lib/jvm/java-17-openjdk-amd64/lib/jspawnhelper.sh"));
    CHECK_FALSE(fd_closing_helper("/opt/jspawnhelper/bin/server"));
    CHECK_FALSE(fd_closing_helper("/usr/bin/java"));
    CHECK_FALSE(fd_closing_helper(""));
    CHECK_FALSE(fd_closing_helper(nullptr));
}
