// Co-existence with other preloaded runtimes: AddressSanitizer's libasan and
// jemalloc, in both orders. The host must fail and serve exactly as without portshim.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;
using Catch::Matchers::VectorContains;

namespace {

// Empty when the compiler used for the tests is no GCC (no libasan.so of its own).
std::string libasan() { return PORTSHIM_TEST_LIBASAN; }
std::string jemalloc() { return PORTSHIM_TEST_JEMALLOC; }

std::string require_file(const std::string& path, const std::string& what)
{
    if (path.empty() || ::access(path.c_str(), R_OK) != 0)
        skip(what + " not installed" + (path.empty() ? "" : " (" + path + ")"));
    return path;
}

/**
 * Under LD_PRELOAD=`preload` (portshim and another runtime): a server serves a
 * request while a second copy fails exactly as without portshim and reports
 * the first as previous-instance; nothing else complains.
 */
void check_side_by_side(const std::string& preload, const std::string& options)
{
    Launch launch = preloaded();
    launch.env.emplace_back("LD_PRELOAD", preload);
    launch.env.emplace_back("ASAN_OPTIONS", options);
    INFO("LD_PRELOAD=" << preload << " ASAN_OPTIONS=" << options);

    Process server({prog("legacy_server"), "-c", "1"}, launch);
    const int port = read_port(server);

    Process second({prog("legacy_server"), "-p", std::to_string(port)}, launch);
    require_failed_as_without_shim(second);
    const Json event = only_bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(event["port"].number() == port);
    CHECK_THAT(holder_pids(event), VectorContains(server.pid()));

    CHECK(fetch(port) == "hello from legacy_server\n");
    REQUIRE(server.wait() == 0);
    INFO("server stderr: " << server.err() << "\nsecond stderr: " << second.err());
    CHECK(server.out().find("port ") == 0);
    CHECK(server.err().find("AddressSanitizer") == std::string::npos);
    CHECK(second.err().find("AddressSanitizer") == std::string::npos);
}

// libasan in an uninstrumented host: leak checking would report the program's
// own unfreed memory at exit and change its status, as it would without portshim.
constexpr const char* asan_options = "detect_leaks=0";
// ASan insists on being the first object in the initial library list (it must
// see every allocation); verify_asan_link_order=0 lets it start after portshim.
constexpr const char* asan_options_after = "verify_asan_link_order=0:detect_leaks=0";

} // namespace

TEST_CASE("co-existence: libasan then portshim: a failing server fails as without and one serves")
{
    const std::string asan = require_file(libasan(), "GCC's libasan");
    check_side_by_side(asan + ":" + require_library(), asan_options);
}

TEST_CASE("co-existence: portshim then libasan with verify_asan_link_order=0")
{
    const std::string asan = require_file(libasan(), "GCC's libasan");
    check_side_by_side(require_library() + ":" + asan, asan_options_after);
}

TEST_CASE("co-existence: portshim then libasan is refused by ASan itself as with any other library first")
{
    // ASan's own rule, not portshim's: the same message and status with
    // jemalloc in front of it instead.
    const std::string asan = require_file(libasan(), "GCC's libasan");
    const std::string other = require_file(jemalloc(), "libjemalloc2");
    int statuses[2] = {};
    std::string messages[2];
    const std::string fronts[2] = {require_library(), other};
    for (int i = 0; i < 2; ++i) {
        Launch launch;
        launch.env.emplace_back("LD_PRELOAD", fronts[i] + ":" + asan);
        launch.env.emplace_back("ASAN_OPTIONS", asan_options);
        Process probe({prog("legacy_server"), "-p", "0"}, launch);
        statuses[i] = probe.wait();
        messages[i] = probe.err();
    }
    INFO("with portshim first: " << messages[0] << "\nwith jemalloc first: " << messages[1]);
    CHECK(statuses[0] == statuses[1]);
    CHECK_THAT(messages[0], Contains("ASan runtime does not come first"));
    CHECK_THAT(messages[1], Contains("ASan runtime does not come first"));
}

TEST_CASE("co-existence: jemalloc then portshim: a failing server fails as without and one serves")
{
    const std::string je = require_file(jemalloc(), "libjemalloc2");
    check_side_by_side(je + ":" + require_library(), "");
}

TEST_CASE("co-existence: portshim then jemalloc: a failing server fails as without and one serves")
{
    const std::string je = require_file(jemalloc(), "libjemalloc2");
    check_side_by_side(require_library() + ":" + je, "");
}
