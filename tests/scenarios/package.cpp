// The Debian package, built once by scripts/package (dpkg-buildpackage, lintian),
// unpacked with dpkg-deb -x into a scratch root: its library, CLI and wrapper
// diagnose a port a real listener holds, from where the package puts them.
#include "support.hpp"

#include <catch2/catch.hpp>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

using namespace portshim::test;
using Catch::Matchers::Contains;

namespace {

std::string real_path(const std::string& path)
{
    char resolved[PATH_MAX];
    REQUIRE(::realpath(path.c_str(), resolved) != nullptr);
    return resolved;
}

} // namespace

TEST_CASE("package: the unpacked deb diagnoses a busy port with its own library and CLI")
{
    for (const char* tool : {"/usr/bin/dpkg-buildpackage", "/usr/bin/dh", "/usr/bin/dpkg-deb"})
        require_program(tool, "dpkg-dev, debhelper");
    if (access("/usr/bin/lintian", X_OK) != 0) WARN("lintian is not installed (Debian package lintian): not checked");
    TempDir out;
    // One build for every check (the slow part); scripts/package fails on a lintian error.
    Process package({PORTSHIM_TEST_PACKAGE_SCRIPT, "-o", out.path()}, Launch{});
    const int status = package.wait(1500s);
    INFO("scripts/package: " << package.err());
    REQUIRE(status == 0);
    CHECK_THAT(package.err(), !Contains("\nE: ") && !Contains("lintian found errors"));
    std::string deb = package.out();
    REQUIRE(!deb.empty());
    deb.pop_back();  // the path, on the last line
    REQUIRE(std::filesystem::exists(deb));
    CHECK(std::filesystem::path(deb).filename().string().rfind(std::string("portshim_") + PORTSHIM_TEST_VERSION + "_", 0) == 0);

    const std::string root = out.path() + "/root";
    Process unpack({"/usr/bin/dpkg-deb", "-x", deb, root}, Launch{});
    REQUIRE(unpack.wait(60s) == 0);
    const std::string libdir = root + "/usr/lib/" PORTSHIM_TEST_MULTIARCH "/portshim";
    for (const std::string& file :
         {root + "/usr/bin/portshim", root + "/usr/bin/portshim-run", root + "/usr/bin/portshim-supervise",
          libdir + "/libportshim.so", libdir + "/libportshim-engine.so", root + "/usr/share/man/man1/portshim.1.gz",
          root + "/usr/share/doc/portshim/examples/legacy.service", root + "/usr/share/doc/portshim/copyright",
          root + "/usr/share/doc/portshim/changelog.gz"}) {
        INFO(file);
        CHECK(std::filesystem::exists(file));
    }
    // Nothing from the tests went in, and the tree it was built from is unchanged.
    CHECK_FALSE(std::filesystem::exists(root + "/usr/lib/portshim"));
    CHECK_FALSE(std::filesystem::exists(std::string(PORTSHIM_TEST_SOURCE_DIR) + "/debian/portshim"));
    CHECK_FALSE(std::filesystem::exists(std::string(PORTSHIM_TEST_SOURCE_DIR) + "/debian/files"));

    Process first({prog("legacy_server")}, Launch{});
    const int port = read_port(first);
    const std::string p = std::to_string(port);

    // The unpacked preload finds its engine next to itself and names the holder.
    Process second({prog("legacy_server"), "-p", p},
                   Launch{false, false, {{"LD_PRELOAD", libdir + "/libportshim.so"}, {"PORTSHIM_FORMAT", "json"}}});
    require_failed_as_without_shim(second);
    Json event = only_bind_failed_event(second);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{first.pid()});

    Process why({root + "/usr/bin/portshim", "why", "--json", p}, Launch{});
    REQUIRE(why.wait() == 1);
    const auto events = json_lines(why.out());
    REQUIRE(events.size() == 1);
    CHECK(holder_pids(events[0]) == std::vector<int>{first.pid()});

    // portshim-run picks the unpacked library, from its own directory.
    Process which({root + "/usr/bin/portshim-run", "--", "sh", "-c", "echo \"$LD_PRELOAD\""}, Launch{});
    REQUIRE(which.wait() == 0);
    CHECK(which.out() == real_path(libdir) + "/libportshim.so\n");
    Process third({root + "/usr/bin/portshim-run", "--json", "--", prog("legacy_server"), "-p", p}, Launch{});
    require_failed_as_without_shim(third);
    event = only_bind_failed_event(third);
    CHECK(event["cause"].str() == "previous-instance");
    CHECK(holder_pids(event) == std::vector<int>{first.pid()});
}
