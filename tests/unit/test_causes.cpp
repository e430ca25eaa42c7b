// Every cause rule on plain data: which socket blocks, who is named, and the
// words of the fix. No sockets or /proc are touched here.
#include "diag/cause.hpp"
#include "diag/causes.hpp"
#include "diag/facts.hpp"
#include "diag/identity.hpp"
#include "fixtures.hpp"
#include "diag/sharing.hpp"

#include <catch2/catch.hpp>
#include <set>

using namespace portshim;
using namespace portshim::fixtures;

TEST_CASE("a listener run by the same executable is the previous instance", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 5555, 3,
                        1'800'000'000 - 150)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    REQUIRE(v.holders.size() == 1);
    CHECK(v.holders[0].pid == 4112);
    CHECK(contains(v.summary, "pid 4112 (/opt/legacy/server, started 2 min ago)"));
    CHECK(contains(v.summary, "listens on 0.0.0.0:8080"));
    CHECK(contains(v.fix, "kill -TERM 4112"));
    CHECK(any_contains(v.confirm, "sudo ss -tlnp 'sport = :8080'"));
}

TEST_CASE("a replaced binary still counts as the previous instance, and says so", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server (deleted)", {"server"}, 5555, 3)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(any_contains(v.why, "(deleted)"));
}

TEST_CASE("prefork servers: the master is named, not a worker", "[causes]") {
    Observation o = observation_of_self("/usr/sbin/nginx");
    o.sockets = {tcp("0.0.0.0", 80, tcp_state::listen, 777)};
    o.holders = {holder(201, 200, "/usr/sbin/nginx", {"nginx: worker process"}, 777, 6, 0, 900),
                 holder(200, 1, "/usr/sbin/nginx", {"nginx: master process"}, 777, 6, 0, 800),
                 holder(202, 200, "/usr/sbin/nginx", {"nginx: worker process"}, 777, 6, 0, 901)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 80), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    REQUIRE(v.holders.size() == 3);
    CHECK(v.holders[0].pid == 200);
    CHECK(any_contains(v.why, "3 processes share this socket"));
}

namespace {

/** haproxy -Ws: the master (500, no listener of its own) and its worker (501) holding fd 6. */
Observation haproxy_master_worker(const char* self_exe) {
    const std::vector<std::string> argv = {"/usr/sbin/haproxy", "-f", "h.cfg", "-Ws"};
    Observation o = observation_of_self(self_exe);
    o.self.argv = {self_exe, "-f", "h.cfg", "-Ws"};
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 777)};
    o.holders = {holder(501, 500, "/usr/sbin/haproxy", argv, 777, 6, 0, 901)};
    o.masters = {holder(500, 1, "/usr/sbin/haproxy", argv, 0, -1, 0, 900)};
    return o;
}

/** Our own successful listen() on 0.0.0.0:8080 (socket inode 99), as the sharing check sees it. */
Request listen_request() {
    Request r = bind_request("0.0.0.0", 8080);
    r.call = Call::listen;
    r.inode = 99;
    return r;
}

} // namespace

