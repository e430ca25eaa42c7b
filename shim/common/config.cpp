// Parsing of the PORTSHIM_* variables: each bad value becomes one error and
// the default, never a failure (the host program must always run). Plain C++:
// no allocation, no exceptions, so the small preload library can link it.
#include "config.hpp"

#include "raw_syscall.hpp"

#include <cstring>
#include <initializer_list>
#include <unistd.h>

namespace portshim {

namespace {

bool equals(const char* a, const char* b) { return std::strcmp(a, b) == 0; }

bool parse_bool(const char* v, bool& out) {
    for (const char* yes : {"1", "yes", "true", "on"})
        if (equals(v, yes)) return out = true, true;
    for (const char* no : {"0", "no", "false", "off", ""})
        if (equals(v, no)) return out = false, true;
    return false;
}

bool copy_path(const char* v, char (&out)[512]) {
    const std::size_t n = std::strlen(v);
    if (n == 0 || n >= sizeof out || v[0] != '/') return false;
    std::memcpy(out, v, n + 1);
    return true;
}

/** Whole seconds 0..3600, digits only (no sign, no unit). */
bool parse_seconds(const char* v, unsigned& out) {
    if (*v == '\0') return false;
    unsigned long n = 0;
    for (const char* p = v; *p != '\0'; ++p) {
        if (*p < '0' || *p > '9') return false;
        n = n * 10 + static_cast<unsigned long>(*p - '0');
        if (n > 3600) return false;
    }
    out = static_cast<unsigned>(n);
    return true;
}

/** A decimal number that fills [v, end) or stops at `stop`; `v` then points past it. */
bool parse_ull(const char*& v, char stop, unsigned long long& out) {
    if (*v < '0' || *v > '9') return false;
    unsigned long long n = 0;
    for (; *v >= '0' && *v <= '9'; ++v) {
        if (n > (~0ULL - 9) / 10) return false;
        n = n * 10 + static_cast<unsigned long long>(*v - '0');
    }
    if (*v != stop) return false;
    out = n;
    return true;
}

/** JOURNAL_STREAM's "DEV:INODE", both decimal (systemd formats them with "%lu:%lu"). */
bool parse_journal_stream(const char* v, Config& c) {
    unsigned long long dev = 0, ino = 0;
    if (!parse_ull(v, ':', dev) || !parse_ull(++v, '\0', ino)) return false;
    c.journal_stream = true, c.journal_dev = dev, c.journal_ino = ino;
    return true;
}

void add(ConfigErrors& errors, const char* name, const char* value, const char* accepted,
         bool secure_ignored = false) {
    if (errors.count >= static_cast<int>(sizeof errors.items / sizeof errors.items[0])) return;
    errors.items[errors.count++] = ConfigError{name, value, accepted, secure_ignored};
}

} // namespace

const char* level_name(Level level) {
    switch (level) {
    case Level::error: return "error";
    case Level::warn: return "warn";
    case Level::info: return "info";
    case Level::debug: return "debug";
    }
    return "info";
}

Config parse_config(EnvGetter get, bool secure, ConfigErrors& errors) noexcept {
    Config c;
    c.secure = secure;
    if (const char* v = get("PORTSHIM_FORMAT")) {
        if (equals(v, "text")) c.format = Format::text;
        else if (equals(v, "json")) c.format = Format::json;
        else if (equals(v, "github")) c.format = Format::github;
        else add(errors, "PORTSHIM_FORMAT", v, "text, json or github");
    }
    if (const char* v = get("PORTSHIM_LEVEL")) {
        if (equals(v, "error")) c.level = Level::error;
        else if (equals(v, "warn") || equals(v, "warning")) c.level = Level::warn;
        else if (equals(v, "info")) c.level = Level::info;
        else if (equals(v, "debug")) c.level = Level::debug;
        else add(errors, "PORTSHIM_LEVEL", v, "error, warn, info or debug");
    }
    if (const char* v = get("PORTSHIM_LOG")) {
        if (equals(v, "stderr")) c.sink = Sink::stderr_, c.stderr_asked = true;
        else if (*v == '\0') c.sink = Sink::stderr_;
        else if (equals(v, "syslog")) c.sink = Sink::syslog;
        else if (equals(v, "journal")) c.sink = Sink::journal;
        // A destination was asked for but cannot be had: stderr instead, as if asked.
        else if (secure) add(errors, "PORTSHIM_LOG", v, nullptr, true), c.stderr_asked = true;
        else if (!copy_path(v, c.log_path))
            add(errors, "PORTSHIM_LOG", v, "stderr, syslog, journal or an absolute file path"), c.stderr_asked = true;
        else c.sink = Sink::file;
    }
    if (const char* v = get("PORTSHIM_REUSEADDR"); v && !parse_bool(v, c.reuseaddr))
        add(errors, "PORTSHIM_REUSEADDR", v, "0 or 1");
    if (const char* v = get("PORTSHIM_CLOEXEC"); v && !parse_bool(v, c.cloexec))
        add(errors, "PORTSHIM_CLOEXEC", v, "0 or 1");
    if (const char* v = get("PORTSHIM_BACKTRACE"); v && !parse_bool(v, c.backtrace))
        add(errors, "PORTSHIM_BACKTRACE", v, "0 or 1");
    if (const char* v = get("PORTSHIM_WAIT"); v && !parse_seconds(v, c.wait_seconds))
        add(errors, "PORTSHIM_WAIT", v, "whole seconds from 0 to 3600");
    if (const char* v = get("PORTSHIM_STATE_DIR")) {
        if (secure) add(errors, "PORTSHIM_STATE_DIR", v, nullptr, true);
        else if (!copy_path(v, c.state_dir))
            add(errors, "PORTSHIM_STATE_DIR", v, "an absolute directory path");
    }
    // systemd's variable, not ours: a malformed one is not the user's mistake, so no error.
    if (const char* v = get("JOURNAL_STREAM")) (void)parse_journal_stream(v, c);
    const char* no_color = get("NO_COLOR");
    const char* term = get("TERM");
    c.colour = (no_color == nullptr || *no_color == '\0') && (term == nullptr || !equals(term, "dumb"));
    // The per-user default: /run/portshim for root, $XDG_RUNTIME_DIR/portshim
    // otherwise; none (registry off) without XDG_RUNTIME_DIR or under secure execution.
    if (c.state_dir[0] == '\0' && !secure) {
        // geteuid without libc's wrapper: this runs at load in every exec'd
        // process, and a small program never touches that page of libc.
        if (raw_geteuid() == 0) {
            std::memcpy(c.state_dir, "/run/portshim", sizeof "/run/portshim");
        } else if (const char* xdg = get("XDG_RUNTIME_DIR"); xdg != nullptr && xdg[0] == '/') {
            const std::size_t n = std::strlen(xdg);
            if (n + sizeof "/portshim" <= sizeof c.state_dir) {
                std::memcpy(c.state_dir, xdg, n);
                std::memcpy(c.state_dir + n, "/portshim", sizeof "/portshim");
            }
        }
    }
    return c;
}

} // namespace portshim
