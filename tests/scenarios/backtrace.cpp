// Caller backtraces (PORTSHIM_BACKTRACE): a report names the function of the host
// that called bind, none of the library's own frames, nothing from a signal
// handler, and the unwinder adds nothing to the host's global symbol scope.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;

namespace {


/** A "0x…" address of the JSON backtrace; 0 when it is none. */
std::uint64_t hex(const Json& value)
{
    const std::string& s = value.str();
    return s.rfind("0x", 0) == 0 ? std::stoull(s.substr(2), nullptr, 16) : 0;
}

/** The index of the first frame of `module` named `symbol`, or -1. */
int frame_named(const Json& backtrace, const std::string& symbol, const std::string& module)
{
    const std::vector<Json>& frames = backtrace.items();
    for (std::size_t i = 0; i < frames.size(); ++i)
        if (frames[i]["symbol"].str() == symbol && frames[i]["module"].str() == module)
            return static_cast<int>(i);
    return -1;
}

/**
 * backtrace_server with `args`, started on the port a first instance holds and
 * waited for: it failed exactly as it would without the shim.
 */
std::unique_ptr<Process> second_instance(std::vector<std::string> args, const Launch& launch)
{
    Process first({prog("backtrace_server")}, Launch{});
    const int port = read_port(first);
    args.insert(args.begin(), {prog("backtrace_server"), "-p", std::to_string(port)});
    auto second = std::make_unique<Process>(args, launch);
    require_failed_as_without_shim(*second);
    return second;
}

} // namespace

TEST_CASE("backtrace: a report names the calling function of a program built with -g")
{
    const Json event = only_bind_failed_event(*second_instance({}, preloaded()));
    CHECK(event["cause"].str() == "previous-instance");

    const Json& backtrace = event["backtrace"];
    REQUIRE(backtrace.is_array());
    REQUIRE_FALSE(backtrace.items().empty());
    const std::string program = std::filesystem::canonical(prog("backtrace_server")).string();
    // Innermost first, and the library's own frames (the bind hook, the engine) left out.
    CHECK(backtrace[0]["symbol"].str() == "open_listener_on_port");
    const int caller = frame_named(backtrace, "open_listener_on_port", program);
    const int outer = frame_named(backtrace, "main", program);
    CHECK(caller == 0);
    CHECK(outer > caller);
    for (const Json& frame : backtrace.items()) {
        CHECK_FALSE(frame["module"].str().find("libportshim") != std::string::npos);
        CHECK(hex(frame["pc"]) > 0);
    }
    // An offset into the function, and the module offset addr2line takes.
    CHECK(backtrace[0]["offset"].number() > 0);
    CHECK(hex(backtrace[0]["module_offset"]) > 0);
}

TEST_CASE("backtrace: the text report shows the top frames on one line")
{
    Launch text = preloaded();
    text.env = {{"PORTSHIM_FORMAT", "text"}};
    const std::string err = second_instance({}, text)->err();
    CHECK_THAT(err, Contains("called from: open_listener_on_port+0x") && Contains(" < main+0x"));
}

TEST_CASE("backtrace: PORTSHIM_BACKTRACE=0 leaves it out")
{
    Launch launch = preloaded();
    launch.env = {{"PORTSHIM_BACKTRACE", "0"}};
    const Json event = only_bind_failed_event(*second_instance({}, launch));
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["backtrace"].is_array());
    CHECK(event["backtrace"].items().empty());
}

TEST_CASE("backtrace: a bind from a signal handler gets only the safe note")
{
    // The handler may have interrupted the host's malloc: no engine, no backtrace there.
    const Json event = only_bind_failed_event(*second_instance({"-s"}, preloaded()));
    CHECK(event["cause"].str() == "unknown");
    CHECK_THAT(event["summary"].str(), Catch::Matchers::Contains("not diagnosed"));
    CHECK_THAT(event["summary"].str(), Catch::Matchers::Contains("in a signal handler"));
    CHECK(event["errno"].number() == 98);
    CHECK(event["backtrace"].is_array());
    CHECK(event["backtrace"].items().empty());
}

TEST_CASE("backtrace: the host's global scope gains no unwinder or C++ runtime symbol")
{
    Process first({prog("backtrace_server")}, Launch{});
    const int port = read_port(first);

    // The program looks _Unwind_Backtrace & co. up with RTLD_DEFAULT after its bind failed,
    // i.e. after the engine was loaded and walked the stack.
    Process plain({prog("backtrace_server"), "-u", "-p", std::to_string(port)}, Launch{});
    REQUIRE(plain.wait() == 1);
    Process with({prog("backtrace_server"), "-u", "-p", std::to_string(port)}, preloaded());
    REQUIRE(with.wait() == 1);
    INFO("stderr: " << with.err());
    const Json event = only_bind_failed_event(with);
    REQUIRE_FALSE(event["backtrace"].items().empty());
    CHECK_THAT(plain.out(), EndsWith("errno=98\n"));
    CHECK(with.out() == plain.out());
}