TEST_CASE("master and workers: the fix stops the master that holds no listener", "[causes]") {
    Observation o = haproxy_master_worker("/usr/sbin/haproxy");
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(v.holders.at(0).pid == 501);
    CHECK(contains(v.summary, "pid 501 (/usr/sbin/haproxy; a worker of pid 500)"));
    CHECK(contains(v.fix, "kill -TERM 500 and wait"));
    CHECK_FALSE(contains(v.fix, "501"));
    CHECK(any_contains(v.why, "pid 501 is a worker: its parent pid 500 (/usr/sbin/haproxy -f h.cfg -Ws)"));
    CHECK(std::find(v.confirm.begin(), v.confirm.end(), "ps -o pid,ppid,lstart,args -p 500,501") !=
          v.confirm.end());

    // Another program failing: the same master is the one to stop.
    o = haproxy_master_worker("/opt/legacy/server");
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.fix, "stop pid 500 if"));

    // The master recorded as the opener handed the socket to its worker: no leak.
    RecordedListen r;
    r.record.inode = 777;
    r.record.proto = "tcp";
    r.record.port = 8080;
    r.record.pid = 500;
    r.record.start_ticks = 900;
    r.record.exe = "/usr/sbin/haproxy";
    r.alive = true;
    o.records = {r};
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.fix, "stop pid 500 if"));
    REQUIRE(v.opener);
    CHECK(v.opener->pid == 500);
    // ...but an opener that has exited left its child holding a leaked copy.
    o.records[0].alive = false;
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), o).cause) == "inherited-fd");

    // A parent running another program (a supervisor) is not the master to stop.
    o = haproxy_master_worker("/usr/sbin/haproxy");
    o.masters[0].exe = "/usr/bin/python3";
    o.masters[0].argv = {"python3", "supervisor.py"};
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(contains(v.fix, "kill -TERM 501"));
    CHECK(contains(v.summary, "pid 501 (/usr/sbin/haproxy)"));
}

TEST_CASE("master and workers: only a parent with evidence is the master to stop", "[causes]") {
    // OpenSSH before 9.8: a session process holds an `ssh -R` forward; its parents run the
    // same sshd but with other command lines. Stopping the listener would lock everyone out.
    Observation o = observation_of_self("/opt/legacy/server");
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 777)};
    o.holders = {holder(702, 701, "/usr/sbin/sshd", {"sshd: alice@pts/0"}, 777, 9, 0, 903)};
    o.masters = {holder(701, 700, "/usr/sbin/sshd", {"sshd: alice [priv]"}, 0, -1, 0, 902),
                 holder(700, 1, "/usr/sbin/sshd", {"sshd: /usr/sbin/sshd -D"}, 0, -1, 0, 900)};
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.fix, "stop pid 702 if"));
    CHECK_FALSE(any_contains(v.why, "is a worker"));

    // The registry names the parent as the socket's opener: evidence enough.
    RecordedListen r;
    r.record.inode = 777;
    r.record.proto = "tcp";
    r.record.port = 8080;
    r.record.pid = 701;
    r.record.exe = "/usr/sbin/sshd";
    r.alive = true;
    o.records = {r};
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(contains(v.fix, "stop pid 701 if"));

    // Never pid 1, and never our own master: a worker is not told to stop its own server.
    o = haproxy_master_worker("/usr/sbin/haproxy");
    o.masters[0].pid = 1;
    o.holders[0].ppid = 1;
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(contains(v.fix, "kill -TERM 501"));
    o = haproxy_master_worker("/usr/sbin/haproxy");
    o.self.ppid = 500;
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(contains(v.fix, "kill -TERM 501"));
    CHECK_FALSE(contains(v.summary, "a worker of pid 500"));
}

TEST_CASE("interpreters compare the script, not the interpreter", "[causes]") {
    CHECK(same_program("/usr/bin/python3.11", {"python3", "app.py"}, "/usr/bin/python3.11",
                       {"python3", "-u", "app.py"}));
    CHECK_FALSE(same_program("/usr/bin/python3.11", {"python3", "app.py"}, "/usr/bin/python3.11",
                             {"python3", "other.py"}));
    CHECK(same_program("/usr/bin/python3.11", {"python3", "-m", "http.server"},
                       "/usr/bin/python3.11", {"python3", "-m", "http.server", "9000"}));
    CHECK_FALSE(same_program("/usr/bin/node", {"node", "a.js"}, "/usr/bin/node", {"node", "b.js"}));
    CHECK(same_program("/opt/x (deleted)", {}, "/opt/x", {}));
    CHECK_FALSE(same_program("/opt/x", {}, "/opt/y", {}));

    Observation o = observation_of_self("/usr/bin/python3.11");
    o.self.argv = {"python3", "app.py"};
    o.sockets = {tcp("0.0.0.0", 8000, tcp_state::listen, 42)};
    o.holders = {holder(300, 1, "/usr/bin/python3.11", {"python3", "worker.py"}, 42, 5)};
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8000), o).cause) == "other-service");
    o.holders[0].argv = {"python3", "app.py"};
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8000), o).cause) == "previous-instance");
}

