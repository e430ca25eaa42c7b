// See events.hpp. Text lines start "portshim[PID]:" like the engine's; JSON
// objects carry the keys of DESIGN.md (`event`, `time`, `pid`, `exe`, `fds`);
// GitHub annotations are titled "portshim: EVENT" like the engine's.
#include "events.hpp"

#include "inet_address.hpp"
#include "escape.hpp"
#include "markup.hpp"
#include "line_buffer.hpp"
#include "sink.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <initializer_list>
#include <netinet/in.h>
#include <sys/un.h>
#include <unistd.h>

namespace portshim::events {

namespace {

constexpr int listed_fds = 16;        // the rest is counted, so a line stays one write
constexpr std::size_t target_max = 512;
constexpr char withheld_target[] = "a program (its command line is withheld under secure execution)";
static_assert(sizeof withheld_target <= target_max + 1);

const char* proto_of(const listeners::ListenFd& fd) {
    if (fd.family == AF_UNIX) return "unix";
    return fd.type == SOCK_STREAM ? "tcp" : fd.type == SOCK_DGRAM ? "udp" : "sctp";
}

// Out of line: three callers, and inlined into each it would grow the hooks library.
__attribute__((noinline)) int port_of(const listeners::ListenFd& fd) {
    InetAddress in;
    return parse_inet_address(fd.family, &fd.addr, fd.addr_len, in) ? in.port : 0;
}

/** The AF_UNIX path, "@name" for an abstract one; NUL-terminated in `out`. */
void unix_path_of(const listeners::ListenFd& fd, char (&out)[sizeof(sockaddr_un::sun_path) + 2]) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&fd.addr);
    const std::size_t base = offsetof(sockaddr_un, sun_path);
    const std::size_t n = fd.addr_len > base ? fd.addr_len - base : 0;
    std::size_t len = 0;
    if (n > 0 && un->sun_path[0] == '\0') {
        out[len++] = '@';
        for (std::size_t i = 1; i < n && un->sun_path[i] != '\0'; ++i) out[len++] = un->sun_path[i];
    } else {
        for (std::size_t i = 0; i < n && un->sun_path[i] != '\0'; ++i) out[len++] = un->sun_path[i];
    }
    out[len] = '\0';
}

/** "0.0.0.0:8080", "[::]:8080", "/run/app.sock" (a path escaped visibly). */
void put_endpoint(LineBuffer& out, const listeners::ListenFd& fd) {
    if (fd.family == AF_UNIX) {
        char path[sizeof(sockaddr_un::sun_path) + 2];
        unix_path_of(fd, path);
        out.put_visible(path);
    } else {
        if (fd.family == AF_INET6) out.put('[');
        out.put_address(reinterpret_cast<const sockaddr*>(&fd.addr));
        if (fd.family == AF_INET6) out.put(']');
        out.put(':').put_int(port_of(fd));
    }
}

/** `prefix` and `value` as one shell word: as they are, or single-quoted (escape::shell_plain). */
void put_shell_word(LineBuffer& out, const char* prefix, const char* value) {
    char word[sizeof(sockaddr_un::sun_path) + 16];
    LineBuffer joined(word, sizeof word);
    joined.put(prefix).put(value);
    if (escape::shell_plain(joined.data(), joined.size())) {
        out.put(joined.data(), joined.size());
        return;
    }
    out.put('\'');
    for (std::size_t i = 0; i < joined.size(); ++i) {
        if (joined.data()[i] == '\'') out.put("'\\''");
        else out.put(joined.data()[i]);
    }
    out.put('\'');
}

/** "fd 3 (tcp 0.0.0.0:8080)", "fd 4 (tcp [::]:8080)", "fd 5 (unix /run/app.sock)". */
void put_fd_text(LineBuffer& out, const listeners::ListenFd& fd) {
    out.put("fd ").put_int(fd.fd).put(" (").put(proto_of(fd)).put(' ');
    put_endpoint(out, fd);
    out.put(')');
}

