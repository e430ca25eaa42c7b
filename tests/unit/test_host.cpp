// Host facts: the port range, reserved ports and boot time from a recorded
// /proc (tests/unit/data/proc), and user names from passwd text without NSS.
#include "host.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <ctime>
#include <fcntl.h>
#include <string>
#include <unistd.h>

using namespace portshim;

namespace {
const std::string fake_proc = PORTSHIM_TEST_DATA "/proc";

// Comments, blank and short lines, NIS entries, a non-numeric uid, a
// duplicate uid (the first wins, as getpwuid does) and no final newline.
constexpr const char* passwd_text =
    "# local accounts\n"
    "root:x:0:0:root:/root:/bin/bash\n"
    "\n"
    "short:x\n"
    "#bob:x:7:7::/home/bob:/bin/sh\n"
    "+::::::\n"
    "-mallory::9::::\n"
    ":x:8:8::/:/bin/false\n"
    "weird:x:1x:1::/:/bin/sh\n"
    "alice:x:1000:1000:Alice,,,:/home/alice:/bin/bash\n"
    "alias:x:1000:1000::/home/alias:/bin/bash\n"
    "nouid:x:\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";
} // namespace

TEST_CASE("read_facts reads the port range and reserved ports", "[host]") {
    const HostFacts facts = host::read_facts(fake_proc);
    CHECK(facts.port_range_low == 32768);
    CHECK(facts.port_range_high == 60999);
    CHECK(facts.reserved_ports == "8080,9000-9010");
    CHECK(std::fabs(facts.now - static_cast<double>(std::time(nullptr))) < 5);
}

TEST_CASE("read_facts leaves unknown facts at zero", "[host]") {
    const HostFacts facts = host::read_facts("/nonexistent-portshim-root");
    CHECK(facts.port_range_low == 0);
    CHECK(facts.port_range_high == 0);
    CHECK(facts.reserved_ports.empty());
    CHECK(facts.now > 1.6e9);
}

TEST_CASE("read_facts on the live host gives a sane range", "[host][live]") {
    const HostFacts facts = host::read_facts("/proc");
    CHECK(facts.port_range_low > 0);
    CHECK(facts.port_range_low <= facts.port_range_high);
    CHECK(facts.port_range_high <= 65535);
}

TEST_CASE("boot_time reads btime", "[host]") {
    CHECK(host::boot_time(fake_proc) == 1700000000.0);
    CHECK(host::boot_time("/nonexistent-portshim-root") == 0);
    const double live = host::boot_time("/proc");
    CHECK(live > 1e9);
    CHECK(live <= static_cast<double>(std::time(nullptr)));
}

TEST_CASE("user_from_passwd finds names and skips what names nobody", "[host]") {
    CHECK(host::user_from_passwd(passwd_text, 0) == "root");
    CHECK(host::user_from_passwd(passwd_text, 1000) == "alice");
    CHECK(host::user_from_passwd(passwd_text, 65534) == "nobody");
    CHECK(host::user_from_passwd(passwd_text, 7).empty());  // commented out
    CHECK(host::user_from_passwd(passwd_text, 8).empty());  // no name
    CHECK(host::user_from_passwd(passwd_text, 9).empty());  // NIS exclusion
    CHECK(host::user_from_passwd(passwd_text, 1).empty());  // "1x" is not a uid
    CHECK(host::user_from_passwd(passwd_text, 42).empty());
    CHECK(host::user_from_passwd("", 0).empty());
}

TEST_CASE("user_name reads a passwd file", "[host]") {
    char path[] = "/tmp/portshim-passwd-XXXXXX";
    const int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    const std::string text = passwd_text;
    const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    const std::string alice = host::user_name(path, 1000);
    const std::string none = host::user_name(path, 4242);
    ::unlink(path);
    REQUIRE(written);
    CHECK(alice == "alice");
    CHECK(none.empty());
    CHECK(host::user_name("/nonexistent-portshim-passwd", 0).empty());
}