TEST_CASE("a different program is another service, named with its command line", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.1", 8080, tcp_state::listen, 99)};
    o.holders = {holder(812, 1, "/usr/sbin/nginx", {"nginx: master process /usr/sbin/nginx"}, 99, 6)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(v.holders.at(0).pid == 812);
    CHECK(contains(v.summary, "pid 812 (/usr/sbin/nginx) listens on 127.0.0.1:8080"));
    CHECK(any_contains(v.why, "nginx: master process"));
    // The overlap is explained in words: the wanted wildcard covers the held address.
    CHECK(any_contains(v.why, "0.0.0.0 would cover every address, including 127.0.0.1"));
}

TEST_CASE("a socket on another address of the port does not block", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.2", 8080, tcp_state::listen, 99)};
    o.holders = {holder(812, 1, "/usr/sbin/nginx", {"nginx"}, 99, 6)};
    const Verdict v = diagnose(bind_request("127.0.0.1", 8080), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(v.holders.empty());
}

TEST_CASE("a dual-stack [::] listener blocks 0.0.0.0, a v6only one does not", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("::", 8080, tcp_state::listen, 7, 1000, 0)};
    o.holders = {holder(900, 1, "/usr/bin/other", {"other"}, 7, 4)};
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.summary, "[::]:8080 (dual-stack)"));
    CHECK(any_contains(v.why, "without IPV6_V6ONLY also accepts IPv4"));
    o.sockets[0].v6only = 1;
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "unknown");
}

TEST_CASE("this process holding 0.0.0.0 then binding dual-stack [::] is self", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 11)};
    o.holders = {holder(4120, 1, "/opt/legacy/server", {"server"}, 11, 3)};
    Request r = bind_request("::", 8080);
    r.fd = 4;
    r.v6only = 0;
    const Verdict v = diagnose(r, o);
    CHECK(cause_id(v.cause) == "self");
    CHECK(v.holders.at(0).pid == 4120);
    CHECK(contains(v.summary, "fd 3"));
    CHECK(contains(v.fix, "IPV6_V6ONLY"));
    CHECK(any_contains(v.why, "IPV6_V6ONLY"));
}

TEST_CASE("binding the same address twice in one process is self", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.1", 8080, tcp_state::bound_inactive, 11)};
    o.holders = {holder(4120, 1, "/opt/legacy/server", {"server"}, 11, 5)};
    const Verdict v = diagnose(bind_request("127.0.0.1", 8080), o);
    CHECK(cause_id(v.cause) == "self");
    CHECK(contains(v.summary, "holds 127.0.0.1:8080 on fd 5 (bound, not listening)"));
    CHECK(any_contains(v.why, "binds the same port twice"));
}

TEST_CASE("listen() losing to an earlier SO_REUSEADDR listener of ours is self", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.1", 8080, tcp_state::listen, 11),
                 tcp("127.0.0.1", 8080, tcp_state::bound_inactive, 12)};
    o.holders = {holder(4120, 1, "/opt/legacy/server", {"server"}, 11, 3),
                 holder(4120, 1, "/opt/legacy/server", {"server"}, 12, 4)};
    Request r = bind_request("127.0.0.1", 8080);
    r.call = Call::listen;
    r.fd = 4;
    r.inode = 12;
    r.reuseaddr = 1;
    const Verdict v = diagnose(r, o);
    CHECK(cause_id(v.cause) == "self");
    CHECK(v.holders.at(0).fd == 3);
    CHECK(contains(v.summary, "only one may listen"));
}

