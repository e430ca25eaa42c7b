// The listen registry reader: record lines (valid, encoded, malformed, cut),
// which file and record win, and the ownership and symlink rules on real files.
#include "fixtures.hpp"
#include "diag/observe.hpp"
#include "diag/registry.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

/** One record as the writer lays it out: 511 bytes padded with spaces, then '\n'. */
std::string record_line(std::uint64_t inode, int pid, std::uint64_t start, const std::string& exe,
                        const std::string& proto = "tcp", const std::string& addr = "0.0.0.0",
                        int port = 8080, std::uint64_t netns = 0) {
    std::string line = "L1 netns=" + std::to_string(netns) + " inode=" + std::to_string(inode) +
                       " proto=" + proto + " addr=" + registry::encode_registry_field(addr) +
                       " port=" + std::to_string(port) + " pid=" + std::to_string(pid) +
                       " start=" + std::to_string(start) + " time=1800000000 uid=1000 exe=" +
                       registry::encode_registry_field(exe);
    REQUIRE(line.size() <= 511);
    line.resize(511, ' ');
    return line + '\n';
}

std::optional<ListenRecord> find(const std::string& dir, std::uint64_t inode,
                                 std::vector<std::string>& evidence) {
    return registry::find_listen_record(dir, inode, evidence);
}

} // namespace

TEST_CASE("a record line parses into every field", "[registry]") {
    const std::string line = record_line(5555, 4112, 987654, "/opt/legacy/server", "tcp",
                                         "0.0.0.0", 8080, 4026531840);
    const auto r = registry::parse_listen_record(line.substr(0, 511));
    REQUIRE(r);
    CHECK(r->netns == 4026531840u);
    CHECK(r->inode == 5555u);
    CHECK(r->proto == "tcp");
    CHECK(r->address == "0.0.0.0");
    CHECK(r->port == 8080);
    CHECK(r->pid == 4112);
    CHECK(r->start_ticks == 987654u);
    CHECK(r->time == 1800000000u);
    CHECK(r->uid == 1000u);
    CHECK(r->exe == "/opt/legacy/server");
}

TEST_CASE("encoded fields decode: blanks, percent, bytes, empty", "[registry]") {
    CHECK(registry::encode_registry_field("/opt/my app/server (deleted)") ==
          "/opt/my%20app/server%20(deleted)");
    CHECK(registry::encode_registry_field("100%\n\xff") == "100%25%0A%FF");
    CHECK(registry::encode_registry_field("") == "-");
    CHECK(registry::encode_registry_field("-") == "%2D"); // "-" alone would read back as empty

    const auto r = registry::parse_listen_record(
        "L1 netns=0 inode=7 proto=unix addr=/run/my%20app.sock port=0 pid=9 start=1 time=2 "
        "uid=0 exe=/opt/my%20app/server%20(deleted)");
    REQUIRE(r);
    CHECK(r->address == "/run/my app.sock");
    CHECK(r->exe == "/opt/my app/server (deleted)");
    const auto empty = registry::parse_listen_record(
        "L1 netns=0 inode=7 proto=unix addr=@abstract port=0 pid=9 start=1 time=2 uid=0 exe=-");
    REQUIRE(empty);
    CHECK(empty->address == "@abstract");
    CHECK(empty->exe.empty());
    const auto dash = registry::parse_listen_record(
        "L1 netns=0 inode=7 proto=unix addr=%2D port=0 pid=9 start=1 time=2 uid=0 exe=-");
    REQUIRE(dash);
    CHECK(dash->address == "-");
    // Lowercase hex is accepted too; a raw byte outside the printable range is not.
    CHECK(registry::parse_listen_record(
              "L1 netns=0 inode=7 proto=tcp addr=:: port=1 pid=9 start=1 time=2 uid=0 exe=%ff")
              ->exe == "\xff");
}

TEST_CASE("malformed record lines are skipped", "[registry]") {
    const std::string good =
        "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x";
    REQUIRE(registry::parse_listen_record(good));
    for (const std::string& bad : std::vector<std::string>{
             std::string("L2") + good.substr(2),                          // another tag
             std::string("X1") + good.substr(2),
             good.substr(0, 40),                                          // cut short
             good + " extra=1",                                           // unknown key
             good + " pid=10",                                            // repeated key
             "L1 netns=0 inode=7 proto=sctp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=70000 pid=9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=x7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=0 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=-9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x%4",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x%GG",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0  port=80 pid=9 start=1 time=2 uid=0 exe=/x",
             "L1 netns=0 inode=7 proto=tcp addr=0.0.0.0 port=80 pid=9 start=1 time=2 uid=0 exe=/x\ty",
             "",
             "L1",
         })
        CHECK_FALSE(registry::parse_listen_record(bad));
}

