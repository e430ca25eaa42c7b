// Plain-data builders for rule and renderer tests: sockets, holders and
// requests as the probes would report them.
#pragma once

#include "diag/address.hpp"
#include "diag/sharing.hpp"
#include "diag/types.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <ftw.h>
#include <functional>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace portshim::fixtures {

inline bool contains(const std::string& s, const std::string& part) {
    return s.find(part) != std::string::npos;
}

/** Whether any of `lines` (a verdict's why, confirm or evidence) contains `part`. */
inline bool any_contains(const std::vector<std::string>& lines, const std::string& part) {
    return std::any_of(lines.begin(), lines.end(),
                       [&](const std::string& l) { return contains(l, part); });
}

/** Compares with tests/unit/data/golden/NAME; PORTSHIM_UPDATE_GOLDEN=1 rewrites it. */
inline void check_golden(const std::string& name, const std::string& actual) {
    const std::string path = std::string(PORTSHIM_TEST_DATA) + "/golden/" + name;
    if (const char* update = std::getenv("PORTSHIM_UPDATE_GOLDEN"); update && *update == '1')
        std::ofstream(path, std::ios::binary) << actual;
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream expected;
    expected << in.rdbuf();
    CHECK(actual == expected.str());
}

/** A private directory (mode 0700) under TMPDIR, removed with everything in it at the end. */
struct TempDir {
    std::string path;
    explicit TempDir(const char* name = "unit") {
        const char* tmp = std::getenv("TMPDIR");
        std::string templ = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") +
                            "/portshim-" + name + "-XXXXXX";
        REQUIRE(::mkdtemp(&templ[0]) != nullptr);
        path = templ;
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        ::nftw(
            path.c_str(),
            [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
            FTW_DEPTH | FTW_PHYS);
    }
    /** Writes `text` to PATH/NAME (NAME may name a subdirectory that exists). */
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path + "/" + name, std::ios::binary) << text;
    }
};

/**
 * Runs `body` in a forked child and returns what it returned, through a pipe:
 * for what must not touch the test process (a seccomp filter, dropped
 * privileges). `body` may _exit(2) to fail; it must not use REQUIRE.
 */
inline std::string in_child(const std::function<std::string()>& body) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::close(fds[0]);
        const std::string out = body();
        const ssize_t n = ::write(fds[1], out.data(), out.size());
        ::_exit(n == static_cast<ssize_t>(out.size()) ? 0 : 3);
    }
    ::close(fds[1]);
    std::string out;
    char buf[512];
    ssize_t n = 0;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    return out;
}

inline Endpoint ep(const char* addr, std::uint16_t port) { return *parse_address(addr, port); }

inline SocketEntry tcp(const char* addr, std::uint16_t port, std::uint8_t state,
                       std::uint64_t inode, std::uint32_t uid = 1000, int v6only = -1) {
    SocketEntry s;
    s.proto = Proto::tcp;
    s.local = ep(addr, port);
    s.state = state;
    s.inode = inode;
    s.uid = uid;
    s.v6only = v6only;
    return s;
}

inline SocketEntry time_wait(const char* addr, std::uint16_t port, const char* peer,
                             std::uint16_t peer_port, std::uint32_t expires_ms) {
    SocketEntry s = tcp(addr, port, tcp_state::time_wait, 0, 0);
    s.remote = ep(peer, peer_port);
    s.timer = 3;
    s.expires_ms = expires_ms;
    return s;
}

inline Holder holder(int pid, int ppid, const char* exe, std::vector<std::string> argv,
                     std::uint64_t inode, int fd, double start_time = 0,
                     std::uint64_t start_ticks = 0) {
    Holder h;
    h.pid = pid;
    h.ppid = ppid;
    h.exe = exe;
    const std::string e = exe;
    h.comm = e.substr(e.rfind('/') + 1, 15);
    h.argv = std::move(argv);
    h.uid = 1000;
    h.fd = fd;
    h.inode = inode;
    h.start_time = start_time;
    h.start_ticks = start_ticks;
    return h;
}

inline Request bind_request(const char* addr, std::uint16_t port, Proto proto = Proto::tcp) {
    Request r;
    r.call = Call::bind;
    r.proto = proto;
    r.fd = 3;
    r.err = 98;
    r.local = ep(addr, port);
    r.reuseaddr = 0;
    return r;
}

/** Each holder as a reuseport peer running another program, its own process to stop. */
inline std::vector<ReuseportPeer> other_programs(const std::vector<Holder>& hs) {
    std::vector<ReuseportPeer> out;
    for (const Holder& h : hs) out.push_back({h, false, h.pid});
    return out;
}

/** An observation made by pid 4120 running /opt/legacy/server as uid 1000. */
inline Observation observation_of_self(const char* exe = "/opt/legacy/server") {
    Observation o;
    o.self.pid = 4120;
    o.self.ppid = 1;
    o.self.uid = 1000;
    o.self.exe = exe;
    o.self.argv = {exe, "--port", "8080"};
    o.host.now = 1'800'000'000;
    o.host.port_range_low = 32768;
    o.host.port_range_high = 60999;
    o.netlink_ok = true;
    o.proc_ok = true;
    o.user_names = {{0, "root"}, {1000, "app"}};
    return o;
}

} // namespace portshim::fixtures
