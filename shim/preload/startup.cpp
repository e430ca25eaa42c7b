// Start-up: one-time initialisation from the constructor or whichever hook
// runs first, the configuration errors found then, and the scan for listening
// sockets inherited at exec. No C++ runtime, no allocation, no constructors or
// destructors of its own state; what runs at load costs one poll(2) at most.
#include "startup.hpp"

#include "engine_loader.hpp"
#include "listeners.hpp"
#include "own_stack.hpp"
#include "common/raw_syscall.hpp"
#include "runtime.hpp"
#include "seccomp_state.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <new>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim {

namespace {

enum : int { uninitialised = 0, initialising = 1, ready = 2 };

std::atomic<int> g_state{uninitialised};
Config g_config;                 // written once by the thread that wins g_state
const Config g_defaults;         // what a hook uses while another thread initialises
ConfigErrors g_errors;           // bad PORTSHIM_* values, reported at the first hook
std::atomic<bool> g_errors_pending{false};
StderrIdentity g_stderr;         // fd 2 as it was at load (see engine_api.hpp)

void init_slow() noexcept {
    int expected = uninitialised;
    // A loser (another thread mid-initialisation) goes on with the defaults rather
    // than waiting: a hook must never block. (A child forked during those few
    // microseconds keeps the defaults; a fork handler would cost every exec a malloc.)
    if (!g_state.compare_exchange_strong(expected, initialising, std::memory_order_acq_rel))
        return;
    const int saved = errno;
    Guard guard;
    // AT_SECURE: setuid/setgid or capabilities gained at exec; paths from the
    // environment are then ignored (ld.so(8) does the same for LD_PRELOAD paths).
    const bool secure = ::getauxval(AT_SECURE) != 0;
    // Parsed straight into the globals (nothing reads them before g_state is
    // ready): a Config and a ConfigErrors on the stack are 1.5 KiB of it, and
    // a new stack page is a page fault in every exec'd process.
    new (&g_config) Config(parse_config(
        [](const char* n) -> const char* { return std::getenv(n); }, secure, g_errors));
    g_errors_pending.store(g_errors.count > 0 && g_config.level >= Level::warn,
                           std::memory_order_relaxed);
    g_state.store(ready, std::memory_order_release);
    errno = saved;
}

/** Once per process, at the first hook call: the configuration errors found at load. */
void report_config_errors() noexcept {
    if (in_unsafe_child()) return;
    if (!g_errors_pending.exchange(false, std::memory_order_acq_rel)) return;
    const int saved = errno;
    if (seccomp::in_force_cached()) {
        errno = saved;
        return;
    }
    Guard guard;
    on_own_stack([] {
        EngineCalls engine;
        if (load_engine(engine)) engine.config_errors(&g_config, &g_errors, &g_stderr);
    });
    errno = saved;
}

/** LISTEN_FDS when LISTEN_PID is this process (sd_listen_fds(3)), else 0. */
int systemd_listen_fds() {
    const char* pid = std::getenv("LISTEN_PID");
    const char* fds = std::getenv("LISTEN_FDS");
    if (pid == nullptr || fds == nullptr) return 0;
    char* end = nullptr;
    const long p = std::strtol(pid, &end, 10);
    if (*end != '\0' || p != static_cast<long>(::getpid())) return 0;
    const long n = std::strtol(fds, &end, 10);
    return *end == '\0' && n > 0 && n < INT_MAX - 3 ? static_cast<int>(n) : 0;
}

/**
 * At load: the listening sockets this process started with. Each is
 * remembered (for fork and exec events); the engine reports them unless every
 * one is a LISTEN_FDS hand-over and the level is above debug. Only a process
 * that holds a socket gets here (the FdList is 5 KiB of stack).
 */
__attribute__((noinline)) void scan_inherited_sockets() {
    listeners::FdList found;
    listeners::scan_at_load(found);
    if (found.count == 0) return;
    const int handed = systemd_listen_fds();
    Inherited inherited;
    bool all_handed = true;
    for (int i = 0; i < found.count && inherited.count < Inherited::max_fds; ++i) {
        const listeners::ListenFd& fd = found.items[i];
        listeners::note_inherited(fd);
        InheritedFd& out = inherited.fds[inherited.count++];
        out.fd = fd.fd;
        out.cloexec = fd.cloexec;
        out.inode = fd.inode;
        out.listen_fds = fd.fd >= 3 && fd.fd < 3 + handed;
        all_handed &= out.listen_fds;
    }
    inherited.more = found.more;
    const Config& cfg = config();
    if (cfg.level < Level::info || (all_handed && cfg.level < Level::debug)) return;
    inherited.config = &cfg;
    inherited.stderr_identity = &g_stderr;
    Guard guard;
    on_own_stack([&inherited] {
        EngineCalls engine;
        if (load_engine(engine)) engine.inherited(&inherited);
    });
}

/** Processes with nothing beyond stdio (nearly all) pay one poll(2). */
void scan_inherited() {
    if (listeners::socket_at_load()) scan_inherited_sockets();
}

} // namespace

const Config& config() noexcept {
    return g_state.load(std::memory_order_acquire) == ready ? g_config : g_defaults;
}

const Config& config_for_spawn() noexcept {
    if (g_state.load(std::memory_order_acquire) != ready) init_slow();
    return config();
}

const StderrIdentity* stderr_identity() noexcept { return &g_stderr; }

void load() noexcept {
    const int saved = errno;
    note_process_start();
    struct stat st;
    g_stderr.open = raw_fstat(2, &st) == 0;
    if (g_stderr.open) {
        g_stderr.dev = st.st_dev;
        g_stderr.ino = st.st_ino;
    }
    g_stderr.recorded = true;
    if (g_state.load(std::memory_order_acquire) != ready) init_slow();
    scan_inherited();
    // The real functions are resolved on first use, not here: three dlsym calls
    // in every exec'd process measured as part of a +11% exec cost (README).
    errno = saved;
}

void ensure_init() noexcept {
    if (g_state.load(std::memory_order_acquire) != ready) init_slow();
    if (g_errors_pending.load(std::memory_order_relaxed) && !reentered()) report_config_errors();
}

} // namespace portshim
