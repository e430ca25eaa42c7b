// The one source of portshim's reference tables: the PORTSHIM_* variables, the
// sinks, portshim-run's options, the journal fields, each cause's long text and
// each JSON event's meaning. man/generate.cpp renders them into the man pages and
// the generated blocks of docs/*.md; the tools' --help prints them (tools/messages.cpp).
// Cause ids come from shim/diag/cause.hpp and event keys from the unit tests'
// golden file: the generator refuses a table that disagrees with either.
// Text uses one markup, `code`: bold in roff, code in markdown.
#pragma once

#include <string_view>

namespace portshim::reference {

/** One environment variable the library (or a tool) reads. */
struct Variable {
    std::string_view name;
    std::string_view default_value; ///< as the docs show it
    std::string_view values;        ///< the accepted values, short (help and man)
    std::string_view meaning;       ///< the full text (man page, docs)
};

/** Every PORTSHIM_* variable parse_config reads (shim/common/config.cpp), in its order. */
inline constexpr Variable variables[] = {
    {"PORTSHIM_FORMAT", "`text`", "`text`, `json` or `github`",
     "`text` (coloured on a terminal), `json` (one object per line, see \"JSON events\"), "
     "`github` (one GitHub Actions annotation per event)"},
    {"PORTSHIM_LEVEL", "`info`", "`error`, `warn`, `info` or `debug`",
     "the least severe event written; `bind-failed` reports are errors, configuration warnings are `warn`"},
    {"PORTSHIM_LOG",
     "`journal` when `JOURNAL_STREAM` names fd 2, else `stderr`",
     "`stderr`, `syslog`, `journal` or an absolute file path",
     "where events go (see \"Sinks\"): `stderr`, `syslog`, `journal` (native journald entries), or an "
     "absolute file path (appended, created 0600; refused unless a regular file owned by the user on an "
     "ordinary file system: no symlink, FIFO, device, nor a file on proc/sysfs/cgroupfs; a refused file "
     "falls back to stderr/syslog, with one `config-error` warning saying why). Events about a process "
     "that failed no bind (`inherited`, `fork`, `exec-leak`, `reuseport-shared`) reach a stderr that is "
     "not a terminal only when `stderr` is set explicitly; by default they go to syslog there"},
    {"PORTSHIM_REUSEADDR", "`0`", "`0` or `1`",
     "`1`: set `SO_REUSEADDR` on IPv4/IPv6 TCP sockets before bind unless the program set "
     "`SO_REUSEADDR` itself (either value is respected); never on UDP, never `SO_REUSEPORT`. A later "
     "report says when the injected flag could not help"},
    {"PORTSHIM_CLOEXEC", "`0`", "`0` or `1`",
     "`1`: programs exec'd or spawned by this one do not keep its listening sockets; hand-overs are "
     "kept: fds 3..3+n-1 when the new program's environment has `LISTEN_FDS=n`, and all of them when "
     "the program re-executes its own executable"},
    {"PORTSHIM_BACKTRACE", "`1`", "`0` or `1`",
     "`0`: no caller backtrace in `bind-failed` reports"},
    {"PORTSHIM_WAIT", "`0`", "whole seconds from 0 to 3600",
     "seconds to keep retrying a bind whose cause clears by itself (`time-wait`, `previous-instance`, "
     "`inherited-fd`; never `self` or `other-service`), every 250 ms, after one `waiting` line; the "
     "program sees success or the original error"},
    {"PORTSHIM_STATE_DIR",
     "`/run/portshim` for root, else `$XDG_RUNTIME_DIR/portshim`; none without `XDG_RUNTIME_DIR`",
     "an absolute directory path",
     "the listener registry; created 0700, used only when owned by the user and writable by nobody "
     "else, never through a symlink"},
};

/** Variables of other software that portshim reads as well. */
inline constexpr Variable foreign_variables[] = {
    {"JOURNAL_STREAM", "unset", "`DEVICE:INODE`",
     "set by systemd when stderr is connected to the journal; when it names fd 2, `PORTSHIM_LOG` "
     "defaults to `journal`"},
    {"NO_COLOR", "unset", "any", "set and not empty: no colour in text reports (https://no-color.org)"},
    {"TERM", "", "any", "`dumb`: no colour in text reports"},
    {"XDG_RUNTIME_DIR", "", "a directory", "the default `PORTSHIM_STATE_DIR` of a user other than root"},
    {"LISTEN_FDS", "", "a count",
     "in an exec'd program's environment: the sockets it is handed (kept under `PORTSHIM_CLOEXEC=1`)"},
};

/** One value of PORTSHIM_LOG: where events go. */
struct SinkInfo {
    std::string_view name;
    std::string_view meaning;
};

inline constexpr SinkInfo sinks[] = {
    {"stderr",
     "one line per event on fd 2, when fd 2 is open, is not a socket and is still the file it was when "
     "the program started (a daemon that closed its stdio and opened a data file gets that file as fd 2: "
     "reports never land in it); otherwise syslog. Never stdout"},
    {"syslog",
     "one datagram per line to `/dev/log` (non-blocking), tagged `portshim[PID]`, facility daemon, "
     "without calling `openlog` (the host's syslog identity stays its own)"},
    {"journal",
     "one native entry per event to `/run/systemd/journal/socket` (non-blocking, no libsystemd) with "
     "`MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER=portshim` and the fields below, so that "
     "`journalctl PORTSHIM_CAUSE=time-wait` finds them; the default when `JOURNAL_STREAM` names fd 2; "
     "falls back as syslog does when the socket is absent or refuses"},
    {"/PATH",
     "appended to that file (created 0600), which must be a regular file owned by the user on an "
     "ordinary file system; ignored under secure execution"},
};

/** One field of a journal entry (PORTSHIM_LOG=journal) besides MESSAGE and PRIORITY. */
struct JournalField {
    std::string_view name;
    std::string_view meaning;
};

inline constexpr JournalField journal_fields[] = {
    {"SYSLOG_IDENTIFIER", "`portshim`"},
    {"SYSLOG_FACILITY", "`3` (daemon), as in the syslog sink"},
    {"SYSLOG_PID", "the pid the event is about (the supervised program's, for the supervisor's reports)"},
    {"PORTSHIM_EVENT", "the event's name: `bind-failed`, `repeated`, `fork`, `exec-leak`, `inherited`, ..."},
    {"PORTSHIM_REPORT",
     "the whole event as the other sinks write it, in `PORTSHIM_FORMAT` (a JSON report only whole)"},
    {"PORTSHIM_DROPPED", "only after events were dropped: how many"},
    {"PORTSHIM_CAUSE", "the cause id"},
    {"PORTSHIM_CALL", "`bind` or `listen`"},
    {"PORTSHIM_PROTO", "`tcp`, `udp` or `unix`"},
    {"PORTSHIM_ADDRESS", "the address asked for (for unix sockets, the path)"},
    {"PORTSHIM_PORT", "the port asked for"},
    {"PORTSHIM_PATH", "the unix socket path asked for"},
    {"PORTSHIM_ERRNO", "`EADDRINUSE`"},
    {"PORTSHIM_EXE", "the program that failed"},
    {"PORTSHIM_OBSERVED", "`supervisor` or `supervisor-predicted` when the supervisor saw the call"},
    {"PORTSHIM_FIX", "the suggested fix"},
    {"PORTSHIM_CONFIRM", "a command that confirms the verdict (the first two, one field each)"},
    {"PORTSHIM_HOLDERS", "how many processes hold the port"},
    {"PORTSHIM_HOLDER_PID", "a holder's pid (one for each of the first three holders)"},
    {"PORTSHIM_HOLDER_EXE", "a holder's executable (one for each of the first three holders)"},
    {"PORTSHIM_HOLDER_UID", "a holder's uid (one for each of the first three holders)"},
    {"PORTSHIM_OPENER_PID", "the process that opened an inherited socket, when known"},
    {"PORTSHIM_OPENER_EXE", "that process's executable"},
    {"PORTSHIM_REPEATS", "`repeated` only: how many failures the summary covers"},
    {"PORTSHIM_WAIT_SECONDS", "with `PORTSHIM_WAIT`: the wait that starts now"},
};

/** One option of portshim-run that sets a variable. */
struct RunOption {
    std::string_view option;  ///< as the synopsis writes it
    std::string_view setting; ///< the variable, and the value it sets
    std::string_view help;    ///< one line for --help and the man page
};

inline constexpr RunOption run_options[] = {
    {"--reuseaddr", "PORTSHIM_REUSEADDR=1",
     "set SO_REUSEADDR on TCP sockets before bind unless the program chose itself"},
    {"--cloexec", "PORTSHIM_CLOEXEC=1", "programs it execs do not keep its listening sockets"},
    {"--wait SECONDS", "PORTSHIM_WAIT",
     "keep retrying a bind whose cause clears by itself (whole seconds from 0 to 3600)"},
    {"--json", "PORTSHIM_FORMAT=json", "one JSON object per line"},
    {"--log PATH", "PORTSHIM_LOG", "stderr, syslog, journal or an absolute file path"},
};

/** The long text of one cause; the ids and their order are shim/diag/cause.hpp's. */
struct CauseText {
    std::string_view id;
    std::string_view when;
};

inline constexpr CauseText cause_texts[] = {
    {"unknown", "nothing found (freed meanwhile, or the probes failed); lists what was checked and what failed"},
    {"previous-instance",
     "a live process running the same program (same executable; for interpreters and VMs the same main "
     "program, established on both sides) holds the port; the report shows the holder's command line. For "
     "a worker whose master runs the same program but holds no copy (haproxy `-Ws`) the fix stops the master"},
    {"other-service",
     "a different program holds the port, or one whose program cannot be established (the same runtime "
     "running something else or something unknown; `portshim why` without `--for`): the words say which. "
     "Hints for systemd-resolved (53, `DNSStubListener=no`), dnsmasq, avahi-daemon (5353), cupsd (631), "
     "systemd socket units; for UDP, which side lacked `SO_REUSEADDR`; `SO_REUSEPORT` uid/flag mismatches"},
    {"self",
     "this very process already holds it (double bind; `[::]` without `IPV6_V6ONLY` after `0.0.0.0`; a "
     "second `listen()` on a `SO_REUSEADDR` pair)"},
    {"inherited-fd",
     "the holder did not open the socket: a child (a `system()` helper, a forked-and-exec'd tool) kept a "
     "listening socket its parent opened, and the parent has exited or closed its copy. Names the holder, "
     "the fd without `O_CLOEXEC`, and the opener from the listener registry; without a record it is "
     "inferred (and says so) only when the holder's parent is gone, its fd lacks `O_CLOEXEC` and its "
     "program does not call `listen()` at all"},
    {"container-proxy",
     "the holder is a container runtime's forwarder (docker-proxy, dockerd, containerd-shim, "
     "rootlessport, conmon, pasta, slirp4netns); the published mapping from its command line"},
    {"hidden-owner",
     "a socket holds it but no visible process does: not root, or another PID namespace; names the "
     "systemd unit or container from the socket's cgroup (`INET_DIAG_CGROUP_ID`, cgroup v2)"},
    {"time-wait",
     "only remnants of closed connections; says how many, when the last expires, and which side lacked "
     "`SO_REUSEADDR`"},
    {"outbound-collision",
     "an outgoing connection (any connected state, no listener on the port) uses the port as its local "
     "port; says whether it is in `ip_local_port_range` and gives the `ip_local_reserved_ports` fix"},
    {"stale-unix-socket",
     "an AF_UNIX path exists, no socket in the unix sock_diag table holds it and a non-blocking connect "
     "is refused; names the path and its age and says that removing it is safe (portshim never unlinks); "
     "abstract names are never stale; a live unix listener is named like TCP"},
};

/** One JSON event; its keys come from tests/unit/data/golden/event-keys.txt. */
struct Event {
    std::string_view name;
    std::string_view level;
    std::string_view meaning;
    std::string_view keys; ///< only for an event the golden file does not hold
};

inline constexpr Event events[] = {
    {"bind-failed", "error",
     "a `bind()` or `listen()` failed with `EADDRINUSE` (or was not diagnosed: summary `not diagnosed: "
     "...`, cause `unknown`)", ""},
    {"waiting", "info", "`PORTSHIM_WAIT` retries the bind, and `portshim wait --json` while it waits", ""},
    {"repeated", "info", "the rate limit's summary of failures on one address within 10 s", ""},
    {"reuseport-shared", "info or warn",
     "after a successful `listen()`, other processes share the port through `SO_REUSEPORT`: `info` when "
     "all run this program, `warn` when one runs another", ""},
    {"config-error", "warn", "a `PORTSHIM_*` value was refused; the default is used", ""},
    {"reports-dropped", "warn",
     "events that could not be written at once since the last such line; written just before the next "
     "event that gets through", "`count`"},
    {"inherited", "info (debug for hand-overs)", "the process started holding listening sockets it did not open", ""},
    {"fork", "debug", "a child got the parent's listening sockets", ""},
    {"exec-leak", "warn (info or debug for hand-overs and `PORTSHIM_CLOEXEC`)", "about to exec another program with listening sockets open", ""},
    {"port-free", "info", "`portshim why|wait --json` found the port free", ""},
};

} // namespace portshim::reference
