// One-time initialisation, the re-entry guard and the diagnosis path. All
// state is plain data with static storage: no constructors run at load, no
// destructors at exit, so hooks work at any point of a process's life.
#include "runtime.hpp"

#include "diag/address.hpp"
#include "diag/causes.hpp"
#include "diag/config.hpp"
#include "diag/observe.hpp"
#include "diag/report.hpp"
#include "log.hpp"
#include "real.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

namespace portshim {

namespace {

enum : int { uninitialised = 0, initialising = 1, ready = 2 };

std::atomic<int> g_state{uninitialised};
Config g_config;                 // written once by the thread that wins g_state
const Config g_defaults;         // what a hook uses while another thread initialises

// Initial-exec TLS: a fixed offset from the thread pointer, no __tls_get_addr
// call and no allocation on first use (a hook may run on any thread, any time).
__thread int t_depth __attribute__((tls_model("initial-exec")));

/** Marks this thread as inside the library for the guard's lifetime. */
struct Guard {
    Guard() noexcept { ++t_depth; }
    ~Guard() { --t_depth; }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
};

const Config& config() noexcept {
    return g_state.load(std::memory_order_acquire) == ready ? g_config : g_defaults;
}

double now_seconds() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string self_exe() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

void init_slow() noexcept {
    int expected = uninitialised;
    // A loser (another thread mid-initialisation, or a fork child of it) goes on
    // with the defaults rather than waiting: a hook must never block.
    if (!g_state.compare_exchange_strong(expected, initialising, std::memory_order_acq_rel))
        return;
    const int saved = errno;
    Guard guard;
    try {
        std::vector<std::string> errors;
        // AT_SECURE: setuid/setgid or capabilities gained at exec; paths from the
        // environment are then ignored (ld.so(8) does the same for LD_PRELOAD paths).
        const bool secure = ::getauxval(AT_SECURE) != 0;
        g_config = parse_config([](const char* n) -> const char* { return std::getenv(n); }, secure, errors);
        if (!errors.empty() && g_config.level >= Level::warn) {
            ReportContext ctx{static_cast<int>(::getpid()), self_exe(), now_seconds()};
            std::string out;
            for (const std::string& e : errors) out += render_config_error(g_config.format, e, ctx);
            log::emit(g_config, Level::warn, out);
        }
    } catch (...) {
        g_config = Config{};
    }
    g_state.store(ready, std::memory_order_release);
    errno = saved;
}

bool get_int_option(int fd, int level, int name, int& out) {
    socklen_t len = sizeof out;
    return ::getsockopt(fd, level, name, &out, &len) == 0;
}

/** What the failing socket is and what it asked for, from the fd and the call's address. */
bool describe_request(Call call, int fd, const sockaddr* addr, socklen_t len, int err,
                      Request& req) {
    req.call = call;
    req.fd = fd;
    req.err = err;
    int family = 0, type = 0;
    if (!get_int_option(fd, SOL_SOCKET, SO_DOMAIN, family) ||
        !get_int_option(fd, SOL_SOCKET, SO_TYPE, type))
        return false;
    sockaddr_storage local{};
    if (call == Call::listen || addr == nullptr) {
        socklen_t n = sizeof local;
        if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &n) != 0) return false;
        addr = reinterpret_cast<const sockaddr*>(&local);
        len = n;
    }
    if (family == AF_UNIX) {
        req.proto = type == SOCK_STREAM ? Proto::unix_stream : Proto::unix_dgram;
        if (len > offsetof(sockaddr_un, sun_path)) {
            const char* path = reinterpret_cast<const sockaddr_un*>(addr)->sun_path;
            const std::size_t max = len - offsetof(sockaddr_un, sun_path);
            if (path[0] == '\0') req.unix_path = "@" + std::string(path + 1, strnlen(path + 1, max - 1));
            else req.unix_path.assign(path, strnlen(path, max));
        }
    } else if (family == AF_INET || family == AF_INET6) {
        if (type == SOCK_STREAM) req.proto = Proto::tcp;
        else if (type == SOCK_DGRAM) req.proto = Proto::udp;
        else return false;
        const auto ep = endpoint_from_sockaddr(addr, len);
        if (!ep) return false;
        req.local = *ep;
    } else {
        return false;
    }
    int v = 0;
    if (get_int_option(fd, SOL_SOCKET, SO_REUSEADDR, v)) req.reuseaddr = v != 0;
    if (get_int_option(fd, SOL_SOCKET, SO_REUSEPORT, v)) req.reuseport = v != 0;
    if (family == AF_INET6 && get_int_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, v)) req.v6only = v != 0;
    char dev[IFNAMSIZ + 1] = {};
    socklen_t dev_len = IFNAMSIZ;
    if (::getsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, &dev_len) == 0 && dev_len > 0)
        req.device.assign(dev, strnlen(dev, dev_len));
    struct stat st;
    if (::fstat(fd, &st) == 0) req.inode = st.st_ino;
    return true;
}

} // namespace

void ensure_init() noexcept {
    if (g_state.load(std::memory_order_acquire) != ready) init_slow();
}

bool reentered() noexcept { return t_depth != 0; }

void report_failure(Call call, int fd, const sockaddr* addr, socklen_t len, int err) noexcept {
    const int saved = errno;
    Guard guard;
    try {
        Request req;
        if (describe_request(call, fd, addr, len, err, req)) {
            ProbeEnv env;
            env.bind_fn = &real::bind;
            const Observation obs = observe(req, env);
            const Verdict verdict = diagnose(req, obs);
            const ReportContext ctx{static_cast<int>(::getpid()), obs.self.exe,
                                    obs.host.now > 0 ? obs.host.now : now_seconds()};
            const Config& cfg = config();
            log::emit(cfg, Level::error, render(cfg.format, req, verdict, ctx));
        }
    } catch (...) {
        // Out of memory or a bug in the engine: the report is lost, the host is not.
    }
    errno = saved;
}

} // namespace portshim
