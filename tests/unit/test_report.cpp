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
