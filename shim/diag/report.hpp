// Renderers: a verdict as text lines for a terminal or journal, as one JSON
// object per line with the keys DESIGN.md fixes as a contract, or as one
// GitHub Actions annotation (workflow command) per event.
#pragma once

#include "common/config.hpp"
#include "common/journal.hpp"
#include "sharing.hpp"
#include "types.hpp"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portshim {

/** Who reports, and when: the reporting process, not the holder. */
struct ReportContext {
    ReportContext() = default;
    ReportContext(int pid_, std::string exe_, double now_, bool colour_ = false)
        : pid(pid_), exe(std::move(exe_)), now(now_), colour(colour_) {}

    int pid = 0;
    std::string exe;
    double now = 0;                   ///< seconds since the epoch
    /** PORTSHIM_BACKTRACE: the caller's stack, innermost first, the library's own frames removed. */
    std::vector<Frame> backtrace;
    /** Text on a terminal (markup::use_colour): ANSI colour. Only the text renderings read it. */
    bool colour = false;
    /**
     * The CLI checked a port from outside (`portshim why`): the text report says what
     * was asked, "portshim: 0.0.0.0:8080/tcp is in use — CAUSE: SUMMARY", and its lines
     * start "portshim:", with no pid as if the reporter had failed a bind.
     */
    bool outside = false;
    /**
     * How the failure was seen, for JSON's "observed" key: "supervisor" when
     * portshim-supervise performed the call for a supervised program,
     * "supervisor-predicted" when it reported before a CONTINUE (the text gains
     * a "predicted:" line); empty
     * (the preload, in the process itself) leaves the key out, as before.
     */
    std::string_view observed;
};

/**
 * Text: a grep-able first line
 * "portshim[PID]: bind(0.0.0.0:8080/tcp) failed: EADDRINUSE — CAUSE: SUMMARY",
 * then why/fix/confirm lines, the caller's top three frames ("called from:")
 * and evidence ("seen:"), each prefixed "portshim[PID]:", at most ~12 lines.
 * With ctx.colour the cause id is bold red and the labels bold.
 */
std::string render_text(const Request& req, const Verdict& v, const ReportContext& ctx);

/** What a check from outside asked about: "0.0.0.0:8080/tcp", "[::1]:53/udp", "unix:/run/app.sock". */
std::string describe_checked(const Request& req);

/** One "bind-failed" JSON object and a newline; "backtrace" lists every frame. */
std::string render_json(const Request& req, const Verdict& v, const ReportContext& ctx);

/**
 * One `::error` annotation: title "portshim: bind(0.0.0.0:8080/tcp) failed:
 * EADDRINUSE — CAUSE", message the summary and the text report's labelled
 * lines ("why: …", "fix: …"), escaped into one line.
 */
std::string render_github(const Request& req, const Verdict& v, const ReportContext& ctx);

/** render_text, render_json or render_github by format. */
std::string render(Format format, const Request& req, const Verdict& v, const ReportContext& ctx);

/**
 * One GitHub Actions workflow command and a newline:
 * "::error title=portshim: TITLE::LINE%0ALINE…" (warning, notice by `level`,
 * see markup::github_command): the title and each line escaped visibly
 * (visible()), then the title as a property value and the lines as data
 * (markup::github_escape), so it is one line whatever they hold and only the
 * lines given start a line in the annotation.
 */
std::string github_annotation(Level level, std::string_view title,
                              const std::vector<std::string>& lines);

/**
 * The caller's first `count` frames, innermost first: "fn+0x1c (/lib/mod.so) <
 * main+0x5e (/opt/server)"; a frame without a symbol is "MODULE+0xOFFSET".
 */
std::string describe_backtrace(const std::vector<Frame>& frames, std::size_t count = 3);

/** 'PORTSHIM_FORMAT="xml" is not valid (text, json or github); using the default'. */
std::string config_error_message(const ConfigError& error);

/**
 * The rate limit's summary: the call failed `repeats` more times since the
 * last line (at most one per 10 s per address) and a fresh diagnosis found
 * the same cause. Text: one line; JSON: a "repeated" event; github: a notice.
 */
std::string render_repeated(Format format, const Request& req, const Verdict& v, int repeats,
                            const ReportContext& ctx);

/** How long a wait for a port lasts. */
struct WaitTimes {
    unsigned wait_seconds = 0;        ///< the whole wait: PORTSHIM_WAIT, `portshim wait --timeout`
    unsigned seconds_left = 0;        ///< what is left of it now
    std::uint32_t expected_ms = 0;    ///< until the last TIME_WAIT remnant expires, 0 unknown
};

