// The CLI's strict parsing of targets and seconds, and ELF inspection for
// portshim-run on real binaries of this machine.
#include "executable.hpp"
#include "target.hpp"

#include "diag/address.hpp"

#include <catch2/catch.hpp>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

using namespace portshim;
using namespace portshim::cli;

TEST_CASE("targets: port alone, IPv4, bracketed IPv6, unix paths", "[cli]") {
    std::string error;
    auto t = parse_target("8080", false, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "0.0.0.0:8080");
    CHECK(t->proto == Proto::tcp);
    t = parse_target("127.0.0.53:53", true, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "127.0.0.53:53");
    CHECK(t->proto == Proto::udp);
    t = parse_target("[::]:443", false, error);
    REQUIRE(t);
    CHECK(format_endpoint(t->local) == "[::]:443");
    t = parse_target("unix:/run/app.sock", false, error);
    REQUIRE(t);
    CHECK(t->proto == Proto::unix_stream);
    CHECK(t->unix_path == "/run/app.sock");
    CHECK(parse_target("unix:@abstract", false, error));
}

TEST_CASE("targets: every bad input has its one-line reason", "[cli]") {
    std::string error;
    CHECK_FALSE(parse_target("70000", false, error));
    CHECK(error == "port 70000 is out of range (1-65535)");
    CHECK_FALSE(parse_target("0", false, error));
    CHECK(error == "port 0 is out of range (1-65535)");
    CHECK_FALSE(parse_target("http", false, error));
    CHECK(error == "'http' is not a port number");
    CHECK_FALSE(parse_target("::1:80", false, error));
    CHECK(error == "write IPv6 addresses in brackets: [::1]:PORT");
    CHECK_FALSE(parse_target("example.com:80", false, error));
    CHECK(error == "'example.com' is not an IPv4 or IPv6 address");
    CHECK_FALSE(parse_target("unix:relative.sock", false, error));
    CHECK_FALSE(parse_target("unix:", false, error));
    CHECK_FALSE(parse_target("-5", false, error));
}

TEST_CASE("seconds: whole numbers up to a day", "[cli]") {
    CHECK(parse_seconds("0") == 0u);
    CHECK(parse_seconds("30") == 30u);
    CHECK(parse_seconds("86400") == 86400u);
    CHECK_FALSE(parse_seconds("86401"));
    CHECK_FALSE(parse_seconds("10s"));
    CHECK_FALSE(parse_seconds(""));
    CHECK_FALSE(parse_seconds("-1"));
}

TEST_CASE("executables: dynamic ELF and scripts are preloadable, others are not", "[cli]") {
    std::string detail;
    CHECK(inspect_executable("/bin/true", detail) == Reach::preloadable);
    CHECK(inspect_executable(PORTSHIM_TEST_SCRIPT, detail) == Reach::preloadable);
    CHECK(inspect_executable("/nonexistent/program", detail) == Reach::not_found);
    CHECK(detail.find("No such file") != std::string::npos);
    CHECK(inspect_executable("/etc/passwd", detail) == Reach::cannot_run);
    CHECK(detail == "/etc/passwd: not executable (Permission denied)");
    CHECK(inspect_executable(PORTSHIM_TEST_STATIC_PROGRAM, detail) == Reach::static_binary);
    CHECK(detail.find("statically linked") != std::string::npos);
}

namespace {

/** A scratch directory with files of given modes, removed at the end. */
struct Scratch {
    std::string dir;
    Scratch() {
        char tmpl[] = "/tmp/portshim-cli-XXXXXX";
        REQUIRE(::mkdtemp(tmpl) != nullptr);
        dir = tmpl;
    }
    ~Scratch() {
        for (auto it = made.rbegin(); it != made.rend(); ++it) ::remove(it->c_str());
        ::rmdir(dir.c_str());
    }
    std::string file(const std::string& name, const std::string& text, mode_t mode) {
        const std::string path = dir + "/" + name;
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        REQUIRE(fd >= 0);
        REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(fd);
        REQUIRE(::chmod(path.c_str(), mode) == 0);
        made.push_back(path);
        return path;
    }
    std::string sub(const std::string& name) {
        const std::string path = dir + "/" + name;
        REQUIRE(::mkdir(path.c_str(), 0700) == 0);
        made.push_back(path);
        return path;
    }
    std::vector<std::string> made;
};

} // namespace

