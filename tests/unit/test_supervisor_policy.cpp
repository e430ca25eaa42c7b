// portshim-supervise's per-call decisions on plain facts: when performing a bind or
// listen on the program's socket gives the program's own result (LSMs, capabilities,
// AF_UNIX), and when a CONTINUE'd bind is certain to fail with EADDRINUSE.
#include "fixtures.hpp"
#include "supervisor_policy.hpp"

#include <catch2/catch.hpp>

#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

using namespace portshim;
using namespace portshim::supervisor;
using namespace portshim::fixtures;

namespace {

/** A root supervisor in the initial namespaces, port start 1024, no task LSM. */
Policy root_host() {
    Policy p;
    p.self.known = true;
    p.self.net_bind_service = true;
    p.self.euid = 0;
    p.self.userns = 0xEFFFFFFDU;
    p.self.netns = 4026531840U;
    p.self.netns_owner = 0xEFFFFFFDU;
    p.port_start = 1024;
    return p;
}

/** A task like the supervisor (the same creds, namespaces and label). */
TaskFacts same_as(const Policy& p) { return p.self; }

/** The same task after setpriv --reuid nobody --clear-groups --inh-caps=-all. */
TaskFacts dropped(const Policy& p) {
    TaskFacts t = p.self;
    t.euid = 65534;
    t.net_bind_service = false;
    return t;
}

BindCall inet(unsigned port, int type = SOCK_STREAM) {
    BindCall c;
    c.family = AF_INET;
    c.type = type;
    c.port = port;
    return c;
}

/** A task like the supervisor: its bind and listen are performed. */
TaskFacts performed_like_self(const Policy& p) {
    const TaskFacts caller = same_as(p);
    CHECK(decide_bind(p, caller, inet(8080)) == Action::perform);
    CHECK(decide_listen(p, caller, AF_INET6) == Action::perform);
    return caller;
}

BindCall unix_call(bool path) {
    BindCall c;
    c.family = AF_UNIX;
    c.type = SOCK_STREAM;
    c.unix_path = path;
    return c;
}

Request no_reuse(const char* addr, std::uint16_t port, Proto proto = Proto::tcp) {
    Request r = bind_request(addr, port, proto);
    r.reuseaddr = 0;
    r.reuseport = 0;
    r.inode = 77;
    return r;
}

} // namespace

TEST_CASE("supervisor policy: without a task LSM an inet bind is performed at or above the port start and for port 0")
{
    const Policy p = root_host();
    CHECK(decide_bind(p, same_as(p), inet(8080)) == Action::perform);
    CHECK(decide_bind(p, dropped(p), inet(8080)) == Action::perform);
    CHECK(decide_bind(p, dropped(p), inet(0)) == Action::perform);
    CHECK(decide_bind(p, dropped(p), inet(1024, SOCK_DGRAM)) == Action::perform);
    // The caller's netns alone (the quick path) is enough there.
    TaskFacts netns_only;
    netns_only.netns = p.self.netns;
    CHECK(decide_bind(p, netns_only, inet(8080)) == Action::perform);
}

TEST_CASE("supervisor policy: a privileged port is performed when caller and supervisor have the same CAP_NET_BIND_SERVICE in one user ns")
{
    Policy p = root_host();
    // A root Go server on port 80: both capable, the same answer (the systemd case).
    CHECK(decide_bind(p, same_as(p), inet(80)) == Action::perform);
    // Dropped to nobody without capabilities: the kernel would answer EACCES, the supervisor 0.
    CHECK(decide_bind(p, dropped(p), inet(80)) == Action::predict);
    // Neither capable (an unprivileged supervisor and program): the same EACCES.
    p.self = dropped(p);
    CHECK(decide_bind(p, same_as(p), inet(80)) == Action::perform);
    // A program with the capability (file capabilities) and a supervisor without.
    TaskFacts capable = p.self;
    capable.net_bind_service = true;
    CHECK(decide_bind(p, capable, inet(80)) == Action::predict);
    // The same capability in another user ns, or under another euid (the owner rule of cap_capable).
    p = root_host();
    TaskFacts other_ns = same_as(p);
    other_ns.userns = 4026532000U;
    CHECK(decide_bind(p, other_ns, inet(80)) == Action::predict);
    TaskFacts other_euid = same_as(p);
    other_euid.euid = 1000;
    CHECK(decide_bind(p, other_euid, inet(80)) == Action::predict);
    // Unknown facts (the task is gone): predicted, never performed.
    CHECK(decide_bind(p, TaskFacts{}, inet(80)) == Action::predict);
}

