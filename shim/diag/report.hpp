// Renderers: a verdict as text lines for a terminal or journal, or as one
// JSON object per line with the keys DESIGN.md fixes as a contract.
#pragma once

#include "config.hpp"
#include "types.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portshim {

/** Who reports, and when: the reporting process, not the holder. */
struct ReportContext {
    ReportContext() = default;
    ReportContext(int pid_, std::string exe_, double now_) : pid(pid_), exe(std::move(exe_)), now(now_) {}

    int pid = 0;
    std::string exe;
    double now = 0;                   ///< seconds since the epoch
    /** PORTSHIM_BACKTRACE: the caller's stack, innermost first, the library's own frames removed. */
    std::vector<Frame> backtrace;
    /** Text on a terminal (stderr is a tty, NO_COLOR unset, TERM not "dumb"): ANSI colour. */
    bool colour = false;
};

/**
 * Text: a grep-able first line
 * "portshim[PID]: bind(0.0.0.0:8080/tcp) failed: EADDRINUSE — CAUSE: SUMMARY",
 * then why/fix/confirm lines, each prefixed "portshim[PID]:", at most ~12 lines.
 */
std::string render_text(const Request& req, const Verdict& v, const ReportContext& ctx);

/** One "bind-failed" JSON object and a newline. */
std::string render_json(const Request& req, const Verdict& v, const ReportContext& ctx);

/** render_text or render_json by format (github falls back to text until it has its own). */
std::string render(Format format, const Request& req, const Verdict& v, const ReportContext& ctx);

/** 'PORTSHIM_FORMAT="xml" is not valid (text, json or github); using the default'. */
std::string config_error_message(const ConfigError& error);

/**
 * The rate limit's summary: the call failed `repeats` more times since the
 * last line (at most one per 10 s per address) and a fresh diagnosis found
 * the same cause. Text: one line; JSON: a "repeated" event.
 */
std::string render_repeated(Format format, const Request& req, const Verdict& v, int repeats,
                            const ReportContext& ctx);

/**
 * PORTSHIM_WAIT: one line (or a "waiting" event) saying the bind will be
 * retried for up to `wait_seconds`, naming the holder and, for TIME_WAIT, when
 * the last remnant expires (`expected_ms`, 0 unknown).
 */
std::string render_waiting(Format format, const Request& req, const Verdict& v,
                           unsigned wait_seconds, std::uint32_t expected_ms,
                           const ReportContext& ctx);

/**
 * A "reuseport-shared" warning: listen() succeeded, and these processes' listeners
 * now share the port's incoming connections with ours through SO_REUSEPORT.
 */
std::string render_reuseport_shared(Format format, const Request& req,
                                    const std::vector<Holder>& others, const ReportContext& ctx);

/**
 * The `inherited` event: text "portshim[PID]: inherited: this process (EXE)
 * started holding listening fd 3 (tcp 0.0.0.0:8080) that it did not open;
 * parent pid PPID (PEXE); opened by pid N (EXE), ..." and a why line (github
 * renders as text), or one JSON object with ppid, parent_exe, fds, opener and
 * handover.
 */
std::string render_inherited(Format format, const InheritedReport& report,
                             const ReportContext& ctx);

/** A one-line warning about configuration, as text or a "config-error" JSON event. */
std::string render_config_error(Format format, std::string_view message, const ReportContext& ctx);

/** "bind(0.0.0.0:8080/tcp)" or "bind(/run/app.sock/unix)". */
std::string describe_call(const Request& req);

/** JSON string literal with quotes; invalid UTF-8 bytes become U+FFFD. */
std::string json_string(std::string_view s);

/** RFC 3339 UTC time with milliseconds, "2026-11-26T08:05:12.345Z". */
std::string rfc3339(double epoch_seconds);

} // namespace portshim
