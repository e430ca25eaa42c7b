// The owner probe: /proc parsers on nasty inputs, a recorded fake /proc tree
// (tests/unit/data/proc), descriptor limits, and a live scan of this process.
#include "diag/owners.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

using namespace portshim;
using namespace std::string_literals;

namespace {

const std::string fake_proc = PORTSHIM_TEST_DATA "/proc";

/** Closes a test's descriptor on every path out, failed assertions included. */
struct Closer {
    int fd;
    ~Closer() {
        if (fd >= 0) ::close(fd);
    }
};

/** This process's descriptors and what each refers to, read with plain libc. */
std::vector<std::pair<int, std::string>> own_fds() {
    std::vector<std::pair<int, std::string>> fds;
    DIR* dir = ::opendir("/proc/self/fd");
    REQUIRE(dir != nullptr);
    while (const dirent* e = ::readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        char target[4096];
        const ssize_t n = ::readlinkat(::dirfd(dir), e->d_name, target, sizeof target);
        fds.emplace_back(std::stoi(e->d_name), n > 0 ? std::string(target, static_cast<std::size_t>(n)) : "");
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
}

/** A TCP socket listening on 127.0.0.1 at a port the kernel picks. */
int listening_socket(bool cloexec) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0);
    REQUIRE(fd >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd, 1) == 0);
    return fd;
}

std::uint64_t inode_of(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    return static_cast<std::uint64_t>(st.st_ino);
}

/** Lowers RLIMIT_NOFILE for one scope and puts it back on every path out. */
struct FdLimit {
    rlimit saved{};
    explicit FdLimit(rlim_t soft) {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
        rlimit lowered = saved;
        lowered.rlim_cur = soft;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    }
    ~FdLimit() { ::setrlimit(RLIMIT_NOFILE, &saved); }
};

/** The descriptor number open(2) would hand out next. */
int lowest_free_fd() {
    const int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    ::close(fd);
    return fd;
}

} // namespace

TEST_CASE("parse_stat takes comm up to the last parenthesis", "[owners]") {
    Holder h;
    REQUIRE(owners::parse_stat("200 ((sd-pam) x)) S 100 200 200 0 -1 4194560 120 0 0 0 3 1 0 0 "
                               "20 0 1 0 260000 12345678 300 18446744073709551615 0 0\n",
                               h));
    CHECK(h.pid == 200);
    CHECK(h.comm == "(sd-pam) x)");
    CHECK(h.ppid == 100);
    CHECK(h.start_ticks == 260000);

    REQUIRE(owners::parse_stat("7 (a b ) c) R 0 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 42", h));
    CHECK(h.comm == "a b ) c");
    CHECK(h.ppid == 0);
    CHECK(h.start_ticks == 42);

    Holder empty_comm;
    REQUIRE(owners::parse_stat("9 () S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", empty_comm));
    CHECK(empty_comm.comm.empty());
    CHECK(empty_comm.ppid == 1);
}

TEST_CASE("parse_stat rejects short or malformed lines and leaves the holder alone", "[owners]") {
    Holder h;
    h.comm = "kept";
    h.ppid = 77;
    CHECK_FALSE(owners::parse_stat("", h));
    CHECK_FALSE(owners::parse_stat("12 comm S 1 2 3", h));              // no parentheses
    CHECK_FALSE(owners::parse_stat("12 (x) S 1 12 12 0 -1 0 0 0", h));  // ends before field 22
    CHECK_FALSE(owners::parse_stat("12 (x) S one 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", h));
    CHECK_FALSE(owners::parse_stat("x12 (x) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", h));
    CHECK(h.comm == "kept");
    CHECK(h.ppid == 77);
}

