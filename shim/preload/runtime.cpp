// One-time initialisation, the re-entry guard, and the path to the engine.
// This file is part of the small preloaded library: no C++ runtime, no
// allocation, no constructors or destructors of its own state. The diagnosis
// engine (C++, fmt, probes) lives in libportshim-engine.so and is loaded with
// dlopen(RTLD_LOCAL) only when there is something to report, so a process that
// never fails a bind pays nothing for it.
#include "runtime.hpp"

#include "common/inet_address.hpp"
#include "common/engine_api.hpp"
#include "common/events.hpp"
#include "listeners.hpp"
#include "rate_limit.hpp"
#include "own_stack.hpp"
#include "seccomp_state.hpp"
#include "signal_context.hpp"
#include "common/sink.hpp"
#include "zeroed_map.hpp"
#include "real.hpp"
#include "common/safe_write.hpp"

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <climits>
#include <ctime>
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
// This process is a fork child of a multi-threaded program and has not exec'd:
// another thread may have held malloc's or the loader's lock at the fork, so
// the engine must not run here (DESIGN.md rule 7).
bool g_unsafe_child = false;
// The pid of this process when it forked with more than one thread: a hook
// running in a pid other than this one is in the child, even inside
// real::fork (pthread_atfork child handlers run before fork returns there).
std::atomic<int> g_threaded_fork_parent{0};
// See process_pid(): written at load and in the fork hook's child only.
std::atomic<int> g_pid{0};

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

/** Appends `text` to buf[0..size) at *len, truncating; keeps buf NUL-terminated. */
void append(char* buf, std::size_t size, std::size_t& len, const char* text) {
    while (*text != '\0' && len + 1 < size) buf[len++] = *text++;
    buf[len] = '\0';
}

void append_number(char* buf, std::size_t size, std::size_t& len, long value) {
    char digits[24];
    int n = 0;
    unsigned long v = value < 0 ? 0UL - static_cast<unsigned long>(value) : static_cast<unsigned long>(value);
    do digits[n++] = static_cast<char>('0' + v % 10); while ((v /= 10) != 0 && n < 22);
    if (value < 0) digits[n++] = '-';
    char out[24];
    for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
    out[n] = '\0';
    append(buf, size, len, out);
}

/**
 * The engine's entry points, resolved once. dlopen(RTLD_LOCAL) keeps the
 * engine's symbols (and its static C++ runtime) out of the host's global
 * scope; RTLD_NODELETE keeps it mapped for the life of the process.
 */
struct Engine {
    std::atomic<int> state{0};  // 0 not tried, 1 loaded, -1 failed
    std::atomic<portshim_engine_report_fn> report{nullptr};
    std::atomic<portshim_engine_config_errors_fn> config_errors{nullptr};
    std::atomic<portshim_engine_listened_fn> listened{nullptr};
    std::atomic<portshim_engine_inherited_fn> inherited{nullptr};
    char error[256] = {};
};
Engine g_engine;

