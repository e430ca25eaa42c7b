// Host facts: the port range, reserved ports and boot time from a recorded
// /proc (tests/unit/data/proc), user names from passwd text without NSS, and
// cgroups found by inode in a temporary tree and named from their paths.
#include "diag/host.hpp"

#include <catch2/catch.hpp>

#include <cerrno>
#include <cmath>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim;

namespace {
const std::string fake_proc = PORTSHIM_TEST_DATA "/proc";

// Comments, blank and short lines, NIS entries, a non-numeric uid, a
// duplicate uid (the first wins, as getpwuid does) and no final newline.
constexpr const char* passwd_text =
    "# local accounts\n"
    "root:x:0:0:root:/root:/bin/bash\n"
    "\n"
    "short:x\n"
    "#bob:x:7:7::/home/bob:/bin/sh\n"
    "+::::::\n"
    "-mallory::9::::\n"
    ":x:8:8::/:/bin/false\n"
    "weird:x:1x:1::/:/bin/sh\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
    "alias:x:1000:1000::/home/alias:/bin/bash\n"
    "nouid:x:\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";
} // namespace

TEST_CASE("read_facts reads the port range and reserved ports", "[host]") {
    const HostFacts facts = host::read_facts(fake_proc);
    CHECK(facts.port_range_low == 32768);
    CHECK(facts.port_range_high == 60999);
    CHECK(facts.reserved_ports == "8080,9000-9010");
    CHECK(std::fabs(facts.now - static_cast<double>(std::time(nullptr))) < 5);
}

TEST_CASE("read_facts leaves unknown facts at zero", "[host]") {
    const HostFacts facts = host::read_facts("/nonexistent-portshim-root");
    CHECK(facts.port_range_low == 0);
    CHECK(facts.port_range_high == 0);
    CHECK(facts.reserved_ports.empty());
    CHECK(facts.now > 1.6e9);
}

TEST_CASE("read_facts on the live host gives a sane range", "[host][live]") {
    const HostFacts facts = host::read_facts("/proc");
    CHECK(facts.port_range_low > 0);
    CHECK(facts.port_range_low <= facts.port_range_high);
    CHECK(facts.port_range_high <= 65535);
}

TEST_CASE("boot_time reads btime", "[host]") {
    CHECK(host::boot_time(fake_proc) == 1700000000.0);
    CHECK(host::boot_time("/nonexistent-portshim-root") == 0);
    const double live = host::boot_time("/proc");
    CHECK(live > 1e9);
    CHECK(live <= static_cast<double>(std::time(nullptr)));
}

TEST_CASE("user_from_passwd finds names and skips what names nobody", "[host]") {
    CHECK(host::user_from_passwd(passwd_text, 0) == "root");
    CHECK(host::user_from_passwd(passwd_text, 1000) == "alice");
    CHECK(host::user_from_passwd(passwd_text, 65534) == "nobody");
    CHECK(host::user_from_passwd(passwd_text, 7).empty());  // commented out
    CHECK(host::user_from_passwd(passwd_text, 8).empty());  // no name
    CHECK(host::user_from_passwd(passwd_text, 9).empty());  // NIS exclusion
    CHECK(host::user_from_passwd(passwd_text, 1).empty());  // "1x" is not a uid
    CHECK(host::user_from_passwd(passwd_text, 42).empty());
    CHECK(host::user_from_passwd("", 0).empty());
}

TEST_CASE("user_name reads a passwd file", "[host]") {
    char path[] = "/tmp/portshim-passwd-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string text = passwd_text;
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    const std::string alice = host::user_name(path, 1000);
    const std::string none = host::user_name(path, 4242);
    ::unlink(path);
    REQUIRE(written);
    CHECK(alice == "alice");
    CHECK(none.empty());
    CHECK(host::user_name("/nonexistent-portshim-passwd", 0).empty());
}

namespace {
std::uint64_t inode_of(const std::string& path) {
    struct stat st{};
    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_ino;
}

CgroupFacts named(const char* path) {
    CgroupFacts facts;
    facts.path = path;
    host::name_cgroup(facts);
    return facts;
}
} // namespace