TEST_CASE("supervisor policy: another netns with an unknown port start is performed only with the same capability")
{
    const Policy p = root_host();
    TaskFacts elsewhere = dropped(p);
    elsewhere.netns = 4026532100U;
    CHECK(decide_bind(p, elsewhere, inet(8080)) == Action::predict);
    CHECK(decide_bind(p, elsewhere, inet(0)) == Action::perform);
    TaskFacts capable_elsewhere = same_as(p);
    capable_elsewhere.netns = 4026532100U;
    CHECK(decide_bind(p, capable_elsewhere, inet(8080)) == Action::perform);
    CHECK(decide_bind(p, capable_elsewhere, inet(80)) == Action::perform);
}

TEST_CASE("supervisor policy: AppArmor performs for the same label and predicts for another or an unknown one")
{
    Policy p = root_host();
    p.lsm.apparmor = true;
    p.self.apparmor_label = "unconfined";
    TaskFacts caller = performed_like_self(p);
    caller.apparmor_label = "/usr/sbin/nginx (enforce)";
    CHECK(decide_bind(p, caller, inet(8080)) == Action::predict);
    CHECK(decide_bind(p, caller, unix_call(false)) == Action::predict);
    CHECK(decide_listen(p, caller, AF_INET) == Action::pass);
    caller.apparmor_label.clear();
    CHECK(decide_bind(p, caller, inet(8080)) == Action::predict);
    // The quick path (netns only) never performs under AppArmor.
    TaskFacts netns_only;
    netns_only.netns = p.self.netns;
    CHECK(decide_bind(p, netns_only, inet(8080)) == Action::predict);
    CHECK(decide_listen(p, TaskFacts{}, AF_INET) == Action::pass);
}

TEST_CASE("supervisor policy: Landlock predicts a TCP bind once a supervised task restricted itself and from ABI 4 only")
{
    Policy p = root_host();
    p.lsm.landlock = true;
    p.lsm.landlock_abi = 7;
    // No supervised task restricted itself: every one has the supervisor's domain.
    CHECK(decide_bind(p, same_as(p), inet(8080)) == Action::perform);
    p.landlock_restricted = true;
    p.lsm.landlock_abi = 3; // Linux 6.2 to 6.6: filesystem rules only
    CHECK(decide_bind(p, same_as(p), inet(8080)) == Action::perform);
    p.lsm.landlock_abi = 4; // Linux 6.7: LANDLOCK_ACCESS_NET_BIND_TCP, by the caller's domain
    CHECK(decide_bind(p, same_as(p), inet(8080)) == Action::predict);
    CHECK(decide_bind(p, same_as(p), inet(0)) == Action::predict);
    // UDP, abstract names and listen are not judged by Landlock.
    CHECK(decide_bind(p, same_as(p), inet(8080, SOCK_DGRAM)) == Action::perform);
    CHECK(decide_bind(p, same_as(p), unix_call(false)) == Action::perform);
    CHECK(decide_listen(p, same_as(p), AF_INET) == Action::perform);
}