TEST_CASE("a socket nobody visible holds is a hidden owner: not root", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 31337, 0)};
    o.pids_unreadable = 12;
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(v.holders.empty());
    CHECK(contains(v.summary, "root (uid 0)"));
    CHECK(contains(v.summary, "inode 31337"));
    CHECK(any_contains(v.why, "not root"));
    CHECK(contains(v.fix, "sudo ss -tlnp 'sport = :8080'"));

    // Secure execution (a setuid-root program run by uid 1000): observe() read
    // root's holder with root's rights and left it out; the report says so, as
    // the user's view, without guessing at kernels or PID namespaces.
    o.self.uid = 0;
    o.self.secure = true;
    o.self.real_uid = 1000;
    o.pids_unreadable = 0;
    o.pids_withheld = 1;
    const Verdict secure = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(secure.cause) == "hidden-owner");
    CHECK(any_contains(secure.why, "secure execution"));
    CHECK(any_contains(secure.why, "only what app (uid 1000) could see"));
    CHECK_FALSE(any_contains(secure.why, "kernel itself"));
    CHECK_FALSE(any_contains(secure.why, "another PID namespace"));
    CHECK(secure.confirm.front() == "sudo ss -tlnp 'sport = :8080'");
}

TEST_CASE("a hidden owner seen as root is in another PID namespace", "[causes]") {
    Observation o = observation_of_self();
    o.self.uid = 0;
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 31337, 0)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.why, "another PID namespace"));
    // ss here cannot name it; the fix sends the operator to the host.
    CHECK(contains(v.fix, "on the host, sudo ss -tlnp 'sport = :8080'"));
    CHECK(contains(v.fix, "sudo nsenter -t PID -n ss -tlnp 'sport = :8080'"));
    REQUIRE_FALSE(v.confirm.empty());
    CHECK(v.confirm.front() == "ss -tlnp 'sport = :8080'");
}

namespace {
/** A socket of `uid` on 0.0.0.0:8080 that no visible process holds, created in cgroup `id`. */
Observation hidden_socket(std::uint32_t uid, std::uint64_t cgroup_id = 0) {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 31337, uid)};
    o.sockets[0].cgroup_id = cgroup_id;
    return o;
}

CgroupFacts cgroup(std::uint64_t id, const char* path, CgroupKind kind, const char* name,
                   const char* engine = "", const char* container_id = "") {
    CgroupFacts c;
    c.id = id;
    c.path = path;
    c.kind = kind;
    c.name = name;
    c.engine = engine;
    c.container_id = container_id;
    return c;
}
} // namespace

TEST_CASE("hidden owner, not root: another user's socket names that user", "[causes][hidden]") {
    Observation o = hidden_socket(0);
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(contains(v.summary, "a tcp socket of root (uid 0) (inode 31337) listens on 0.0.0.0:8080"));
    CHECK(any_contains(v.why, "this process runs as app (uid 1000), not root"));
    CHECK_FALSE(any_contains(v.why, "PID namespace"));
    CHECK(v.confirm.front() == "sudo ss -tlnp 'sport = :8080'");
}

TEST_CASE("hidden owner, not root, own uid and every process read: another PID namespace",
          "[causes][hidden]") {
    // Rootless podman or a pod sidecar: same user, same network, other PID namespace.
    Observation o = hidden_socket(1000);
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.why, "runs as app (uid 1000) and every process visible from here was read"));
    CHECK(any_contains(v.why, "another PID namespace"));
    CHECK_FALSE(any_contains(v.why, "not root"));

    o.pids_unreadable = 2;  // a setuid program of ours: its fd table is unreadable
    CHECK(any_contains(diagnose(bind_request("0.0.0.0", 8080), o).why, "not root"));
}

TEST_CASE("hidden owner as root in the host's PID namespace: a kernel socket", "[causes][hidden]") {
    Observation o = hidden_socket(0);
    o.self.uid = 0;
    o.self.init_pid_ns = 1;
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.why, "the kernel itself owns it"));
    CHECK_FALSE(any_contains(v.why, "another PID namespace"));
    CHECK(contains(v.fix, "ss -tanp 'sport = :8080'"));
}

