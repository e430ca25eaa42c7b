// Entry point of scenario_tests: as root, moves into a private network namespace with
// `lo` up (unless PORTSHIM_TEST_NO_NETNS is set) so no scenario touches the host's ports.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace {

// A new namespace has only `lo`, and it is down: ioctl(SIOCSIFFLAGS) as in netdevice(7).
bool bring_loopback_up()
{
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
    bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    if (ok) {
        ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP | IFF_RUNNING);
        ok = ::ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    }
    ::close(fd);
    return ok;
}

void enter_private_network()
{
    if (::geteuid() != 0 || std::getenv("PORTSHIM_TEST_NO_NETNS"))
        return;
    if (::unshare(CLONE_NEWNET) != 0) {
        std::fprintf(stderr, "scenario_tests: unshare(CLONE_NEWNET): %s; using the host network\n",
                     std::strerror(errno));
        return;
    }
    if (!bring_loopback_up()) {
        std::fprintf(stderr, "scenario_tests: cannot bring lo up: %s\n", std::strerror(errno));
        std::exit(1);
    }
}

} // namespace

int main(int argc, char* argv[])
{
    enter_private_network();
    return Catch::Session().run(argc, argv);
}
