// portshim(1): the library's diagnosis from outside a program. `why` explains
// who holds a port now; `wait` blocks until a bind would succeed (for restart units);
// `unit` writes the systemd drop-in that runs a service under portshim-run.
#include "executable.hpp"
#include "messages.hpp"
#include "target.hpp"
#include "unit.hpp"

#include "diag/address.hpp"
#include "diag/causes.hpp"
#include "common/config.hpp"
#include "common/escape.hpp"
#include "diag/host.hpp"
#include "diag/observe.hpp"
#include "diag/report.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <climits>
#include <cstring>
#include <ctime>
#include <fmt/format.h>
#include <netinet/in.h>
#include <optional>
#include <string>
#include <sys/auxv.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace {

using namespace portshim;

constexpr const char* usage_text = R"(usage: portshim why  [--json] [--udp] [--reuseaddr] [--for PROGRAM] [--] [ADDRESS:]PORT | unix:PATH
       portshim wait [--timeout SECONDS] [--json] [--udp] [--reuseaddr] [--for PROGRAM] [--] [ADDRESS:]PORT
       portshim check-preload [--] PROGRAM
       portshim check-config [NAME=VALUE...]
       portshim unit [--write [--force]] [--reuseaddr] [--supervise] [--port [ADDRESS:]PORT]...
                     [--timeout SECONDS] [--root DIR] [--] UNIT.service
       portshim --version

  why            explain who holds the port now (exit 0 free, 1 in use, 2 usage)
  wait           block until a bind would succeed (exit 0 free, 1 timed out, 2 usage);
                 default timeout 60 s
  check-preload  whether PROGRAM (found in PATH as execvp finds it) can run and LD_PRELOAD
                 can reach it (exit 0 yes, 1 static or Go, 2 usage, 126 it cannot run,
                 127 not found)
  check-config   whether the library accepts these PORTSHIM_* values, or those of the
                 environment when none are given (exit 0 yes, 1 no: one line each, 2 usage)
  unit           print a systemd drop-in that runs UNIT's ExecStart= under portshim-run
                 (UNIT: a name found in /etc, /run, /lib, /usr/lib/systemd/system, or a path
                 to a .service file); exit 0, 2 on a bad or missing unit (docs/unit.md)

  --json         one JSON object per line instead of text
  --udp          check a UDP port instead of TCP
  --reuseaddr    check as a program that sets SO_REUSEADDR would bind
  --for PROGRAM  the program about to start, so that a holder running the same program is
                 named its previous instance (and another one another service): a command
                 line split into words as sh would, without expanding anything ('..' and
                 ".." quote, \ escapes), its first word found in PATH as execvp finds it
                 and a script's #! line followed: --for "java -cp /srv/app Main",
                 --for "python3 -m http.server", --for /usr/sbin/nginx. A shell script
                 (a pyenv shim) may exec another program: a holder running something
                 else is then "cannot be told". Without --for the program is unknown
                 and no holder is called a previous instance.
  --             end of options: what follows is the target or PROGRAM

  unit's options:
  --write        install it as /etc/systemd/system/UNIT.d/portshim.conf (0644), replacing
                 only a drop-in portshim wrote (--force: any file there)
  --reuseaddr    portshim-run --reuseaddr (and portshim wait --reuseaddr)
  --supervise    portshim-run --supervise: the seccomp supervisor whatever the program is
  --port P       ExecStartPre=portshim wait --timeout SECONDS P, once for each port given
                 (ports are not guessed from the command line); --timeout default 30 s
  --root DIR     read and write the unit files under DIR instead of /

ADDRESS defaults to 0.0.0.0; write IPv6 addresses in brackets: [::]:8080.

)";

/** usage_text, then the variables and causes of man/reference.hpp. */
void print_usage() {
    std::fputs(usage_text, stdout);
    std::fputs(cli::variables_and_causes_help().c_str(), stdout);
}

/** "portshim: MESSAGE" on stderr, one line whatever the message holds: control characters as \xNN. */
void print_error(const std::string& message) {
    const std::string line = "portshim: " + cli::one_line(message) + '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
}

int usage_error(const std::string& message) {
    print_error(message + " (see portshim --help)");
    return 2;
}

struct Options {
    bool json = false;
    bool udp = false;
    bool reuseaddr = false;
    unsigned timeout = 60;
    std::string target;
    std::optional<cli::RunAs> program;  ///< --for: the program about to start
};

/** The socket a program would bind, with the outcome of trying. */
struct Attempt {
    int fd = -1;
    int err = 0;  ///< 0 = the bind succeeded (the port is free)
};

