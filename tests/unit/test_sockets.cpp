// Unit tests for the socket table probe: request layout, dumps recorded from a
// real kernel, /proc/net text, hostile input, and one live query per protocol.
#include "fixtures.hpp"
#include "diag/sockets.hpp"

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace portshim;
using portshim::sockets::DumpStatus;

namespace {

const std::string data_dir = std::string(PORTSHIM_TEST_DATA) + "/sockets";

std::string slurp(const std::string& path) {
    std::string text;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        REQUIRE(n >= 0);
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return text;
}

// A recording: one hex line per recv(), '#' lines are comments.
std::vector<std::vector<std::uint8_t>> load_recording(const std::string& name) {
    const std::string text = slurp(data_dir + "/" + name);
    std::vector<std::vector<std::uint8_t>> chunks;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#') continue;
        REQUIRE(line.size() % 2 == 0);
        std::vector<std::uint8_t> bytes;
        for (std::size_t i = 0; i < line.size(); i += 2) {
            bytes.push_back(static_cast<std::uint8_t>(std::stoul(line.substr(i, 2), nullptr, 16)));
        }
        chunks.push_back(bytes);
    }
    return chunks;
}

// Feeds every recv() of a recording to parse_dump, as query_netlink does.
std::vector<SocketEntry> replay(const std::string& name, Proto proto) {
    std::vector<SocketEntry> out;
    DumpStatus status;
    for (const auto& chunk : load_recording(name)) {
        REQUIRE_FALSE(status.done);
        status = sockets::parse_dump(chunk.data(), chunk.size(), proto, out);
        REQUIRE(status.error == 0);
    }
    REQUIRE(status.done);
    return out;
}

const SocketEntry* find_remote_port(const std::vector<SocketEntry>& entries, std::uint16_t port) {
    for (const auto& e : entries) {
        if (e.remote.port == port) return &e;
    }
    return nullptr;
}

std::array<std::uint8_t, 16> addr4(std::uint8_t a, std::uint8_t b, std::uint8_t c, std::uint8_t d) {
    return {a, b, c, d};
}

std::array<std::uint8_t, 16> addr6(const char* text) {
    std::array<std::uint8_t, 16> out{};
    REQUIRE(::inet_pton(AF_INET6, text, out.data()) == 1);
    return out;
}

std::vector<std::uint8_t> netlink_message(std::uint16_t type, const void* payload, std::size_t len) {
    std::vector<std::uint8_t> msg(NLMSG_SPACE(len), 0);
    nlmsghdr hdr{};
    hdr.nlmsg_len = static_cast<std::uint32_t>(NLMSG_LENGTH(len));
    hdr.nlmsg_type = type;
    hdr.nlmsg_flags = NLM_F_MULTI;
    std::memcpy(msg.data(), &hdr, sizeof hdr);
    if (len != 0) std::memcpy(msg.data() + NLMSG_HDRLEN, payload, len);
    return msg;
}

// An AF_INET6 listener message followed by one INET_DIAG_SKV6ONLY attribute
// whose header claims `rta_len` bytes (8 are really there).
std::vector<std::uint8_t> v6_listener_with_v6only_attr(unsigned short rta_len, std::uint8_t value) {
    std::uint8_t payload[sizeof(inet_diag_msg) + 8] = {};
    payload[0] = AF_INET6;
    payload[1] = tcp_state::listen;
    const rtattr attr{rta_len, INET_DIAG_SKV6ONLY};
    std::memcpy(payload + sizeof(inet_diag_msg), &attr, sizeof attr);
    payload[sizeof(inet_diag_msg) + sizeof attr] = value;
    return netlink_message(SOCK_DIAG_BY_FAMILY, payload, sizeof payload);
}

