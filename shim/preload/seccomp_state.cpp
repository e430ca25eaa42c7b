// See seccomp_state.hpp. System calls and atomics only.
#include "seccomp_state.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace portshim::seccomp {

namespace {

std::atomic<bool> g_recorded{false};
// in_force_cached: 0 not read yet, 1 no filter when read, 2 a filter (or unknown).
std::atomic<int> g_cached{0};

/** 1 no filter, 2 filter or strict mode, 0 the file could not be read or has no such line. */
int mode_from_status(const char* path) {
    const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    // The file is read in small pieces (this runs on the host's stack), keeping
    // the last bytes of each piece so a key split between two reads is found.
    static constexpr char key[] = "\nSeccomp:";
    constexpr std::size_t key_len = sizeof key - 1;
    char buf[256];
    std::size_t kept = 0;
    int mode = 0;
    for (;;) {
        const ssize_t n = ::read(fd, buf + kept, sizeof buf - 1 - kept);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        const std::size_t len = kept + static_cast<std::size_t>(n);
        buf[len] = '\0';
        const char* hit = nullptr;
        for (std::size_t i = 0; i + key_len <= len && hit == nullptr; ++i)
            if (std::memcmp(buf + i, key, key_len) == 0) hit = buf + i + key_len;
        if (hit != nullptr) {
            while (*hit == ' ' || *hit == '\t') ++hit;
            // The value may be the last bytes read: "0" and "0\n" both mean none.
            if (*hit >= '0' && *hit <= '9') mode = *hit == '0' ? 1 : 2;
            if (*hit != '\0') break;
        }
        kept = len < key_len + 4 ? len : key_len + 4;
        std::memmove(buf, buf + len - kept, kept);
    }
    ::close(fd);
    return mode;
}

int read_mode() {
    const int saved = errno;
    // thread-self: filters belong to threads (one installed without TSYNC binds only its thread).
    int mode = mode_from_status("/proc/thread-self/status");
    if (mode == 0) mode = mode_from_status("/proc/self/status");
    if (mode == 0) {
        // No /proc (a chroot): ask the kernel. PR_GET_SECCOMP itself passes a
        // filter only if the filter allows prctl; no filter was seen being
        // installed, and the engine would make far riskier calls anyway.
        const int r = ::prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
        // EINVAL: a kernel without CONFIG_SECCOMP, so no filter either.
        mode = r == 0 || (r < 0 && errno == EINVAL) ? 1 : 2;
    }
    errno = saved;
    return mode;
}

} // namespace

void note_install() noexcept {
    g_recorded.store(true, std::memory_order_seq_cst);
    g_cached.store(2, std::memory_order_relaxed);
}

bool recorded() noexcept { return g_recorded.load(std::memory_order_seq_cst); }

bool in_force() noexcept {
    if (recorded()) return true;
    const int mode = read_mode();
    if (mode == 2) g_cached.store(2, std::memory_order_relaxed);
    return mode != 1;
}

bool in_force_cached() noexcept {
    if (recorded()) return true;
    int cached = g_cached.load(std::memory_order_relaxed);
    if (cached == 0) {
        cached = read_mode();
        g_cached.store(cached, std::memory_order_relaxed);
    }
    return cached != 1;
}

} // namespace portshim::seccomp
