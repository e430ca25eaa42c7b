// What the supervisor does with one supervised call: perform it on the
// program's socket where the kernel cannot answer differently, else let the
// kernel run it in the program, predicting EADDRINUSE where it is certain so
// that the failure is still explained (docs/supervisor.md 3,
// docs/supervisor-policy.md). The decisions are pure functions of facts read
// from /proc and /sys, so that unit tests can give them any host.
#pragma once

#include "diag/types.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <sys/socket.h>
#include <vector>

namespace portshim::supervisor {

/** The LSMs active on the host that judge bind/listen by the calling task. */
struct HostLsm {
    bool apparmor = false;
    bool landlock = false;
    bool tomoyo = false;
    /** SELinux: `selinux_socket_bind`/`listen` check current's SID (sock_has_perm). */
    bool selinux = false;
    /** /sys/fs/selinux/enforce is "1" (or unreadable): a domain may be denied. */
    bool selinux_enforcing = true;
    /** landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION); 0 without Landlock. */
    int landlock_abi = 0;
};

/** What the kernel checks of a calling task at bind: its label and its capability. */
struct TaskFacts {
    bool known = false;                ///< /proc/TID/status was read
    std::string apparmor_label;        ///< attr/apparmor/current (attr/current before 5.8)
    std::string selinux_context;       ///< attr/selinux/current, else attr/current
    bool net_bind_service = false;     ///< CAP_NET_BIND_SERVICE in CapEff
    std::uint32_t euid = 0;
    std::uint64_t userns = 0;          ///< st_ino of ns/user
    /**
     * st_ino of the netns the call is judged in: read_task() gives the task's ns/net,
     * the decisions on a socket replace it with the *socket's* (sock_net, via
     * socket_netns()), which is what the kernel checks; 0 unknown.
     */
    std::uint64_t netns = 0;
    std::uint64_t netns_owner = 0;     ///< st_ino of the user ns owning that netns (NS_GET_USERNS)
    /** ip_unprivileged_port_start of that netns when read from inside it; -1 not read. */
    int port_start = -1;
};

/** Facts read once when the supervisor starts: the host's LSMs and the supervisor itself. */
struct Policy {
    HostLsm lsm;
    TaskFacts self;
    /** net.ipv4.ip_unprivileged_port_start of the supervisor's netns; -1 unknown. */
    int port_start = -1;
    /** SO_NETNS_COOKIE of the supervisor's netns (Linux 5.14); 0 unknown. */
    std::uint64_t netns_cookie = 0;
    /**
     * A supervised task called landlock_restrict_self (the filter notifies it, the
     * call is CONTINUE'd): its domain, and its later children's, may differ from the
     * supervisor's. Until then every supervised task has the supervisor's domain
     * (inherited from the launcher, which restricts nothing between the fork and
     * exec). Mutable: the one fact that changes while serving.
     */
    mutable bool landlock_restricted = false;

    static Policy read();
};

/** The facts of task `tid` (a thread id: creds and labels are per thread). */
TaskFacts read_task(int tid);

/**
 * Sets t.netns and t.netns_owner to those of the netns socket `sfd` lives in
 * (sock_net: where the kernel judges its bind), and t.port_start to -1: the
 * supervisor's own when SO_NETNS_COOKIE matches ours, else from
 * ioctl(SIOCGSKNS) (needs CAP_NET_ADMIN there); 0 when neither answers.
 */
void socket_netns(const Policy& policy, int sfd, TaskFacts& t);

/** One bind as the decisions see it. */
struct BindCall {
    int family = 0;        ///< AF_INET, AF_INET6, AF_UNIX
    int type = 0;          ///< SOCK_STREAM, SOCK_DGRAM, …
    unsigned port = 0;     ///< inet only
    bool unix_path = false; ///< AF_UNIX with a pathname (not abstract, not autobind)
};

enum class Action {
    perform, ///< the supervisor's call on the program's socket gives the program's result
    predict, ///< CONTINUE, after predict_in_use() said whether to report
    pass,    ///< CONTINUE, nothing to explain (or nothing known)
};

/** Whether every LSM on the host answers the caller's call as it answers the supervisor's. */
bool same_lsm_answer(const Policy& policy, const TaskFacts& caller, bool tcp);

/** An AppArmor label that denies nothing: "unconfined", or a profile in complain or unconfined mode. */
bool apparmor_allows_all(const std::string& label);

/**
 * Whether no LSM can deny the caller's bind before the kernel looks at the port or
 * name table (then a prediction from that table is certain).
 */
bool caller_lsm_allows(const Policy& policy, const TaskFacts& caller, bool tcp);

/** Whether the privileged-port check (CAP_NET_BIND_SERVICE) answers both the same for `port`. */
bool same_port_answer(const Policy& policy, const TaskFacts& caller, unsigned port);

/** Whether the caller passes the privileged-port check for `port` (then EADDRINUSE can come). */
bool caller_may_bind_port(const Policy& policy, const TaskFacts& caller, unsigned port);

Action decide_bind(const Policy& policy, const TaskFacts& caller, const BindCall& call);
Action decide_listen(const Policy& policy, const TaskFacts& caller, int family);

/** The action for bind(sfd, ss, len) called by task `tid`; sfd is the supervisor's copy. */
Action decide_bind(const Policy& policy, int sfd, int tid, const sockaddr_storage& ss, socklen_t len);

/** The action for listen(sfd) called by task `tid`. */
Action decide_listen(const Policy& policy, int sfd, int tid);

/**
 * Whether binding `req` (our socket's options in it, bound to device
 * `ifindex`, 0 none) certainly fails with EADDRINUSE against `sockets` on its
 * port: an overlapping TCP listener and no SO_REUSEPORT of ours; an
 * overlapping TIME_WAIT remnant or UDP socket and neither SO_REUSEADDR nor
 * SO_REUSEPORT of ours. Anything less certain: false.
 */
bool in_use_certain(const Request& req, std::uint32_t ifindex, const std::vector<SocketEntry>& sockets);

/** Whether /proc/net/unix text lists the abstract name `at_name` ("@name"). */
bool abstract_name_listed(const std::string& proc_net_unix, const std::string& at_name);

/**
 * For Action::predict: whether the program's own call is going to fail with
 * EADDRINUSE (then the supervisor reports it before letting the kernel run it).
 * `ss` is null for listen.
 */
bool predict_in_use(const Policy& policy, int sfd, int tid, const sockaddr_storage* ss, socklen_t len);

/**
 * Runs `fn` (a diagnosis: its sock_diag, scratch socket and /proc/sys reads answer
 * for whoever asks) in the network namespace of socket `sfd` (task `tid`'s call):
 * here when it is the supervisor's, else on a thread that joined it (setns to the
 * SIOCGSKNS fd). When it cannot be joined, `fn` does not run (a diagnosis from
 * another netns would name the wrong holders) and the answer is false. When the
 * socket's netns cannot be identified at all (no SO_NETNS_COOKIE, no SIOCGSKNS),
 * the task's netns stands in for it.
 */
bool in_socket_netns(const Policy& policy, int sfd, int tid, const std::function<void()>& fn);

/** A small /proc or /sys file, empty when unreadable. */
std::string read_small_file(const std::string& path);

} // namespace portshim::supervisor