// inet_diag_bc_run() from net/ipv4/inet_diag.c for the two ops we emit.
bool kernel_accepts(const std::uint8_t* bc, int len, std::uint16_t sport) {
    while (len > 0) {
        inet_diag_bc_op op{};
        std::memcpy(&op, bc, sizeof op);
        inet_diag_bc_op operand{};
        std::memcpy(&operand, bc + sizeof op, sizeof operand);
        bool yes = false;
        if (op.code == INET_DIAG_BC_S_GE) yes = sport >= operand.no;
        else if (op.code == INET_DIAG_BC_S_LE) yes = sport <= operand.no;
        else FAIL("unexpected op " << int(op.code));
        const int step = yes ? op.yes : op.no;
        len -= step;
        bc += step;
    }
    return len == 0;
}

std::size_t open_fd_count() {
    std::size_t n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    while (const dirent* d = ::readdir(dir)) {
        if (d->d_name[0] != '.') ++n;
    }
    ::closedir(dir);
    return n;
}

std::uint64_t inode_of(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return st.st_ino;
}

// A socket bound to 127.0.0.1:0 (listening for TCP); returns fd and port.
int loopback_socket(int type, std::uint16_t& port) {
    const int fd = ::socket(AF_INET, type | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    if (type == SOCK_STREAM) REQUIRE(::listen(fd, 4) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
    return fd;
}

} // namespace

TEST_CASE("build_request lays out nlmsghdr, inet_diag_req_v2 and the port filter", "[sockets]") {
    const std::uint16_t port = 41001;
    const auto req = sockets::build_request(AF_INET6, IPPROTO_UDP, port, 77);
    // 16 header + 56 request + 4 rtattr + 4 ops of 4 bytes
    REQUIRE(req.size() == 92);

    nlmsghdr hdr{};
    std::memcpy(&hdr, req.data(), sizeof hdr);
    CHECK(hdr.nlmsg_len == 92);
    CHECK(hdr.nlmsg_type == SOCK_DIAG_BY_FAMILY);
    CHECK(hdr.nlmsg_flags == (NLM_F_REQUEST | NLM_F_DUMP));
    CHECK(hdr.nlmsg_seq == 77);
    CHECK(hdr.nlmsg_pid == 0);

    inet_diag_req_v2 body{};
    std::memcpy(&body, req.data() + 16, sizeof body);
    CHECK(body.sdiag_family == AF_INET6);
    CHECK(body.sdiag_protocol == IPPROTO_UDP);
    CHECK(body.idiag_ext == 0);
    CHECK(body.idiag_states == 0xffffffffU);
    CHECK(body.id.idiag_sport == 0);  // the bytecode filters, not the id

    rtattr attr{};
    std::memcpy(&attr, req.data() + 72, sizeof attr);
    CHECK(attr.rta_type == INET_DIAG_REQ_BYTECODE);
    CHECK(attr.rta_len == 20);

    // iproute2's "sport >= P and sport <= P": 'no' jumps to len + 4 = reject.
    const std::uint8_t* bc = req.data() + 76;
    const std::uint8_t lo = port & 0xff, hi = port >> 8;  // host order (x86: little endian)
    std::uint16_t host_port = 0;
    std::memcpy(&host_port, bc + 6, 2);
    CHECK(host_port == port);
    std::memcpy(&host_port, bc + 14, 2);
    CHECK(host_port == port);
    const std::vector<std::uint8_t> ops(bc, bc + 16);
    if (htons(1) != 1) {
        CHECK(ops == std::vector<std::uint8_t>{INET_DIAG_BC_S_GE, 8, 20, 0, 0, 0, lo, hi,
                                               INET_DIAG_BC_S_LE, 8, 12, 0, 0, 0, lo, hi});
    }

    CHECK(kernel_accepts(bc, 16, port));
    CHECK_FALSE(kernel_accepts(bc, 16, port - 1));
    CHECK_FALSE(kernel_accepts(bc, 16, port + 1));
    CHECK_FALSE(kernel_accepts(bc, 16, 0));
    CHECK_FALSE(kernel_accepts(bc, 16, 65535));

    const auto edge = sockets::build_request(AF_INET, IPPROTO_TCP, 65535, 1);
    CHECK(kernel_accepts(edge.data() + 76, 16, 65535));
    CHECK_FALSE(kernel_accepts(edge.data() + 76, 16, 65534));
}

TEST_CASE("recorded AF_INET TCP dump: listener, accepted connection and TIME_WAIT remnant", "[sockets]") {
    // 20 unrelated listeners were open: the kernel-side filter returned 3 sockets.
    const auto entries = replay("tcp4_41001.hex", Proto::tcp);
    REQUIRE(entries.size() == 3);

    const SocketEntry& listener = entries[0];
    CHECK(listener.proto == Proto::tcp);
    CHECK(listener.local.family == AF_INET);
    CHECK(listener.local.addr == addr4(0, 0, 0, 0));
    CHECK(listener.local.port == 41001);
    CHECK(listener.remote.port == 0);
    CHECK(listener.state == tcp_state::listen);
    CHECK(listener.uid == 4242);  // created under setfsuid(4242)
    CHECK(listener.inode == 24906);
    CHECK(listener.timer == 0);
    CHECK(listener.v6only == -1);
    CHECK(listener.ifindex == 0);
    CHECK(listener.cookie == 1);
    CHECK(listener.cgroup_id == 1);  // INET_DIAG_CGROUP_ID, unrequested: the root cgroup

    const SocketEntry* tw = find_remote_port(entries, 36542);
    REQUIRE(tw != nullptr);
    CHECK(tw->state == tcp_state::time_wait);
    CHECK(tw->local.addr == addr4(127, 0, 0, 1));
    CHECK(tw->remote.addr == addr4(127, 0, 0, 1));
    CHECK(tw->local.port == 41001);
    CHECK(tw->inode == 0);
    CHECK(tw->uid == 0);
    CHECK(tw->timer == 3);
    CHECK(tw->expires_ms == 59888);
    CHECK(tw->cgroup_id == 0);  // TIME_WAIT remnants carry no attributes

    const SocketEntry* est = find_remote_port(entries, 36538);
    REQUIRE(est != nullptr);
    CHECK(est->state == tcp_state::established);
    CHECK(est->local.port == 41001);
    CHECK(est->inode == 24908);
    CHECK(est->uid == 0);  // the accepting process's fsuid, not the listener's
    CHECK(est->expires_ms == 0);
}

TEST_CASE("recorded dump: a listener made in a child cgroup carries its cgroup id", "[sockets][hidden]") {
    const auto entries = replay("tcp4_41006.hex", Proto::tcp);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].state == tcp_state::listen);
    CHECK(entries[0].inode == 28400047);
    CHECK(entries[0].cgroup_id == 44);  // the inode of /sys/fs/cgroup/unified/portshim-rec.service
}

