// Plain data shared by the probes, the rules and the renderers of the engine.
// Nothing here does I/O: probes fill these structs, diagnose() reads them.
#pragma once

#include "cause.hpp"
#include "common/vocabulary.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace portshim {

/** Transport of the failing socket. */
enum class Proto : std::uint8_t { tcp, udp, unix_stream, unix_dgram };

/** An IPv4 or IPv6 address with a port, in host order for the port. */
struct Endpoint {
    int family = 0;                      ///< AF_INET or AF_INET6; 0 = unset
    std::array<std::uint8_t, 16> addr{}; ///< network order; IPv4 uses the first 4 bytes
    std::uint16_t port = 0;
    std::uint32_t scope_id = 0;          ///< IPv6 link-local scope, 0 otherwise
};

/** Kernel TCP states as numbered in include/net/tcp_states.h. */
namespace tcp_state {
inline constexpr std::uint8_t established = 1, syn_sent = 2, syn_recv = 3, fin_wait1 = 4,
    fin_wait2 = 5, time_wait = 6, close = 7, close_wait = 8, last_ack = 9, listen = 10,
    closing = 11, new_syn_recv = 12, bound_inactive = 13;
}

/** One kernel socket on the wanted port, from sock_diag or /proc/net. */
struct SocketEntry {
    Proto proto = Proto::tcp;
    Endpoint local;
    Endpoint remote;
    std::uint8_t state = 0;        ///< tcp_state::*; UDP: 7 unconnected, 1 connected
    std::uint32_t uid = 0;
    std::uint64_t inode = 0;       ///< 0 for TIME_WAIT remnants and orphans
    std::uint8_t timer = 0;        ///< idiag_timer (3 = TIME_WAIT timer)
    std::uint32_t expires_ms = 0;  ///< time left on that timer
    int v6only = -1;               ///< INET_DIAG_SKV6ONLY for AF_INET6 sockets; -1 unknown
    std::uint32_t ifindex = 0;     ///< SO_BINDTODEVICE, 0 = any
    std::uint64_t cookie = 0;
    std::uint64_t cgroup_id = 0;   ///< INET_DIAG_CGROUP_ID: the cgroup v2 the socket was created in; 0 unknown
};

/** A fact a probe could establish, refute, or not find out. */
enum class Tri : std::uint8_t { unknown, no, yes };

/** A process holding a socket inode through one of its descriptors. */
struct Holder {
    int pid = 0;
    int ppid = 0;
    std::string comm;
    std::string exe;                  ///< readlink of /proc/PID/exe, may end " (deleted)"
    std::vector<std::string> argv;    ///< /proc/PID/cmdline split on NUL
    std::uint32_t uid = 0;
    int fd = -1;
    bool cloexec = false;             ///< O_CLOEXEC from /proc/PID/fdinfo/FD flags
    std::uint64_t inode = 0;          ///< the socket this descriptor refers to
    std::uint64_t start_ticks = 0;    ///< field 22 of /proc/PID/stat
    double start_time = 0;            ///< wall clock, seconds since the epoch (0 unknown)
    // Facts for inferring inherited-fd without a registry record; observe()
    // fills them only for holders of a listener that lack O_CLOEXEC.
    Tri parent_gone = Tri::unknown;       ///< re-parented: ppid 1, or a systemd --user subreaper
    Tri imports_listen = Tri::unknown;    ///< its executable or a library (libc aside) imports listen()
    Tri socket_activated = Tri::unknown;  ///< LISTEN_PID in its environment is its own pid
};

/** One successful listen() as the registry (state_dir/listeners) recorded it. */
struct ListenRecord {
    std::uint64_t netns = 0;          ///< st_ino of the opener's /proc/self/ns/net; 0 unknown
    std::uint64_t inode = 0;          ///< the socket's inode
    std::string proto;                ///< "tcp", "udp" or "unix"
    std::string address;              ///< numeric address, or the unix path ("@name" if abstract)
    std::uint16_t port = 0;           ///< 0 for unix
    int pid = 0;                      ///< the opener: the process that called listen()
    std::uint64_t start_ticks = 0;    ///< its field 22 of /proc/PID/stat, to tell a reused pid
    std::uint64_t time = 0;           ///< when it listened, seconds since the epoch
    std::uint32_t uid = 0;            ///< its effective uid
    std::string exe;                  ///< its executable, may end " (deleted)"
};

/** A registry record for a socket on the wanted address, and its opener now. */
struct RecordedListen {
    ListenRecord record;
    bool alive = false;               ///< a process with the recorded pid and start ticks runs
    bool pid_reused = false;          ///< the pid runs, but as a process started since
    double start_time = 0;            ///< the opener's start, wall clock (0 unknown)
};

