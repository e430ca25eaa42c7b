// Checks on the test support itself: the JSON parser must reject what a strict consumer
// rejects, or a passing scenario would not prove the library's events are valid JSON.
#include "support.hpp"

#include <catch2/catch.hpp>

using namespace portshim::test;

TEST_CASE("support: the JSON parser accepts valid events and rejects invalid ones")
{
    const Json event = parse_json(
        R"({"event":"bind-failed","port":8080,"ok":true,"no":false,"x":null,)"
        R"("holders":[{"pid":1,"exe":"/usr/bin/a\"b\\c\u00e9\ud83d\ude00"}],"n":-1.5e2})");
    CHECK(event["event"].str() == "bind-failed");
    CHECK(event["port"].number() == 8080);
    CHECK(event["ok"].boolean());
    CHECK_FALSE(event["no"].boolean());
    CHECK(event["x"].is_null());
    CHECK(event["holders"][0]["exe"].str() == "/usr/bin/a\"b\\c\xc3\xa9\xf0\x9f\x98\x80");
    CHECK(event["n"].number() == -150);
    CHECK(event["missing"].is_null());

    for (const char* bad : {"", "{", "{}x", "{'a':1}", "{\"a\":01}", "{\"a\":1,}", "[1,]",
                            "{\"a\":1,\"a\":2}", "\"\\x\"", "\"\\ud800\"", "\"tab\there\"",
                            "\"\xc3\"", "\"\xc0\xaf\"", "tru", "-", "1.", "1e", "NaN"}) {
        INFO("input: " << bad);
        CHECK_THROWS(parse_json(bad));
    }
}

TEST_CASE("support: json_lines parses only the lines that start with a brace")
{
    const auto events = json_lines("bind: Address already in use\n{\"event\":\"a\"}\n{\"event\":\"b\"}\n");
    REQUIRE(events.size() == 2);
    CHECK(events[1]["event"].str() == "b");
}