TEST_CASE("the latest record for an inode wins, listeners.1 before listeners", "[registry]") {
    TempDir dir("registry");
    dir.write("listeners.1", record_line(5555, 100, 1, "/old/one") + record_line(6666, 101, 1, "/only/rotated"));
    dir.write("listeners", record_line(5555, 200, 2, "/newer") + record_line(7777, 300, 3, "/a") +
                               record_line(5555, 201, 2, "/newest") +
                               // a record still being written: no '\n' yet
                               record_line(7777, 301, 3, "/cut").substr(0, 300));
    std::vector<std::string> evidence;
    CHECK(find(dir.path, 5555, evidence)->exe == "/newest");
    CHECK(find(dir.path, 6666, evidence)->exe == "/only/rotated");
    CHECK(find(dir.path, 7777, evidence)->pid == 300);
    CHECK_FALSE(find(dir.path, 8888, evidence));
    CHECK(evidence.empty());

    const auto many = registry::find_listen_records(dir.path, {7777, 5555, 9999}, evidence);
    REQUIRE(many.size() == 2);
    CHECK(many[0].inode == 5555u);
    CHECK(many[0].pid == 201);
    CHECK(many[1].inode == 7777u);
}

TEST_CASE("lines that are not records are skipped, the rest still read", "[registry]") {
    TempDir dir("registry");
    dir.write("listeners", "garbage\n" + std::string(20000, 'x') + "\n" +
                               record_line(5555, 42, 1, "/srv/app") + "L9 future format\n");
    std::vector<std::string> evidence;
    const auto r = find(dir.path, 5555, evidence);
    REQUIRE(r);
    CHECK(r->pid == 42);
}

TEST_CASE("torn and short records and garbage between good ones cost only themselves", "[registry]") {
    const std::string long_exe = "/opt/" + std::string(200, 'a') + "/server";
    // Each torn record is what a writer cut short leaves: a record's first
    // bytes and no '\n', so the next record written is glued to it.
    const std::string text =
        record_line(1001, 11, 1, "/srv/a") +
        record_line(1002, 12, 1, "/srv/torn").substr(0, 300) +        // cut mid-record
        record_line(1003, 13, 1, "/srv/c") +
        "garbage\n" +
        "L1 netns=0 inode=1004 proto=tcp\n" +                           // short: keys missing
        record_line(1005, 15, 1, "/srv/padding").substr(0, 480) +       // cut in the padding
        record_line(1006, 16, 1, "/srv/e") +
        std::string(512, '\0') +                                        // zeros of a crash
        record_line(1007, 17, 1, "/srv/f") +
        record_line(1008, 18, 1, long_exe).substr(0, 100) +             // cut inside exe=
        record_line(1008, 19, 1, "/srv/h") +                            // same inode: this one
        record_line(1009, 20, 1, "/srv/i").substr(0, 500) +             // torn, then torn again
        record_line(1010, 21, 1, "/srv/j").substr(0, 40) +
        record_line(1011, 22, 1, "/srv/k") +
        record_line(1012, 23, 1, "/srv/last").substr(0, 200);           // last, unfinished
    const auto records = registry::parse_listen_records(text);
    std::vector<std::uint64_t> inodes;
    std::vector<std::string> exes;
    for (const auto& r : records) {
        inodes.push_back(r.inode);
        exes.push_back(r.exe);
    }
    CHECK(inodes == std::vector<std::uint64_t>{1001, 1003, 1006, 1007, 1008, 1011});
    CHECK(exes == std::vector<std::string>{"/srv/a", "/srv/c", "/srv/e", "/srv/f", "/srv/h", "/srv/k"});

    // The file reader agrees, also across its 16 KiB reads: the same text
    // behind 40 records, so the torn lines straddle a read boundary.
    std::string before;
    for (std::uint64_t i = 0; i < 40; ++i) before += record_line(2000 + i, 30, 1, "/srv/before");
    TempDir dir("registry");
    dir.write("listeners", before + text);
    std::vector<std::string> evidence;
    const auto found = registry::find_listen_records(
        dir.path, {1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 2039},
        evidence);
    std::vector<std::uint64_t> found_inodes;
    for (const auto& r : found) found_inodes.push_back(r.inode);
    CHECK(found_inodes == std::vector<std::uint64_t>{1001, 1003, 1006, 1007, 1008, 1011, 2039});
    CHECK(find(dir.path, 1008, evidence)->exe == "/srv/h");
    CHECK(evidence.empty());
}

TEST_CASE("no state directory, or none set: no records and nothing to report", "[registry]") {
    std::vector<std::string> evidence;
    CHECK_FALSE(find("", 5555, evidence));
    CHECK_FALSE(find("/nonexistent/portshim", 5555, evidence));
    CHECK(evidence.empty());
    TempDir dir("registry");  // exists, but nothing listened yet
    CHECK_FALSE(find(dir.path, 5555, evidence));
    CHECK(evidence.empty());
}

