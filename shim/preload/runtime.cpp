// The re-entry guard, the process's context, and the failure path: a failed
// bind or listen is reported (by the engine, or in one line where it must not
// run) and, under PORTSHIM_WAIT, retried. Part of the small preloaded library:
// no C++ runtime, no allocation; the engine runs on a stack of its own.
#include "runtime.hpp"

#include "common/vocabulary.hpp"
#include "engine_loader.hpp"
#include "listeners.hpp"
#include "own_stack.hpp"
#include "common/rate_limit.hpp"
#include "real.hpp"
#include "common/raw_syscall.hpp"
#include "seccomp_state.hpp"
#include "signal_context.hpp"
#include "socket_options.hpp"
#include "startup.hpp"

#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <unistd.h>

namespace portshim {

__thread int t_reentry_depth __attribute__((tls_model("initial-exec")));

namespace {

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

} // namespace

void note_process_start() noexcept { g_pid.store(raw_getpid(), std::memory_order_relaxed); }

void entered_fork_child(bool parent_threaded) noexcept {
    g_unsafe_child = parent_threaded;
    g_pid.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
}

int process_pid() noexcept { return g_pid.load(std::memory_order_relaxed); }

void forking(bool threaded) noexcept {
    if (threaded) g_threaded_fork_parent.store(static_cast<int>(::getpid()), std::memory_order_relaxed);
}

bool in_unsafe_child() noexcept { return g_unsafe_child; }

const events::NotDiagnosed* unsafe_context() noexcept {
    static constexpr events::NotDiagnosed child = events::NotDiagnosed::threaded_child;
    static constexpr events::NotDiagnosed handler = events::NotDiagnosed::signal_handler;
    if (g_unsafe_child) return &child;
    const int parent = g_threaded_fork_parent.load(std::memory_order_relaxed);
    if (parent != 0 && parent != static_cast<int>(::getpid())) return &child;
    if (in_signal_handler()) return &handler;
    return nullptr;
}

namespace {

/**
 * PORTSHIM_WAIT: retries bind(fd, addr) every 250 ms for up to the configured
 * seconds. Returns 0 once it succeeds, else -1 with errno set to the last
 * failure (EADDRINUSE when time ran out). Only called after report_failure
 * said the cause clears by itself.
 */
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
    const char* detail = why == events::NotDiagnosed::no_engine ? engine_error() : nullptr;
    events::report_undiagnosed(config(), stderr_identity(), call == Call::listen, fd, addr, len, err,
                               type, why, detail);
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
    EngineCalls engine;
    if (load_engine(engine)) {
        f.call = job.call == Call::listen ? 1 : 0;
        f.fd = job.fd;
        f.err = job.err;
        f.addr = job.addr;
        f.addr_len = job.len;
        f.real_bind = &real::bind;
        f.config = &config();
        f.stderr_identity = stderr_identity();
        f.reuseaddr_injected = job.reuseaddr_injected;
        f.repeats = ticket.repeats > 0 ? ticket.repeats + 1 : 0; // the skipped ones and this one
        std::memcpy(f.cause, ticket.cause, sizeof f.cause);
        engine.report(&f);
        job.retry = f.retry;
        cause = f.cause;
    } else {
        // Without the engine there is no diagnosis, but the operator still learns why.
        report_undiagnosed(job.call, job.fd, job.addr, job.len, job.err, events::NotDiagnosed::no_engine);
    }
    rate_limit::done(ticket, cause, job.retry);
}

/**
 * Runs a diagnosis for a call that failed with `err` and writes the report.
 * `reuseaddr_injected`: portshim set SO_REUSEADDR on this socket before the call.
 * Returns true when PORTSHIM_WAIT applies (the cause clears by itself).
 * Never throws, never changes errno or the host's descriptors as seen on return.
 */
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

} // namespace

int bind_explained(int fd, const sockaddr* addr, socklen_t len) noexcept {
    const int entry_errno = errno;
    const bool injected = inject_reuseaddr(fd, addr, len);
    int rc = real::bind(fd, addr, len);
    if (rc == 0) forget_reuseaddr_choice(fd);
    if (rc == 0 || errno != EADDRINUSE) return rc;
    const int saved = errno;
    // PORTSHIM_WAIT: the program sees success (errno as it was) or the original error.
    if (report_failure(Call::bind, fd, addr, len, saved, injected) && retry_bind(fd, addr, len) == 0) {
        forget_reuseaddr_choice(fd);
        errno = entry_errno;
        return 0;
    }
    errno = saved;
    return rc;
}

void after_listen(int fd, int rc) noexcept {
    if (rc == 0) {
        if (!seccomp::recorded()) listeners::note_listen(fd);
        check_reuseport_sharing(fd);
        return;
    }
    if (errno != EADDRINUSE) return;
    const int saved = errno;
    report_failure(Call::listen, fd, nullptr, 0, saved, false);
    errno = saved;
}

} // namespace portshim