TEST_CASE("cgroup_path finds a directory by inode number, as cgroup2 numbers cgroups", "[host][hidden]") {
    // A plain tree cannot fake kernfs ids: compare with what stat() says instead.
    char dir[] = "/tmp/portshim-cgroup-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string root = dir;
    for (const char* sub : {"/system.slice", "/system.slice/nginx.service", "/user.slice",
                            "/user.slice/user-1000.slice", "/user.slice/user-1000.slice/session-2.scope"})
        REQUIRE(::mkdir((root + sub).c_str(), 0755) == 0);
    const int file = ::open((root + "/system.slice/cgroup.procs").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    REQUIRE(file >= 0);
    ::close(file);
    // A symlink to a directory is not followed: its target is found by its own path only.
    REQUIRE(::symlink((root + "/user.slice").c_str(), (root + "/system.slice/link").c_str()) == 0);

    std::string path;
    CHECK(host::cgroup_path(root, inode_of(root + "/system.slice/nginx.service"), path) == 0);
    CHECK(path == "/system.slice/nginx.service");
    CHECK(host::cgroup_path(root, inode_of(root + "/user.slice/user-1000.slice/session-2.scope"),
                            path) == 0);
    CHECK(path == "/user.slice/user-1000.slice/session-2.scope");
    CHECK(host::cgroup_path(root, inode_of(root + "/user.slice"), path) == 0);
    CHECK(path == "/user.slice");
    CHECK(host::cgroup_path(root, inode_of(root), path) == 0);
    CHECK(path == "/");
    // A file's inode is not a cgroup.
    CHECK(host::cgroup_path(root, inode_of(root + "/system.slice/cgroup.procs"), path) == ENOENT);
    CHECK(path.empty());
    CHECK(host::cgroup_path(root + "/missing", 1, path) == ENOENT);

    std::filesystem::remove_all(root);
}

TEST_CASE("cgroup2_root takes a cgroup2 mount or systemd's hybrid /unified", "[host][hidden]") {
    CHECK(host::cgroup2_root("/nonexistent-portshim-cgroup").empty());
    CHECK(host::cgroup2_root("/tmp").empty());
    const std::string found = host::cgroup2_root("/sys/fs/cgroup");
    if (!found.empty()) {
        // The mount's root directory is cgroup id 1, the root cgroup.
        std::string path;
        CHECK(host::cgroup_path(found, 1, path) == 0);
        CHECK(path == "/");
    }
}

TEST_CASE("name_cgroup names units, scopes and containers", "[host][hidden]") {
    CgroupFacts c = named("/system.slice/nginx.service");
    CHECK(c.kind == CgroupKind::unit);
    CHECK(c.name == "nginx.service");
    CHECK_FALSE(c.user_unit);

    c = named("/user.slice/user-1000.slice/user@1000.service/app.slice/web.service");
    CHECK(c.kind == CgroupKind::unit);
    CHECK(c.name == "web.service");
    CHECK(c.user_unit);

    c = named("/user.slice/user-1000.slice/session-2.scope");
    CHECK(c.kind == CgroupKind::scope);
    CHECK(c.name == "session-2.scope");

    const std::string id(64, 'e');
    c = named(("/system.slice/docker-" + id + ".scope").c_str());
    CHECK(c.kind == CgroupKind::container);
    CHECK(c.engine == "docker");
    CHECK(c.container_id == id);
    CHECK(c.name == "docker-" + id + ".scope");

    // Podman puts the container's processes in a "container" leaf below its scope.
    c = named("/machine.slice/libpod-0123456789ab.scope/container");
    CHECK(c.kind == CgroupKind::container);
    CHECK(c.engine == "podman");
    CHECK(c.container_id == "0123456789ab");

    c = named("/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-conmon-12ab.scope");
    CHECK(c.kind == CgroupKind::scope);  // conmon, the monitor: no container id

    c = named("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/"
              "cri-containerd-77aa.scope");
    CHECK(c.engine == "containerd");
    CHECK(c.container_id == "77aa");
    CHECK(named("/kubepods.slice/x/crio-88bb.scope").engine == "cri-o");

    // cgroupfs drivers: /docker/ID and kubelet's /kubepods/besteffort/podUID/ID.
    c = named(("/docker/" + id).c_str());
    CHECK(c.kind == CgroupKind::container);
    CHECK(c.engine == "docker");
    c = named(("/kubepods/besteffort/pod1234/" + id).c_str());
    CHECK(c.kind == CgroupKind::container);
    CHECK(c.engine.empty());

    CHECK(named("/").kind == CgroupKind::none);
    CHECK(named("/system.slice").kind == CgroupKind::none);
    CHECK(named("/my/group").name.empty());
}
