// The hooks' own events (fork, exec-leak, an undiagnosed failure) as text and
// GitHub annotations through a file sink, LineBuffer's escaping, and when
// colour is used: the decision, and a real terminal (a pty as fd 2).
#include "common/events.hpp"
#include "fixtures.hpp"
#include "common/line_buffer.hpp"
#include "diag/causes.hpp"
#include "diag/report.hpp"
#include "common/markup.hpp"
#include "common/sink.hpp"

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <functional>
#include <map>
#include <netinet/in.h>
#include <regex>
#include <sstream>
#include <string>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

/** fd 3 listening on tcp 0.0.0.0:8080 and fd 4 on a unix path that needs escaping. */
listeners::FdList two_listeners() {
    listeners::FdList fds;
    listeners::ListenFd tcp_fd;
    tcp_fd.fd = 3;
    tcp_fd.family = AF_INET;
    tcp_fd.type = SOCK_STREAM;
    auto* in = reinterpret_cast<sockaddr_in*>(&tcp_fd.addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(8080);
    tcp_fd.addr_len = sizeof(sockaddr_in);
    fds.add(tcp_fd);
    listeners::ListenFd unix_fd;
    unix_fd.fd = 4;
    unix_fd.family = AF_UNIX;
    unix_fd.type = SOCK_STREAM;
    unix_fd.cloexec = true;
    auto* un = reinterpret_cast<sockaddr_un*>(&unix_fd.addr);
    un->sun_family = AF_UNIX;
    const char path[] = "/run/app:100%,a.sock";
    std::memcpy(un->sun_path, path, sizeof path);
    unix_fd.addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + sizeof path);
    fds.add(unix_fd);
    return fds;
}