TEST_CASE("recorded AF_INET query does not show a dual-stack [::] listener", "[sockets]") {
    CHECK(replay("tcp4_41002.hex", Proto::tcp).empty());
    CHECK(replay("tcp6_41001.hex", Proto::tcp).empty());
}

TEST_CASE("recorded AF_INET6 TCP dump: v6only=0 listener and its mapped and ::1 connections", "[sockets]") {
    const auto entries = replay("tcp6_41002.hex", Proto::tcp);
    REQUIRE(entries.size() == 3);

    const SocketEntry& listener = entries[0];
    CHECK(listener.local.family == AF_INET6);
    CHECK(listener.local.addr == addr6("::"));
    CHECK(listener.local.port == 41002);
    CHECK(listener.state == tcp_state::listen);
    CHECK(listener.v6only == 0);
    CHECK(listener.inode == 24999);

    const SocketEntry* v6 = find_remote_port(entries, 40704);
    REQUIRE(v6 != nullptr);
    CHECK(v6->local.addr == addr6("::1"));
    CHECK(v6->state == tcp_state::established);
    CHECK(v6->inode == 25003);
    CHECK(v6->v6only == -1);  // the kernel sends INET_DIAG_SKV6ONLY for LISTEN/CLOSE only

    const SocketEntry* mapped = find_remote_port(entries, 37976);
    REQUIRE(mapped != nullptr);
    CHECK(mapped->local.addr == addr6("::ffff:127.0.0.1"));
    CHECK(mapped->remote.addr == addr6("::ffff:127.0.0.1"));
    CHECK(mapped->inode == 25001);
}