TEST_CASE("a symlinked registry file or directory is refused", "[registry]") {
    TempDir dir("registry");
    dir.write("target", record_line(5555, 42, 1, "/srv/app"));
    REQUIRE(::symlink((dir.path + "/target").c_str(), (dir.path + "/listeners").c_str()) == 0);
    std::vector<std::string> evidence;
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "listeners is a symbolic link: ignored"));

    ::unlink((dir.path + "/listeners").c_str());
    dir.write("listeners", record_line(5555, 42, 1, "/srv/app"));
    const std::string link = dir.path + "-link";
    REQUIRE(::symlink(dir.path.c_str(), link.c_str()) == 0);
    evidence.clear();
    CHECK_FALSE(find(link, 5555, evidence));
    ::unlink(link.c_str());
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "is a symbolic link: ignored"));
    CHECK(find(dir.path, 5555, evidence));  // the real directory is fine
}

TEST_CASE("a FIFO under the file's name neither blocks nor counts", "[registry]") {
    TempDir dir("registry");
    REQUIRE(::mkfifo((dir.path + "/listeners").c_str(), 0600) == 0);
    std::vector<std::string> evidence;
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "is not a regular file owned by uid"));
}

TEST_CASE("a group- or other-writable registry directory is refused", "[registry]") {
    TempDir dir("registry");
    dir.write("listeners", record_line(5555, 42, 1, "/srv/app"));
    std::vector<std::string> evidence;
    REQUIRE(find(dir.path, 5555, evidence));
    REQUIRE(::chmod(dir.path.c_str(), 0770) == 0);
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "writable by group or others (mode 0770)"));
    REQUIRE(::chmod(dir.path.c_str(), 0702) == 0);
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(::chmod(dir.path.c_str(), 0700) == 0);
}

TEST_CASE("a registry directory or file owned by another user is refused", "[registry]") {
    std::vector<std::string> evidence;
    if (::geteuid() != 0) {
        // Not root: "/" is root's, and so not ours.
        CHECK_FALSE(find("/", 5555, evidence));
        REQUIRE(evidence.size() == 1);
        CHECK(contains(evidence[0], "ignored: owned by uid 0"));
        return;
    }
    TempDir dir("registry");
    dir.write("listeners", record_line(5555, 42, 1, "/srv/app"));
    REQUIRE(::chown((dir.path + "/listeners").c_str(), 65534, 65534) == 0);
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "listeners is not a regular file owned by uid 0"));

    REQUIRE(::chown((dir.path + "/listeners").c_str(), 0, 0) == 0);
    REQUIRE(::chown(dir.path.c_str(), 65534, 65534) == 0);
    evidence.clear();
    CHECK_FALSE(find(dir.path, 5555, evidence));
    REQUIRE(evidence.size() == 1);
    CHECK(contains(evidence[0], "ignored: owned by uid 65534, not uid 0"));
    REQUIRE(::chown(dir.path.c_str(), 0, 0) == 0);
}

TEST_CASE("reading the registry creates nothing", "[registry]") {
    TempDir dir("registry");
    const std::string missing = dir.path + "/sub";
    std::vector<std::string> evidence;
    CHECK_FALSE(find(missing, 5555, evidence));
    struct stat st{};
    CHECK(::stat(missing.c_str(), &st) != 0);
    CHECK_FALSE(find(dir.path, 5555, evidence));
    CHECK(::stat((dir.path + "/listeners").c_str(), &st) != 0);
}

TEST_CASE("recorded openers: alive when pid and start ticks match in /proc", "[registry]") {
    // The fake tree has pid 100 started at tick 250000 and no pid 999.
    TempDir dir("registry");
    dir.write("listeners", record_line(5555, 100, 250000, "/opt/legacy/server") +
                               record_line(5556, 100, 111, "/opt/legacy/server") +
                               record_line(5557, 999, 5, "/gone"));
    std::vector<std::string> evidence;
    const auto recs = recorded_listens(dir.path, PORTSHIM_TEST_DATA "/proc", 100,
                                       {5555, 5556, 5557}, evidence);
    REQUIRE(recs.size() == 3);
    CHECK(recs[0].alive);
    CHECK_FALSE(recs[0].pid_reused);
    CHECK(recs[0].start_time == Approx(1700000000 + 250000 / static_cast<double>(::sysconf(_SC_CLK_TCK))));
    CHECK_FALSE(recs[1].alive);
    CHECK(recs[1].pid_reused);
    CHECK_FALSE(recs[2].alive);
    CHECK_FALSE(recs[2].pid_reused);
}

TEST_CASE("a record from another network namespace is dropped", "[registry]") {
    struct stat st{};
    REQUIRE(::stat("/proc/self/ns/net", &st) == 0);
    TempDir dir("registry");
    dir.write("listeners", record_line(5555, 1, 1, "/a", "tcp", "0.0.0.0", 80, st.st_ino + 1) +
                               record_line(5556, 1, 1, "/b", "tcp", "0.0.0.0", 80, st.st_ino));
    std::vector<std::string> evidence;
    const auto recs = recorded_listens(dir.path, "/proc", static_cast<int>(::getpid()),
                                       {5555, 5556}, evidence);
    REQUIRE(recs.size() == 1);
    CHECK(recs[0].record.inode == 5556u);
    CHECK(any_contains(evidence, "inode 5555 (pid 1) is from another network namespace"));
}