TEST_CASE("parse_fdinfo_flags reads the octal flags line", "[owners]") {
    int flags = -1;
    REQUIRE(owners::parse_fdinfo_flags("pos:\t0\nflags:\t02000002\nmnt_id:\t9\nino:\t5555\n", flags));
    CHECK(flags == 02000002);
    CHECK((flags & O_CLOEXEC) != 0);
    REQUIRE(owners::parse_fdinfo_flags("pos:\t0\nflags:\t02\n", flags));
    CHECK(flags == 2);
    CHECK((flags & O_CLOEXEC) == 0);
    // Only a line that starts with "flags:" counts.
    REQUIRE(owners::parse_fdinfo_flags("eflags:\t1\nflags:\t04000\n", flags));
    CHECK(flags == 04000);
    CHECK_FALSE(owners::parse_fdinfo_flags("pos:\t0\nmnt_id:\t9\n", flags));
    CHECK_FALSE(owners::parse_fdinfo_flags("flags:\t09\n", flags));  // 9 is not octal
    CHECK_FALSE(owners::parse_fdinfo_flags("flags:\n", flags));
}

TEST_CASE("parse_status_uid takes the effective uid", "[owners]") {
    std::uint32_t uid = 0;
    REQUIRE(owners::parse_status_uid("Name:\tserver\nPid:\t100\nUid:\t1000\t1001\t1000\t1000\n"
                                     "Gid:\t5\t5\t5\t5\n",
                                     uid));
    CHECK(uid == 1001);
    REQUIRE(owners::parse_status_uid("Uid:\t4294967294\t65534\t0\t0", uid));
    CHECK(uid == 65534);
    CHECK_FALSE(owners::parse_status_uid("Uid:\t1000\n", uid));
    CHECK_FALSE(owners::parse_status_uid("Gid:\t1\t2\t3\t4\n", uid));
    CHECK_FALSE(owners::parse_status_uid("Uid:\t1\t4294967296\t0\t0\n", uid));
    CHECK(uid == 65534);
}

TEST_CASE("parse_cmdline splits on NUL and keeps empty arguments", "[owners]") {
    using V = std::vector<std::string>;
    CHECK(owners::parse_cmdline("/opt/legacy/server\0--port\0\0-v\0"s) ==
          V{"/opt/legacy/server", "--port", "", "-v"});
    CHECK(owners::parse_cmdline("a\0\0"s) == V{"a", ""});
    CHECK(owners::parse_cmdline("") == V{});  // kernel threads and zombies
    // A process that rewrote its argv may leave the last one unterminated.
    CHECK(owners::parse_cmdline("nginx: worker process") == V{"nginx: worker process"});
    CHECK(owners::parse_cmdline("\0"s) == V{""});
}

TEST_CASE("parse_socket_link accepts only socket:[N]", "[owners]") {
    CHECK(owners::parse_socket_link("socket:[5555]") == 5555);
    CHECK(owners::parse_socket_link("socket:[18446744073709551615]") == 18446744073709551615ULL);
    CHECK(owners::parse_socket_link("socket:[18446744073709551616]") == 0);
    CHECK(owners::parse_socket_link("socket:[]") == 0);
    CHECK(owners::parse_socket_link("socket:[12") == 0);
    CHECK(owners::parse_socket_link("socket:[1x]") == 0);
    CHECK(owners::parse_socket_link("socket:[-1]") == 0);
    CHECK(owners::parse_socket_link("pipe:[5555]") == 0);
    CHECK(owners::parse_socket_link("anon_inode:[eventpoll]") == 0);
    CHECK(owners::parse_socket_link("/tmp/socket:[5555]") == 0);
    CHECK(owners::parse_socket_link("") == 0);
}

TEST_CASE("read_process fills the facts of a recorded process", "[owners]") {
    const double boot = 1700000000.0;  // btime in the fake tree's stat
    const double hz = static_cast<double>(::sysconf(_SC_CLK_TCK));

    Holder server;
    REQUIRE(owners::read_process(fake_proc, 100, server));
    CHECK(server.pid == 100);
    CHECK(server.ppid == 1);
    CHECK(server.comm == "server");
    CHECK(server.exe == "/opt/legacy/server");
    CHECK(server.argv == std::vector<std::string>{"/opt/legacy/server", "--port", "", "-v"});
    CHECK(server.uid == 1001);
    CHECK(server.start_ticks == 250000);
    CHECK(server.start_time == Approx(boot + 250000 / hz));

    Holder child;
    REQUIRE(owners::read_process(fake_proc, 200, child));
    CHECK(child.ppid == 100);
    CHECK(child.comm == "(sd-pam) x)");
    CHECK(child.exe == "/opt/legacy/server (deleted)");
    CHECK(child.argv == std::vector<std::string>{"worker"});
    CHECK(child.uid == 0);

    // Only stat survives: the rest stays empty rather than failing.
    Holder bare;
    REQUIRE(owners::read_process(fake_proc, 400, bare));
    CHECK(bare.comm == "gone");
    CHECK(bare.exe.empty());
    CHECK(bare.argv.empty());

    Holder missing;
    CHECK_FALSE(owners::read_process(fake_proc, 999, missing));
    CHECK_FALSE(owners::read_process(fake_proc, 700, missing));  // no stat
    CHECK_FALSE(owners::read_process("/nonexistent-portshim-root", 100, missing));
}