TEST_CASE("recorded dump: a bound, never listening TCP socket reads as bound_inactive", "[sockets]") {
    const auto entries = replay("tcp4_41003.hex", Proto::tcp);
    REQUIRE(entries.size() == 1);
    CHECK(entries[0].local.port == 41003);
    CHECK(entries[0].state == tcp_state::bound_inactive);
    CHECK(entries[0].inode == 25004);
}

TEST_CASE("recorded UDP dumps: unconnected v4, v6only v6 and connected sockets", "[sockets]") {
    const auto v4 = replay("udp4_41004.hex", Proto::udp);
    REQUIRE(v4.size() == 1);  // the connected 127.0.0.1:41005 socket has another local port
    CHECK(v4[0].proto == Proto::udp);
    CHECK(v4[0].local.port == 41004);
    CHECK(v4[0].state == tcp_state::close);  // UDP unconnected stays 7
    CHECK(v4[0].inode == 25005);
    CHECK(v4[0].v6only == -1);

    const auto v6 = replay("udp6_41004.hex", Proto::udp);
    REQUIRE(v6.size() == 1);
    CHECK(v6[0].local.family == AF_INET6);
    CHECK(v6[0].local.port == 41004);
    CHECK(v6[0].v6only == 1);
    CHECK(v6[0].inode == 25006);

    const auto connected = replay("udp4_41005.hex", Proto::udp);
    REQUIRE(connected.size() == 1);
    CHECK(connected[0].state == tcp_state::established);
    CHECK(connected[0].local.addr == addr4(127, 0, 0, 1));
    CHECK(connected[0].remote.port == 41004);
    CHECK(connected[0].inode == 25007);
}

TEST_CASE("parse_dump reports NLMSG_ERROR and a failed NLMSG_DONE", "[sockets]") {
    std::vector<SocketEntry> out;

    nlmsgerr err{};
    err.error = -EPERM;
    auto msg = netlink_message(NLMSG_ERROR, &err, sizeof err);
    DumpStatus status = sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out);
    CHECK(status.error == EPERM);
    CHECK_FALSE(status.done);

    // An ACK (error 0) is not an error; the DONE after it ends the dump.
    err.error = 0;
    msg = netlink_message(NLMSG_ERROR, &err, sizeof err);
    const int ok = 0;
    const auto done = netlink_message(NLMSG_DONE, &ok, sizeof ok);
    msg.insert(msg.end(), done.begin(), done.end());
    status = sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out);
    CHECK(status.error == 0);
    CHECK(status.done);

    const int failed = -EINTR;
    msg = netlink_message(NLMSG_DONE, &failed, sizeof failed);
    status = sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out);
    CHECK(status.done);
    CHECK(status.error == EINTR);

    // NLMSG_ERROR too short to hold the errno
    msg = netlink_message(NLMSG_ERROR, nullptr, 0);
    status = sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out);
    CHECK(status.error == EBADMSG);
    CHECK(out.empty());
}

TEST_CASE("parse_dump rejects malformed messages with EBADMSG", "[sockets]") {
    const auto chunk = load_recording("tcp4_41001.hex").at(0);
    std::vector<SocketEntry> out;

    SECTION("header length below the header size") {
        auto bad = chunk;
        const std::uint32_t len = 8;
        std::memcpy(bad.data(), &len, sizeof len);
        CHECK(sockets::parse_dump(bad.data(), bad.size(), Proto::tcp, out).error == EBADMSG);
        CHECK(out.empty());
    }
    SECTION("header length past the buffer") {
        auto bad = chunk;
        const std::uint32_t len = static_cast<std::uint32_t>(bad.size()) + 4;
        std::memcpy(bad.data(), &len, sizeof len);
        CHECK(sockets::parse_dump(bad.data(), bad.size(), Proto::tcp, out).error == EBADMSG);
    }
    SECTION("inet_diag_msg cut short") {
        const std::uint8_t payload[10] = {AF_INET};
        const auto msg = netlink_message(SOCK_DIAG_BY_FAMILY, payload, sizeof payload);
        CHECK(sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out).error == EBADMSG);
    }
    SECTION("unknown address family") {
        inet_diag_msg m{};
        m.idiag_family = AF_UNIX;
        const auto msg = netlink_message(SOCK_DIAG_BY_FAMILY, &m, sizeof m);
        CHECK(sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out).error == EBADMSG);
    }
    SECTION("attribute length below its header") {
        const auto msg = v6_listener_with_v6only_attr(2, 1);
        CHECK(sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out).error == EBADMSG);
    }
    SECTION("attribute running past its message") {
        const auto msg = v6_listener_with_v6only_attr(12, 1);
        CHECK(sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out).error == EBADMSG);
    }
    SECTION("a valid v6 message with SKV6ONLY=1 parses") {
        const auto msg = v6_listener_with_v6only_attr(5, 1);
        CHECK(sockets::parse_dump(msg.data(), msg.size(), Proto::tcp, out).error == 0);
        REQUIRE(out.size() == 1);
        CHECK(out[0].v6only == 1);
        CHECK(out[0].state == tcp_state::listen);
    }
    SECTION("a null buffer is an empty one") {
        const DumpStatus status = sockets::parse_dump(nullptr, 100, Proto::tcp, out);
        CHECK(status.error == 0);
        CHECK_FALSE(status.done);
    }
}

