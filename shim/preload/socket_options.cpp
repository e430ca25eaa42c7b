// The per-fd socket option table, PORTSHIM_REUSEADDR's injection and the
// SO_REUSEPORT check. Part of the small preloaded library: no C++ runtime, no
// allocation; the setsockopt and listen hooks pay a memory access here.
#include "socket_options.hpp"

#include "common/inet_address.hpp"
#include "engine_loader.hpp"
#include "own_stack.hpp"
#include "real.hpp"
#include "runtime.hpp"
#include "seccomp_state.hpp"
#include "startup.hpp"
#include "common/zeroed_map.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>

namespace portshim {

namespace {

// What the program set on each fd through setsockopt, so the hot paths need
// no system call: one byte per fd in 64 KiB mapped at the first setsockopt of
// interest (not in .bss: an extra mapping in every exec'd process measurably
// slowed process start). fds beyond it are judged by getsockopt.
constexpr int tracked_fds = 65536;
constexpr unsigned char reuseaddr_chosen = 1;  // SO_REUSEADDR set by the program, either value
constexpr unsigned char reuseport_on = 2;      // SO_REUSEPORT set to non-zero
constexpr unsigned char type_stream = 4;       // socket() made it SOCK_STREAM
constexpr unsigned char type_dgram = 8;        // socket() made it SOCK_DGRAM
using FdOptions = std::atomic<unsigned char>;
std::atomic<FdOptions*> g_fd_options{nullptr};

/** The table, or nullptr when nothing was ever noted (every fd then has no flags). */
FdOptions* fd_options() noexcept { return g_fd_options.load(std::memory_order_acquire); }

unsigned char fd_flags(int fd) noexcept {
    FdOptions* table = fd_options();
    return table != nullptr && fd >= 0 && fd < tracked_fds
               ? table[fd].load(std::memory_order_relaxed)
               : 0;
}

/** Maps the table on first use (see zeroed_map.hpp). */
FdOptions* fd_options_for_update() noexcept { return map_zeroed(g_fd_options, tracked_fds); }

} // namespace

void note_socket(int fd, int type) noexcept {
    // Also under a seccomp filter: mmap, its only system call, is one the loader made.
    if (fd < 0 || fd >= tracked_fds) return;
    const int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    const unsigned char bits = base == SOCK_STREAM ? type_stream : base == SOCK_DGRAM ? type_dgram : 0;
    // Nothing to remember until a table exists for other reasons, or a type is known.
    if (bits == 0 && fd_options() == nullptr) return;
    const int saved = errno;
    FdOptions* table = fd_options_for_update();
    errno = saved;
    if (table == nullptr) return;
    // A new socket: the options noted for an earlier one with this number are gone.
    table[fd].store(bits, std::memory_order_relaxed);
}

int socket_type(int fd) noexcept {
    const unsigned char f = fd_flags(fd);
    return (f & type_stream) != 0 ? SOCK_STREAM : (f & type_dgram) != 0 ? SOCK_DGRAM : 0;
}

void note_socket_option(int fd, int level, int name, const void* value, socklen_t len) noexcept {
    if (level != SOL_SOCKET || fd < 0 || fd >= tracked_fds) return;
    if (name != SO_REUSEADDR && name != SO_REUSEPORT) return;
    const int saved = errno;
    FdOptions* table = fd_options_for_update();
    errno = saved;
    if (table == nullptr) return;
    if (name == SO_REUSEADDR) {
        table[fd].fetch_or(reuseaddr_chosen, std::memory_order_relaxed);
    } else if (value != nullptr && len >= sizeof(int)) {
        int on = 0;
        std::memcpy(&on, value, sizeof on);
        if (on != 0) table[fd].fetch_or(reuseport_on, std::memory_order_relaxed);
        else table[fd].fetch_and(static_cast<unsigned char>(~reuseport_on), std::memory_order_relaxed);
    }
}

void forget_reuseaddr_choice(int fd) noexcept {
    if ((fd_flags(fd) & reuseaddr_chosen) != 0)
        fd_options()[fd].fetch_and(static_cast<unsigned char>(~reuseaddr_chosen),
                                   std::memory_order_relaxed);
}

bool inject_reuseaddr(int fd, const sockaddr* addr, socklen_t len) noexcept {
    if (!config().reuseaddr || addr == nullptr || len < sizeof(sa_family_t)) return false;
    if (seccomp::in_force_cached()) return false; // getsockopt may not be the host's to make
    sa_family_t family;
    std::memcpy(&family, addr, sizeof family);
    // No system call for the binds that cannot be inet ones (AF_UNIX, AF_NETLINK, ...).
    if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) return false;
    if ((fd_flags(fd) & reuseaddr_chosen) != 0) return false;
    const int saved = errno;
    int domain = 0, type = 0, current = 0;
    socklen_t n = sizeof domain;
    bool injected = false;
    // Every bind the kernel takes as an inet one, AF_UNSPEC and RFC 2133 lengths included.
    InetAddress parsed;
    const bool inet = ::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &n) == 0 &&
                      parse_inet_address(domain, addr, len, parsed);
    n = sizeof type;
    if (inet && ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &n) == 0 && type == SOCK_STREAM) {
        n = sizeof current;
        if (::getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &current, &n) == 0 && current == 0) {
            const int one = 1;
            injected = real::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0;
        }
    }
    errno = saved;
    return injected;
}

void check_reuseport_sharing(int fd) noexcept {
    // Only SO_REUSEPORT sockets can share a listening port. The setsockopt hook
    // noted which fds set it, so an ordinary listen() costs one memory load.
    if (fd < 0 || config().level < Level::warn || in_unsafe_child()) return;
    if (fd < tracked_fds && (fd_flags(fd) & reuseport_on) == 0) return;
    const int saved = errno;
    if (seccomp::in_force_cached()) {
        errno = saved;
        return;
    }
    int reuseport = 0;
    socklen_t n = sizeof reuseport;
    if (::getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuseport, &n) != 0 || reuseport == 0) {
        errno = saved;
        return;
    }
    Guard guard;
    on_own_stack([fd] {
        EngineCalls engine;
        if (unsafe_context() != nullptr || !load_engine(engine)) return;
        Failure f;
        f.call = 1;
        f.fd = fd;
        f.config = &config();
        f.stderr_identity = stderr_identity();
        engine.listened(&f);
    });
    errno = saved;
}

} // namespace portshim