bool load_engine() {
    const int state = g_engine.state.load(std::memory_order_acquire);
    if (state != 0) return state == 1;
    // The engine sits next to this library: lib/portshim/ in the build and install
    // trees. RTLD_DI_ORIGIN is the directory ld.so resolved when it loaded us, made
    // absolute then: a relative LD_PRELOAD must not follow the host's later chdir.
    Dl_info info{};
    link_map* self = nullptr;
    char origin[PATH_MAX] = {};
    if (::dladdr1(reinterpret_cast<void*>(&load_engine), &info, reinterpret_cast<void**>(&self),
                  RTLD_DL_LINKMAP) == 0 ||
        self == nullptr || ::dlinfo(self, RTLD_DI_ORIGIN, origin) != 0 || origin[0] != '/') {
        std::strcpy(g_engine.error, "cannot find the directory of libportshim.so (dlinfo)");
        g_engine.state.store(-1, std::memory_order_release);
        return false;
    }
    char path[PATH_MAX + sizeof PORTSHIM_ENGINE_FILE + 1];
    std::size_t len = 0;
    append(path, sizeof path, len, origin);
    append(path, sizeof path, len, "/");
    append(path, sizeof path, len, PORTSHIM_ENGINE_FILE);
    errno = 0;
    void* handle = ::dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    const int open_errno = errno;
    if (handle != nullptr) {
        auto report = reinterpret_cast<portshim_engine_report_fn>(::dlsym(handle, "portshim_engine_report"));
        auto errors = reinterpret_cast<portshim_engine_config_errors_fn>(
            ::dlsym(handle, "portshim_engine_config_errors"));
        auto listened = reinterpret_cast<portshim_engine_listened_fn>(
            ::dlsym(handle, "portshim_engine_listened"));
        auto inherited = reinterpret_cast<portshim_engine_inherited_fn>(
            ::dlsym(handle, "portshim_engine_inherited"));
        if (report != nullptr && errors != nullptr && listened != nullptr && inherited != nullptr) {
            g_engine.report.store(report, std::memory_order_relaxed);
            g_engine.inherited.store(inherited, std::memory_order_relaxed);
            g_engine.listened.store(listened, std::memory_order_relaxed);
            g_engine.config_errors.store(errors, std::memory_order_relaxed);
            g_engine.state.store(1, std::memory_order_release);
            return true;
        }
    }
    const char* why = ::dlerror();
    std::size_t elen = 0;
    append(g_engine.error, sizeof g_engine.error, elen, why != nullptr ? why : path);
    // Out of descriptors or memory passes: try again at the next failure (dlopen
    // does not keep errno reliably, so: the file is there, yet did not load). A
    // missing engine stays failed for the life of the process.
    const bool transient = handle == nullptr &&
                           (open_errno == EMFILE || open_errno == ENFILE || open_errno == ENOMEM ||
                            ::access(path, R_OK) == 0);
    g_engine.state.store(transient ? 0 : -1, std::memory_order_release);
    return false;
}

/** Without the engine there is no diagnosis, but the operator still learns why. */
void report_engine_missing(int err) {
    char line[512];
    std::size_t len = 0;
    append(line, sizeof line, len, "portshim[");
    append_number(line, sizeof line, len, static_cast<long>(::getpid()));
    append(line, sizeof line, len, "]: a call failed with errno ");
    append_number(line, sizeof line, len, err);
    append(line, sizeof line, len, ", but the diagnosis engine could not be loaded: ");
    append(line, sizeof line, len, g_engine.error);
    append(line, sizeof line, len, "\n");
    sink::write_event(config(), Level::error, line, len, &g_stderr, sink::Origin::own_failure);
}

void init_slow() noexcept {
    int expected = uninitialised;
    // A loser (another thread mid-initialisation) goes on with the defaults rather
    // than waiting: a hook must never block. (A child forked during those few
    // microseconds keeps the defaults; a fork handler would cost every exec a malloc.)
    if (!g_state.compare_exchange_strong(expected, initialising, std::memory_order_acq_rel))
        return;
    const int saved = errno;
    Guard guard;
    ConfigErrors errors;
    // AT_SECURE: setuid/setgid or capabilities gained at exec; paths from the
    // environment are then ignored (ld.so(8) does the same for LD_PRELOAD paths).
    const bool secure = ::getauxval(AT_SECURE) != 0;
    g_config = parse_config([](const char* n) -> const char* { return std::getenv(n); }, secure,
                            errors);
    g_errors = errors;
    g_errors_pending.store(errors.count > 0 && g_config.level >= Level::warn,
                           std::memory_order_relaxed);
    g_state.store(ready, std::memory_order_release);
    errno = saved;
}

/**
 * Runs `fn` with thread cancellation disabled: the engine's poll, read and
 * write are cancellation points, and a cancellation unwinding through its
 * catch (...) would make glibc abort the host (pthread_cancel(3)).
 */
template <typename Fn>
void without_cancellation(Fn fn) {
    int old = PTHREAD_CANCEL_ENABLE;
    ::pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
    fn();
    ::pthread_setcancelstate(old, nullptr);
}