TEST_CASE("parse_dump on every truncation of a recorded dump", "[sockets]") {
    auto chunks = load_recording("tcp4_41001.hex");
    std::vector<std::uint8_t> all;
    for (const auto& c : chunks) all.insert(all.end(), c.begin(), c.end());
    // Message boundaries, walked independently of the parser.
    std::vector<std::size_t> boundaries{0};
    for (std::size_t off = 0; off < all.size();) {
        std::uint32_t len = 0;
        std::memcpy(&len, all.data() + off, sizeof len);
        off += NLMSG_ALIGN(len);
        boundaries.push_back(off);
    }
    REQUIRE(boundaries == std::vector<std::size_t>{0, 124, 220, 344, 364});

    for (std::size_t cut = 0; cut <= all.size(); ++cut) {
        // A copy of exactly `cut` bytes, so the sanitizers see any over-read.
        const std::vector<std::uint8_t> head(all.begin(), all.begin() + static_cast<long>(cut));
        std::vector<SocketEntry> out;
        const DumpStatus status = sockets::parse_dump(head.data(), head.size(), Proto::tcp, out);
        const bool on_boundary =
            std::find(boundaries.begin(), boundaries.end(), cut) != boundaries.end();
        INFO("cut at " << cut);
        CHECK(status.error == (on_boundary ? 0 : EBADMSG));
        CHECK(status.done == (cut == all.size()));
        CHECK(out.size() <= 3);
    }
}

TEST_CASE("parse_dump survives garbage and mutated dumps, unaligned", "[sockets]") {
    std::mt19937 rng(12345);
    const auto chunks = load_recording("tcp6_41002.hex");
    const auto& base = chunks.at(0);
    for (int round = 0; round < 20000; ++round) {
        std::vector<std::uint8_t> buf(1 + base.size());
        std::size_t len = base.size();
        if (round % 4 == 0) {
            len = rng() % buf.size();
            for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
        } else {
            std::copy(base.begin(), base.end(), buf.begin() + 1);
            for (int flips = 1 + static_cast<int>(rng() % 4); flips > 0; --flips) {
                buf[1 + rng() % base.size()] = static_cast<std::uint8_t>(rng());
            }
            len = 1 + rng() % base.size();
        }
        // Start at an odd address and hand over a buffer of exactly `len` bytes.
        std::vector<std::uint8_t> exact(buf.begin() + 1, buf.begin() + 1 + static_cast<long>(std::min(len, buf.size() - 1)));
        std::vector<SocketEntry> out;
        const DumpStatus status = sockets::parse_dump(exact.data(), exact.size(), Proto::tcp, out);
        CHECK((status.error == 0 || status.error > 0));
        CHECK(out.size() <= exact.size() / sizeof(inet_diag_msg));
    }

    // Unaligned replay of the real dump still gives the same answer.
    std::vector<std::uint8_t> shifted(base.size() + 3);
    std::copy(base.begin(), base.end(), shifted.begin() + 3);
    std::vector<SocketEntry> out;
    const DumpStatus status = sockets::parse_dump(shifted.data() + 3, base.size(), Proto::tcp, out);
    CHECK(status.error == 0);
    REQUIRE(out.size() == 3);
    CHECK(out[0].inode == 24999);
}