/**
 * The JSON "address and port or path" fragment, as the engine's renderer
 * writes it (report.cpp, append_json_where): ,"address":"0.0.0.0","port":8080
 * or ,"address":PATH,"path":PATH.
 */
void put_json_where(LineBuffer& out, const listeners::ListenFd& fd) {
    out.put(",\"address\":");
    if (fd.family == AF_UNIX) {
        char path[sizeof(sockaddr_un::sun_path) + 2];
        unix_path_of(fd, path);
        out.put_json(path).put(",\"path\":").put_json(path);
        return;
    }
    char addr[64];
    LineBuffer text(addr, sizeof addr);
    text.put_address(reinterpret_cast<const sockaddr*>(&fd.addr));
    addr[text.size()] = '\0';
    out.put_json(addr).put(",\"port\":").put_int(port_of(fd));
}

void put_fd_json(LineBuffer& out, const listeners::ListenFd& fd) {
    out.put("{\"fd\":").put_int(fd.fd).put(",\"proto\":\"").put(proto_of(fd)).put('"');
    put_json_where(out, fd);
    out.put(",\"cloexec\":").put(fd.cloexec ? "true" : "false").put('}');
}

void put_fds_text(LineBuffer& out, const listeners::FdList& fds) {
    const int shown = fds.count < listed_fds ? fds.count : listed_fds;
    out.put("listening ");
    for (int i = 0; i < shown; ++i) {
        if (i != 0) out.put(", ");
        put_fd_text(out, fds.items[i]);
    }
    if (const int hidden = fds.count - shown + fds.more; hidden > 0)
        out.put(" and ").put_int(hidden).put(" more");
}

void put_fds_json(LineBuffer& out, const listeners::FdList& fds) {
    const int shown = fds.count < listed_fds ? fds.count : listed_fds;
    out.put(",\"fds\":[");
    for (int i = 0; i < shown; ++i) {
        if (i != 0) out.put(',');
        put_fd_json(out, fds.items[i]);
    }
    out.put(']');
    if (const int hidden = fds.count - shown + fds.more; hidden > 0)
        out.put(",\"fds_not_listed\":").put_int(hidden);
}

/** How one event is written when it is not JSON: text, coloured on a terminal, or an annotation. */
struct Style {
    bool github = false;
    bool colour = false;
    int pid = 0;                      ///< the pid lines are tagged with; 0: subject_pid()
};

Style style_of(const Config& config, const StderrIdentity* identity, int pid = 0) {
    return {config.format == Format::github,
            markup::use_colour(config, sink::stderr_is_terminal(identity)), pid};
}

int pid_of(const Style& style) { return style.pid != 0 ? style.pid : subject_pid(); }

LineBuffer& put_painted(LineBuffer& out, const Style& style, const char* sgr, const char* text) {
    if (!style.colour) return out.put(text);
    return out.put(sgr).put(text).put(markup::reset);
}

/**
 * Starts an event's title. Text: "portshim[PID]: " and the level word the
 * engine's text uses; github: "::CMD title=portshim: ", escaped as a property
 * value until put_message().
 */
void begin(LineBuffer& out, const Style& style, Level level) {
    if (style.github) {
        out.put("::").put(markup::github_command(level)).put(" title=");
        out.escape(LineBuffer::Escape::github_property).put("portshim: ");
        return;
    }
    out.put("portshim[").put_int(pid_of(style)).put("]: ");
    if (level == Level::warn) put_painted(out, style, markup::yellow, "warning:").put(' ');
    else if (level == Level::debug) out.put("debug: ");
}

/** Ends the title: github "::" and the message, escaped as data; text `separator`. */
void put_message(LineBuffer& out, const Style& style, const char* separator) {
    if (style.github) out.escape(LineBuffer::Escape::none).put("::").escape(LineBuffer::Escape::github_message);
    else out.put(separator);
}

/** "portshim[PID]: warning: EVENT: " or "::warning title=portshim%3A EVENT::". */
void begin_event(LineBuffer& out, const Style& style, Level level, const char* event) {
    begin(out, style, level);
    out.put(event);
    put_message(out, style, ": ");
}

