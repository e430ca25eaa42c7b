// Address forms Linux's bind() accepts besides the textbook ones, which old code
// still spells: AF_UNSPEC with INADDR_ANY on an AF_INET socket, and the 24-byte
// RFC 2133 sockaddr_in6. Each failure gets its one report with the right address
// and port, PORTSHIM_REUSEADDR applies to them, and the program sees what it
// would see without portshim.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <cerrno>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

const std::string bind_forms = prog("bind_forms");

struct Form {
    const char* name;
    const char* address; ///< as the report must name it
};

constexpr Form forms[] = {
    {"unspec-any", "0.0.0.0"},
    {"rfc2133-any", "::"},
    {"rfc2133-mapped", "::ffff:127.0.0.1"},
};

/** The output of the same bind without the preload: the reference for errno and exit status. */
std::string without_portshim(const std::vector<std::string>& argv, int expected_status)
{
    Process plain(argv, Launch{});
    CHECK(plain.wait() == expected_status);
    return plain.out();
}

} // namespace

TEST_CASE("parsing: AF_UNSPEC and RFC 2133 binds on a busy port get exactly one report")
{
    Process server({prog("legacy_server")}, Launch{}); // 0.0.0.0, another program than bind_forms
    const int port = read_port(server);
    for (const Form& form : forms) {
        INFO("form " << form.name);
        const std::vector<std::string> argv{bind_forms, form.name, std::to_string(port)};
        CHECK(without_portshim(argv, 1) == "errno=98\n");
        Process failing(argv, preloaded());
        require_failed_as_without_shim(failing);
        const Json event = only_bind_failed_event(failing);
        CHECK(event["call"].str() == "bind");
        CHECK(event["proto"].str() == "tcp");
        CHECK(event["address"].str() == form.address);
        CHECK(event["port"].number() == port);
        CHECK(event["errno"].number() == 98);
        CHECK(event["cause"].str() == "other-service");
        REQUIRE(holder_pids(event).size() == 1);
        CHECK(holder_pids(event)[0] == server.pid());
    }
    // AF_UNSPEC with any address but INADDR_ANY is EAFNOSUPPORT in the kernel: no
    // report, and the same errno as without portshim.
    const std::vector<std::string> refused{bind_forms, "unspec-loopback", std::to_string(port)};
    const std::string expected = without_portshim(refused, 1);
    CHECK(expected == "errno=" + std::to_string(EAFNOSUPPORT) + "\n");
    Process preloaded_refused(refused, preloaded());
    CHECK(preloaded_refused.wait() == 1);
    CHECK(preloaded_refused.out() == expected);
    CHECK(json_lines(preloaded_refused.err()).empty());
}

TEST_CASE("parsing: PORTSHIM_REUSEADDR applies to AF_UNSPEC and RFC 2133 binds")
{
    Launch with_reuseaddr = preloaded();
    with_reuseaddr.env = {{"PORTSHIM_REUSEADDR", "1"}};
    for (const char* form : {"unspec-any", "rfc2133-any"}) {
        INFO("form " << form);
        // The old instance ran with it too: its TIME_WAIT remnant lets a flagged bind pass.
        const int port = leave_time_wait(with_reuseaddr);
        Process restarted({bind_forms, form, std::to_string(port)}, with_reuseaddr);
        CHECK(restarted.wait() == 0);
        CHECK(restarted.out() == "bound " + std::to_string(port) + "\n");
        CHECK(json_lines(restarted.err()).empty());
    }
}

TEST_CASE("parsing: the note written from a signal handler names the address and port")
{
    Process server({prog("legacy_server")}, Launch{});
    const int port = read_port(server);
    for (const Form& form : forms) {
        INFO("form " << form.name);
        Process failing({bind_forms, "-s", form.name, std::to_string(port)}, preloaded());
        require_failed_as_without_shim(failing);
        const Json event = only_bind_failed_event(failing);
        CHECK(event["cause"].str() == "unknown");
        CHECK(event["address"].str() == form.address);
        CHECK(event["port"].number() == port);
        CHECK(event["errno"].number() == 98);
        CHECK_THAT(event["fix"].str(), Contains(std::to_string(port)));
    }
}
