// What the supervisor does with one supervised call: perform it on the
// program's socket where the kernel cannot answer differently, else let the
// kernel run it in the program, predicting EADDRINUSE where it can so that the
// failure is still explained (docs/supervisor.md 3).
#pragma once

#include <string>
#include <sys/socket.h>

namespace portshim::supervisor {

/** Facts about the host read once at start. */
struct Policy {
    /** An LSM that checks the calling task's label or domain at bind (AppArmor, Landlock, TOMOYO). */
    bool task_lsm = false;

    static Policy read();
};

enum class Action {
    perform, ///< the supervisor's call on the program's socket gives the program's result
    predict, ///< CONTINUE, after predict_in_use() said whether to report
    pass,    ///< CONTINUE, nothing to explain (or nothing known)
};

/** The action for bind(sfd, ss, len) called by task `tid`; sfd is the supervisor's copy. */
Action decide_bind(const Policy& policy, int sfd, int tid, const sockaddr_storage& ss, socklen_t len);

/** The action for listen(sfd) called by task `tid`. */
Action decide_listen(const Policy& policy, int sfd, int tid);

/**
 * For Action::predict: whether the program's own call is going to fail with
 * EADDRINUSE (then the supervisor reports it before letting the kernel run it).
 * `ss` is null for listen.
 */
bool predict_in_use(const Policy& policy, int sfd, int tid, const sockaddr_storage* ss, socklen_t len);

/** A small /proc or /sys file, empty when unreadable. */
std::string read_small_file(const std::string& path);

} // namespace portshim::supervisor