/** A labelled line after the first: text "portshim[PID]:   LABEL: ", github "%0ALABEL: ". */
void put_label(LineBuffer& out, const Style& style, const char* label) {
    if (style.github) {
        out.put('\n').put(label).put(": "); // escaped: the annotation stays one line
        return;
    }
    out.end_line().put("portshim[").put_int(pid_of(style)).put("]:   ");
    put_painted(out, style, markup::bold, label).put(": ");
}

/** `target` and `tail`, joined and cut to target_max bytes (never inside a character), NUL-terminated. */
void join_target(const char* target, const char* tail, char (&out)[target_max + 1]) {
    std::size_t len = 0;
    for (const char* part : {target, tail}) {
        for (const char* p = part; p != nullptr && *p != '\0'; ++p) {
            if (len == target_max) {
                out[escape::utf8_cut(out, len, *p)] = '\0';
                return;
            }
            out[len++] = *p;
        }
    }
    out[len] = '\0';
}

/**
 * Writes the event with its journal field PORTSHIM_EVENT (MESSAGE is its first
 * line). Out of line: the fields cost the caller's stack only here.
 */
__attribute__((noinline)) void write_with_event(const Config& config, const StderrIdentity* identity,
                                                Level level, const LineBuffer& out,
                                                sink::Origin origin, const char* event) {
    journal::Fields fields;
    fields.add("PORTSHIM_EVENT", event);
    sink::write_event(config, level, out.data(), out.size(), identity, origin, &fields);
}

/** Ends the event's last line and writes the event `event` (`origin`: see sink::Origin). */
void emit(const Config& config, const StderrIdentity* identity, Level level, LineBuffer& out,
          const char* event, sink::Origin origin = sink::Origin::other) {
    out.escape(LineBuffer::Escape::none).end_line();
    write_with_event(config, identity, level, out, origin, event);
}

const char* errno_word(int err) {
    switch (err) {
    case EADDRINUSE: return "EADDRINUSE";
    case EACCES: return "EACCES";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    default: return "an error";
    }
}

} // namespace