/**
 * Runs `fn` (the engine, the unwinder) on a stack of its own, with thread
 * cancellation disabled: the host's thread may have a few KiB of stack left
 * (PTHREAD_STACK_MIN, a coroutine), the engine needs far more. Returns false,
 * without running it, when no stack could be mapped.
 */
template <typename Fn>
bool on_own_stack(Fn fn) {
    bool ran = false;
    without_cancellation([&] {
        ran = run_on_own_stack([](void* p) { (*static_cast<Fn*>(p))(); }, &fn);
    });
    return ran;
}

/** Once per process, at the first hook call: the configuration errors found at load. */
void report_config_errors() noexcept {
    if (g_unsafe_child) return;
    if (!g_errors_pending.exchange(false, std::memory_order_acq_rel)) return;
    const int saved = errno;
    if (seccomp::in_force_cached()) {
        errno = saved;
        return;
    }
    Guard guard;
    on_own_stack([] {
        if (load_engine())
            g_engine.config_errors.load(std::memory_order_relaxed)(&g_config, &g_errors, &g_stderr);
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
 * one is a LISTEN_FDS hand-over and the level is above debug. Processes with
 * nothing beyond stdio (nearly all) pay one poll(2).
 */
void scan_inherited() {
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
        if (load_engine()) g_engine.inherited.load(std::memory_order_relaxed)(&inherited);
    });
}

} // namespace

const Config& config_for_spawn() noexcept {
    if (g_state.load(std::memory_order_acquire) != ready) init_slow();
    return config();
}

const StderrIdentity* stderr_identity() noexcept { return &g_stderr; }

void note_listening(int fd) noexcept {
    if (!seccomp::recorded()) listeners::note_listen(fd);
}

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

void load() noexcept {
    const int saved = errno;
    g_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
    struct stat st;
    g_stderr.open = ::fstat(2, &st) == 0;
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
    if (g_errors_pending.load(std::memory_order_relaxed) && t_depth == 0) report_config_errors();
}

bool reentered() noexcept { return t_depth != 0; }

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

void entered_fork_child(bool parent_threaded) noexcept {
    g_unsafe_child = parent_threaded;
    g_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
}

int process_pid() noexcept { return g_pid.load(std::memory_order_relaxed); }

void forking(bool threaded) noexcept {
    if (threaded) g_threaded_fork_parent.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
}

namespace {

/** Why the engine must not run in this context, or nullptr when it may. Walks the stack: call it on our own. */
const events::NotDiagnosed* unsafe_context() {
    static constexpr events::NotDiagnosed child = events::NotDiagnosed::threaded_child;
    static constexpr events::NotDiagnosed handler = events::NotDiagnosed::signal_handler;
    if (g_unsafe_child) return &child;
    const int parent = g_threaded_fork_parent.load(std::memory_order_relaxed);
    if (parent != 0 && parent != static_cast<int>(::getpid())) return &child;
    if (in_signal_handler()) return &handler;
    return nullptr;
}

} // namespace

void check_reuseport_sharing(int fd) noexcept {
    // Only SO_REUSEPORT sockets can share a listening port. The setsockopt hook
    // noted which fds set it, so an ordinary listen() costs one memory load.
    if (fd < 0 || config().level < Level::warn || g_unsafe_child) return;
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
        if (unsafe_context() != nullptr || !load_engine()) return;
        Failure f;
        f.call = 1;
        f.fd = fd;
        f.config = &config();
        f.stderr_identity = &g_stderr;
        g_engine.listened.load(std::memory_order_relaxed)(&f);
    });
    errno = saved;
}

int retry_bind(int fd, const sockaddr* addr, socklen_t len) noexcept {
    timespec start{}, now{};
    ::clock_gettime(CLOCK_MONOTONIC, &start);
    const long limit_ms = static_cast<long>(config().wait_seconds) * 1000;
    for (;;) {
        ::clock_gettime(CLOCK_MONOTONIC, &now);
        const long elapsed_ms =
            (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed_ms >= limit_ms) {
            errno = EADDRINUSE;
            return -1;
        }
        const long step_ms = limit_ms - elapsed_ms < 250 ? limit_ms - elapsed_ms : 250;
        timespec pause{0, step_ms * 1000000};
        while (::nanosleep(&pause, &pause) != 0 && errno == EINTR) {
        }
        if (real::bind(fd, addr, len) == 0) return 0;
        if (errno != EADDRINUSE) return -1; // something else went wrong: the program sees it
    }
}