TEST_CASE("executables: FIFOs, devices and directories are refused from stat, never opened", "[cli]") {
    Scratch s;
    const std::string fifo = s.dir + "/fifo";
    REQUIRE(::mkfifo(fifo.c_str(), 0700) == 0);
    s.made.push_back(fifo);
    std::string detail;
    CHECK(inspect_executable(fifo, detail) == Reach::cannot_run); // would block in open() before
    CHECK(detail == fifo + ": a FIFO, not a program");
    CHECK(inspect_executable("/dev/null", detail) == Reach::cannot_run);
    CHECK(detail == "/dev/null: a device, not a program");
    CHECK(inspect_executable(s.dir, detail) == Reach::cannot_run);
    CHECK(detail == s.dir + ": a directory, not a program");
}

TEST_CASE("executables: what execvp runs through /bin/sh is preloadable", "[cli]") {
    Scratch s;
    std::string detail;
    // No #!: the kernel says ENOEXEC and execvp hands the file to /bin/sh.
    CHECK(inspect_executable(s.file("plain", "echo hi\n", 0755), detail) == Reach::preloadable);
    CHECK(inspect_executable(s.file("empty", "", 0755), detail) == Reach::preloadable);
    CHECK(inspect_executable(s.file("blank-bang", "#!   \necho hi\n", 0755), detail) == Reach::preloadable);
    CHECK(inspect_executable(s.file("sh-bang", "#! /bin/sh -e\necho hi\n", 0755), detail) ==
          Reach::preloadable);
    // A #! interpreter is checked like the program: missing, not runnable, or static.
    const std::string missing = s.file("missing", "#!/nonexistent/interpreter\n", 0755);
    CHECK(inspect_executable(missing, detail) == Reach::not_found);
    CHECK(detail == missing + ": its #! interpreter /nonexistent/interpreter: No such file or directory");
    const std::string data = s.file("data", "not a program\n", 0644);
    CHECK(inspect_executable(s.file("bad-interp", "#!" + data + " -x\n", 0755), detail) ==
          Reach::cannot_run);
    CHECK(detail.find("not executable") != std::string::npos);
    const std::string on_static =
        s.file("on-static", std::string("#!") + PORTSHIM_TEST_STATIC_PROGRAM + "\n", 0755);
    CHECK(inspect_executable(on_static, detail) == Reach::static_binary);
    CHECK(detail.find("statically linked") != std::string::npos);
    // A script running itself is ELOOP for the kernel.
    const std::string loop = s.dir + "/loop";
    s.file("loop", "#!" + loop + "\n", 0755);
    CHECK(inspect_executable(loop, detail) == Reach::cannot_run);
    CHECK(detail.find("too many levels") != std::string::npos);
    // A name cut off by the kernel's 256-byte buffer is ENOEXEC: /bin/sh runs the file.
    CHECK(inspect_executable(s.file("long", "#!/" + std::string(300, 'x'), 0755), detail) ==
          Reach::preloadable);
}