void report_undiagnosed(const Config& config, const StderrIdentity* identity, bool listen_call,
                        int fd, const sockaddr* addr, socklen_t len, int err, int type,
                        NotDiagnosed why, const char* detail) noexcept {
    if (config.level < Level::error) return;
    const bool seccomp = why == NotDiagnosed::seccomp;
    listeners::ListenFd sock; // only the address fields: the socket does not listen
    sock.fd = fd;
    sock.type = type;
    if (!seccomp) {
        int v = 0;
        socklen_t n = sizeof v;
        if (sock.type == 0 && ::getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &n) == 0) sock.type = v;
        n = sizeof v;
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &n) == 0) sock.family = v;
    } else if (addr != nullptr && len >= sizeof(sa_family_t)) {
        // No getsockopt under a filter: the call's own family (AF_UNSPEC binds
        // fail with EADDRINUSE on AF_INET sockets alone).
        sa_family_t family;
        std::memcpy(&family, addr, sizeof family);
        sock.family = family == AF_UNSPEC ? AF_INET : family;
    }
    if (listen_call) sock.type = SOCK_STREAM; // listen(2) exists for stream sockets alone
    // The address as the kernel read it for this socket's family (AF_UNSPEC, RFC 2133
    // lengths), rewritten as a full sockaddr_in/sockaddr_in6; the socket's own name otherwise.
    InetAddress in;
    sock.addr_len = sizeof sock.addr;
    if (parse_inet_address(sock.family, addr, len, in)) {
        sock.addr_len = to_sockaddr(in, sock.addr);
    } else if (addr != nullptr && sock.family == AF_UNIX && len <= sizeof sock.addr &&
               len >= sizeof(sa_family_t)) {
        std::memcpy(&sock.addr, addr, len);
        sock.addr_len = len;
    } else if (seccomp || ::getsockname(fd, reinterpret_cast<sockaddr*>(&sock.addr), &sock.addr_len) != 0) {
        sock.addr_len = 0;
    }
    const char* call = listen_call ? "listen" : "bind";
    // The summary "VERDICT: WHY_NOT", in two parts: the verdict stands where a
    // cause id would (an annotation's title), the rest explains. Plain ASCII.
    static constexpr char verdict[] = "not diagnosed";
    const char* where = why == NotDiagnosed::signal_handler
                            ? "in a signal handler, where a diagnosis could deadlock"
                        : why == NotDiagnosed::threaded_child
                            ? "in a child forked from a multi-threaded program before exec, where a "
                              "diagnosis could deadlock"
                        : seccomp ? "under a seccomp filter, where the system calls of a diagnosis "
                                    "could get the process killed"
                        : why == NotDiagnosed::no_engine ? "and the diagnosis engine could not be loaded"
                                                         : "with no memory to run a diagnosis in";
    char why_not[192];
    LineBuffer reason(why_not, sizeof why_not);
    reason.put("the call failed ").put(where);
    why_not[reason.size()] = '\0';
    char fix[sizeof(sockaddr_un::sun_path) + 96];
    LineBuffer advice(fix, sizeof fix);
    advice.put("look from outside: portshim why ");
    const bool known = sock.addr_len > 0 &&
                       (sock.family == AF_UNIX || sock.family == AF_INET || sock.family == AF_INET6);
    if (sock.type == SOCK_DGRAM && sock.family != AF_UNIX) advice.put("--udp ");
    if (sock.family == AF_UNIX) {
        char path[sizeof(sockaddr_un::sun_path) + 2];
        unix_path_of(sock, path);
        put_shell_word(advice, "unix:", path); // a command to paste: one argument whatever the path
    } else if (known) {
        if (sock.family == AF_INET6)
            advice.put('[').put_address(reinterpret_cast<const sockaddr*>(&sock.addr)).put("]:");
        advice.put_int(port_of(sock));
    } else {
        advice.put("PORT (the port of fd ").put_int(fd).put(')');
    }
    fix[advice.size()] = '\0';
    // JSON's worst case: a unix path of 107 control characters (six bytes each
    // escaped) three times (address, path, the fix's command), the exe, the reason.
    char storage[2560];
    LineBuffer out(storage, sizeof storage);
    const char* proto = sock.family == AF_UNIX ? "unix"
                        : sock.type == SOCK_STREAM ? "tcp"
                        : sock.type == SOCK_DGRAM ? "udp"
                                                  : "unknown";
    if (config.format == Format::json) {
        // A cut JSON line is no event at all: when a long escaped unix path (written
        // twice) and the loader's error do not both fit, the error is left out.
        for (const char* evidence : {detail, static_cast<const char*>(nullptr)}) {
            out = LineBuffer(storage, sizeof storage);
            put_json_event_head(out, "bind-failed", seccomp);
            out.put(",\"call\":\"").put(call).put("\",\"proto\":\"").put(proto).put('"');
            // An inet address the hooks could not learn (a listen() under seccomp): the same keys, empty.
            if (known || sock.family == AF_UNIX) put_json_where(out, sock);
            else out.put(",\"address\":\"\",\"port\":null");
            out.put(",\"errno\":").put_int(err).put(",\"cause\":\"unknown\",\"summary\":\"")
                .put(verdict).put(": ").put(why_not).put('"');
            out.put(",\"holders\":[],\"why\":[],\"evidence\":[");
            if (evidence != nullptr) out.put_json(evidence);
            out.put("],\"fix\":").put_json(fix);
            out.put(",\"confirm\":[],\"backtrace\":[]}");
            if (!out.truncated() || detail == nullptr) break;
        }
    } else {
        const Style style = seccomp ? Style{config.format == Format::github, false}
                                    : style_of(config, identity);
        begin(out, style, Level::error);
        out.put(call).put('(');
        if (known) put_endpoint(out, sock);
        else out.put("fd ").put_int(fd);
        out.put('/').put(proto).put(") failed: ").put(errno_word(err)).put(" — ");
        put_painted(out, style, markup::bold_red, verdict);
        put_message(out, style, ": ");
        out.put(why_not);
        if (detail != nullptr) out.put(": ").put_visible(detail);
        if (style.github) put_label(out, style, "fix");
        else out.put("; ");
        out.put_visible(fix);
    }
    if (seccomp) {
        out.escape(LineBuffer::Escape::none).end_line();
        sink::write_restricted(out.data(), out.size(), identity);
        return;
    }
    emit(config, identity, Level::error, out, "bind-failed", sink::Origin::own_failure);
}