/** Who opened a socket, as a verdict or an `inherited` event names it. */
struct Opener {
    int pid = 0;                      ///< 0 unknown (inferred without a record)
    std::string exe;
    double start_time = 0;            ///< wall clock, seconds since the epoch (0 unknown)
    bool alive = false;               ///< it still runs
    bool holds = false;               ///< it still holds the socket
    std::string source;               ///< "registry" or "inferred"
};

/** One frame of the caller's stack when a report fired (PORTSHIM_BACKTRACE). */
struct Frame {
    std::uint64_t pc = 0;             ///< the return address (the call site)
    std::string symbol;               ///< the function's name as the object's symbol table has it; empty unknown
    std::uint64_t offset = 0;         ///< pc minus the symbol's start (with a symbol)
    std::string module;               ///< the object's path (dladdr), empty unknown
    std::uint64_t module_offset = 0;  ///< pc minus the object's load address (for addr2line)
};

/** The failing call as the hook saw it. */
struct Request {
    Call call = Call::bind;
    Proto proto = Proto::tcp;
    int fd = -1;
    std::uint64_t inode = 0;          ///< our own socket's inode (fstat), to skip it in listings
    int err = 0;                      ///< errno returned by libc (EADDRINUSE)
    Endpoint local;                   ///< wanted address (for listen: the bound one)
    std::string unix_path;            ///< AF_UNIX path; leading '@' for abstract names
    int reuseaddr = -1;               ///< our SO_REUSEADDR at failure time; -1 unknown
    int reuseport = -1;
    int v6only = -1;                  ///< our IPV6_V6ONLY (AF_INET6 only)
    bool reuseaddr_injected = false;  ///< PORTSHIM_REUSEADDR=1 set SO_REUSEADDR before this bind
};

/** This process, as the rules need to compare holders against it. */
struct SelfInfo {
    int pid = 0;
    int ppid = 0;
    std::uint32_t uid = 0;            ///< effective uid
    std::string exe;
    std::vector<std::string> argv;
    std::vector<int> fds;             ///< fds in this process holding a socket on the port (from owners)
    int init_pid_ns = -1;             ///< 1: in the host's (initial) PID namespace, 0: in another, -1 unknown
    /** Secure execution (ProbeEnv::secure): the report is for real_uid, who sees only his own processes. */
    bool secure = false;
    std::uint32_t real_uid = 0;
    /**
     * `portshim why --for` named a shell script (a pyenv or rbenv shim, catalina.sh):
     * it may exec another program, so a holder running something else is unknown, not
     * different; a holder running that shell is compared as usual.
     */
    bool launcher_script = false;
};

/** Result of binding a scratch SO_REUSEADDR socket to the wanted address. */
enum class ReuseProbe : std::uint8_t {
    not_run,  ///< no TIME_WAIT case, or not attempted
    binds,    ///< succeeded: the remnants carry SO_REUSEADDR, ours lacked it
    blocked,  ///< EADDRINUSE: the remnants' listener did not set SO_REUSEADDR
    failed,   ///< another error; see Observation::evidence
};

/** Host-wide facts used in explanations. */
struct HostFacts {
    int port_range_low = 0;           ///< net.ipv4.ip_local_port_range; 0 unknown
    int port_range_high = 0;
    std::string reserved_ports;       ///< net.ipv4.ip_local_reserved_ports, raw
    double now = 0;                   ///< wall clock, seconds since the epoch
};

/** One bound AF_UNIX socket from the unix sock_diag table (NETLINK_SOCK_DIAG, AF_UNIX). */
struct UnixSocket {
    std::uint8_t type = 0;           ///< SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET
    std::uint8_t state = 0;          ///< tcp_state::listen, close (bound or unconnected), established
    std::uint64_t inode = 0;         ///< the socket's own inode, as /proc/PID/fd shows it
    std::string name;                ///< UNIX_DIAG_NAME: the path as bound (maybe relative), "@name" if abstract
    bool has_vfs = false;            ///< UNIX_DIAG_VFS was present (path sockets only)
    std::uint32_t vfs_ino = 0;       ///< inode of the socket FILE, to compare with lstat of the path
    std::uint32_t vfs_dev = 0;       ///< its device in kernel encoding (MAJOR << 20 | MINOR)
    std::int64_t uid = -1;           ///< UNIX_DIAG_UID (Linux >= 5.3); -1 unknown
};

/** What a scratch non-blocking connect() to the wanted path said. */
enum class UnixConnect : std::uint8_t {
    not_run,  ///< abstract name, a listener already known, or no path
    refused,  ///< ECONNREFUSED: no socket listens on the file
    accepted, ///< connected (or EAGAIN: a full backlog): something listens
    failed,   ///< another errno, see UnixPath::connect_error
};