socklen_t to_sockaddr(const cli::Target& t, sockaddr_storage& ss) {
    std::memset(&ss, 0, sizeof ss);
    if (t.proto == Proto::unix_stream) {
        sockaddr_un un{};
        un.sun_family = AF_UNIX;
        const bool abstract = t.unix_path[0] == '@';
        std::memcpy(un.sun_path, t.unix_path.data(), t.unix_path.size());
        if (abstract) un.sun_path[0] = '\0';
        std::memcpy(&ss, &un, sizeof un);
        return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + t.unix_path.size() +
                                      (abstract ? 0 : 1));
    }
    return static_cast<socklen_t>(sockaddr_from_endpoint(t.local, ss));
}

/** Binds a fresh socket as the program would, and closes it again when it bound. */
Attempt try_bind(const cli::Target& t, bool reuseaddr) {
    Attempt a;
    const int family = t.proto == Proto::unix_stream ? AF_UNIX : t.local.family;
    const int type = t.proto == Proto::udp ? SOCK_DGRAM : SOCK_STREAM;
    a.fd = ::socket(family, type | SOCK_CLOEXEC, 0);
    if (a.fd < 0) {
        a.err = errno;
        return a;
    }
    if (reuseaddr && family != AF_UNIX) {
        const int one = 1;
        ::setsockopt(a.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    }
    sockaddr_storage ss;
    const socklen_t len = to_sockaddr(t, ss);
    if (::bind(a.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) {
        // A unix bind creates the file: remove it, the check must leave no trace.
        if (family == AF_UNIX && t.unix_path[0] == '/') ::unlink(t.unix_path.c_str());
        ::close(a.fd);
        a.fd = -1;
        a.err = 0;
        return a;
    }
    a.err = errno;
    return a;
}

Request request_for(const cli::Target& t, const Attempt& a, bool reuseaddr) {
    Request req;
    req.call = Call::bind;
    req.proto = t.proto;
    req.fd = a.fd;
    req.err = a.err;
    req.local = t.local;
    req.unix_path = t.unix_path;
    req.reuseaddr = reuseaddr ? 1 : 0;
    if (t.local.family == AF_INET6) req.v6only = 0; // net.ipv6.bindv6only's usual default
    return req;
}

/** The listen registry the preloaded library uses for this user (PORTSHIM_STATE_DIR or its default). */
const std::string& registry_dir() {
    static const std::string dir = [] {
        ConfigErrors errors;  // the library reports bad values; the CLI only reads the registry
        const Config c = parse_config([](const char* n) -> const char* { return std::getenv(n); },
                                      ::getauxval(AT_SECURE) != 0, errors);
        return std::string(c.state_dir);
    }();
    return dir;
}

/**
 * The diagnosis of `req` now, for `program` (--for; nullopt: unknown) about to start;
 * `time_wait_ms`: until its last TIME_WAIT remnant expires (0 unknown).
 */
Verdict diagnose_now(const Request& req, const std::optional<cli::RunAs>& program,
                     std::uint32_t* time_wait_ms = nullptr) {
    ProbeEnv env;
    env.bind_fn = &::bind; // the CLI is not preloaded: libc's bind is the real one
    env.state_dir = registry_dir();
    Observation obs = observe(req, env);
    // The rules compare holders with the program that asks; that is not this CLI
    // (a holder is never "a different program" because it is not portshim), and
    // its parent shell is no family of the program either.
    obs.self.exe = program ? program->exe : std::string();
    obs.self.argv = program ? program->argv : std::vector<std::string>();
    obs.self.ppid = 0;
    obs.self.launcher_script = program && program->shell_script;
    if (time_wait_ms != nullptr) *time_wait_ms = time_wait_left_ms(req, obs);
    return diagnose(req, obs);
}

/** Who reports: this process, now (the events' pid, exe and time), about a port it checked from outside. */
ReportContext context_now() {
    ReportContext ctx{static_cast<int>(::getpid()), host::self_exe(), host::wall_clock()};
    ctx.outside = true;
    return ctx;
}

/** A JSON event or text on stdout, at once: a unit waiting on `portshim wait` reads it line by line. */
void print_out(const std::string& out) {
    std::fwrite(out.data(), 1, out.size(), stdout);
    std::fflush(stdout);
}

std::string describe_target(const cli::Target& t) { return describe_checked(request_for(t, Attempt{}, false)); }

void print_free(const cli::Target& t, const Options& o, const char* how) {
    if (o.json) print_out(render_port_free(request_for(t, Attempt{}, false), context_now()));
    else print_out(fmt::format("portshim: {} is free{}\n", describe_target(t), how));
}

int cmd_why(const Options& o) {
    std::string error;
    const auto target = cli::parse_target(o.target, o.udp, error);
    if (!target) return usage_error(error);
    Attempt a = try_bind(*target, o.reuseaddr);
    if (a.err == 0) {
        print_free(*target, o, ": a bind would succeed now");
        return 0;
    }
    if (a.err != EADDRINUSE && a.err != EACCES) {
        if (a.fd >= 0) ::close(a.fd);
        print_error("cannot check " + describe_target(*target) + ": " + std::strerror(a.err));
        return 2;
    }
    // EACCES (a privileged port, or a unix directory we cannot write): the
    // socket table still says whether someone holds it.
    Request req = request_for(*target, a, o.reuseaddr);
    req.err = EADDRINUSE;
    const Verdict v = diagnose_now(req, o.program);
    if (a.fd >= 0) ::close(a.fd);
    if (a.err == EACCES && v.cause == Cause::unknown) {
        print_free(*target, o, " of other sockets, but binding it needs privileges here");
        return 0;
    }
    print_out(render(o.json ? Format::json : Format::text, req, v, context_now()));
    return 1;
}

int cmd_wait(const Options& o) {
    std::string error;
    const auto target = cli::parse_target(o.target, o.udp, error);
    if (!target) return usage_error(error);
    const bool tty = ::isatty(1) == 1 && !o.json;
    const double start = host::wall_clock();
    std::optional<Cause> last_cause;
    double last_line = 0;
    for (;;) {
        Attempt a = try_bind(*target, o.reuseaddr);
        const double elapsed = host::wall_clock() - start;
        if (a.err == 0) {
            if (tty) std::printf("\r\033[K");
            print_free(*target, o, fmt::format(" after {:.0f} s", elapsed).c_str());
            return 0;
        }
        if (a.err != EADDRINUSE) {
            if (a.fd >= 0) ::close(a.fd);
            print_error("cannot check " + describe_target(*target) + ": " + std::strerror(a.err));
            return 2;
        }
        const Request req = request_for(*target, a, o.reuseaddr);
        std::uint32_t time_wait_ms = 0;
        const Verdict v = diagnose_now(req, o.program, &time_wait_ms);
        ::close(a.fd);
        const double left = o.timeout - elapsed;
        if (left <= 0) {
            if (tty) std::printf("\r\033[K");
            print_out(render(o.json ? Format::json : Format::text, req, v, context_now()));
            // Text: on stdout after the report, so that it comes last however the streams are
            // redirected; JSON keeps stdout to events.
            const std::string last = fmt::format("{} still in use after {} s", describe_target(*target), o.timeout);
            if (o.json) print_error(last);
            else print_out("portshim: " + visible(last) + "\n");
            return 1;
        }
        // The summary names the holder (its exe, its command line): escaped, cut on a character.
        const std::string summary = visible(v.summary);
        if (tty) {
            std::printf("\r\033[Kwaiting for %s — %s: %s (%.0f s left)",
                        describe_target(*target).c_str(), std::string(cause_id(v.cause)).c_str(),
                        summary.substr(0, escape::utf8_prefix(summary.data(), summary.size(), 120)).c_str(),
                        left);
            std::fflush(stdout);
        } else if (v.cause != last_cause || elapsed - last_line >= 10) {
            // Plain lines for logs: on every change of cause, else every 10 s.
            if (o.json)
                print_out(render_waiting(Format::json, req, v,
                                         WaitTimes{o.timeout, static_cast<unsigned>(std::lround(left)),
                                                   time_wait_ms},
                                         context_now()));
            else
                std::printf("portshim: waiting for %s — %s: %s (%.0f s left)\n",
                            describe_target(*target).c_str(), std::string(cause_id(v.cause)).c_str(), summary.c_str(),
                            left);
            std::fflush(stdout);
            last_cause = v.cause;
            last_line = elapsed;
        }
        ::usleep(left < 0.25 ? static_cast<useconds_t>(left * 1e6) : 250000);
    }
}

int cmd_check_preload(std::vector<std::string> args) {
    const bool options_done = !args.empty() && args.front() == "--";
    if (options_done) args.erase(args.begin());
    if (args.size() != 1) return usage_error("check-preload takes one PROGRAM");
    if (!options_done && !args[0].empty() && args[0][0] == '-')
        return usage_error("unknown option '" + args[0] + "'");
    cli::Reach reach;
    std::string detail;
    const std::string path = cli::find_program(args[0], std::getenv("PATH"), reach, detail);
    if (!path.empty()) reach = cli::inspect_executable(path, detail);
    if (reach != cli::Reach::preloadable) print_error(detail);
    return cli::exit_status_of(reach);
}

/**
 * The values check-config was given, which parse_config reads instead of the
 * environment; `asked` marks the names it asked for (the others are no variable of ours).
 */
struct GivenValues {
    std::vector<std::pair<std::string, std::string>> values;
    std::vector<bool> asked;
};
GivenValues* g_given = nullptr;

const char* given_value(const char* name) {
    const char* found = nullptr;
    for (std::size_t i = 0; i < g_given->values.size(); ++i) // the last one wins, as in `A=1 A=2 cmd`
        if (g_given->values[i].first == name) {
            g_given->asked[i] = true;
            found = g_given->values[i].second.c_str();
        }
    return found;
}

std::vector<std::string> g_env_asked;

const char* environment_value(const char* name) {
    g_env_asked.emplace_back(name);
    return std::getenv(name);
}

/**
 * Runs the library's own parser (parse_config) on the given NAME=VALUE pairs,
 * or on the environment, so that portshim-run refuses at once what the
 * library would refuse later.
 */
int cmd_check_config(const std::vector<std::string>& args) {
    GivenValues given;
    for (const std::string& a : args) {
        const std::size_t eq = a.find('=');
        if (eq == std::string::npos || eq == 0)
            return usage_error("check-config takes NAME=VALUE, not '" + a + "'");
        given.values.emplace_back(a.substr(0, eq), a.substr(eq + 1));
        given.asked.push_back(false);
    }
    ConfigErrors errors;
    const bool secure = ::getauxval(AT_SECURE) != 0;
    std::vector<std::string> unknown;
    if (args.empty()) {
        parse_config(&environment_value, secure, errors);
        for (char** e = environ; *e != nullptr; ++e) {
            const std::string_view entry(*e);
            const std::string name(entry.substr(0, entry.find('=')));
            if (name.rfind("PORTSHIM_", 0) == 0 &&
                std::find(g_env_asked.begin(), g_env_asked.end(), name) == g_env_asked.end())
                unknown.push_back(name);
        }
    } else {
        g_given = &given;
        parse_config(&given_value, secure, errors);
        g_given = nullptr;
        for (std::size_t i = 0; i < given.values.size(); ++i)
            if (!given.asked[i]) unknown.push_back(given.values[i].first);
    }
    for (int i = 0; i < errors.count; ++i) print_error(cli::config_error_text(errors.items[i]));
    for (const std::string& name : unknown)
        print_error(fmt::format("{:?} is not a portshim variable", name));
    return errors.count > 0 || !unknown.empty() ? 1 : 0;
}

/** The directory of this executable (portshim-run is installed next to it). */
std::string own_directory() {
    char self[PATH_MAX];
    const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    const std::string path = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "/usr/bin/portshim";
    const std::size_t slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

/** A file's contents; nullopt with `error` set when it cannot be read. */
std::optional<std::string> read_file(const std::string& path, std::string& error) {
    std::FILE* f = std::fopen(path.c_str(), "re");
    if (f == nullptr) {
        error = "cannot read " + path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    std::string text;
    char buf[4096];
    for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) text.append(buf, n);
    std::fclose(f);
    return text;
}

int cmd_unit(const std::vector<std::string>& args) {
    cli::DropInRequest request;
    bool write = false;
    bool force = false;
    std::string root;
    std::string unit;
    bool options_done = false;
    std::string error;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (options_done || a.empty() || a[0] != '-') {
            if (!unit.empty()) return usage_error("one unit only, got '" + unit + "' and '" + a + "'");
            unit = a;
            if (unit.empty()) return usage_error("an empty unit name");
        } else if (a == "--") {
            options_done = true;
        } else if (a == "--write") {
            write = true;
        } else if (a == "--force") {
            force = true;
        } else if (a == "--reuseaddr") {
            request.reuseaddr = true;
        } else if (a == "--supervise") {
            request.supervise = true;
        } else if (a == "--port") {
            if (i + 1 >= args.size()) return usage_error("--port needs [ADDRESS:]PORT");
            const std::string& port = args[++i];
            if (!cli::parse_target(port, false, error) || port.rfind("unix:", 0) == 0)
                return usage_error("--port: " + (error.empty() ? "takes [ADDRESS:]PORT" : error));
            request.ports.push_back(port);
        } else if (a == "--timeout") {
            if (i + 1 >= args.size()) return usage_error("--timeout needs SECONDS");
            const auto s = cli::parse_seconds(args[++i]);
            if (!s) return usage_error("--timeout takes whole seconds from 0 to 86400");
            request.timeout = *s;
        } else if (a == "--root") {
            if (i + 1 >= args.size() || args[i + 1].empty() || args[i + 1][0] != '/')
                return usage_error("--root needs an absolute DIR");
            root = args[++i];
            while (root.size() > 1 && root.back() == '/') root.pop_back();
            if (root == "/") root.clear();
        } else if (a == "--help" || a == "-h") {
            std::fputs(usage_text, stdout);
            return 0;
        } else {
            return usage_error("unknown option '" + a + "'");
        }
    }
    if (unit.empty()) return usage_error("unit needs UNIT.service");
    if (force && !write) return usage_error("--force goes with --write");
    const auto files = cli::find_unit(unit, root, error);
    if (!files) return usage_error(error);
    cli::ServiceUnit service;
    for (const std::string& file : files->files) {
        const auto text = read_file(file, error);
        if (!text) return usage_error(error);
        if (!cli::read_unit_text(*text, service, error)) return usage_error(file + ": " + error);
    }
    request.unit_name = files->name;
    request.source = files->files.front();
    for (std::size_t i = 1; i < files->files.size(); ++i) request.source += ", " + files->files[i];
    const std::string here = own_directory();
    request.portshim = here + "/portshim";
    request.run = here + "/portshim-run";
    const std::string path = cli::drop_in_path(files->name, root);
    request.undo_path = path;
    const auto text = cli::render_drop_in(service, request, error);
    if (!text) return usage_error(error);
    if (!write) {
        print_out(*text);
        return 0;
    }
    if (!cli::write_drop_in(path, *text, force, error)) {
        print_error(error);
        return 1;
    }
    print_out("portshim: wrote " + path + "\nrun: systemctl daemon-reload && systemctl restart " +
              files->name + "\n");
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty())
        return usage_error("missing command: why, wait, check-preload, check-config or unit");
    const std::string command = args[0];
    args.erase(args.begin());
    if (command == "--help" || command == "-h" || command == "help") {
        print_usage();
        return 0;
    }
    if (command == "--version") {
        std::printf("portshim %s\n", PORTSHIM_VERSION);
        return 0;
    }
    try {
        if (command == "check-preload") return cmd_check_preload(args);
        if (command == "check-config") return cmd_check_config(args);
        if (command == "unit") return cmd_unit(args);
        if (command != "why" && command != "wait")
            return usage_error("unknown command '" + command + "'");
        Options o;
        std::string error;
        bool options_done = false;
        for (std::size_t i = 0; i < args.size(); ++i) {
            const std::string& a = args[i];
            if (options_done || a.empty() || a[0] != '-') {
                if (!o.target.empty())
                    return usage_error("one target only, got '" + o.target + "' and '" + a + "'");
                o.target = a;
                if (o.target.empty()) return usage_error("an empty target");
            } else if (a == "--") {
                options_done = true;
            } else if (a == "--help" || a == "-h") {
                print_usage();
                return 0;
            } else if (a == "--json") {
                o.json = true;
            } else if (a == "--udp") {
                o.udp = true;
            } else if (a == "--reuseaddr") {
                o.reuseaddr = true;
            } else if (a == "--for") {
                if (i + 1 >= args.size()) return usage_error("--for needs PROGRAM");
                const auto words = cli::split_command_line(args[++i], error);
                if (!words) return usage_error(error);
                o.program = cli::program_as_run(*words, std::getenv("PATH"), error);
                if (!o.program) return usage_error("--for: " + error);
            } else if (a == "--timeout" && command == "wait") {
                if (i + 1 >= args.size()) return usage_error("--timeout needs SECONDS");
                const auto s = cli::parse_seconds(args[++i]);
                if (!s) return usage_error("--timeout takes whole seconds from 0 to 86400");
                o.timeout = *s;
            } else {
                return usage_error("unknown option '" + a + "'");
            }
        }
        if (o.target.empty()) return usage_error(command + " needs [ADDRESS:]PORT or unix:PATH");
        return command == "why" ? cmd_why(o) : cmd_wait(o);
    } catch (const std::exception& e) {
        print_error(e.what());
        return 2;
    }
}