TEST_CASE("parse_procnet reads recorded /proc/net/tcp rows for one port", "[sockets]") {
    const std::string tcp = slurp(data_dir + "/proc/net/tcp");
    std::vector<SocketEntry> out;
    REQUIRE(sockets::parse_procnet(tcp, Proto::tcp, AF_INET, 41001, out));
    REQUIRE(out.size() == 3);  // the client side (local port 36538) is not on the port

    const SocketEntry* listener = find_remote_port(out, 0);
    REQUIRE(listener != nullptr);
    CHECK(listener->local.family == AF_INET);
    CHECK(listener->local.addr == addr4(0, 0, 0, 0));
    CHECK(listener->state == tcp_state::listen);
    CHECK(listener->uid == 4242);
    CHECK(listener->inode == 24906);
    CHECK(listener->v6only == -1);

    const SocketEntry* tw = find_remote_port(out, 36542);
    REQUIRE(tw != nullptr);
    CHECK(tw->state == tcp_state::time_wait);
    CHECK(tw->local.addr == addr4(127, 0, 0, 1));
    CHECK(tw->inode == 0);
    CHECK(tw->timer == 3);
    // "03:00001764": 0x1764 USER_HZ ticks
    CHECK(tw->expires_ms == 0x1764 * 1000 / static_cast<std::uint32_t>(::sysconf(_SC_CLK_TCK)));
    CHECK(tw->expires_ms > 0);

    const SocketEntry* est = find_remote_port(out, 36538);
    REQUIRE(est != nullptr);
    CHECK(est->state == tcp_state::established);
    CHECK(est->inode == 24908);

    out.clear();
    REQUIRE(sockets::parse_procnet(tcp, Proto::tcp, AF_INET, 41002, out));
    CHECK(out.empty());  // only the dual-stack listener, which lives in tcp6
}

TEST_CASE("parse_procnet reads IPv6 words in kernel order", "[sockets]") {
    const std::string tcp6 = slurp(data_dir + "/proc/net/tcp6");
    std::vector<SocketEntry> out;
    REQUIRE(sockets::parse_procnet(tcp6, Proto::tcp, AF_INET6, 41002, out));
    REQUIRE(out.size() == 3);
    const SocketEntry* listener = find_remote_port(out, 0);
    REQUIRE(listener != nullptr);
    CHECK(listener->local.addr == addr6("::"));
    CHECK(listener->inode == 24999);
    CHECK(listener->v6only == -1);  // /proc/net does not say
    const SocketEntry* loop = find_remote_port(out, 40704);
    REQUIRE(loop != nullptr);
    CHECK(loop->local.addr == addr6("::1"));
    CHECK(loop->remote.addr == addr6("::1"));
    CHECK(loop->inode == 25003);
    const SocketEntry* mapped = find_remote_port(out, 37976);
    REQUIRE(mapped != nullptr);
    CHECK(mapped->local.addr == addr6("::ffff:127.0.0.1"));
    CHECK(mapped->inode == 25001);
}

TEST_CASE("parse_procnet reads UDP tables", "[sockets]") {
    std::vector<SocketEntry> out;
    REQUIRE(sockets::parse_procnet(slurp(data_dir + "/proc/net/udp"), Proto::udp, AF_INET, 41005, out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].proto == Proto::udp);
    CHECK(out[0].state == tcp_state::established);
    CHECK(out[0].local.addr == addr4(127, 0, 0, 1));
    CHECK(out[0].remote.port == 41004);
    CHECK(out[0].inode == 25007);

    out.clear();
    REQUIRE(sockets::parse_procnet(slurp(data_dir + "/proc/net/udp6"), Proto::udp, AF_INET6, 41004, out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].state == tcp_state::close);
    CHECK(out[0].inode == 25006);
}

