// The small enums both libraries speak: what failed, and (added as the event
// vocabulary grows) the other words the hooks and the engine must agree on.
// Plain enums only: the hooks include this, and they have no C++ runtime.
#pragma once

#include <cstddef>
#include <cstdint>

namespace portshim {

/** Which call failed with EADDRINUSE. */
enum class Call : std::uint8_t { bind, listen };

/**
 * Why listening fds cross an exec on purpose: the `handover` of the
 * `exec-leak` (hooks) and `inherited` (engine) events.
 */
enum class Handover : std::uint8_t {
    none,
    listen_fds,  ///< systemd-style socket activation: LISTEN_FDS names them
    self_exec,   ///< the program re-executes its own executable (a binary upgrade)
    closes_fds,  ///< a spawn helper that closes inherited descriptors before it execs (fd_closing_helper)
};

/**
 * The JSON value of `handover`: "listen-fds", "self-exec", "closes-fds",
 * nullptr for none (JSON null).
 */
constexpr const char* handover_id(Handover h) {
    return h == Handover::listen_fds ? "listen-fds"
           : h == Handover::self_exec ? "self-exec"
           : h == Handover::closes_fds ? "closes-fds"
                                       : nullptr;
}

/**
 * `path` names a spawn helper that closes every inherited descriptor above 2
 * before it execs the program it was asked to start: OpenJDK's
 * JAVA_HOME/lib/jspawnhelper (java.base's childproc.c, closeDescriptors(), run
 * by ProcessBuilder through posix_spawn with that absolute path). Only in that
 * layout: a file of that name elsewhere is any program. The sockets it
 * inherits never reach that program: no leak. Plain memory reads: the hooks
 * call it before exec.
 */
constexpr bool fd_closing_helper(const char* path) {
    if (path == nullptr) return false;
    constexpr char tail[] = "/lib/jspawnhelper";
    constexpr std::size_t tail_len = sizeof tail - 1;
    std::size_t len = 0;
    while (path[len] != '\0') ++len;
    if (len < tail_len) return false;
    for (std::size_t i = 0; i < tail_len; ++i)
        if (path[len - tail_len + i] != tail[i]) return false;
    return true;
}

} // namespace portshim
