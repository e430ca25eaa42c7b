// Output markup shared by the engine's renderers and the hooks' async-signal-safe
// events: GitHub workflow-command escaping and the text format's ANSI colours.
#pragma once

#include "config.hpp"

namespace portshim::markup {

/**
 * How one byte is written in a GitHub Actions workflow command
 * (`::error title=TITLE::MESSAGE`), as the runner's toolkit escapes it
 * (actions/toolkit, packages/core/src/command.ts): '%', CR and LF in the
 * message; also ':' and ',' in a property value such as the title. nullptr:
 * the byte stays as it is.
 */
constexpr const char* github_escape(char c, bool property) noexcept {
    switch (c) {
    case '%': return "%25";
    case '\r': return "%0D";
    case '\n': return "%0A";
    case ':': return property ? "%3A" : nullptr;
    case ',': return property ? "%2C" : nullptr;
    default: return nullptr;
    }
}

/**
 * The workflow command for an event of `level`: errors annotate as errors,
 * warnings as warnings, info and debug events (waiting, repeated, inherited,
 * fork) as notices: PORTSHIM_LEVEL=debug asked for them, and `::debug::`
 * would hide them again unless the runner's debug logging is on.
 */
constexpr const char* github_command(Level level) noexcept {
    return level == Level::error ? "error" : level == Level::warn ? "warning" : "notice";
}

/**
 * Colour in the text format only, only when events go to stderr and fd 2 is
 * a terminal the sink may write to (`stderr_is_terminal`:
 * sink::stderr_is_terminal), and only when the environment allows it
 * (Config::colour: NO_COLOR unset or empty, TERM not "dumb"). Never in a file
 * or syslog, never in JSON or annotations.
 */
constexpr bool use_colour(const Config& config, bool stderr_is_terminal) noexcept {
    return config.format == Format::text && config.sink == Sink::stderr_ && config.colour &&
           stderr_is_terminal;
}

/** ANSI SGR sequences (ECMA-48): few and restrained. */
inline constexpr const char bold_red[] = "\x1b[1;31m"; ///< an error's cause id
inline constexpr const char yellow[] = "\x1b[33m";     ///< "warning:"
inline constexpr const char bold[] = "\x1b[1m";        ///< labels: why, fix, confirm, called from
inline constexpr const char reset[] = "\x1b[0m";

} // namespace portshim::markup