TEST_CASE("read_process gives no start time when boot time is unknown", "[owners]") {
    // A root without "stat" but with the process: start_time stays 0.
    char root[] = "/tmp/portshim-owners-XXXXXX";
    REQUIRE(::mkdtemp(root) != nullptr);
    const std::string dir = std::string(root) + "/42";
    REQUIRE(::mkdir(dir.c_str(), 0700) == 0);
    const std::string stat_path = dir + "/stat";
    const int fd = ::open(stat_path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    const std::string line = "42 (x) S 1 0 0 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 500\n";
    CHECK(::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()));
    ::close(fd);

    Holder h;
    const bool ok = owners::read_process(root, 42, h);
    ::unlink(stat_path.c_str());
    ::rmdir(dir.c_str());
    ::rmdir(root);
    REQUIRE(ok);
    CHECK(h.start_ticks == 500);
    CHECK(h.start_time == 0);
}

TEST_CASE("find_holders lists every descriptor of the wanted socket in a recorded tree", "[owners]") {
    std::vector<Holder> holders;
    const owners::ScanStatus st = owners::find_holders(fake_proc, {5555}, holders);
    CHECK(st.ok);
    CHECK(st.error == 0);
    // 500's "fd" is not a directory; 400 has none (exited) and does not count.
    CHECK(st.unreadable == 1);
    // 600 closed the descriptor (no fdinfo) and 700 exited (no stat) meanwhile.
    REQUIRE(holders.size() == 2);

    const Holder& server = holders[0];
    CHECK(server.pid == 100);
    CHECK(server.fd == 3);
    CHECK(server.inode == 5555);
    CHECK_FALSE(server.cloexec);
    CHECK(server.exe == "/opt/legacy/server");
    CHECK(server.uid == 1001);
    CHECK(server.start_time > 1700000000.0);

    const Holder& child = holders[1];
    CHECK(child.pid == 200);
    CHECK(child.ppid == 100);
    CHECK(child.fd == 4);
    CHECK(child.inode == 5555);
    CHECK(child.cloexec);
    CHECK(child.comm == "(sd-pam) x)");
    CHECK(child.exe == "/opt/legacy/server (deleted)");
}

TEST_CASE("find_holders reports each matching descriptor of one process", "[owners]") {
    std::vector<Holder> holders(1);
    holders[0].pid = 4242;  // what the caller had stays in front
    const owners::ScanStatus st = owners::find_holders(fake_proc, {7777, 5556, 5555}, holders);
    CHECK(st.ok);
    REQUIRE(holders.size() == 5);
    CHECK(holders[0].pid == 4242);
    std::vector<std::pair<int, int>> found;
    for (std::size_t i = 1; i < holders.size(); ++i) found.emplace_back(holders[i].pid, holders[i].fd);
    CHECK(found == std::vector<std::pair<int, int>>{{100, 3}, {100, 5}, {100, 6}, {200, 4}});
    CHECK(holders[2].inode == 5556);
    CHECK(holders[2].cloexec);
    CHECK(holders[2].argv == holders[1].argv);
    CHECK(holders[3].inode == 7777);
    CHECK_FALSE(holders[3].cloexec);
}