TEST_CASE("supervisor policy: a prediction is made only where no LSM can deny the caller first")
{
    Policy p = root_host();
    CHECK(caller_lsm_allows(p, dropped(p), true));
    p.lsm.landlock = true;
    p.lsm.landlock_abi = 7;
    CHECK(caller_lsm_allows(p, dropped(p), true));
    p.landlock_restricted = true;
    CHECK_FALSE(caller_lsm_allows(p, dropped(p), true));
    CHECK(caller_lsm_allows(p, dropped(p), false)); // UDP and AF_UNIX: not Landlock's
    p = root_host();
    p.lsm.apparmor = true;
    TaskFacts confined = dropped(p);
    confined.apparmor_label = "/usr/sbin/nginx (enforce)";
    CHECK_FALSE(caller_lsm_allows(p, confined, false));
    confined.apparmor_label = "/usr/sbin/nginx (complain)";
    CHECK(caller_lsm_allows(p, confined, false));
    confined.apparmor_label = "unconfined";
    CHECK(caller_lsm_allows(p, confined, true));
    p.lsm.tomoyo = true;
    CHECK_FALSE(caller_lsm_allows(p, confined, true));
}

TEST_CASE("supervisor policy: two AppArmor labels that deny nothing answer the same")
{
    Policy p = root_host();
    p.lsm.apparmor = true;
    p.self.apparmor_label = "unconfined";
    TaskFacts caller = same_as(p);
    caller.apparmor_label = "myapp (complain)";
    CHECK(decide_bind(p, caller, inet(8080)) == Action::perform);
    caller.apparmor_label = "myapp (enforce)";
    CHECK(decide_bind(p, caller, inet(8080)) == Action::predict);
    CHECK(apparmor_allows_all("unconfined"));
    CHECK(apparmor_allows_all("crun (unconfined)"));
    CHECK_FALSE(apparmor_allows_all(""));
    CHECK_FALSE(apparmor_allows_all("docker-default (enforce)"));
}

TEST_CASE("supervisor policy: TOMOYO predicts every bind and leaves listen to the program")
{
    Policy p = root_host();
    p.lsm.tomoyo = true;
    CHECK(decide_bind(p, same_as(p), inet(8080)) == Action::predict);
    CHECK(decide_bind(p, same_as(p), inet(8080, SOCK_DGRAM)) == Action::predict);
    CHECK(decide_bind(p, same_as(p), unix_call(false)) == Action::predict);
    CHECK(decide_listen(p, same_as(p), AF_INET) == Action::pass);
}

TEST_CASE("supervisor policy: a unix pathname bind is predicted and an abstract one performed")
{
    const Policy p = root_host();
    CHECK(decide_bind(p, same_as(p), unix_call(true)) == Action::predict);
    CHECK(decide_bind(p, dropped(p), unix_call(false)) == Action::perform);
    // listen on AF_UNIX records the caller for SO_PEERCRED: always the program's own.
    CHECK(decide_listen(p, same_as(p), AF_UNIX) == Action::pass);
    BindCall other;
    other.family = AF_NETLINK;
    CHECK(decide_bind(p, same_as(p), other) == Action::pass);
}

TEST_CASE("supervisor policy: the caller passes the privileged-port check with the capability in its netns owner or the initial user ns")
{
    const Policy p = root_host();
    CHECK(caller_may_bind_port(p, dropped(p), 0));
    CHECK(caller_may_bind_port(p, dropped(p), 8080));
    CHECK_FALSE(caller_may_bind_port(p, dropped(p), 80));
    CHECK(caller_may_bind_port(p, same_as(p), 80));
    TaskFacts container; // root in a user ns that owns its netns (podman rootless)
    container.known = true;
    container.net_bind_service = true;
    container.userns = 4026532200U;
    container.netns = 4026532300U;
    container.netns_owner = 4026532200U;
    CHECK(caller_may_bind_port(p, container, 80));
    container.netns_owner = 0xEFFFFFFDU; // the host's netns seen from a child user ns
    CHECK_FALSE(caller_may_bind_port(p, container, 80));
    CHECK_FALSE(caller_may_bind_port(p, container, 8080)); // port start unknown there
}