TEST_CASE("executables: PATH is searched as execvp searches it, builtins do not count", "[cli]") {
    Scratch s;
    const std::string a = s.sub("a"), b = s.sub("b"), c = s.sub("c");
    s.file("a/prog", "#!/bin/sh\n", 0644); // found first, not executable: execvp goes on
    const std::string runnable = s.file("b/prog", "#!/bin/sh\n", 0755);
    s.file("c/only-data", "x\n", 0644);
    Reach reach;
    std::string detail;
    const std::string path = a + ":" + b + ":" + c;
    CHECK(find_program("prog", path.c_str(), reach, detail) == runnable);
    CHECK(reach == Reach::preloadable);
    CHECK(find_program("only-data", path.c_str(), reach, detail).empty());
    CHECK(reach == Reach::cannot_run);
    CHECK(detail == c + "/only-data: not executable (Permission denied)");
    CHECK(find_program("no-such-program", path.c_str(), reach, detail).empty());
    CHECK(reach == Reach::not_found);
    CHECK(detail == "no-such-program: command not found in PATH");
    // `true` is a shell builtin, and /usr/bin/true all the same; PATH unset is /bin:/usr/bin.
    CHECK(find_program("true", "/usr/bin:/bin", reach, detail) == "/usr/bin/true");
    CHECK(find_program("true", nullptr, reach, detail) == "/bin/true");
    // A name with a slash is taken as it is; inspect_executable decides.
    CHECK(find_program("./prog", "", reach, detail) == "./prog");
    CHECK(reach == Reach::preloadable);
    CHECK(find_program("", path.c_str(), reach, detail).empty());
    CHECK(reach == Reach::not_found);
    CHECK(exit_status_of(Reach::not_found) == 127);
    CHECK(exit_status_of(Reach::cannot_run) == 126);
}

TEST_CASE("--for: a command line split as sh splits it, without expanding", "[cli]") {
    std::string error;
    using Words = std::vector<std::string>;
    CHECK(split_command_line("java -cp /srv/app Main", error) == Words{"java", "-cp", "/srv/app", "Main"});
    CHECK(split_command_line("  python3\t-m  http.server ", error) == Words{"python3", "-m", "http.server"});
    CHECK(split_command_line("sh -c 'exec ./srv $PORT'", error) == Words{"sh", "-c", "exec ./srv $PORT"});
    CHECK(split_command_line(R"(a "b \"c\" \$d \x" e\ f '')", error) == Words{"a", R"(b "c" $d \x)", "e f", ""});
    CHECK_FALSE(split_command_line("java -jar 'app.jar", error));
    CHECK(error == "--for: an unterminated quote in the command line");
    CHECK_FALSE(split_command_line(" \t", error));
    CHECK(error == "--for needs a program");
}

TEST_CASE("--for: the program as /proc would show it once started", "[cli]") {
    std::string detail;
    const auto sh = program_as_run({"sh", "-c", "true"}, "/usr/bin:/bin", detail);
    REQUIRE(sh);
    char real[PATH_MAX];
    REQUIRE(::realpath("/usr/bin/sh", real) != nullptr);
    CHECK(sh->exe == real); // symlinks resolved, as readlink of /proc/PID/exe shows it
    CHECK(sh->argv == std::vector<std::string>{"sh", "-c", "true"});
    CHECK_FALSE(sh->shell_script); // the shell named on purpose

    char dir[] = "/tmp/portshim-for-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    const std::string script = std::string(dir) + "/app";
    const auto write_script = [&](const char* text) {
        std::FILE* f = std::fopen(script.c_str(), "w");
        REQUIRE(f != nullptr);
        std::fputs(text, f);
        std::fclose(f);
        REQUIRE(::chmod(script.c_str(), 0755) == 0);
    };
    // fs/binfmt_script.c: INTERPRETER [ARG] PATH ARGV[1]...
    write_script("#!/bin/sh -e  \necho\n");
    auto run = program_as_run({script, "x"}, "/usr/bin:/bin", detail);
    REQUIRE(run);
    REQUIRE(::realpath("/bin/sh", real) != nullptr);
    CHECK(run->exe == real);
    CHECK(run->argv == std::vector<std::string>{"/bin/sh", "-e", script, "x"});
    CHECK(run->shell_script); // a launcher (a pyenv shim): it may exec another program
    // #!/usr/bin/env NAME: env finds NAME in PATH and runs it.
    write_script("#!/usr/bin/env sh\necho\n");
    run = program_as_run({script}, "/usr/bin:/bin", detail);
    REQUIRE(run);
    CHECK(run->argv == std::vector<std::string>{"sh", script});
    CHECK(run->exe == real);
    ::unlink(script.c_str());
    ::rmdir(dir);

    CHECK_FALSE(program_as_run({"no-such-program-here"}, "/usr/bin:/bin", detail));
    CHECK(detail == "no-such-program-here: command not found in PATH");
}