/** What `emit` writes through a file sink configured for `format` at debug level (all events). */
std::string through_file_sink(Format format, const std::function<void(const Config&)>& emit) {
    TempDir dir("events");
    Config c;
    c.format = format;
    c.level = Level::debug;
    c.sink = Sink::file;
    const std::string log = dir.path + "/log";
    std::memcpy(c.log_path, log.c_str(), log.size() + 1);
    emit(c);
    std::ifstream in(log, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

/** Every hook event: two forks, three exec-leaks, an undiagnosed bind on 0.0.0.0:8080. */
void emit_hook_events(const Config& c) {
    const listeners::FdList fds = two_listeners();
    events::report_fork(c, nullptr, Level::info, 4200, 0, fds);
    events::report_fork(c, nullptr, Level::debug, 4300, 17, fds);
    events::report_exec_leak(c, nullptr, Level::warn, "/bin/sh -c ", "date +%s", false,
                             Handover::none, fds);
    events::report_exec_leak(c, nullptr, Level::info, "/usr/bin/helper", nullptr, true,
                             Handover::none, fds);
    events::report_exec_leak(c, nullptr, Level::debug, "/opt/legacy/server", nullptr, false,
                             Handover::self_exec, fds);
    const int sock = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(sock >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(8080);
    events::report_undiagnosed(c, nullptr, false, sock, reinterpret_cast<const sockaddr*>(&addr),
                               sizeof addr, EADDRINUSE, 0, events::NotDiagnosed::threaded_child);
    // The engine could not be loaded: the loader's error is the event's one evidence line.
    addr.sin_port = htons(8081);
    events::report_undiagnosed(c, nullptr, false, sock, reinterpret_cast<const sockaddr*>(&addr),
                               sizeof addr, EADDRINUSE, SOCK_STREAM, events::NotDiagnosed::no_engine,
                               "/opt/portshim/libportshim-engine.so: cannot open shared object file");
    ::close(sock);
}

/**
 * Every hook event, in `format` (text or github); this pid is replaced by
 * "PID" so the result can be a golden file.
 */
std::string hook_events(Format format) {
    const std::string pid = std::to_string(::getpid());
    return replace_all(replace_all(through_file_sink(format, emit_hook_events), "portshim[" + pid + "]",
                                   "portshim[PID]"),
                       "pid " + pid + " ", "pid PID ");
}

std::map<std::string, std::string> g_env;

/** parse_config() of `env` alone. */
Config config_of(std::map<std::string, std::string> env) {
    g_env = std::move(env);
    ConfigErrors errors;
    return parse_config(
        [](const char* name) -> const char* {
            const auto it = g_env.find(name);
            return it == g_env.end() ? nullptr : it->second.c_str();
        },
        false, errors);
}

/**
 * In a child whose fd 2 is a pseudo-terminal: runs `body`, then returns what
 * reached the terminal (after "|" the result of `body`). Empty without ptys.
 */
std::string on_a_terminal(const std::function<std::string()>& body) {
    return in_child([&] {
        const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
        if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return std::string();
        const int slave = ::open(::ptsname(master), O_RDWR | O_NOCTTY);
        if (slave < 0 || ::dup2(slave, 2) != 2) ::_exit(2);
        const std::string result = body();
        std::string seen;
        char buf[4096];
        ::fcntl(master, F_SETFL, O_NONBLOCK);
        for (ssize_t n; (n = ::read(master, buf, sizeof buf)) > 0;) seen.append(buf, static_cast<std::size_t>(n));
        return seen + "|" + result;
    });
}

} // namespace

TEST_CASE("LineBuffer escapes for workflow commands, whole escapes or nothing", "[events]") {
    FixedLineBuffer<64> b;
    b.escape(LineBuffer::Escape::github_property).put("a:b,c%d\r\n");
    b.escape(LineBuffer::Escape::github_message).put(":,%\n");
    b.escape(LineBuffer::Escape::none).put(":%");
    CHECK(std::string(b.data(), b.size()) == "a%3Ab%2Cc%25d%0D%0A:,%25%0A:%");

    // 5 bytes, one kept for the newline: "%25" does not fit after "ab", and
    // nothing after it is written either, so the text stays a prefix.
    FixedLineBuffer<5> small;
    small.escape(LineBuffer::Escape::github_message).put("ab%c");
    CHECK(std::string(small.data(), small.size()) == "ab");
    CHECK(small.truncated());
    small.end_line();
    CHECK(std::string(small.data(), small.size()) == "ab\n");
}

TEST_CASE("hook events as GitHub annotations: one line each, escaped", "[events]") {
    const std::string github = hook_events(Format::github);
    CHECK(std::count(github.begin(), github.end(), '\n') == 7);
    std::istringstream lines(github);
    for (std::string line; std::getline(lines, line);) CHECK(line.rfind("::", 0) == 0);
    CHECK(contains(github, "::notice title=portshim%3A fork::child pid 4200 got listening fd 3 "
                           "(tcp 0.0.0.0:8080), fd 4 (unix /run/app:100%25,a.sock)\n"));
    CHECK(contains(github, "::warning title=portshim%3A exec-leak::running /bin/sh -c date +%25s "));
    CHECK(contains(github, " exits%0Afix: create listening sockets"));
    CHECK(contains(github, "::error title=portshim%3A bind(0.0.0.0%3A8080/tcp) failed%3A EADDRINUSE — "
                           "not diagnosed::the call failed in a child"));
    CHECK(contains(github, "%0Afix: look from outside: portshim why 8080\n"));
    check_golden("hook-events.github", github);
}

TEST_CASE("hook events as text: unchanged lines, never coloured in a file", "[events]") {
    const std::string text = hook_events(Format::text);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(contains(text, "portshim[PID]: warning: exec-leak: running /bin/sh -c date +%s with "));
    CHECK(contains(text, "\nportshim[PID]:   fix: create listening sockets with SOCK_CLOEXEC"));
    CHECK(contains(text, "portshim[PID]: bind(0.0.0.0:8080/tcp) failed: EADDRINUSE — not diagnosed: "
                         "the call failed in a child"));
    check_golden("hook-events.txt", text);
}

TEST_CASE("exec-leak: tagged with the pid that owns the sockets, and a helper that closes them is no leak", "[events]") {
    const std::string leak = through_file_sink(Format::text, [](const Config& c) {
        events::report_exec_leak(c, nullptr, Level::warn, "/usr/bin/sleep", nullptr, false,
                                 Handover::none, two_listeners(), 4112);
    });
    CHECK(leak.rfind("portshim[4112]: warning: exec-leak: running /usr/bin/sleep with listening fd 3 ", 0) == 0);
    CHECK(contains(leak, " keep the port busy after pid 4112 exits\nportshim[4112]:   fix: "));
    const std::string json = through_file_sink(Format::json, [](const Config& c) {
        events::report_exec_leak(c, nullptr, Level::warn, "/usr/bin/sleep", nullptr, false,
                                 Handover::none, two_listeners(), 4112);
    });
    CHECK(contains(json, ",\"pid\":4112,\"exe\":"));
    const std::string helper = through_file_sink(Format::text, [](const Config& c) {
        events::report_exec_leak(c, nullptr, Level::debug, "/usr/lib/jvm/java-17-openjdk-amd64/lib/jspawnhelper",
                                 nullptr, false, Handover::closes_fds, two_listeners());
    });
    CHECK(contains(helper, "]: debug: exec-leak: running /usr/lib/jvm/java-17-openjdk-amd64/lib/jspawnhelper "
                           "with listening fd 3 (tcp 0.0.0.0:8080), fd 4 (unix /run/app:100%,a.sock) open: "
                           "not a leak, it closes inherited descriptors before it execs the program it starts\n"));
    CHECK_FALSE(contains(helper, "fix:"));
}

TEST_CASE("colour: text on a terminal only, NO_COLOR and TERM=dumb respected", "[events][report]") {
    const Config plain = config_of({});
    CHECK(plain.colour);
    CHECK(markup::use_colour(plain, true));
    CHECK_FALSE(markup::use_colour(plain, false));
    CHECK_FALSE(markup::use_colour(config_of({{"NO_COLOR", "1"}}), true));
    CHECK(markup::use_colour(config_of({{"NO_COLOR", ""}}), true)); // set but empty: no effect
    CHECK_FALSE(markup::use_colour(config_of({{"TERM", "dumb"}}), true));
    CHECK(markup::use_colour(config_of({{"TERM", "xterm-256color"}}), true));
    CHECK_FALSE(markup::use_colour(config_of({{"PORTSHIM_LOG", "/tmp/portshim.log"}}), true));
    CHECK_FALSE(markup::use_colour(config_of({{"PORTSHIM_LOG", "syslog"}}), true));
    CHECK_FALSE(markup::use_colour(config_of({{"PORTSHIM_FORMAT", "json"}}), true));
    CHECK_FALSE(markup::use_colour(config_of({{"PORTSHIM_FORMAT", "github"}}), true));
}

TEST_CASE("colour: sink::stderr_is_terminal sees a pty, not a pipe or a replaced fd 2",
          "[events]") {
    const std::string seen = on_a_terminal([] {
        std::string r = sink::stderr_is_terminal(nullptr) ? "T" : "F";
        const StderrIdentity elsewhere{true, true, 0, 1}; // fd 2 was another file at load
        r += sink::stderr_is_terminal(&elsewhere) ? "T" : "F";
        int p[2];
        if (::pipe(p) != 0 || ::dup2(p[1], 2) != 2) ::_exit(2);
        r += sink::stderr_is_terminal(nullptr) ? "T" : "F";
        return r;
    });
    if (seen.empty()) SUCCEED("no pseudo-terminals here");
    else CHECK(seen == "|TFF");
}

TEST_CASE("colour: a hook's warning is yellow on a terminal, plain with NO_COLOR", "[events]") {
    const listeners::FdList fds = two_listeners();
    auto warn_on_terminal = [&fds](bool colour_allowed) {
        return on_a_terminal([&fds, colour_allowed] {
            Config c;
            c.colour = colour_allowed;
            events::report_exec_leak(c, nullptr, Level::warn, "/usr/bin/helper", nullptr, false,
                                     Handover::none, fds);
            return std::string();
        });
    };
    const std::string coloured = warn_on_terminal(true);
    if (coloured.empty()) {
        SUCCEED("no pseudo-terminals here");
        return;
    }
    CHECK(contains(coloured, "]: \x1b[33mwarning:\x1b[0m exec-leak: running /usr/bin/helper"));
    CHECK(contains(coloured, "]:   \x1b[1mfix\x1b[0m: create listening sockets"));
    const std::string plain = warn_on_terminal(false);
    CHECK(contains(plain, "]: warning: exec-leak: running /usr/bin/helper"));
    CHECK(plain.find('\x1b') == std::string::npos);
}

namespace {

/** What a write_refusal call and a repeat of it put in a file sink, in `format`. */
std::string refusal_notes(Format format) {
    TempDir dir("events");
    Config c;
    c.format = format;
    c.sink = Sink::file;
    const std::string log = dir.path + "/log";
    std::memcpy(c.log_path, log.c_str(), log.size() + 1);
    StderrIdentity process; // where the once-per-process marks live: a fresh process
    for (int i = 0; i < 2; ++i)
        sink::write_refusal(c, sink::Note::state_dir_refused, "PORTSHIM_STATE_DIR=/run/x:y",
                            "a symbolic link", "nothing is recorded", &process);
    std::ifstream in(log, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return replace_all(text.str(), "portshim[" + std::to_string(::getpid()) + "]", "portshim[PID]");
}

} // namespace

TEST_CASE("a refusal note: once per process, as text, annotation or config-error", "[events]") {
    CHECK(refusal_notes(Format::text) ==
          "portshim[PID]: warning: PORTSHIM_STATE_DIR=/run/x:y refused (a symbolic link); "
          "nothing is recorded\n");
    CHECK(refusal_notes(Format::github) ==
          "::warning title=portshim%3A configuration::PORTSHIM_STATE_DIR=/run/x:y refused (a "
          "symbolic link); nothing is recorded\n");
    const std::string json = refusal_notes(Format::json);
    CHECK(json.rfind("{\"event\":\"config-error\",\"time\":\"", 0) == 0);
    CHECK(contains(json, "\"message\":\"PORTSHIM_STATE_DIR=/run/x:y refused (a symbolic link); "
                         "nothing is recorded\"}\n"));
    CHECK(std::count(json.begin(), json.end(), '\n') == 1);
}

TEST_CASE("a log file on proc is refused before a byte is written: the host keeps its name", "[events]") {
    // In a child: its fd 2 becomes a pipe, and its name is its own to lose.
    const std::string seen = in_child([] {
        int err[2];
        if (::pipe2(err, O_CLOEXEC) != 0 || ::dup2(err[1], 2) != 2) ::_exit(2);
        Config c;
        c.sink = Sink::file;
        std::strcpy(c.log_path, "/proc/self/comm");
        sink::write_event(c, Level::warn, "portshim[1]: a report\n", 22, nullptr, sink::Origin::own_failure);
        sink::write_event(c, Level::warn, "portshim[1]: another\n", 21, nullptr, sink::Origin::own_failure);
        std::ifstream comm("/proc/self/comm");
        std::string name;
        std::getline(comm, name);
        char buf[4096];
        const ssize_t n = ::read(err[0], buf, sizeof buf);
        const std::string written(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
        return name + "|" + replace_all(written, "portshim[" + std::to_string(::getpid()) + "]",
                                        "portshim[PID]");
    });
    std::ifstream comm("/proc/self/comm");
    std::string own_name;
    std::getline(comm, own_name);
    CHECK(seen == own_name + "|portshim[PID]: warning: PORTSHIM_LOG=/proc/self/comm refused (on "
                             "proc, a kernel interface rather than an ordinary file system); "
                             "reports go here instead\nportshim[1]: a report\nportshim[1]: another\n");
}

namespace {

/** A hook's JSON line with this process's time, pid and exe replaced, for a golden file. */
std::string normalized(std::string line) {
    static const std::regex envelope(R"re(^\{"event":"([a-z-]+)","time":"[^"]*","pid":[0-9]+,"exe":"[^"]*")re");
    return std::regex_replace(line, envelope, R"re({"event":"$1","time":"TIME","pid":PID,"exe":"EXE")re");
}

/** The verdict on `req` (tcp 0.0.0.0:8080) while pid 4112 runs the same program and listens there. */
Verdict previous_instance_on_8080(const Request& req) {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server"}, 5555, 3, 1'800'000'000 - 150)};
    return diagnose(req, o);
}

/** A bind() of a unix stream socket to `path`. */
Request unix_request(const std::string& path) {
    Request r = bind_request("0.0.0.0", 0, Proto::unix_stream);
    r.unix_path = path;
    return r;
}

} // namespace

TEST_CASE("json events: every event of both writers in one golden file", "[events][report]") {
    std::string all;
    std::istringstream hooks(through_file_sink(Format::json, emit_hook_events));
    for (std::string line; std::getline(hooks, line);) all += normalized(line) + "\n";
    const ReportContext c{4120, "/opt/legacy/server", 1'800'000'000.25};
    const Request req = bind_request("0.0.0.0", 8080);
    const Verdict v = previous_instance_on_8080(req);
    const Request unix_req = unix_request("/run/app.sock");
    InheritedReport inherited;
    inherited.ppid = 1;
    inherited.parent_exe = "/usr/lib/systemd/systemd";
    EventFd f;
    f.fd = 3;
    f.local = ep("0.0.0.0", 8080);
    inherited.fds = {f};
    all += render_json(req, v, c) + render_repeated(Format::json, req, v, 3, c) +
           render_repeated(Format::json, unix_req, v, 1, c) +
           render_waiting(Format::json, req, v, WaitTimes{30, 30, 41200}, c) +
           render_waiting(Format::json, unix_req, v, WaitTimes{60, 12, 0}, c) +
           render_reuseport_shared(Format::json, req, other_programs(v.holders), c) +
           render_config_error(Format::json, "PORTSHIM_WAIT=\"soon\" is not valid", c) +
           render_inherited(Format::json, inherited, c) +
           render_port_free(req, c) + render_port_free(unix_req, c);
    check_golden("events.json", all);
}

// One event vocabulary, two writers: the hooks' async-signal-safe writer
// (common/events.cpp, LineBuffer) and the engine's renderer (diag/report.cpp,
// std::string) must give the same event the same keys in the same order.
// These tests feed both the same sockets and compare what they wrote.
namespace {

char json_at(std::string_view t, std::size_t i) { return i < t.size() ? t[i] : '\0'; }

void skip_json_string(std::string_view t, std::size_t& i) {
    for (++i; i < t.size() && t[i] != '"'; ++i)
        if (t[i] == '\\') ++i;
    ++i;
}

/**
 * The shape of the JSON value at `i` (advanced past it): objects keep their
 * keys in order, values become s, n, b or null, arrays list their items'
 * shapes: {"fd":n,"proto":s,"address":s,"port":n,"cloexec":b}.
 */
std::string json_shape(std::string_view t, std::size_t& i) {
    const char c = json_at(t, i);
    if (c == '{' || c == '[') {
        const char close = c == '{' ? '}' : ']';
        std::string out(1, c);
        for (++i; json_at(t, i) != close;) {
            if (out.size() > 1) {
                REQUIRE(json_at(t, i) == ',');
                ++i;
                out += ',';
            }
            if (c == '{') {
                const std::size_t key = i;
                REQUIRE(json_at(t, i) == '"');
                skip_json_string(t, i);
                out += t.substr(key, i - key);
                REQUIRE(json_at(t, i) == ':');
                ++i;
                out += ':';
            }
            out += json_shape(t, i);
        }
        ++i;
        return out + close;
    }
    if (c == '"') {
        skip_json_string(t, i);
        return "s";
    }
    for (const char* word : {"null", "true", "false"})
        if (t.substr(i, std::strlen(word)) == word) {
            i += std::strlen(word);
            return word[0] == 'n' ? "null" : "b";
        }
    const std::size_t start = i;
    while (i < t.size() && std::strchr("-+.0123456789eE", t[i]) != nullptr) ++i;
    REQUIRE(i > start);
    return "n";
}

/** The shape of one JSON object on one line (json_shape), checking that nothing follows it. */
std::string shape_of(std::string_view line) {
    if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
    std::size_t i = 0;
    const std::string shape = json_shape(line, i);
    CHECK(i == line.size());
    return shape;
}

/** The top-level members of a JSON object, in order: key (unquoted) and the value's text. */
std::vector<std::pair<std::string, std::string>> json_members(std::string_view t) {
    std::vector<std::pair<std::string, std::string>> out;
    REQUIRE(json_at(t, 0) == '{');
    for (std::size_t i = 1; json_at(t, i) == '"';) {
        const std::size_t key = i;
        skip_json_string(t, i);
        const std::string name(t.substr(key + 1, i - key - 2));
        REQUIRE(json_at(t, i) == ':');
        const std::size_t value = ++i;
        json_shape(t, i);
        out.emplace_back(name, std::string(t.substr(value, i - value)));
        if (json_at(t, i) == ',') ++i;
    }
    return out;
}

/** The value text of `key` in the JSON object `t`, "(absent)" without one. */
std::string json_member(std::string_view t, const std::string& key) {
    for (const auto& [name, value] : json_members(t))
        if (name == key) return value;
    return "(absent)";
}

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

/** The hooks' `undiagnosed` JSON line for a bind of a fresh `family` socket to `addr`. */
std::string hook_undiagnosed(int family, const sockaddr* addr, socklen_t len) {
    return through_file_sink(Format::json, [&](const Config& c) {
        const int sock = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(sock >= 0);
        events::report_undiagnosed(c, nullptr, false, sock, addr, len, EADDRINUSE, 0,
                                   events::NotDiagnosed::threaded_child);
        ::close(sock);
    });
}

/** The engine's bind-failed report of `req` with nothing seen: no holders, no lists. */
std::string engine_bind_failed(const Request& req) {
    Verdict v = diagnose(req, observation_of_self());
    v.holders.clear();
    v.why.clear();
    v.evidence.clear();
    v.confirm.clear();
    v.opener.reset();
    return render_json(req, v, ReportContext{4120, "/opt/legacy/server", 1'800'000'000.25});
}

/** The fds of two_listeners() as the engine lists them. */
std::vector<EventFd> two_event_fds() {
    EventFd tcp_fd;
    tcp_fd.fd = 3;
    tcp_fd.proto = Proto::tcp;
    tcp_fd.local = ep("0.0.0.0", 8080);
    EventFd unix_fd;
    unix_fd.fd = 4;
    unix_fd.proto = Proto::unix_stream;
    unix_fd.unix_path = "/run/app:100%,a.sock";
    unix_fd.cloexec = true;
    return {tcp_fd, unix_fd};
}

InheritedReport inherited_of(const std::vector<EventFd>& fds, int more, Handover handover) {
    InheritedReport r;
    r.ppid = 1;
    r.parent_exe = "/usr/lib/systemd/systemd";
    r.fds = fds;
    r.more = more;
    r.handover = handover;
    return r;
}

const ReportContext engine_ctx{4120, "/opt/legacy/server", 1'800'000'000.25};

} // namespace

TEST_CASE("one vocabulary: an undiagnosed failure has bind-failed's keys in its order", "[events][report]") {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(8080);
    const std::string hooks = hook_undiagnosed(AF_INET, reinterpret_cast<const sockaddr*>(&in), sizeof in);
    const std::string engine = engine_bind_failed(bind_request("0.0.0.0", 8080));
    CHECK(shape_of(hooks) == shape_of(engine));
    for (const char* key : {"event", "call", "proto", "address", "port", "errno"})
        CHECK(json_member(hooks, key) == json_member(engine, key));

    // A unix socket: "address" and "path" instead of "port", the same in both.
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    std::strcpy(un.sun_path, "/run/app.sock");
    const std::string hooks_unix = hook_undiagnosed(AF_UNIX, reinterpret_cast<const sockaddr*>(&un), sizeof un);
    Request unix_req = bind_request("0.0.0.0", 0, Proto::unix_stream);
    unix_req.unix_path = "/run/app.sock";
    const std::string engine_unix = engine_bind_failed(unix_req);
    CHECK(shape_of(hooks_unix) == shape_of(engine_unix));
    for (const char* key : {"proto", "address", "path"})
        CHECK(json_member(hooks_unix, key) == json_member(engine_unix, key));
    CHECK(json_member(hooks_unix, "port") == "(absent)");
}

TEST_CASE("one vocabulary: fork and exec-leak list fds byte for byte as inherited does", "[events][report]") {
    for (const int more : {0, 3}) {
        INFO("fds not listed: " << more);
        listeners::FdList fds = two_listeners();
        fds.more = more;
        const std::vector<std::string> hooks = lines_of(through_file_sink(Format::json, [&](const Config& c) {
            events::report_fork(c, nullptr, Level::info, 4200, 0, fds);
            events::report_exec_leak(c, nullptr, Level::warn, "/usr/bin/helper", nullptr, false,
                                     Handover::none, fds);
        }));
        REQUIRE(hooks.size() == 2);
        const std::string engine =
            render_inherited(Format::json, inherited_of(two_event_fds(), more, Handover::none), engine_ctx);
        for (const std::string& line : hooks) {
            CHECK(json_member(line, "fds") == json_member(engine, "fds"));
            CHECK(json_member(line, "fds_not_listed") == json_member(engine, "fds_not_listed"));
        }
        CHECK((json_member(engine, "fds_not_listed") == "(absent)") == (more == 0));
    }
}

TEST_CASE("one vocabulary: exec-leak and inherited name a hand-over with the same words", "[events][report]") {
    for (const Handover h : {Handover::none, Handover::listen_fds, Handover::self_exec, Handover::closes_fds}) {
        const std::string hooks = through_file_sink(Format::json, [h](const Config& c) {
            events::report_exec_leak(c, nullptr, Level::debug, "/opt/legacy/server", nullptr, false, h,
                                     two_listeners());
        });
        const std::string engine =
            render_inherited(Format::json, inherited_of(two_event_fds(), 0, h), engine_ctx);
        const char* id = handover_id(h);
        CHECK(json_member(hooks, "handover") == (id != nullptr ? '"' + std::string(id) + '"' : "null"));
        CHECK(json_member(hooks, "handover") == json_member(engine, "handover"));
    }
}

TEST_CASE("one vocabulary: every JSON event of both writers has the envelope and golden keys", "[events][report]") {
    std::vector<std::pair<std::string, std::string>> events; // writer and event, JSON line
    for (const std::string& line : lines_of(through_file_sink(Format::json, emit_hook_events)))
        events.emplace_back("hooks", line);
    // The sink's own note (a refused state directory) is a config-error, as the engine's.
    StderrIdentity process;
    for (const std::string& line : lines_of(through_file_sink(Format::json, [&process](const Config& c) {
             sink::write_refusal(c, sink::Note::state_dir_refused, "PORTSHIM_STATE_DIR=/x", "a symbolic link",
                                 "nothing is recorded", &process);
         })))
        events.emplace_back("sink", line);
    const Request req = bind_request("0.0.0.0", 8080);
    const Verdict v = previous_instance_on_8080(req);
    const Request unix_req = unix_request("/run/app.sock");
    for (const std::string& line :
         {render_json(req, v, engine_ctx), render_repeated(Format::json, req, v, 3, engine_ctx),
          render_waiting(Format::json, req, v, WaitTimes{30, 30, 0}, engine_ctx),
          render_waiting(Format::json, unix_req, v, WaitTimes{60, 12, 0}, engine_ctx),
          render_reuseport_shared(Format::json, req, other_programs(v.holders), engine_ctx),
          render_config_error(Format::json, "PORTSHIM_WAIT=\"soon\" is not valid", engine_ctx),
          render_inherited(Format::json, inherited_of(two_event_fds(), 2, Handover::self_exec), engine_ctx),
          render_port_free(req, engine_ctx), render_port_free(unix_req, engine_ctx)})
        events.emplace_back("engine", line.substr(0, line.size() - 1));

    const std::regex rfc3339_ms(R"("\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")");
    std::string golden;
    for (const auto& [writer, line] : events) {
        INFO(writer << ": " << line);
        const auto members = json_members(line);
        REQUIRE(members.size() >= 4);
        CHECK(members[0].first == "event");
        CHECK(members[1].first == "time");
        CHECK(std::regex_match(members[1].second, rfc3339_ms));
        CHECK(members[2].first == "pid");
        CHECK(members[2].second.find_first_not_of("0123456789") == std::string::npos);
        CHECK(members[3].first == "exe");
        CHECK(members[3].second.front() == '"');
        golden += writer + " " + members[0].second + " " + shape_of(line) + "\n";
    }
    check_golden("event-keys.txt", golden);
}
