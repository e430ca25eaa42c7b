// The facts that let inherited-fd be inferred without a record: ELF imports on
// real files of this system, a live child's libraries, parents and LISTEN_PID;
// and the ELF symbols and build IDs that name a backtrace's frames.
#include "diag/elf.hpp"
#include "fixtures.hpp"
#include "diag/owners.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <csignal>
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
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

extern "C" {
__attribute__((noinline)) int portshim_test_marker(int x) { return x * 3 + 1; }
// Internal linkage: only .symtab names it.
__attribute__((noinline)) static int portshim_test_local_marker(int x) { return x * 5 + 2; }
}

namespace {

/** `fn`'s address as the program's file lays it out (minus the load bias). */
std::uint64_t file_address(void* fn) {
    Dl_info info{};
    link_map* map = nullptr;
    REQUIRE(::dladdr1(fn, &info, reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0);
    return reinterpret_cast<std::uintptr_t>(fn) - map->l_addr;
}

/** The build ID of the main program as loaded, from its PT_NOTE segments in memory. */
std::string loaded_build_id() {
    std::string id;
    ::dl_iterate_phdr(
        [](dl_phdr_info* info, std::size_t, void* arg) {
            auto& out = *static_cast<std::string*>(arg);
            for (int i = 0; i < info->dlpi_phnum && out.empty(); ++i)
                if (info->dlpi_phdr[i].p_type == PT_NOTE)
                    out = elf::build_id_in_notes(
                        std::string_view(reinterpret_cast<const char*>(info->dlpi_addr +
                                                                       info->dlpi_phdr[i].p_vaddr),
                                         info->dlpi_phdr[i].p_filesz),
                        info->dlpi_phdr[i].p_align);
            return 1;  // the first object is the main program
        },
        &id);
    return id;
}

/** One note: header, name (NUL-terminated) and descriptor, each padded to `pad` bytes. */
std::string note(std::uint32_t type, std::string name, const std::string& desc,
                 std::size_t pad = 4) {
    name += '\0';
    auto padded = [pad](std::string s) { return s.append((pad - s.size() % pad) % pad, '\0'); };
    const std::uint32_t words[3] = {static_cast<std::uint32_t>(name.size()),
                                    static_cast<std::uint32_t>(desc.size()), type};
    return std::string(reinterpret_cast<const char*>(words), sizeof words) + padded(name) +
           padded(desc);
}

} // namespace

TEST_CASE("ELF symbols: the function containing an address, static ones too", "[elf]") {
    CHECK(portshim_test_marker(1) + portshim_test_local_marker(1) == 11);
    const std::uint64_t global = file_address(reinterpret_cast<void*>(&portshim_test_marker));
    const std::uint64_t local = file_address(reinterpret_cast<void*>(&portshim_test_local_marker));
    const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::uint64_t budget = 64 * 1024 * 1024;
    const std::vector<elf::FunctionSymbol> found =
        elf::functions_containing(fd, {global, global + 1, local + 1, 0}, budget);
    REQUIRE(found.size() == 4);
    CHECK(found[0].name == "portshim_test_marker");
    CHECK(found[0].start == global);
    CHECK(found[1].name == "portshim_test_marker");
    CHECK(found[2].name == "portshim_test_local_marker");
    CHECK(found[2].start == local);
    CHECK(found[3].name.empty());
    CHECK(budget < 64 * 1024 * 1024);

    std::uint64_t small = 16;
    CHECK(elf::functions_containing(fd, {global}, small).at(0).name.empty());
    ::close(fd);
    const int script = ::open(PORTSHIM_TEST_SCRIPT, O_RDONLY | O_CLOEXEC);
    REQUIRE(script >= 0);
    budget = 1024 * 1024;
    CHECK(elf::functions_containing(script, {global}, budget).at(0).name.empty());
    ::close(script);
}

TEST_CASE("ELF build ID: the file's is the loaded image's; notes read defensively", "[elf]") {
    const int fd = ::open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    const std::string id = elf::build_id(fd);
    ::close(fd);
    CHECK_FALSE(id.empty());
    CHECK(id == loaded_build_id());
    const int script = ::open(PORTSHIM_TEST_SCRIPT, O_RDONLY | O_CLOEXEC);
    REQUIRE(script >= 0);
    CHECK(elf::build_id(script).empty());
    ::close(script);

    const std::string property = note(5, "GNU", std::string(16, 'p'));
    const std::string build = note(NT_GNU_BUILD_ID, "GNU", "\x01\x02\x03");
    CHECK(elf::build_id_in_notes(property + build, 4) == "\x01\x02\x03");
    CHECK(elf::build_id_in_notes(note(NT_GNU_BUILD_ID, "GNU", "abcd", 8), 8) == "abcd");
    CHECK(elf::build_id_in_notes(note(NT_GNU_BUILD_ID, "XYZ", "abcd"), 4).empty());
    CHECK(elf::build_id_in_notes(build.substr(0, build.size() - 2), 4).empty());
    const std::string long_name = note(NT_GNU_BUILD_ID, std::string(64, 'G'), "abcd");
    CHECK(elf::build_id_in_notes(long_name.substr(0, 20), 4).empty());
    CHECK(elf::build_id_in_notes("", 4).empty());
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
