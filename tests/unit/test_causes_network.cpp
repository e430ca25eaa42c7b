// The TCP/UDP causes of issue 3 on plain data: outbound connections, container
// forwarders, well-known services, UDP and SO_REUSEPORT sharing, unknown's checklist.
#include "diag/causes.hpp"
#include "fixtures.hpp"

#include <catch2/catch.hpp>

using namespace portshim;
using namespace portshim::fixtures;

namespace {
SocketEntry connection(const char* addr, std::uint16_t port, const char* peer,
                       std::uint16_t peer_port, std::uint8_t state, std::uint64_t inode) {
    SocketEntry s = tcp(addr, port, state, inode);
    s.remote = ep(peer, peer_port);
    return s;
}

SocketEntry udp(const char* addr, std::uint16_t port, std::uint64_t inode, std::uint32_t uid = 1000) {
    SocketEntry s = tcp(addr, port, tcp_state::close, inode, uid);
    s.proto = Proto::udp;
    return s;
}
} // namespace

TEST_CASE("an outgoing connection on the wanted port is an outbound collision", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {connection("10.0.0.5", 41234, "10.0.0.9", 5432, tcp_state::established, 61)};
    o.holders = {holder(700, 1, "/usr/bin/psql", {"psql", "-h", "10.0.0.9"}, 61, 3)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 41234), o);
    CHECK(cause_id(v.cause) == "outbound-collision");
    CHECK(v.holders.at(0).pid == 700);
    CHECK(contains(v.summary, "pid 700 (/usr/bin/psql)"));
    CHECK(contains(v.summary, "10.0.0.5:41234 -> 10.0.0.9:5432 (ESTABLISHED)"));
    CHECK(any_contains(v.why, "inside net.ipv4.ip_local_port_range (32768-60999)"));
    CHECK(contains(v.fix, "sysctl -w net.ipv4.ip_local_reserved_ports=41234"));
    CHECK(contains(v.fix, "existing connection keeps it"));
    CHECK(any_contains(v.confirm, "ip_local_port_range"));
}

TEST_CASE("outbound collision: any connected state, reserved list extended, port outside range",
          "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {connection("10.0.0.5", 41234, "10.0.0.9", 80, tcp_state::close_wait, 61)};
    o.holders = {holder(700, 1, "/usr/bin/curl", {"curl"}, 61, 3)};
    o.host.reserved_ports = "8080,40000-40100\n";
    Verdict v = diagnose(bind_request("0.0.0.0", 41234), o);
    CHECK(cause_id(v.cause) == "outbound-collision");
    CHECK(contains(v.summary, "(CLOSE_WAIT)"));
    CHECK(contains(v.fix, "ip_local_reserved_ports=8080,40000-40100,41234"));

    o.sockets[0].state = tcp_state::syn_sent;
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 41234), o).cause) == "outbound-collision");

    o.sockets = {connection("10.0.0.5", 40050, "10.0.0.9", 80, tcp_state::established, 61)};
    v = diagnose(bind_request("0.0.0.0", 40050), o);
    CHECK(cause_id(v.cause) == "outbound-collision");
    CHECK(any_contains(v.why, "is listed in net.ipv4.ip_local_reserved_ports"));
    CHECK_FALSE(contains(v.fix, "sysctl -w"));

    o.sockets = {connection("10.0.0.5", 2000, "10.0.0.9", 80, tcp_state::established, 61)};
    v = diagnose(bind_request("0.0.0.0", 2000), o);
    CHECK(any_contains(v.why, "lies outside net.ipv4.ip_local_port_range"));
}

TEST_CASE("an accepted connection is not outbound: the listener on the port wins", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {connection("127.0.0.1", 8080, "127.0.0.1", 51000, tcp_state::established, 62),
                 tcp("127.0.0.1", 8080, tcp_state::listen, 60)};
    o.holders = {holder(812, 1, "/usr/sbin/nginx", {"nginx"}, 60, 6),
                 holder(812, 1, "/usr/sbin/nginx", {"nginx"}, 62, 9)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.summary, "listens on 127.0.0.1:8080"));

    // A listener on another address of the port still marks the connection as accepted.
    o.sockets[1].local = ep("127.0.0.2", 8080);
    CHECK(cause_id(diagnose(bind_request("127.0.0.1", 8080), o).cause) == "other-service");
}

