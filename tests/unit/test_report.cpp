// Renderers: golden text and JSON for fixed verdicts, JSON string escaping,
// and the line budget of the text report.
#include "causes.hpp"
#include "fixtures.hpp"
#include "report.hpp"

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>

using namespace portshim;
using namespace portshim::fixtures;

namespace {

/** Compares with tests/unit/data/golden/NAME; PORTSHIM_UPDATE_GOLDEN=1 rewrites it. */
void check_golden(const std::string& name, const std::string& actual) {
    const std::string path = std::string(PORTSHIM_TEST_DATA) + "/golden/" + name;
    if (const char* update = std::getenv("PORTSHIM_UPDATE_GOLDEN"); update && *update == '1') {
        std::ofstream(path, std::ios::binary) << actual;
    }
    std::ifstream in(path, std::ios::binary);
    REQUIRE(in.good());
    std::stringstream expected;
    expected << in.rdbuf();
    CHECK(actual == expected.str());
}

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
    CHECK(render_inherited(Format::github, r, sleep_ctx) == text);

    const std::string json = render_inherited(Format::json, r, sleep_ctx);
    CHECK(json.find('\n') == json.size() - 1);
    check_golden("inherited.json", json);
}

TEST_CASE("inherited event: hand-overs, unix sockets, several fds, no opener", "[report]") {
    const ReportContext c{4200, "/usr/sbin/app", 1'800'000'000};
    InheritedReport r = inherited_report();
    r.opener.reset();
    r.handover = "listen-fds";
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
                         "\"path\":\"/run/app.sock\",\"cloexec\":true}],\"more\":2,\"opener\":null,"
                         "\"handover\":\"listen-fds\"}"));
    r.handover = "self-exec";
    CHECK(contains(render_inherited(Format::text, r, c), "kept across an exec of its own program"));
    CHECK(contains(render_inherited(Format::json, r, c), "\"handover\":\"self-exec\""));
}
