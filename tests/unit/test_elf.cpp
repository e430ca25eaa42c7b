// The facts that let inherited-fd be inferred without a record: ELF imports on
// real files of this system, a live child's libraries, parents and LISTEN_PID.
#include "elf.hpp"
#include "fixtures.hpp"
#include "owners.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace portshim;
using namespace portshim::fixtures;
using namespace std::string_literals;

namespace {

/** imports_symbol on the file at `path`, with the usual budget. */
Tri imports(const std::string& path, const char* symbol = "listen") {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::uint64_t budget = 64 * 1024 * 1024;
    const Tri t = elf::imports_symbol(fd, symbol, budget);
    ::close(fd);
    return t;
}

bool interp(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const bool has = elf::has_interp(fd);
    ::close(fd);
    return has;
}

/** Where this process's libc is mapped from. */
std::string own_libc() {
    std::string maps;
    std::ifstream in("/proc/self/maps");
    maps.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    for (const std::string& path : owners::parse_maps_objects(maps))
        if (path.find("/libc.so") != std::string::npos) return path;
    return {};
}

/** A child running /bin/sleep, killed and reaped at the end. */
struct SleepChild {
    pid_t pid = -1;
    SleepChild() {
        pid = ::fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Until exec has replaced the forked copy of this test program.
        char want[4096] = {}, have[4096] = {};
        REQUIRE(::realpath("/bin/sleep", want) != nullptr);
        const std::string exe = "/proc/" + std::to_string(pid) + "/exe";
        for (int i = 0; i < 500; ++i) {
            const ssize_t n = ::readlink(exe.c_str(), have, sizeof have - 1);
            if (n > 0 && std::string(have, static_cast<std::size_t>(n)) == want) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    ~SleepChild() {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
    }
};

} // namespace

TEST_CASE("ELF imports: a program calling listen(), one that does not, libc itself", "[elf]") {
    // This test program calls ::listen (test_owners.cpp, test_unix.cpp), versioned GLIBC_2.2.5.
    CHECK(imports("/proc/self/exe") == Tri::yes);
    CHECK(imports("/bin/sleep") == Tri::no);
    CHECK(imports("/bin/sleep", "nanosleep") == Tri::yes);
    // libc defines listen(); a definition is no import.
    const std::string libc = own_libc();
    REQUIRE_FALSE(libc.empty());
    CHECK(imports(libc) == Tri::no);
}

TEST_CASE("ELF imports: cannot tell for static programs, scripts, or over budget", "[elf]") {
    CHECK(imports(PORTSHIM_TEST_STATIC_PROGRAM) == Tri::unknown);
    CHECK(imports(PORTSHIM_TEST_SCRIPT) == Tri::unknown);
    const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::uint64_t budget = 16;
    CHECK(elf::imports_symbol(fd, "listen", budget) == Tri::unknown);
    ::close(fd);
}

TEST_CASE("ELF program headers: PT_INTERP in dynamic programs only", "[elf]") {
    CHECK(interp("/bin/sleep"));
    CHECK(interp("/proc/self/exe"));
    CHECK_FALSE(interp(PORTSHIM_TEST_STATIC_PROGRAM));
    CHECK_FALSE(interp(PORTSHIM_TEST_SCRIPT));
}

TEST_CASE("maps: executable file mappings, each once, blanks and (deleted) kept", "[elf]") {
    const char* maps =
        "55d0c0a00000-55d0c0a02000 r--p 00000000 08:01 1234                       /usr/bin/sleep\n"
        "55d0c0a02000-55d0c0a06000 r-xp 00002000 08:01 1234                       /usr/bin/sleep\n"
        "55d0c0a06000-55d0c0a08000 r-xp 00006000 08:01 1234                       /usr/bin/sleep\n"
        "7f0000000000-7f0000001000 r-xp 00000000 08:01 99   /opt/my lib/libx.so (deleted)\n"
        "7f0000001000-7f0000002000 r--p 00000000 08:01 98   /usr/lib/locale/locale-archive\n"
        "7f0000002000-7f0000003000 r-xp 00000000 00:00 0                          [vdso]\n"
        "7f0000003000-7f0000004000 rw-p 00000000 00:00 0 \n"
        "7f0000004000-7f0000005000 r-xp 00000000 08:01 97   /usr/lib/x86_64-linux-gnu/libc.so.6";
    CHECK(owners::parse_maps_objects(maps) ==
          std::vector<std::string>{"/usr/bin/sleep", "/opt/my lib/libx.so (deleted)",
                                   "/usr/lib/x86_64-linux-gnu/libc.so.6"});
    CHECK(owners::parse_maps_objects("").empty());
    CHECK(owners::parse_maps_objects("garbage\n\n").empty());
}

TEST_CASE("a live process: this one imports listen(), a sleep child does not", "[elf]") {
    CHECK(owners::program_imports("/proc", static_cast<int>(::getpid()), "listen") == Tri::yes);
    const SleepChild child;
    CHECK(owners::program_imports("/proc", child.pid, "listen") == Tri::no);
    CHECK(owners::program_imports("/proc", child.pid, "nanosleep") == Tri::yes);
    CHECK(owners::program_imports("/nonexistent", child.pid, "listen") == Tri::unknown);
}

TEST_CASE("parent gone: re-parented to init or to a systemd --user subreaper", "[elf]") {
    Holder h;
    h.pid = 4121;
    h.ppid = 1;
    CHECK(owners::parent_gone("/proc", h) == Tri::yes);
    h.ppid = 0;  // the parent is outside this PID namespace
    CHECK(owners::parent_gone("/proc", h) == Tri::unknown);
    h.pid = 1;
    CHECK(owners::parent_gone("/proc", h) == Tri::unknown);

    const TempDir proc("unit-proc");
    REQUIRE(::mkdir((proc.path + "/77").c_str(), 0700) == 0);
    proc.write("77/stat", "77 (systemd) S 1 77 77 0 -1 4194560 1 0 0 0 3 1 0 0 20 0 1 0 500 1 1 1");
    proc.write("77/cmdline", "/usr/lib/systemd/systemd\0--user\0"s);
    h.pid = 4121;
    h.ppid = 77;
    CHECK(owners::parent_gone(proc.path, h) == Tri::yes);
    proc.write("77/cmdline", "/usr/lib/systemd/systemd\0"s);
    CHECK(owners::parent_gone(proc.path, h) == Tri::no);
    h.ppid = 78;  // no such process: cannot tell
    CHECK(owners::parent_gone(proc.path, h) == Tri::unknown);
    // The fake tree's pid 100 is a plain server: a live parent.
    h.ppid = 100;
    CHECK(owners::parent_gone(PORTSHIM_TEST_DATA "/proc", h) == Tri::no);
}

TEST_CASE("socket activation: LISTEN_PID naming the process itself", "[elf]") {
    const TempDir proc("unit-proc");
    REQUIRE(::mkdir((proc.path + "/42").c_str(), 0700) == 0);
    proc.write("42/environ", "A=1\0LISTEN_PID=42\0LISTEN_FDS=1\0"s);
    CHECK(owners::socket_activated(proc.path, 42) == Tri::yes);
    proc.write("42/environ", "LISTEN_PID=41\0LISTEN_FDS=1\0"s);
    CHECK(owners::socket_activated(proc.path, 42) == Tri::no);
    proc.write("42/environ", "PATH=/bin\0"s);
    CHECK(owners::socket_activated(proc.path, 42) == Tri::no);
    CHECK(owners::socket_activated(proc.path, 43) == Tri::unknown);
}