TEST_CASE("parse_procnet rejects unknown headers and skips broken rows", "[sockets]") {
    std::vector<SocketEntry> out;
    CHECK_FALSE(sockets::parse_procnet("", Proto::tcp, AF_INET, 80, out));
    CHECK_FALSE(sockets::parse_procnet("Inter-|   Receive\n", Proto::tcp, AF_INET, 80, out));
    const std::string header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    CHECK_FALSE(sockets::parse_procnet(header, Proto::tcp, AF_UNIX, 80, out));
    const std::string good = "   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0\n";
    const std::string text = header +
        "   1: 0100007F:0050 00000000:0000\n"                                  // cut short
        "   2: 0100007F0:0050 00000000:0000 0A 0:0 00:0 0 0 0 1\n"             // address too long
        "   3: 0100007F:0050 00000000:0000 0A 0:0 00:0 0 -5 0 1\n"             // negative uid
        "   4: 0100007F:00050 00000000:0000 0A 0:0 00:0 0 0 0 1\n"             // port too long
        "garbage\n" + good + "   5: 0100007F:0050";                           // no newline, short
    REQUIRE(sockets::parse_procnet(text, Proto::tcp, AF_INET, 80, out));
    REQUIRE(out.size() == 1);
    CHECK(out[0].uid == 1000);
    CHECK(out[0].inode == 777);
    CHECK(out[0].local.addr == addr4(127, 0, 0, 1));
    // A header without a newline and nothing else is still a recognised, empty table.
    out.clear();
    CHECK(sockets::parse_procnet(header.substr(0, header.size() - 1), Proto::tcp, AF_INET, 80, out));
    CHECK(out.empty());
}

TEST_CASE("read_procnet reads both families under a proc root", "[sockets]") {
    std::vector<SocketEntry> out;
    CHECK(sockets::read_procnet(data_dir + "/proc", Proto::tcp, 41002, out) == 0);
    REQUIRE(out.size() == 3);
    for (const auto& e : out) CHECK(e.local.family == AF_INET6);

    out.clear();
    CHECK(sockets::read_procnet(data_dir + "/proc", Proto::udp, 41004, out) == 0);
    REQUIRE(out.size() == 2);
    CHECK(out[0].local.family == AF_INET);
    CHECK(out[1].local.family == AF_INET6);

    out.clear();
    CHECK(sockets::read_procnet(data_dir + "/no-such-proc", Proto::tcp, 41001, out) == ENOENT);
    CHECK(sockets::read_procnet(data_dir + "/proc", Proto::unix_stream, 41001, out) == EAFNOSUPPORT);
    CHECK(out.empty());
}

TEST_CASE("read_procnet tolerates a kernel without IPv6 and rejects foreign text", "[sockets]") {
    char dir[] = "/tmp/portshim-sockets-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string root = dir;
    REQUIRE(::mkdir((root + "/net").c_str(), 0700) == 0);
    const std::string tcp = slurp(data_dir + "/proc/net/tcp");
    const auto write_file = [](const std::string& path, const std::string& text) {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
    };
    write_file(root + "/net/tcp", tcp);
    std::vector<SocketEntry> out;
    CHECK(sockets::read_procnet(root, Proto::tcp, 41001, out) == 0);
    CHECK(out.size() == 3);

    write_file(root + "/net/tcp6", "not a socket table\n");
    out.clear();
    CHECK(sockets::read_procnet(root, Proto::tcp, 41001, out) == EBADMSG);
    CHECK(out.empty());

    ::unlink((root + "/net/tcp6").c_str());
    ::unlink((root + "/net/tcp").c_str());
    ::rmdir((root + "/net").c_str());
    ::rmdir(root.c_str());
}