TEST_CASE("hidden owner as root: the docker container behind the socket's cgroup",
          "[causes][hidden]") {
    Observation o = hidden_socket(0, 4711);
    o.self.uid = 0;
    o.self.init_pid_ns = 0;
    o.cgroups = {cgroup(4711, "/system.slice/docker-3f2a1b9c8d7e.scope", CgroupKind::container,
                        "docker-3f2a1b9c8d7e.scope", "docker", "3f2a1b9c8d7e0011")};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.why, "another PID namespace"));
    CHECK(any_contains(v.why, "the socket was created in cgroup "
                              "/system.slice/docker-3f2a1b9c8d7e.scope: docker container 3f2a1b9c8d7e"));
    CHECK(contains(v.fix, "sudo nsenter -t PID -n ss -tlnp 'sport = :8080'"));
    CHECK(contains(v.fix, "; it runs in docker container 3f2a1b9c8d7e"));
    CHECK(any_contains(v.confirm, "docker ps --filter id=3f2a1b9c8d7e"));
    CHECK(v.confirm.front() == "ss -tlnp 'sport = :8080'");

    o.cgroups[0] = cgroup(4711, "/machine.slice/libpod-0123456789ab.scope/container",
                          CgroupKind::container, "libpod-0123456789ab.scope", "podman",
                          "0123456789ab");
    CHECK(any_contains(diagnose(bind_request("0.0.0.0", 8080), o).confirm,
                       "podman ps --filter id=0123456789ab"));
}

TEST_CASE("hidden owner, not root: the systemd unit behind the socket's cgroup", "[causes][hidden]") {
    Observation o = hidden_socket(0, 99);
    o.pids_unreadable = 3;
    o.cgroups = {cgroup(99, "/system.slice/nginx.service", CgroupKind::unit, "nginx.service")};
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.why, "not root"));
    CHECK(any_contains(v.why, "cgroup /system.slice/nginx.service: the systemd unit nginx.service"));
    CHECK(contains(v.fix, "sudo ss -tlnp 'sport = :8080'"));
    CHECK(contains(v.fix, "it runs in the systemd unit nginx.service"));
    CHECK(any_contains(v.confirm, "systemctl status -- nginx.service"));

    o.cgroups[0] = cgroup(99, "/user.slice/user-0.slice/user@0.service/app.slice/web.service",
                          CgroupKind::unit, "web.service");
    o.cgroups[0].user_unit = true;
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.why, "the systemd user unit web.service"));
    CHECK(any_contains(v.confirm, "systemctl --user status -- web.service"));

    o.cgroups[0] = cgroup(99, "/", CgroupKind::none, "");
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.why, "created in the root cgroup (/)"));
    CHECK(v.confirm.size() == 1);

    // An id observe() could not map adds nothing.
    o.cgroups[0].path.clear();
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK_FALSE(any_contains(v.why, "cgroup"));
}

TEST_CASE("only TIME_WAIT remnants: time-wait with count and expiry", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {time_wait("127.0.0.1", 8080, "127.0.0.1", 51322, 41200),
                 time_wait("127.0.0.1", 8080, "127.0.0.1", 51324, 58100)};
    o.reuse_probe = ReuseProbe::blocked;
    Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "time-wait");
    CHECK(v.holders.empty());
    CHECK(contains(v.summary, "2 old connections on port 8080 remain in TIME_WAIT"));
    CHECK(contains(v.summary, "TIME_WAIT"));
    CHECK(contains(v.summary, "the last expires in 59 s"));
    CHECK(any_contains(v.why, "neither side set SO_REUSEADDR"));
    CHECK(contains(v.fix, "wait 59 s"));

    o.reuse_probe = ReuseProbe::binds;
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.why, "the old listener set SO_REUSEADDR"));
    CHECK(contains(v.fix, "set SO_REUSEADDR on the listening socket before bind"));

    Request with_flag = bind_request("0.0.0.0", 8080);
    with_flag.reuseaddr = 1;
    o.reuse_probe = ReuseProbe::blocked;
    v = diagnose(with_flag, o);
    CHECK(any_contains(v.why, "this socket set SO_REUSEADDR, but the previous instance did not"));
}