TEST_CASE("supervisor policy: an overlapping TCP listener is a certain EADDRINUSE unless our socket has SO_REUSEPORT")
{
    const std::vector<SocketEntry> listener{tcp("0.0.0.0", 8080, tcp_state::listen, 11)};
    Request req = no_reuse("127.0.0.1", 8080);
    CHECK(in_use_certain(req, 0, listener));
    req.reuseaddr = 1; // SO_REUSEADDR does not share a listening port
    CHECK(in_use_certain(req, 0, listener));
    req.reuseport = 1; // it may join the listener's group: not certain
    CHECK_FALSE(in_use_certain(req, 0, listener));
    req.reuseport = -1;
    CHECK_FALSE(in_use_certain(req, 0, listener));
    // Another address, another port, our own socket, port 0: no conflict known.
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 8080), 0, {tcp("127.0.0.2", 8080, tcp_state::listen, 11)}));
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 8081), 0, listener));
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 8080), 0, {tcp("0.0.0.0", 8080, tcp_state::listen, 77)}));
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 0), 0, listener));
    // [::] dual-stack covers 127.0.0.1; with IPV6_V6ONLY it does not.
    CHECK(in_use_certain(no_reuse("127.0.0.1", 8080), 0, {tcp("::", 8080, tcp_state::listen, 11, 0, 0)}));
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 8080), 0, {tcp("::", 8080, tcp_state::listen, 11, 0, 1)}));
}

TEST_CASE("supervisor policy: sockets bound to two different devices do not conflict")
{
    SocketEntry on_eth = tcp("0.0.0.0", 8080, tcp_state::listen, 11);
    on_eth.ifindex = 2;
    CHECK(in_use_certain(no_reuse("0.0.0.0", 8080), 0, {on_eth}));
    CHECK(in_use_certain(no_reuse("0.0.0.0", 8080), 2, {on_eth}));
    CHECK_FALSE(in_use_certain(no_reuse("0.0.0.0", 8080), 3, {on_eth}));
}

TEST_CASE("supervisor policy: a TIME_WAIT remnant is a certain EADDRINUSE only without SO_REUSEADDR and SO_REUSEPORT")
{
    const std::vector<SocketEntry> remnant{time_wait("127.0.0.1", 8080, "127.0.0.1", 40000, 50000)};
    Request req = no_reuse("127.0.0.1", 8080);
    CHECK(in_use_certain(req, 0, remnant));
    CHECK(in_use_certain(no_reuse("0.0.0.0", 8080), 0, remnant));
    req.reuseaddr = 1; // binds when the remnant's listener had it too: not certain
    CHECK_FALSE(in_use_certain(req, 0, remnant));
    req.reuseaddr = -1;
    CHECK_FALSE(in_use_certain(req, 0, remnant));
    // An established connection alone on the port: not among the certain cases.
    CHECK_FALSE(in_use_certain(no_reuse("127.0.0.1", 8080), 0, {tcp("127.0.0.1", 8080, tcp_state::established, 12)}));
}

TEST_CASE("supervisor policy: a bound UDP socket is a certain EADDRINUSE without SO_REUSEADDR and SO_REUSEPORT")
{
    SocketEntry udp = tcp("0.0.0.0", 5353, 7, 11);
    udp.proto = Proto::udp;
    CHECK(in_use_certain(no_reuse("0.0.0.0", 5353, Proto::udp), 0, {udp}));
    Request shared = no_reuse("0.0.0.0", 5353, Proto::udp);
    shared.reuseaddr = 1;
    CHECK_FALSE(in_use_certain(shared, 0, {udp}));
    // A TCP socket on the same number is another table.
    CHECK_FALSE(in_use_certain(no_reuse("0.0.0.0", 5353, Proto::udp), 0, {tcp("0.0.0.0", 5353, tcp_state::listen, 12)}));
}