TEST_CASE("find_holders without matches or without a root", "[owners]") {
    std::vector<Holder> holders;
    owners::ScanStatus st = owners::find_holders(fake_proc, {123456}, holders);
    CHECK(st.ok);
    CHECK(holders.empty());

    st = owners::find_holders(fake_proc, {}, holders);
    CHECK(st.ok);
    CHECK(holders.empty());

    st = owners::find_holders("/nonexistent-portshim-root", {5555}, holders);
    CHECK_FALSE(st.ok);
    CHECK(st.error == ENOENT);
    CHECK(holders.empty());

    st = owners::find_holders(fake_proc + "/stat", {5555}, holders);
    CHECK_FALSE(st.ok);
    CHECK(st.error == ENOTDIR);
}

TEST_CASE("find_holders degrades on EMFILE and leaves the fd set alone", "[owners]") {
    const auto before = own_fds();
    const int next_fd = lowest_free_fd();
    owners::ScanStatus no_root, no_fd_dirs;
    std::vector<Holder> holders;
    {
        // Not even PROC_ROOT can be opened.
        FdLimit limit(static_cast<rlim_t>(next_fd));
        no_root = owners::find_holders(fake_proc, {5555}, holders);
    }
    {
        // PROC_ROOT opens, no process's fd directory does: a shortage of ours, not 7
        // processes hidden by permissions.
        FdLimit limit(static_cast<rlim_t>(next_fd) + 1);
        no_fd_dirs = owners::find_holders(fake_proc, {5555}, holders);
    }
    CHECK_FALSE(no_root.ok);
    CHECK(no_root.error == EMFILE);
    CHECK(no_fd_dirs.ok);
    CHECK(no_fd_dirs.unreadable == 0);
    CHECK(no_fd_dirs.resource_error == EMFILE);
    CHECK(holders.empty());
    CHECK(own_fds() == before);
}

TEST_CASE("find_holders counts a process whose fd directory is denied", "[owners]") {
    char root[] = "/tmp/portshim-owners-XXXXXX";
    REQUIRE(::mkdtemp(root) != nullptr);
    const std::string pid_dir = std::string(root) + "/42";
    const std::string fd_dir = pid_dir + "/fd";
    REQUIRE(::mkdir(pid_dir.c_str(), 0755) == 0);
    REQUIRE(::mkdir(fd_dir.c_str(), 0) == 0);
    std::vector<Holder> holders;
    const owners::ScanStatus st = owners::find_holders(root, {5555}, holders);
    ::rmdir(fd_dir.c_str());
    ::rmdir(pid_dir.c_str());
    ::rmdir(root);
    CHECK(st.ok);
    // Root reads a 0000 directory anyway (CAP_DAC_READ_SEARCH); anyone else gets EACCES.
    CHECK(st.unreadable == (::geteuid() != 0 ? 1 : 0));
    CHECK(holders.empty());
}

TEST_CASE("find_holders finds this process's listening sockets in /proc", "[owners][live]") {
    const Closer plain{listening_socket(false)};
    const Closer cloexec{listening_socket(true)};
    const std::uint64_t plain_inode = inode_of(plain.fd);
    const std::uint64_t cloexec_inode = inode_of(cloexec.fd);
    char exe[4096];
    const ssize_t exe_len = ::readlink("/proc/self/exe", exe, sizeof exe);
    REQUIRE(exe_len > 0);

    const auto before = own_fds();
    std::vector<Holder> holders;
    const owners::ScanStatus st = owners::find_holders("/proc", {cloexec_inode, plain_inode}, holders);
    CHECK(own_fds() == before);

    CHECK(st.ok);
    REQUIRE(holders.size() == 2);
    for (const Holder& h : holders) {
        CHECK(h.pid == static_cast<int>(::getpid()));
        CHECK(h.ppid == static_cast<int>(::getppid()));
        CHECK(h.uid == static_cast<std::uint32_t>(::geteuid()));
        CHECK(h.exe == std::string(exe, static_cast<std::size_t>(exe_len)));
        CHECK_FALSE(h.argv.empty());
        CHECK(h.start_time > 0);
    }
    const Holder& first = holders[0].fd == plain.fd ? holders[0] : holders[1];
    const Holder& second = holders[0].fd == plain.fd ? holders[1] : holders[0];
    CHECK(first.fd == plain.fd);
    CHECK(first.inode == plain_inode);
    CHECK_FALSE(first.cloexec);
    CHECK(second.fd == cloexec.fd);
    CHECK(second.inode == cloexec_inode);
    CHECK(second.cloexec);
}