/**
 * PORTSHIM_WAIT and `portshim wait`: one line (a "waiting" event, a notice)
 * saying the bind will be retried for up to `times.wait_seconds`, naming the
 * holder and, for TIME_WAIT, when the last remnant expires. The CLI renders
 * only the JSON event here; its text is a progress line of its own.
 */
std::string render_waiting(Format format, const Request& req, const Verdict& v,
                           const WaitTimes& times, const ReportContext& ctx);

/**
 * `portshim why|wait --json` on a free port: a "port-free" JSON event with
 * the envelope and `proto`, `address`, `port` or `path` of `req`. (The CLI's
 * text says it in its own words.)
 */
std::string render_port_free(const Request& req, const ReportContext& ctx);

/**
 * A "reuseport-shared" event (line, annotation): listen() succeeded, and these processes' listeners
 * now share the port's incoming connections with ours through SO_REUSEPORT. A warning when one of
 * them runs another program; when all run this one, a note on the hand-over (JSON `same_program`).
 */
std::string render_reuseport_shared(Format format, const Request& req,
                                    const std::vector<ReuseportPeer>& peers, const ReportContext& ctx);

/** Whether every peer is an earlier instance of this program (a reload), so the event is info, not warn. */
bool reuseport_handover(const std::vector<ReuseportPeer>& peers);

/**
 * The `inherited` event: text "portshim[PID]: inherited: this process (EXE)
 * started holding listening fd 3 (tcp 0.0.0.0:8080) that it did not open;
 * parent pid PPID (PEXE); opened by pid N (EXE), ..." and a why line, the
 * same as one notice titled "portshim: inherited", or one JSON object with
 * ppid, parent_exe, fds, fds_not_listed (when some are), opener and handover.
 */
std::string render_inherited(Format format, const InheritedReport& report,
                             const ReportContext& ctx);

/** A one-line warning about configuration: text, a "config-error" JSON event, or an annotation. */
std::string render_config_error(Format format, std::string_view message, const ReportContext& ctx);

/** "bind(0.0.0.0:8080/tcp)" or "bind(/run/app.sock/unix)". */
std::string describe_call(const Request& req);

/**
 * JSON string literal with quotes, always valid UTF-8: what is not strict
 * UTF-8 becomes U+FFFD, controls and the characters visible() escapes become
 * \uNNNN (escape::json_piece).
 */
std::string json_string(std::string_view s);

/**
 * Outside bytes (exe paths, command lines, cgroup and unix paths) for text:
 * control characters escaped visibly, "\n", "\x1b", "\u202e"
 * (escape::text_piece), so no value can start a line, drive a terminal or
 * reorder what is shown. Printable text and valid UTF-8 stay as they are.
 */
std::string visible(std::string_view s);

/**
 * An event as journal fields (docs/journal.md): MESSAGE's headline and
 * NAME=value pairs, names static. Values are the raw bytes (an exe with a
 * newline stays one: the sink sends it in the binary form), not the text's
 * escaped ones, so `journalctl PORTSHIM_HOLDER_EXE=…` matches the file.
 */
struct JournalView {
    std::string message;
    std::vector<std::pair<const char*, std::string>> fields;

    void add(const char* name, std::string value) { fields.emplace_back(name, std::move(value)); }
    /** The sink's view of it, pointing into this one (valid while it lives and is unchanged). */
    journal::Fields as_fields() const;
};

/**
 * bind-failed (or, `repeats` > 0, the rate limit's "repeated" summary) as
 * journal fields: PORTSHIM_EVENT, _CAUSE, _CALL, _PROTO, _ADDRESS, _PORT or
 * _PATH, _ERRNO, _EXE (the failing program), _OBSERVED, _FIX, the first two
 * _CONFIRM, _HOLDERS (their count), per holder (the first three)
 * _HOLDER_PID, _HOLDER_EXE, _HOLDER_UID, and _OPENER_PID/_EXE; MESSAGE is the text's headline
 * without its tag.
 */
JournalView journal_view(const Request& req, const Verdict& v, const ReportContext& ctx, int repeats = 0);

/** Any other event: PORTSHIM_EVENT, _EXE, and MESSAGE the first line of `text` without its tag. */
JournalView journal_event_view(std::string_view event, std::string_view text, const ReportContext& ctx);

/** "bind(0.0.0.0:8080/tcp) failed: EADDRINUSE — CAUSE: SUMMARY", escaped: the text's first line after its tag. */
std::string headline(const Request& req, const Verdict& v);

/** RFC 3339 UTC time with milliseconds, "2026-11-26T08:05:12.345Z". */
std::string rfc3339(double epoch_seconds);

} // namespace portshim