void report_fork(const Config& config, const StderrIdentity* identity, Level level, int child,
                 int more, const listeners::FdList& fds) noexcept {
    if (config.level < level || fds.count == 0) return;
    char storage[6144];
    LineBuffer out(storage, sizeof storage);
    if (config.format == Format::json) {
        put_json_event_head(out, "fork");
        out.put(",\"child\":").put_int(child);
        put_fds_json(out, fds);
        out.put(",\"more\":").put_int(more).put('}');
    } else {
        begin_event(out, style_of(config, identity), level, "fork");
        out.put("child pid ").put_int(child);
        if (more > 0)
            out.put(" and ").put_int(more).put(" earlier children (not logged one by one after the first 16)");
        out.put(" got ");
        put_fds_text(out, fds);
    }
    emit(config, identity, level, out, "fork");
}

void report_exec_leak(const Config& config, const StderrIdentity* identity, Level level,
                      const char* target, const char* target_tail, bool closed,
                      Handover handover, const listeners::FdList& fds, int pid) noexcept {
    if (config.level < level || fds.count == 0) return;
    char what[target_max + 1];
    // Under secure execution the command line a setuid program runs is not
    // the user's to read (rule 12): he learns that one runs, not what.
    if (config.secure) std::memcpy(what, withheld_target, sizeof withheld_target);
    else join_target(target, target_tail, what);
    char storage[6144];
    LineBuffer out(storage, sizeof storage);
    const char* why = handover_id(handover);
    if (config.format == Format::json) {
        put_json_event_head(out, "exec-leak", false, pid);
        out.put(",\"target\":");
        if (config.secure) out.put("null");
        else out.put_json(what);
        put_fds_json(out, fds);
        out.put(",\"closed\":").put(closed ? "true" : "false").put(",\"handover\":");
        if (why != nullptr) out.put('"').put(why).put('"');
        else out.put("null");
        out.put('}');
        emit(config, identity, level, out, "exec-leak");
        return;
    }
    const Style style = style_of(config, identity, pid);
    begin_event(out, style, level, "exec-leak");
    if (handover == Handover::closes_fds) {
        out.put("running ").put_visible(what).put(" with ");
        put_fds_text(out, fds);
        out.put(" open: not a leak, it closes inherited descriptors before it execs the program "
                "it starts");
    } else if (handover != Handover::none) {
        out.put("handing ");
        put_fds_text(out, fds);
        out.put(" to ").put_visible(what).put(" on purpose (")
            .put(handover == Handover::listen_fds ? "LISTEN_FDS hand-over" : "it re-executes its own program")
            .put(')');
    } else if (closed) {
        out.put("PORTSHIM_CLOEXEC=1 kept ");
        put_fds_text(out, fds);
        out.put(" out of ").put_visible(what);
    } else {
        out.put("running ").put_visible(what).put(" with ");
        put_fds_text(out, fds);
        out.put(" open without O_CLOEXEC: it and the programs it starts keep the port busy after pid ")
            .put_int(pid_of(style)).put(" exits");
        put_label(out, style, "fix");
        out.put("create listening sockets with SOCK_CLOEXEC (or set FD_CLOEXEC before exec), or run "
                "under PORTSHIM_CLOEXEC=1 (portshim-run --cloexec)");
    }
    emit(config, identity, level, out, "exec-leak");
}

} // namespace portshim::events