TEST_CASE("docker-proxy holding the port is container-proxy with the published mapping",
          "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 90, 0)};
    o.holders = {holder(1500, 1400, "/usr/bin/docker-proxy",
                        {"/usr/bin/docker-proxy", "-proto", "tcp", "-host-ip", "0.0.0.0",
                         "-host-port", "8080", "-container-ip", "172.17.0.2", "-container-port",
                         "80"},
                        90, 4)};
    const Verdict v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(cause_id(v.cause) == "container-proxy");
    CHECK(v.holders.at(0).pid == 1500);
    CHECK(contains(v.summary, "docker's forwarder"));
    CHECK(contains(v.summary, "tcp 0.0.0.0:8080 -> 172.17.0.2:80"));
    CHECK(contains(v.fix, "docker ps --filter publish=8080"));
    CHECK(any_contains(v.confirm, "docker ps --filter publish=8080"));
}

TEST_CASE("container forwarders are recognised by comm or executable name", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("::", 8443, tcp_state::listen, 91, 1000, 0)};
    o.holders = {holder(1600, 1, "/usr/libexec/podman/rootlessport", {"rootlessport"}, 91, 10)};
    Verdict v = diagnose(bind_request("0.0.0.0", 8443), o);
    CHECK(cause_id(v.cause) == "container-proxy");
    CHECK(contains(v.summary, "podman's forwarder"));
    CHECK(contains(v.fix, "podman port -a"));

    o.holders[0].exe = "/usr/bin/exe";
    o.holders[0].comm = "containers-root"; // containers-rootlessport, cut to 15 characters
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8443), o).cause) == "container-proxy");

    o.holders[0] = holder(1601, 1, "/usr/bin/pasta.avx2",
                          {"pasta", "--config-net", "-t", "8443:443", "-u", "none"}, 91, 7);
    v = diagnose(bind_request("0.0.0.0", 8443), o);
    CHECK(cause_id(v.cause) == "container-proxy");
    CHECK(contains(v.summary, "ports tcp 8443:443"));

    o.holders[0] = holder(1602, 1, "/usr/bin/dockerd", {"dockerd"}, 91, 30);
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8443), o).cause) == "container-proxy");
    o.holders[0] = holder(1603, 1, "/usr/bin/containerd-shim-runc-v2", {"shim"}, 91, 30);
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8443), o).cause) == "container-proxy");
    o.holders[0] = holder(1604, 1, "/usr/bin/dockerdash", {"dockerdash"}, 91, 30);
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 8443), o).cause) == "other-service");
}

TEST_CASE("systemd-resolved on 53 gets the DNSStubListener hint and the UDP rule", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {udp("127.0.0.53", 53, 120, 990)};
    o.holders = {holder(480, 1, "/usr/lib/systemd/systemd-resolved", {"/lib/systemd/systemd-resolved"},
                        120, 12)};
    o.holders[0].comm = "systemd-resolve";
    const Verdict v = diagnose(bind_request("0.0.0.0", 53, Proto::udp), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.fix, "DNSStubListener=no"));
    CHECK(contains(v.fix, "/etc/systemd/resolved.conf"));
    CHECK(any_contains(v.why, "stub listener"));
    CHECK(any_contains(v.why, "UDP rule: 127.0.0.53:53 blocks 0.0.0.0:53 unless both sockets set "
                              "SO_REUSEADDR"));
    CHECK(any_contains(v.why, "this socket did not set SO_REUSEADDR"));
}

TEST_CASE("hints for dnsmasq, avahi-daemon, cupsd and systemd socket units", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {udp("0.0.0.0", 5353, 77)};
    o.holders = {holder(600, 1, "/usr/sbin/avahi-daemon", {"avahi-daemon: running"}, 77, 12)};
    Verdict v = diagnose(bind_request("0.0.0.0", 5353, Proto::udp), o);
    CHECK(contains(v.fix, "set SO_REUSEADDR on this socket"));

    o.sockets = {tcp("127.0.0.1", 631, tcp_state::listen, 78)};
    o.holders = {holder(601, 1, "/usr/sbin/cupsd", {"/usr/sbin/cupsd", "-l"}, 78, 5)};
    CHECK(contains(diagnose(bind_request("0.0.0.0", 631), o).fix, "/etc/cups/cupsd.conf"));

    o.sockets = {tcp("0.0.0.0", 53, tcp_state::listen, 79)};
    o.holders = {holder(602, 1, "/usr/sbin/dnsmasq", {"dnsmasq"}, 79, 5)};
    CHECK(contains(diagnose(bind_request("0.0.0.0", 53), o).fix, "bind-interfaces"));

    o.sockets = {tcp("0.0.0.0", 9000, tcp_state::listen, 80)};
    o.holders = {holder(1, 0, "/usr/lib/systemd/systemd", {"/sbin/init"}, 80, 40)};
    v = diagnose(bind_request("0.0.0.0", 9000), o);
    CHECK(any_contains(v.why, "socket activation"));
    CHECK(any_contains(v.confirm, "systemctl list-sockets | grep ':9000'"));

    // No hint off the well-known port.
    o.sockets = {tcp("0.0.0.0", 8053, tcp_state::listen, 79)};
    o.holders = {holder(602, 1, "/usr/sbin/dnsmasq", {"dnsmasq"}, 79, 5)};
    CHECK_FALSE(contains(diagnose(bind_request("0.0.0.0", 8053), o).fix, "bind-interfaces"));
}