namespace {

/** One failure on its way to the engine, run on a stack of our own (see report_failure). */
struct FailureJob {
    Call call;
    int fd;
    const sockaddr* addr;
    socklen_t len;
    int err;
    bool reuseaddr_injected;
    bool retry = false;       ///< out: PORTSHIM_WAIT applies
};

void report_undiagnosed(Call call, int fd, const sockaddr* addr, socklen_t len, int err,
                        events::NotDiagnosed why) {
    // The type socket() noted only where asking the socket is not ours to do:
    // an fd from accept or dup2 keeps the entry of the socket it replaced.
    const int type = why == events::NotDiagnosed::seccomp ? socket_type(fd) : 0;
    events::report_undiagnosed(config(), &g_stderr, call == Call::listen, fd, addr, len, err, type,
                               why);
}

/**
 * The rate limit under a seccomp filter, where the address table's system
 * calls are not ours to make: the first 8 lines, then one per 10 s.
 * CLOCK_MONOTONIC is read through the vDSO.
 */
bool seccomp_line_due() {
    static std::atomic<unsigned> lines{0};
    static std::atomic<long long> last_s{0};
    if (lines.fetch_add(1, std::memory_order_relaxed) < 8) return true;
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    long long last = last_s.load(std::memory_order_relaxed);
    return now.tv_sec - last >= 10 &&
           last_s.compare_exchange_strong(last, now.tv_sec, std::memory_order_relaxed);
}

void run_failure(FailureJob& job) {
    if (const events::NotDiagnosed* why = unsafe_context()) {
        report_undiagnosed(job.call, job.fd, job.addr, job.len, job.err, *why);
        return;
    }
    rate_limit::Ticket ticket = rate_limit::check(job.call == Call::listen, job.fd, job.addr, job.len);
    if (!ticket.report) {
        job.retry = ticket.retry; // a repeat within 10 s: counted, summarised later
        return;
    }
    const char* cause = "";
    Failure f;
    if (load_engine()) {
        f.call = job.call == Call::listen ? 1 : 0;
        f.fd = job.fd;
        f.err = job.err;
        f.addr = job.addr;
        f.addr_len = job.len;
        f.real_bind = &real::bind;
        f.config = &config();
        f.stderr_identity = &g_stderr;
        f.reuseaddr_injected = job.reuseaddr_injected;
        f.repeats = ticket.repeats > 0 ? ticket.repeats + 1 : 0; // the skipped ones and this one
        std::memcpy(f.cause, ticket.cause, sizeof f.cause);
        g_engine.report.load(std::memory_order_relaxed)(&f);
        job.retry = f.retry;
        cause = f.cause;
    } else {
        report_engine_missing(job.err);
    }
    rate_limit::done(ticket, cause, job.retry);
}

} // namespace

bool report_failure(Call call, int fd, const sockaddr* addr, socklen_t len, int err,
                    bool reuseaddr_injected) noexcept {
    const int saved = errno;
    // Under a seccomp filter any call the host did not make may kill it: the
    // short line only, from this stack, before anything else is touched.
    if (seccomp::in_force()) {
        if (seccomp_line_due())
            report_undiagnosed(call, fd, addr, len, err, events::NotDiagnosed::seccomp);
        errno = saved;
        return false;
    }
    Guard guard;
    FailureJob job{call, fd, addr, len, err, reuseaddr_injected};
    // Everything from here (the signal-frame walk, the engine) runs on a stack
    // of its own: the host's may be a 16 KiB thread stack or a small coroutine.
    if (!on_own_stack([&job] { run_failure(job); }))
        report_undiagnosed(call, fd, addr, len, err, events::NotDiagnosed::no_stack);
    errno = saved;
    return job.retry;
}

} // namespace portshim