TEST_CASE("query_netlink finds a live TCP listener by inode and nothing else", "[sockets]") {
    std::uint16_t port = 0;
    const int listener = loopback_socket(SOCK_STREAM, port);
    // Unrelated listeners the kernel-side filter must leave out.
    std::vector<int> others;
    for (int i = 0; i < 8; ++i) {
        std::uint16_t unused = 0;
        others.push_back(loopback_socket(SOCK_STREAM, unused));
    }
    const std::size_t fds_before = open_fd_count();

    std::vector<SocketEntry> out;
    REQUIRE(sockets::query_netlink(Proto::tcp, port, out) == 0);
    CHECK(open_fd_count() == fds_before);

    const SocketEntry* found = nullptr;
    for (const auto& e : out) {
        CHECK(e.local.port == port);
        if (e.inode == inode_of(listener)) found = &e;
    }
    REQUIRE(found != nullptr);
    CHECK(found->state == tcp_state::listen);
    CHECK(found->local.family == AF_INET);
    CHECK(found->local.addr == addr4(127, 0, 0, 1));
    CHECK(found->uid == ::geteuid());

    for (const int fd : others) ::close(fd);
    ::close(listener);
}

TEST_CASE("query_netlink finds a live UDP socket and refuses unix sockets", "[sockets]") {
    std::uint16_t port = 0;
    const int udp = loopback_socket(SOCK_DGRAM, port);
    std::vector<SocketEntry> out;
    REQUIRE(sockets::query_netlink(Proto::udp, port, out) == 0);
    bool found = false;
    for (const auto& e : out) {
        CHECK(e.local.port == port);
        if (e.inode == inode_of(udp)) {
            found = true;
            CHECK(e.proto == Proto::udp);
            CHECK(e.state == tcp_state::close);
        }
    }
    CHECK(found);
    ::close(udp);

    out.clear();
    CHECK(sockets::query_netlink(Proto::unix_stream, 1, out) == EAFNOSUPPORT);
    CHECK(out.empty());
}

TEST_CASE("collect uses sock_diag when the kernel answers", "[sockets]") {
    std::uint16_t port = 0;
    const int listener = loopback_socket(SOCK_STREAM, port);
    Observation obs;
    sockets::collect(Proto::tcp, port, "/proc", obs);
    CHECK(obs.netlink_ok);
    CHECK_FALSE(obs.procnet_used);
    REQUIRE_FALSE(obs.sockets.empty());
    CHECK(obs.sockets[0].inode == inode_of(listener));
    CHECK(obs.evidence.empty()); // success needs no excuse; the rules count what was found
    ::close(listener);

    Observation unix_obs;
    sockets::collect(Proto::unix_stream, 0, "/proc", unix_obs);
    CHECK_FALSE(unix_obs.netlink_ok);
    CHECK(unix_obs.evidence.empty());
}

namespace {

// In a forked child: refuse socket(AF_NETLINK, ...) with EPERM through seccomp,
// as a hardened container would, then run collect(). Reports through a pipe.
std::string collect_without_netlink(const std::string& proc_root, std::uint16_t port) {
    return fixtures::in_child([&] {
        sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_socket, 0, 3),
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, args[0])),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        sock_fprog prog{static_cast<unsigned short>(sizeof filter / sizeof filter[0]), filter};
        if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            ::_exit(2);
        }
        Observation obs;
        sockets::collect(Proto::tcp, port, proc_root, obs);
        std::string report = fmt::format("netlink_ok={} procnet_used={} sockets={}",
                                         obs.netlink_ok, obs.procnet_used, obs.sockets.size());
        for (const auto& e : obs.sockets) report += fmt::format(" inode={}", e.inode);
        for (const auto& line : obs.evidence) report += "\n" + line;
        return report;
    });
}

} // namespace

TEST_CASE("collect falls back to /proc/net when netlink is refused", "[sockets]") {
    const std::string root = data_dir + "/proc";
    CHECK(collect_without_netlink(root, 41001) ==
          "netlink_ok=false procnet_used=true sockets=3 inode=24906 inode=0 inode=24908\n"
          "netlink sock_diag refused: EPERM; read " + root + "/net/tcp and " + root +
          "/net/tcp6 instead (3 socket(s) with local port 41001)");

    CHECK(collect_without_netlink("/nonexistent", 41001) ==
          "netlink_ok=false procnet_used=false sockets=0\n"
          "netlink sock_diag refused: EPERM; reading /nonexistent/net/tcp failed too: ENOENT; "
          "the socket table is unknown");
}