TEST_CASE("UDP: which side lacked SO_REUSEADDR", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {udp("0.0.0.0", 5000, 81)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"server"}, 81, 3)};
    Request r = bind_request("0.0.0.0", 5000, Proto::udp);
    Verdict v = diagnose(r, o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(any_contains(v.why, "UDP rule"));
    CHECK(any_contains(v.why, "this socket did not set SO_REUSEADDR"));
    r.reuseaddr = 1;
    v = diagnose(r, o);
    CHECK(any_contains(v.why, "this socket set SO_REUSEADDR, so the socket holding the port did not"));

    // TCP: SO_REUSEADDR never passes a listener, and the words say so.
    o.sockets = {tcp("0.0.0.0", 5000, tcp_state::listen, 81)};
    Request t = bind_request("0.0.0.0", 5000);
    t.reuseaddr = 1;
    v = diagnose(t, o);
    CHECK(any_contains(v.why, "for TCP that never passes an overlapping listener"));
    CHECK_FALSE(any_contains(v.why, "UDP rule"));
}

TEST_CASE("a connected UDP socket with no server on the port is an outbound collision",
          "[causes]") {
    Observation o = observation_of_self();
    SocketEntry s = udp("10.0.0.5", 40001, 82);
    s.state = tcp_state::established;
    s.remote = ep("10.0.0.1", 53);
    o.sockets = {s};
    o.holders = {holder(900, 1, "/usr/bin/dig", {"dig"}, 82, 3)};
    Verdict v = diagnose(bind_request("0.0.0.0", 40001, Proto::udp), o);
    CHECK(cause_id(v.cause) == "outbound-collision");
    CHECK(contains(v.summary, "udp connection 10.0.0.5:40001 -> 10.0.0.1:53 (connected)"));
    o.sockets.push_back(udp("0.0.0.0", 40001, 83));
    CHECK(cause_id(diagnose(bind_request("0.0.0.0", 40001, Proto::udp), o).cause) != "outbound-collision");
}

TEST_CASE("SO_REUSEPORT: a different uid, or the other socket lacks the flag", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 7000, tcp_state::listen, 84, 0)};
    o.holders = {holder(50, 1, "/usr/sbin/balancer", {"balancer"}, 84, 3)};
    o.holders[0].uid = 0;
    Request r = bind_request("0.0.0.0", 7000);
    r.reuseport = 1;
    Verdict v = diagnose(r, o);
    CHECK(any_contains(v.why, "SO_REUSEPORT sharing needs the same effective uid: the holder's "
                              "socket belongs to root (uid 0), this process runs as app (uid 1000)"));

    o.sockets[0].uid = 1000;
    v = diagnose(r, o);
    CHECK(any_contains(v.why, "the other socket did not set SO_REUSEPORT (both must, before bind)"));

    r.reuseport = 0;
    CHECK_FALSE(any_contains(diagnose(r, o).why, "SO_REUSEPORT"));
}

TEST_CASE("unknown lists what was checked and which probe failed", "[causes]") {
    Observation o = observation_of_self();
    o.sockets = {tcp("127.0.0.2", 8080, tcp_state::listen, 99)};
    o.holders = {holder(812, 1, "/usr/sbin/nginx", {"nginx"}, 99, 6)};
    o.pids_scanned = 143;
    o.pids_unreadable = 2;
    Verdict v = diagnose(bind_request("127.0.0.1", 8080), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(any_contains(v.evidence, "checked: sock_diag tcp IPv4+IPv6 on port 8080: 1 socket(s); "
                                   "/proc: 143 processes scanned, 2 unreadable, 1 holder(s) found"));

    o = observation_of_self();
    o.netlink_ok = false;
    o.proc_ok = false;
    v = diagnose(bind_request("0.0.0.0", 8080, Proto::udp), o);
    CHECK(any_contains(v.evidence, "checked: sock_diag and /proc/net/udp on port 8080: both "
                                   "failed; /proc: could not be listed"));

    o = observation_of_self();
    v = diagnose(bind_request("0.0.0.0", 8080), o);
    CHECK(any_contains(v.evidence, "/proc: not scanned (no socket to find an owner for)"));
}
