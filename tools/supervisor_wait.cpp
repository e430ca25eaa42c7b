// See supervisor_wait.hpp.
#include "supervisor_wait.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <string>
#include <sys/ioctl.h>
#include <unistd.h>

namespace portshim::supervisor {

namespace {

/** The hex mask after "\nNAME:\t"; false when absent. */
bool mask_of(std::string_view status, std::string_view name, unsigned long long& out) {
    const std::string key = "\n" + std::string(name) + ":";
    const auto at = status.find(key);
    if (at == std::string_view::npos) return false;
    const std::string rest(status.substr(at + key.size(), 24));
    char* end = nullptr;
    out = std::strtoull(rest.c_str(), &end, 16);
    return end != rest.c_str();
}

/** /proc/TID/status (about 1.5 KiB; read_small_file stops at 512 bytes, before the masks). */
std::string status_of(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::string text(4096, '\0');
    std::size_t used = 0;
    for (ssize_t n; used < text.size() && (n = ::read(fd, &text[used], text.size() - used)) > 0;)
        used += static_cast<std::size_t>(n);
    ::close(fd);
    text.resize(used);
    return text;
}

long long monotonic_ms() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<long long>(now.tv_sec) * 1000 + now.tv_nsec / 1000000;
}

} // namespace

bool catchable_signal_pending(std::string_view status) {
    unsigned long long thread = 0, shared = 0, blocked = 0, caught = 0;
    if (!mask_of(status, "SigPnd", thread) || !mask_of(status, "ShdPnd", shared) ||
        !mask_of(status, "SigBlk", blocked) || !mask_of(status, "SigCgt", caught))
        return false;
    return ((thread | shared) & ~blocked & caught) != 0;
}

int retry_bind(int nfd, std::uint64_t id, int tid, int sfd, const sockaddr* addr, socklen_t len,
               unsigned wait_seconds) {
    const std::string status_path = "/proc/" + std::to_string(tid) + "/task/" + std::to_string(tid) + "/status";
    const long long start = monotonic_ms();
    const long long limit_ms = static_cast<long long>(wait_seconds) * 1000;
    // Every 250 ms a retry, as the hooks do; every 50 ms a look at the waiting thread.
    long long next_try = start + 250;
    for (;;) {
        const long long now = monotonic_ms();
        if (now - start >= limit_ms) return -1;
        if (::ioctl(nfd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) != 0) return -1; // it died
        if (catchable_signal_pending(status_of(status_path))) return -1;
        if (now >= next_try) {
            if (::bind(sfd, addr, len) == 0) return 0;
            if (errno != EADDRINUSE) return -1;
            next_try = now + 250;
        }
        const long long step = std::min({next_try - now, start + limit_ms - now, 50LL});
        timespec pause{0, static_cast<long>(step > 0 ? step : 1) * 1000000};
        while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
        }
    }
}

} // namespace portshim::supervisor