TEST_CASE("supervisor policy: abstract names are found in /proc/net/unix by their last field")
{
    const std::string table =
        "Num       RefCount Protocol Flags    Type St Inode Path\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 21573 @/tmp/.X11-unix/X0\n"
        "0000000000000000: 00000002 00000000 00010000 0001 01 21574 /run/systemd/notify\n"
        "0000000000000000: 00000002 00000000 00000000 0002 01 21575 @app@with@nul\n"
        "0000000000000000: 00000003 00000000 00000000 0001 03 21576\n";
    CHECK(abstract_name_listed(table, "@/tmp/.X11-unix/X0"));
    CHECK(abstract_name_listed(table, "@app@with@nul"));
    CHECK_FALSE(abstract_name_listed(table, "@X0"));
    CHECK_FALSE(abstract_name_listed(table, "@/run/systemd/notify"));
    CHECK_FALSE(abstract_name_listed(table, "@"));
}

TEST_CASE("supervisor policy: the facts of a live task are read from /proc")
{
    const TaskFacts me = read_task(static_cast<int>(::getpid()));
    REQUIRE(me.known);
    CHECK(me.euid == ::geteuid());
    CHECK(me.userns != 0);
    CHECK(me.netns != 0);
    CHECK(me.netns_owner != 0);
    CHECK_FALSE(read_task(0).known);
    const Policy p = Policy::read();
    CHECK(p.self.netns == me.netns);
    CHECK(p.port_start >= 0);
}

TEST_CASE("supervisor policy: SELinux performs for the same context and predicts nothing for another")
{
    Policy p = root_host();
    p.lsm.selinux = true;
    p.self.selinux_context = "unconfined_u:unconfined_r:unconfined_t:s0";
    TaskFacts caller = performed_like_self(p);
    // Another domain, or one that cannot be read: the caller's SID is checked (sock_has_perm).
    for (const char* other : {"system_u:system_r:httpd_t:s0", ""}) {
        caller.selinux_context = other;
        CHECK(decide_bind(p, caller, inet(8080)) == Action::predict);
        CHECK(decide_bind(p, caller, unix_call(false)) == Action::predict);
        CHECK(decide_listen(p, caller, AF_INET) == Action::pass);
        CHECK_FALSE(caller_lsm_allows(p, caller, true));
    }
    // Enforcing, the policy cannot be read from here: no prediction even for our own domain.
    CHECK_FALSE(caller_lsm_allows(p, same_as(p), true));
    // Permissive (enforce 0): it denies nothing.
    p.lsm.selinux_enforcing = false;
    CHECK(decide_bind(p, caller, inet(8080)) == Action::perform);
    CHECK(caller_lsm_allows(p, caller, true));
}

TEST_CASE("supervisor policy: a socket is judged in its own netns, which may not be the caller's")
{
    const Policy p = Policy::read();
    const int here = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(here >= 0);
    TaskFacts t = read_task(static_cast<int>(::getpid()));
    t.port_start = 7;
    socket_netns(p, here, t);
    CHECK(t.netns == p.self.netns);
    CHECK(t.netns_owner == p.self.netns_owner);
    CHECK(t.port_start == -1);
    ::close(here);
    if (::geteuid() != 0) return; // another netns needs root
    // A thread in a netns of its own makes the socket; this thread stays here.
    int there = -1;
    std::thread maker([&] {
        if (::unshare(CLONE_NEWNET) == 0) there = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    });
    maker.join();
    if (there < 0) return; // no netns here (a container without CAP_SYS_ADMIN)
    TaskFacts caller = dropped(p); // the caller is in our netns, at or above its port start
    socket_netns(p, there, caller);
    CHECK(caller.netns != 0);
    CHECK(caller.netns != p.self.netns);
    // The port start of ours says nothing of that netns: not performed for another caller.
    BindCall call = inet(p.port_start >= 0 ? static_cast<unsigned>(p.port_start) + 100U : 8080U);
    CHECK(decide_bind(p, caller, call) == Action::predict);
    ::close(there);
}