TEST_CASE("a live listener wins over remnants on the same port", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {time_wait("127.0.0.1", 8080, "127.0.0.1", 51322, 41200),
                 tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"server"}, 5555, 3)};
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8080), o).cause) == "previous-instance");
}

TEST_CASE("nothing found: unknown, with what was checked and what failed", "[causes]") {
    Observation o = observation_of_self();
    o.netlink_ok = false;
    o.procnet_used = true;
    o.evidence = {"netlink sock_diag refused: EPERM; read /proc/net/tcp and /proc/net/tcp6 instead"};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(any_contains(v.evidence, "netlink sock_diag refused: EPERM"));
    CHECK(any_contains(v.evidence, "/proc/net: port 8080/tcp has 0 listening"));
    CHECK(contains(v.summary, "probably freed"));

    o.procnet_used = false;
    CHECK(contains(diagnose(bind_request("0.0.0.0", 8080), o).summary, "could not be read"));
}

TEST_CASE("UDP sockets block UDP binds only", "[causes]") {
    Observation o = observation_of_self();
    SocketEntry s = tcp("0.0.0.0", 5353, tcp_state::close, 77);
    s.proto = Proto::udp;
    o.sockets = {s};
    o.holders = {holder(600, 1, "/usr/sbin/avahi-daemon", {"avahi-daemon: running"}, 77, 12)};
    Verdict v = diagnose(bind_request("0.0.0.0", 5353, Proto::udp), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.summary, "is bound to 0.0.0.0:5353"));
    CHECK(any_contains(v.confirm, "ss -ualnp"));
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 5353, Proto::tcp), o).cause) == "unknown");
}

TEST_CASE("durations read as an operator says them", "[causes]") {
    CHECK(format_duration(42) == "42 s");
    CHECK(format_duration(150) == "2 min");
    CHECK(format_duration(3600 * 2 + 300) == "2 h 5 min");
    CHECK(format_duration(3 * 86400 + 5) == "3 days");
    CHECK(format_duration(-4) == "0 s");
}


TEST_CASE("an injected SO_REUSEADDR that could not help says so", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {time_wait("127.0.0.1", 8080, "127.0.0.1", 51322, 41200)};
    o.reuse_probe = ReuseProbe::blocked;
    Request r = bind_request("0.0.0.0", 8080);
    r.reuseaddr = 1;
    r.reuseaddr_injected = true;
    Verdict v = diagnose(r, o);
    CHECK(cause_id(v.cause) == "time-wait");
    CHECK(any_contains(v.why, "portshim set SO_REUSEADDR on this socket (PORTSHIM_REUSEADDR=1), "
                              "but the previous instance ran without it"));
    CHECK(contains(v.fix, "keep PORTSHIM_REUSEADDR=1"));

    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"server"}, 5555, 3)};
    v = diagnose(r, o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(any_contains(v.why, "portshim set (PORTSHIM_REUSEADDR=1) SO_REUSEADDR, but for TCP that "
                              "never passes an overlapping listener"));
}

