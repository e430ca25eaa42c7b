// portshim-run: runs a program with libportshim.so preloaded, or under the
// supervisor where the preload cannot reach it (static and Go binaries, or any
// program with --supervise), for restart units and CI. A static binary, so that
// a supervised start costs one exec: options, `portshim check-config` and
// `check-preload` are linked in, and it is the supervisor's launcher itself.
// Finds libportshim.so (../lib/portshim/, or ../lib/MULTIARCH/portshim/ as the
// Debian package installs it: PORTSHIM_LIB_FROM_BIN) and portshim-supervise (the
// supervisor's own name once it runs) from its own directory, in the build and
// install trees.
#include "executable.hpp"
#include "launch.hpp"
#include "messages.hpp"

#include "common/config.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

namespace {

using namespace portshim;

constexpr const char* usage_text =
    R"(usage: portshim-run [--reuseaddr] [--cloexec] [--wait SECONDS] [--json] [--log PATH]
                    [--supervise] [--] COMMAND [ARG...]
       portshim-run --help | --version

)";

/** After the options that set variables (cli::run_options_help, from man/reference.hpp). */
constexpr const char* usage_rest =
    R"(  --supervise     run COMMAND under portshim-supervise (seccomp user notification)
                  whatever it is, e.g. for raw syscall(SYS_bind); without root's
                  CAP_SYS_ADMIN this sets no_new_privs, which stops setuid helpers
                  such as sudo in it
  --force         accepted for old units; does nothing

Dynamically linked programs get libportshim.so preloaded. Static and Go
binaries, which LD_PRELOAD cannot reach, run under portshim-supervise: the same
report, with "observed":"supervisor" in JSON. Not root (or root without
CAP_SYS_ADMIN, as in a container), that needs --supervise; without it one line says so and the program runs unsupervised.

COMMAND is found in PATH as execvp(3) finds it (a shell builtin does not count:
`true` is /usr/bin/true); a script without #! runs with /bin/sh.

Exit status is the program's own; 2 when portshim-run refuses its options; as env(1) and the shell, 127 when COMMAND is not
found and 126 when it is found but cannot be run (a directory, a FIFO, no execute
permission). Every refusal is one "portshim-run:" line on stderr.
)";

/** One "portshim-run:" line whatever the message holds: control characters become '?'. */
void say(std::string message) {
    for (char& c : message)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    const std::string line = "portshim-run: " + message + "\n";
    (void)!::write(2, line.data(), line.size());
}

/** A refusal of portshim-run's own input: exit status 2. */
int refuse(const std::string& message) {
    say(message);
    return 2;
}

/** This executable, symlinks resolved (readlink -f of $0). */
std::string own_path() {
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    return n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "./portshim-run";
}

/** The values given to --wait and --log, which parse_config reads instead of the environment. */
const char* g_wait = nullptr;
const char* g_log = nullptr;

const char* given_value(const char* name) {
    if (std::strcmp(name, "PORTSHIM_WAIT") == 0) return g_wait;
    if (std::strcmp(name, "PORTSHIM_LOG") == 0) return g_log;
    return nullptr;
}

/**
 * What the library would refuse later (--wait 99999, a relative --log) is refused
 * now, by its own parser, in the words of `portshim check-config`. Empty: accepted.
 */
std::string refused_value() {
    if (g_wait == nullptr && g_log == nullptr) return {};
    ConfigErrors errors;
    parse_config(&given_value, false, errors);
    if (errors.count == 0) return {};
    const std::string reason = cli::one_line(cli::config_error_text(errors.items[0]));
    if (reason.rfind("PORTSHIM_WAIT=", 0) == 0) return "--wait: " + reason;
    if (reason.rfind("PORTSHIM_LOG=", 0) == 0) return "--log: " + reason;
    return reason;
}

} // namespace

int main(int argc, char** argv) {
    bool supervise = false;
    int i = 1;
    for (; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--reuseaddr") ::setenv("PORTSHIM_REUSEADDR", "1", 1);
        else if (arg == "--cloexec") ::setenv("PORTSHIM_CLOEXEC", "1", 1);
        else if (arg == "--wait" || arg == "--log") {
            if (i + 1 >= argc || std::strcmp(argv[i + 1], "--") == 0)
                return refuse(arg + (arg == "--wait" ? " needs SECONDS" : " needs PATH"));
            const char* value = argv[++i];
            ::setenv(arg == "--wait" ? "PORTSHIM_WAIT" : "PORTSHIM_LOG", value, 1);
            (arg == "--wait" ? g_wait : g_log) = value;
        } else if (arg == "--json") ::setenv("PORTSHIM_FORMAT", "json", 1);
        else if (arg == "--supervise") supervise = true;
        else if (arg == "--force") {
        } else if (arg == "-h" || arg == "--help") {
            std::fputs(usage_text, stdout);
            std::fputs(cli::run_options_help().c_str(), stdout);
            std::fputs(usage_rest, stdout);
            return 0;
        } else if (arg == "--version") {
            std::printf("portshim-run %s\n", PORTSHIM_VERSION);
            return 0;
        } else if (arg == "--") {
            ++i;
            break;
        } else if (arg[0] == '-') return refuse("unknown option '" + arg + "' (see portshim-run --help)");
        else break;
    }
    if (i >= argc) return refuse("missing COMMAND (see portshim-run --help)");
    char** command = argv + i;

    const std::string self = own_path();
    const std::size_t slash = self.rfind('/');
    const std::string here = slash == 0 ? "/" : self.substr(0, slash);
    char resolved[PATH_MAX];
    if (::realpath((here + "/" PORTSHIM_LIB_FROM_BIN).c_str(), resolved) == nullptr)
        return refuse("cannot find " PORTSHIM_LIB_FROM_BIN "/ from " + here);
    const std::string lib = std::string(resolved) + "/libportshim.so";
    if (::access(lib.c_str(), R_OK) != 0) return refuse("cannot read " + lib);
    const std::string supervisor = here + "/portshim-supervise";
    if (::access(supervisor.c_str(), X_OK) != 0)
        return refuse("cannot find portshim-supervise next to " + self);

    if (const std::string reason = refused_value(); !reason.empty()) return refuse(reason);

    // Whether COMMAND can run at all, and whether the preload reaches it: if not
    // (static, Go), the supervisor does.
    cli::Reach reach;
    std::string detail;
    const std::string path = cli::find_program(command[0], std::getenv("PATH"), reach, detail);
    if (!path.empty()) reach = cli::inspect_executable(path, detail);
    const int status = cli::exit_status_of(reach);
    if (status == 126 || status == 127) {
        say(cli::one_line(detail));
        return status;
    }
    // Supervised, the preload stays out: under the filter it could only say that it
    // cannot diagnose, and the supervisor sees the descendants' binds too.
    if (supervise || status == 1) return supervisor::run_supervised(command, supervise, supervisor);

    const char* before = std::getenv("LD_PRELOAD");
    const std::string preload = before != nullptr && *before != '\0' ? std::string(before) + ":" + lib : lib;
    ::setenv("LD_PRELOAD", preload.c_str(), 1);
    ::execvp(command[0], command);
    const int e = errno;
    say(std::string(command[0]) + ": " + std::strerror(e));
    return e == ENOENT ? 127 : 126;
}
