// Renderers: golden text (plain and coloured), JSON and GitHub annotations
// for fixed verdicts and events, JSON and workflow-command escaping, the
// caller's backtrace, and the line budget of the text report.
#include "diag/causes.hpp"
#include "fixtures.hpp"
#include "diag/report.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

const ReportContext ctx{4120, "/opt/legacy/server", 1'800'000'000.25};

Verdict previous_instance(Request& req) {
    Observation o = observation_of_self();
    o.sockets = {tcp("0.0.0.0", 8080, tcp_state::listen, 5555)};
    o.holders = {holder(4112, 1, "/opt/legacy/server", {"/opt/legacy/server", "-p", "8080"}, 5555,
                        3, 1'800'000'000 - 150)};
    req = bind_request("0.0.0.0", 8080);
    return diagnose(req, o);
}

Verdict time_wait_verdict(Request& req) {
    Observation o = observation_of_self();
    o.sockets = {time_wait("127.0.0.1", 8080, "127.0.0.1", 51322, 41200)};
    o.reuse_probe = ReuseProbe::blocked;
    o.evidence = {"SO_REUSEADDR probe: even a scratch socket with SO_REUSEADDR is refused "
                  "(EADDRINUSE): the remnants lack the flag"};
    req = bind_request("0.0.0.0", 8080);
    return diagnose(req, o);
}

} // namespace

TEST_CASE("text report: grep-able first line, then why/fix/confirm", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    const std::string text = render_text(req, v, ctx);
    CHECK(text.rfind("portshim[4120]: bind(0.0.0.0:8080/tcp) failed: EADDRINUSE — "
                     "previous-instance: pid 4112",
                     0) == 0);
    check_golden("previous-instance.txt", text);
    Request tw;
    check_golden("time-wait.txt", render_text(tw, time_wait_verdict(tw), ctx));
}

TEST_CASE("json report: one line with the contract's keys", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    const std::string json = render_json(req, v, ctx);
    CHECK(json.back() == '\n');
    CHECK(json.find('\n') == json.size() - 1);
    for (const char* key : {"\"event\":\"bind-failed\"", "\"time\":\"2027-01-15T08:00:00.250Z\"",
                            "\"pid\":4120", "\"call\":\"bind\"", "\"proto\":\"tcp\"",
                            "\"address\":\"0.0.0.0\"", "\"port\":8080", "\"errno\":98",
                            "\"cause\":\"previous-instance\"", "\"holders\":[{\"pid\":4112",
                            "\"cloexec\":false", "\"evidence\":[", "\"fix\":", "\"confirm\":[",
                            "\"backtrace\":[]"})
        CHECK(json.find(key) != std::string::npos);
    check_golden("previous-instance.json", json);
}

TEST_CASE("json report seen by the supervisor: the same object with \"observed\" after the envelope", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    ReportContext supervised = ctx;
    supervised.observed = "supervisor";
    const std::string plain = render_json(req, v, ctx);
    const std::string json = render_json(req, v, supervised);
    CHECK(plain.find("\"observed\"") == std::string::npos); // the preload's events stay as they were
    const std::string envelope = "\"exe\":\"/opt/legacy/server\"";
    const auto at = plain.find(envelope) + envelope.size();
    CHECK(json == plain.substr(0, at) + ",\"observed\":\"supervisor\"" + plain.substr(at));
    // The text is the same: the pid in its prefix is the program's either way.
    CHECK(render_text(req, v, supervised) == render_text(req, v, ctx));
}

TEST_CASE("text report stays within about 12 lines", "[report]") {
    Request req;
    Verdict v = previous_instance(req);
    for (int i = 0; i < 30; ++i) v.evidence.push_back("line " + std::to_string(i));
    const std::string text = render_text(req, v, ctx);
    CHECK(std::count(text.begin(), text.end(), '\n') <= 12);
}

TEST_CASE("json strings escape controls and replace invalid UTF-8", "[report]") {
    CHECK(json_string("plain") == "\"plain\"");
    CHECK(json_string("a\"b\\c\n\t") == "\"a\\\"b\\\\c\\n\\t\"");
    CHECK(json_string(std::string("\x01", 1)) == "\"\\u0001\"");
    CHECK(json_string("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
    CHECK(json_string("bad\xff") == "\"bad\xef\xbf\xbd\"");
    CHECK(json_string("trunc\xc3") == "\"trunc\xef\xbf\xbd\"");
}

TEST_CASE("config errors render as one warning line or one event", "[report]") {
    CHECK(render_config_error(Format::text, "PORTSHIM_FORMAT=\"x\" is not valid", ctx) ==
          "portshim[4120]: warning: PORTSHIM_FORMAT=\"x\" is not valid\n");
    const std::string json = render_config_error(Format::json, "bad \"x\"", ctx);
    CHECK(json.rfind("{\"event\":\"config-error\"", 0) == 0);
    CHECK(json.find("\"message\":\"bad \\\"x\\\"\"") != std::string::npos);
}

TEST_CASE("reuseport-shared: another program is a warning and an earlier instance a hand-over", "[report]") {
    const Request req = bind_request("0.0.0.0", 8080);
    const Holder old = holder(300, 1, "/opt/legacy/server", {"server"}, 11, 3);
    CHECK(render_reuseport_shared(Format::text, req, {{old, false, 300}}, ctx) ==
          "portshim[4120]: warning: listen(0.0.0.0:8080/tcp) shares the port through SO_REUSEPORT "
          "with pid 300 (/opt/legacy/server): the kernel now splits incoming connections between "
          "them, so requests randomly reach the other program; stop it unless this is intended\n");
    CHECK_FALSE(reuseport_handover({{old, false, 300}}));

    // An old worker (301) of master 300, and master 300's own listener: one process to stop.
    const Holder worker = holder(301, 300, "/opt/legacy/server", {"server"}, 12, 4);
    const std::vector<ReuseportPeer> peers = {{old, true, 300}, {worker, true, 300}};
    CHECK(reuseport_handover(peers));
    CHECK(render_reuseport_shared(Format::text, req, peers, ctx) ==
          "portshim[4120]: reuseport-shared: listen(0.0.0.0:8080/tcp) shares the port through "
          "SO_REUSEPORT with pid 300 (/opt/legacy/server), pid 301 (/opt/legacy/server, a worker "
          "of pid 300), earlier instances of this program: old and new instance share the port's "
          "connections until the old one exits — normal during a reload or hand-over; a problem "
          "only if both keep running, then stop the old one (kill -TERM 300)\n");
    CHECK(render_reuseport_shared(Format::github, req, peers, ctx).rfind("::notice ", 0) == 0);
    const std::string json = render_reuseport_shared(Format::json, req, peers, ctx);
    CHECK(json.find("}],\"same_program\":true}\n") != std::string::npos);
    // One stranger among them is enough for the warning.
    CHECK_FALSE(reuseport_handover({{old, true, 300}, {worker, false, 301}}));
}

TEST_CASE("rfc3339 times are UTC with milliseconds", "[report]") {
    CHECK(rfc3339(0) == "1970-01-01T00:00:00.000Z");
    CHECK(rfc3339(1'800'000'000.5) == "2027-01-15T08:00:00.500Z");
}

namespace {

/** pid 4121 (sleep) started holding the server's listener after the server died. */
InheritedReport inherited_report() {
    InheritedReport r;
    r.ppid = 1;
    r.parent_exe = "/usr/lib/systemd/systemd";
    EventFd f;
    f.fd = 3;
    f.proto = Proto::tcp;
    f.local = ep("0.0.0.0", 8080);
    r.fds = {f};
    Opener o;
    o.pid = 4112;
    o.exe = "/opt/legacy/server";
    o.start_time = 1'800'000'000 - 700;
    o.source = "registry";
    r.opener = o;
    return r;
}

} // namespace

TEST_CASE("inherited event: text names fds, parent and opener; json has the contract keys",
          "[report]") {
    const ReportContext sleep_ctx{4121, "/usr/bin/sleep", 1'800'000'000.25};
    const InheritedReport r = inherited_report();
    const std::string text = render_inherited(Format::text, r, sleep_ctx);
    CHECK(text.rfind("portshim[4121]: inherited: this process (/usr/bin/sleep) started holding "
                     "listening fd 3 (tcp 0.0.0.0:8080) that it did not open; parent pid 1 "
                     "(/usr/lib/systemd/systemd); opened by pid 4112 (/opt/legacy/server)",
                     0) == 0);
    check_golden("inherited.txt", text);
    const std::string github = render_inherited(Format::github, r, sleep_ctx);
    CHECK(github.rfind("::notice title=portshim%3A inherited::this process (/usr/bin/sleep) started "
                       "holding listening fd 3 (tcp 0.0.0.0:8080) that it did not open",
                       0) == 0);
    CHECK(contains(github, "has exited%0Awhy: the descriptor had no O_CLOEXEC"));
    CHECK(github.find('\n') == github.size() - 1);

    const std::string json = render_inherited(Format::json, r, sleep_ctx);
    CHECK(json.find('\n') == json.size() - 1);
    check_golden("inherited.json", json);
}

TEST_CASE("inherited event: hand-overs, unix sockets, several fds, no opener", "[report]") {
    const ReportContext c{4200, "/usr/sbin/app", 1'800'000'000};
    InheritedReport r = inherited_report();
    r.opener.reset();
    r.handover = Handover::listen_fds;
    EventFd u;
    u.fd = 4;
    u.proto = Proto::unix_stream;
    u.unix_path = "/run/app.sock";
    u.cloexec = true;
    r.fds.push_back(u);
    r.more = 2;
    const std::string text = render_inherited(Format::text, r, c);
    CHECK(contains(text, "listening fds 3 (tcp 0.0.0.0:8080), 4 (unix /run/app.sock) and 2 more "
                         "handed over through LISTEN_FDS"));
    CHECK(contains(text, "opener unknown (no registry record)"));
    CHECK(contains(text, "not a leak"));
    const std::string json = render_inherited(Format::json, r, c);
    CHECK(contains(json, "\"fds\":[{\"fd\":3,\"proto\":\"tcp\",\"address\":\"0.0.0.0\",\"port\":8080,"
                         "\"cloexec\":false},{\"fd\":4,\"proto\":\"unix\",\"address\":\"/run/app.sock\","
                         "\"path\":\"/run/app.sock\",\"cloexec\":true}],\"fds_not_listed\":2,\"opener\":null,"
                         "\"handover\":\"listen-fds\"}"));
    r.handover = Handover::self_exec;
    CHECK(contains(render_inherited(Format::text, r, c), "kept across an exec of its own program"));
    CHECK(contains(render_inherited(Format::json, r, c), "\"handover\":\"self-exec\""));
}

namespace {

/** The caller's stack as the capture gives it, innermost first, one frame without a symbol. */
std::vector<Frame> legacy_backtrace() {
    return {{0x55d0c0a011e9, "open_listener", 0x5e, "/opt/legacy/server", 0x11e9},
            {0x55d0c0a01302, "main", 0x9a, "/opt/legacy/server", 0x1302},
            {0x7f3a1c229d90, "", 0, "/lib/x86_64-linux-gnu/libc.so.6", 0x29d90},
            {0x55d0c0a01025, "_start", 0x25, "/opt/legacy/server", 0x1025}};
}

ReportContext context_with_backtrace(bool colour = false) {
    ReportContext c{4120, "/opt/legacy/server", 1'800'000'000.25, colour};
    c.backtrace = legacy_backtrace();
    return c;
}

} // namespace

TEST_CASE("backtrace: the top three frames in text, every frame in JSON", "[report]") {
    const std::string called_from =
        "portshim[4120]:   called from: open_listener+0x5e (/opt/legacy/server) < main+0x9a "
        "(/opt/legacy/server) < /lib/x86_64-linux-gnu/libc.so.6+0x29d90\n";
    Request req;
    Verdict v = previous_instance(req);
    const ReportContext with = context_with_backtrace();
    CHECK(contains(render_text(req, v, with), called_from));
    CHECK_FALSE(contains(render_text(req, v, ctx), "called from"));
    CHECK(describe_backtrace({Frame{0x7f00dead, "", 0, "", 0}}) == "0x7f00dead");
    CHECK(describe_backtrace({Frame{0x401000, "f", 0x10, "", 0x1000}}) == "f+0x10");

    const std::string json = render_json(req, v, with);
    CHECK(contains(json, "\"backtrace\":[{\"pc\":\"0x55d0c0a011e9\",\"symbol\":\"open_listener\","
                         "\"offset\":94,\"module\":\"/opt/legacy/server\",\"module_offset\":\"0x11e9\"},"));
    CHECK(contains(json, "{\"pc\":\"0x7f3a1c229d90\",\"symbol\":null,\"offset\":0,"
                         "\"module\":\"/lib/x86_64-linux-gnu/libc.so.6\",\"module_offset\":\"0x29d90\"}"));
    CHECK(contains(json, "\"symbol\":\"_start\",\"offset\":37,\"module\":\"/opt/legacy/server\","
                         "\"module_offset\":\"0x1025\"}]}\n"));

    // The backtrace line counts against the budget: still about 12 lines.
    for (int i = 0; i < 30; ++i) v.evidence.push_back("line " + std::to_string(i));
    const std::string text = render_text(req, v, with);
    CHECK(std::count(text.begin(), text.end(), '\n') <= 12);
    CHECK(contains(text, called_from));
}

TEST_CASE("text report in colour: cause bold red, labels bold, nothing else", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    const std::string text = render_text(req, v, context_with_backtrace(true));
    CHECK(contains(text, " — \x1b[1;31mprevious-instance\x1b[0m: pid 4112"));
    CHECK(contains(text, "portshim[4120]:   \x1b[1mfix\x1b[0m: stop the old instance"));
    check_golden("previous-instance.colour.txt", text);
    // Without colour the same report has no escape at all.
    CHECK(render_text(req, v, context_with_backtrace()).find('\x1b') == std::string::npos);
    const ReportContext coloured{4120, "/opt/legacy/server", 1'800'000'000.25, true};
    CHECK(render_config_error(Format::text, "bad", coloured) ==
          "portshim[4120]: \x1b[33mwarning:\x1b[0m bad\n");
    // Colour belongs to text: JSON and annotations ignore it.
    CHECK(render_json(req, v, coloured) == render_json(req, v, ctx));
    CHECK(render_github(req, v, coloured) == render_github(req, v, ctx));
}

TEST_CASE("workflow commands escape %, ':' and ',' in the title, and only their own lines break", "[report]") {
    // A CR or LF inside a title or line is shown, never obeyed; the lines given are joined by %0A.
    CHECK(github_annotation(Level::error, "a:b,c%d\r\ne", {"x:y,z%w\r\nv", "w"}) ==
          "::error title=portshim%3A a%3Ab%2Cc%25d\\r\\ne::x:y,z%25w\\r\\nv%0Aw\n");
    CHECK(github_annotation(Level::warn, "t", {"m"}) == "::warning title=portshim%3A t::m\n");
    CHECK(github_annotation(Level::info, "t", {"m"}) == "::notice title=portshim%3A t::m\n");
    CHECK(github_annotation(Level::debug, "t", {"m"}) == "::notice title=portshim%3A t::m\n");
    CHECK(github_annotation(Level::error, "", {"100%"}) == "::error title=portshim%3A ::100%25\n");
}

TEST_CASE("github report: one ::error line with the cause in the title", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    const std::string github = render(Format::github, req, v, context_with_backtrace());
    CHECK(github.rfind("::error title=portshim%3A bind(0.0.0.0%3A8080/tcp) failed%3A EADDRINUSE — "
                       "previous-instance::pid 4112 (/opt/legacy/server, started 2 min ago)",
                       0) == 0);
    CHECK(github.find('\n') == github.size() - 1);
    CHECK(contains(github, "%0Afix: stop the old instance first"));
    CHECK(contains(github, "%0Aconfirm: sudo ss -tlnp 'sport = :8080'; ps"));
    CHECK(contains(github, "%0Acalled from: open_listener+0x5e (/opt/legacy/server) < "));
    check_golden("previous-instance.github", github);
    Request tw;
    const std::string time_wait = render(Format::github, tw, time_wait_verdict(tw), ctx);
    CHECK(time_wait.find('\n') == time_wait.size() - 1);
    CHECK_FALSE(contains(time_wait, "called from"));
    check_golden("time-wait.github", time_wait);
}

TEST_CASE("github: every other engine event is one annotation", "[report]") {
    Request req;
    const Verdict v = previous_instance(req);
    Request tw;
    const Verdict time_wait = time_wait_verdict(tw);
    const std::vector<std::string> events = {
        render_repeated(Format::github, req, v, 312, ctx),
        render_waiting(Format::github, tw, time_wait, WaitTimes{30, 30, 41200}, ctx),
        render_waiting(Format::github, req, v, WaitTimes{30, 30, 0}, ctx),
        render_reuseport_shared(Format::github, req, other_programs(v.holders), ctx),
        render_config_error(Format::github, "PORTSHIM_FORMAT=\"xml\" is not valid (text, json or github); "
                                            "using the default", ctx),
        render_inherited(Format::github, inherited_report(),
                         ReportContext{4121, "/usr/bin/sleep", 1'800'000'000.25})};
    std::string all;
    for (const std::string& e : events) {
        CHECK(e.rfind("::", 0) == 0);
        CHECK(e.find('\n') == e.size() - 1);
        all += e;
    }
    CHECK(events[0].rfind("::notice title=portshim%3A bind(0.0.0.0%3A8080/tcp) failed 312 more times::"
                          "since the last report, same cause: previous-instance: ", 0) == 0);
    CHECK(events[3].rfind("::warning title=portshim%3A listen(0.0.0.0%3A8080/tcp) shares the port "
                          "through SO_REUSEPORT::with pid 4112", 0) == 0);
    CHECK(events[4] == "::warning title=portshim%3A configuration::PORTSHIM_FORMAT=\"xml\" is not "
                       "valid (text, json or github); using the default\n");
    check_golden("events.github", all);
    // The text of the same events did not change.
    CHECK(render_repeated(Format::text, req, v, 1, ctx).rfind(
              "portshim[4120]: bind(0.0.0.0:8080/tcp) failed 1 more time since the last report, same "
              "cause: previous-instance: pid 4112", 0) == 0);
    CHECK(render_waiting(Format::text, tw, time_wait, WaitTimes{30, 30, 41200}, ctx) ==
          "portshim[4120]: PORTSHIM_WAIT: retrying bind(0.0.0.0:8080/tcp) for up to 30 s (time-wait "
          "clears by itself; the last TIME_WAIT remnant expires in 42 s)\n");
}