TEST_CASE("reuseport sharing: strangers are named, our parent and children are not", "[causes]") {
    Observation o = observation_of_self();
    o.self.ppid = 4000;
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 11), tcp("0.0.0.0", 8080, tcp_state::listen, 12),
                 tcp("0.0.0.0", 8080, tcp_state::listen, 13), tcp("127.0.0.2", 9090, tcp_state::listen, 14)};
    o.holders = {holder(4000, 1, "/opt/legacy/server", {"server"}, 11, 3),    // our parent
                 holder(4121, 4120, "/opt/legacy/server", {"server"}, 12, 3), // our child
                 holder(300, 1, "/opt/legacy/server", {"server"}, 13, 3),     // an old instance
                 holder(400, 1, "/usr/bin/other", {"other"}, 14, 3)};         // another port
    const Request r = listen_request();
    const auto others = reuseport_strangers(r, o);
    REQUIRE(others.size() == 1);
    CHECK(others[0].holder.pid == 300);
    CHECK(others[0].same_program);
    CHECK(others[0].stop_pid == 300);
    o.holders[0].exe = "/usr/bin/other"; // a different program is a stranger even as our parent
    const auto both = reuseport_strangers(r, o);
    REQUIRE(both.size() == 2);
    CHECK_FALSE(both[0].same_program);
}

TEST_CASE("reuseport sharing: an old worker's master is the process to stop", "[causes]") {
    const auto peers = reuseport_strangers(listen_request(), haproxy_master_worker("/usr/sbin/haproxy"));
    REQUIRE(peers.size() == 1);
    CHECK(peers[0].holder.pid == 501);
    CHECK(peers[0].same_program);
    CHECK(peers[0].stop_pid == 500);
}

TEST_CASE("reuseport sharing: a sibling worker of our own master is the same server", "[causes]") {
    // Workers that each listen with SO_REUSEPORT: 501's master 500 is our parent too.
    Observation o = haproxy_master_worker("/usr/sbin/haproxy");
    o.self.ppid = 500;
    CHECK(reuseport_strangers(listen_request(), o).empty());
    // Under another parent (a shell, systemd) the same program is an earlier instance.
    o.self.ppid = 1;
    CHECK(reuseport_strangers(listen_request(), o).size() == 1);
}

// ---- the cause table: documented ids, round trips, which causes clear by themselves ----

TEST_CASE("cause table: every cause has its documented id and round-trips", "[cause]") {
    // The ids are a contract (DESIGN.md "Causes", JSON `cause`): spelled out here once more.
    const std::set<std::string> documented = {
        "previous-instance", "other-service", "self", "inherited-fd", "container-proxy",
        "hidden-owner", "time-wait", "outbound-collision", "stale-unix-socket", "unknown"};
    std::set<std::string> ids;
    for (const CauseInfo& info : cause_table) {
        const std::string id(info.id);
        CHECK(documented.count(id) == 1);
        CHECK(ids.insert(id).second); // no id twice
        CHECK(cause_id(info.cause) == info.id);
        REQUIRE(cause_from_id(info.id));
        CHECK(*cause_from_id(info.id) == info.cause);
        CHECK_FALSE(info.meaning.empty());
    }
    CHECK(ids == documented);
    CHECK(cause_count == documented.size());
    CHECK(cause_id(Cause::previous_instance) == "previous-instance");
    CHECK(cause_id(Cause::stale_unix_socket) == "stale-unix-socket");
    CHECK(cause_id(Cause::unknown) == "unknown");
}

TEST_CASE("cause table: other strings name no cause", "[cause]") {
    CHECK_FALSE(cause_from_id(""));             // the hooks' "no report yet"
    CHECK_FALSE(cause_from_id("time_wait"));    // the enumerator's name is no id
    CHECK_FALSE(cause_from_id("Time-Wait"));
    CHECK_FALSE(cause_from_id("time-wait "));
}

TEST_CASE("cause table: time-wait previous-instance and inherited-fd clear by themselves", "[cause]") {
    // README PORTSHIM_WAIT: "time-wait, previous-instance, inherited-fd; never self or other-service".
    const std::set<std::string> clearing = {"time-wait", "previous-instance", "inherited-fd"};
    for (const CauseInfo& info : cause_table)
        CHECK(clears_by_itself(info.cause) == (clearing.count(std::string(info.id)) == 1));
    CHECK_FALSE(clears_by_itself(Cause::self));
    CHECK_FALSE(clears_by_itself(Cause::other_service));
}