/** Facts about the wanted AF_UNIX path (not filled for abstract names). */
struct UnixPath {
    bool checked = false;            ///< lstat() was run
    int lstat_error = 0;             ///< errno of lstat(); 0 = the path exists
    std::uint32_t file_type = 0;     ///< st_mode & S_IFMT
    double mtime = 0;                ///< seconds since the epoch: when the file was bound
    std::uint64_t ino = 0;
    std::uint64_t dev = 0;           ///< st_dev, user-space encoding
    UnixConnect connect = UnixConnect::not_run;
    int connect_error = 0;           ///< errno of the scratch connect, 0 if it connected
};

/** What a cgroup path says about who runs there. */
enum class CgroupKind : std::uint8_t {
    none,       ///< no unit or container in the path (the root cgroup, a plain directory)
    unit,       ///< a systemd service: "nginx.service"
    scope,      ///< another systemd scope: a login session, systemd-run --scope
    container,  ///< a container engine's scope or directory
};

/** The cgroup a socket was created in, found for sockets no visible process holds. */
struct CgroupFacts {
    std::uint64_t id = 0;             ///< SocketEntry::cgroup_id
    std::string path;                 ///< below the cgroup2 mount, "/system.slice/nginx.service"; empty: not found
    CgroupKind kind = CgroupKind::none;
    std::string name;                 ///< the path component that names it: "nginx.service", "docker-ID.scope"
    std::string engine;               ///< container only: docker, podman, containerd, cri-o
    std::string container_id;         ///< container only
    bool user_unit = false;           ///< under user@UID.service: a systemd --user unit
};

/** Everything the probes found about the wanted port. */
struct Observation {
    std::vector<SocketEntry> sockets; ///< sockets whose local port is the wanted one
    std::vector<Holder> holders;      ///< processes holding any of those inodes
    /**
     * Parents of holders that run the holder's executable but hold none of the
     * sockets (haproxy -W's master closes its listeners once its workers run),
     * and their parents in turn: the process a service manager controls. Fd -1, inode 0.
     */
    std::vector<Holder> masters;
    SelfInfo self;
    HostFacts host;
    bool netlink_ok = false;          ///< sock_diag answered
    bool procnet_used = false;        ///< /proc/net/{tcp,udp}[6] was read instead
    bool proc_ok = false;             ///< /proc could be scanned for owners
    int pids_unreadable = 0;          ///< processes whose fd table we could not read
    /** Processes of other users holding the sockets, left out under secure execution (rule 12). */
    int pids_withheld = 0;
    int scan_error = 0;               ///< EMFILE/ENFILE/ENOMEM cut the owner scan short (0: none)
    int pids_scanned = 0;             ///< processes whose descriptors were looked at (0: no scan)
    std::vector<CgroupFacts> cgroups; ///< cgroups of sockets without a visible holder
    ReuseProbe reuse_probe = ReuseProbe::not_run;
    std::vector<UnixSocket> unix_sockets; ///< AF_UNIX: sockets bound to the wanted path or name
    UnixPath unix_path;               ///< AF_UNIX: lstat and connect facts about the path
    std::vector<std::pair<std::uint32_t, std::string>> user_names; ///< uid -> name
    std::vector<RecordedListen> records; ///< registry records of live sockets on the address
    std::vector<std::string> evidence; ///< what each probe did or could not do
};

/** One diagnosis: a stable cause id and what the operator should read. */
struct Verdict {
    Cause cause = Cause::unknown;     ///< its id (cause_id): previous-instance, other-service, self, ...
    std::string summary;              ///< the headline after the cause id
    std::vector<Holder> holders;
    std::vector<std::string> why;     ///< explanation lines (overlap rules in words)
    std::vector<std::string> evidence;
    std::string fix;
    std::vector<std::string> confirm; ///< shell commands that confirm the verdict
    std::optional<Opener> opener;     ///< who opened the named socket, when known or inferred
};

/** A listening socket as the fd events (inherited, fork, exec-leak) list it. */
struct EventFd {
    int fd = -1;
    Proto proto = Proto::tcp;
    Endpoint local;                   ///< tcp and udp
    std::string unix_path;            ///< unix: the path, "@name" if abstract
    bool cloexec = false;
};

/** What the `inherited` event reports: listening sockets a process started with. */
struct InheritedReport {
    int ppid = 0;
    std::string parent_exe;           ///< its executable, else its comm
    std::vector<EventFd> fds;
    int more = 0;                     ///< listening sockets beyond those listed
    std::optional<Opener> opener;     ///< from the registry
    Handover handover = Handover::none; ///< a hand-over by design, not a leak
};

} // namespace portshim
