// The interface between libportshim.so (the small preloaded hooks) and
// libportshim-engine.so (the diagnosis, loaded with dlopen on the first
// failure). Both are built from this tree together, so plain structs suffice.
#pragma once

#include "config.hpp"

#include <sys/socket.h>
#include <sys/types.h>

namespace portshim {

/**
 * What fd 2 was when the library loaded. A daemon that closes its stdio and
 * opens a data file gets fd 2 back for that file; reports must not land in it,
 * so they go to stderr only while fd 2 is still the same file.
 */
struct StderrIdentity {
    bool recorded = false;   ///< false: a hook ran before the constructor; check type only
    bool open = false;       ///< fd 2 was open at load
    dev_t dev = 0;
    ino_t ino = 0;
    /**
     * Not about fd 2, but kept with it because both libraries write through
     * the hooks' StderrIdentity (the engine gets a pointer to it): the sink's
     * once-per-process notes (bits of sink::Note), the events no sink could
     * take at once, and how many of those a note has named. Changed only with
     * __atomic builtins; zero, so the hooks' copy stays in .bss (a Config in
     * .data cost every exec a page fault). Fork children inherit them.
     */
    mutable unsigned notes_told = 0;
    mutable unsigned dropped = 0;
    mutable unsigned dropped_told = 0;
};

/** Everything the engine needs to explain one failed call. */
struct Failure {
    int call = 0;                        ///< 0 bind, 1 listen
    int fd = -1;
    int err = 0;
    const sockaddr* addr = nullptr;      ///< bind's argument; nullptr for listen
    socklen_t addr_len = 0;
    /** libc's bind, for the scratch probe: the engine must never call the hook. */
    int (*real_bind)(int, const sockaddr*, socklen_t) = nullptr;
    const Config* config = nullptr;
    const StderrIdentity* stderr_identity = nullptr;
    bool reuseaddr_injected = false;     ///< PORTSHIM_REUSEADDR set SO_REUSEADDR before the call
    /** Out: PORTSHIM_WAIT applies: the cause clears by itself, so the hook may retry the bind. */
    bool retry = false;
    /**
     * Rate limit: failures on this address not reported since the last line
     * (0: the first report). With repeats > 0 and the same cause as `cause`
     * the engine writes one summary line instead of the full report.
     */
    int repeats = 0;
    /** In: the cause of the last report on this address ("" none); out: this one's. */
    char cause[32] = {};
};

/** A listening socket this process held when the library loaded (startup scan). */
struct InheritedFd {
    int fd = -1;
    bool cloexec = false;                ///< FD_CLOEXEC set on it
    unsigned long long inode = 0;        ///< the socket's inode (fstat st_ino)
    bool listen_fds = false;             ///< a systemd hand-over: LISTEN_PID is us, fd in [3, 3+LISTEN_FDS)
};

/** The startup scan's findings, for the `inherited` event. */
struct Inherited {
    static constexpr int max_fds = 64;
    int count = 0;                       ///< entries used in fds
    int more = 0;                        ///< listening sockets beyond max_fds, not listed
    InheritedFd fds[max_fds];
    const Config* config = nullptr;
    const StderrIdentity* stderr_identity = nullptr;
};

} // namespace portshim

/** File name of the engine, found next to libportshim.so. */
#define PORTSHIM_ENGINE_FILE "libportshim-engine.so"

extern "C" {
/**
 * Diagnoses and reports one failure; with PORTSHIM_WAIT set and a cause that
 * clears by itself (time-wait, previous-instance, inherited-fd) it also
 * reports a "waiting" event and sets failure->retry. Never throws; keeps errno
 * and the fd set.
 */
using portshim_engine_report_fn = void (*)(portshim::Failure* failure);
/**
 * After a successful listen() on a SO_REUSEPORT socket: warns (reuseport-shared)
 * when other programs' listeners now share the port. Never throws; keeps errno.
 */
using portshim_engine_listened_fn = void (*)(portshim::Failure* socket);
/**
 * At load, when the process started holding listening sockets: reports one
 * `inherited` event (info; debug when every fd is a hand-over: LISTEN_FDS or
 * the same program re-exec'ing itself), naming the parent and, from the
 * registry, the opener. Never throws; keeps errno and the fd set.
 */
using portshim_engine_inherited_fn = void (*)(const portshim::Inherited* found);
/** Reports the configuration errors found by the preload library, once. */
using portshim_engine_config_errors_fn = void (*)(const portshim::Config* config,
                                                  const portshim::ConfigErrors* errors,
                                                  const portshim::StderrIdentity* identity);
}
