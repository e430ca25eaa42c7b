// PORTSHIM_* configuration: parsed once from the environment into plain
// structs. No allocation and no exceptions: the preload library parses it on
// its first hook, in any process, and keeps it in static storage.
#pragma once

namespace portshim {

enum class Format : unsigned char { text, json, github };
enum class Level : unsigned char { error, warn, info, debug };
enum class Sink : unsigned char { stderr_, syslog, file, journal };

/** The settings of DESIGN.md's configuration table, defaults included. */
struct Config {
    Format format = Format::text;
    Level level = Level::info;
    Sink sink = Sink::stderr_;
    char log_path[512] = {};          ///< with Sink::file
    /**
     * PORTSHIM_LOG=stderr was set, not defaulted: events about a process that
     * did not fail a bind (inherited, fork, exec-leak, ...) then go to a piped
     * stderr too. By default they reach stderr only on a terminal (rule 13).
     */
    bool stderr_asked = false;
    /**
     * JOURNAL_STREAM="DEV:INODE" (systemd.exec(7)): fd 2 was connected to the
     * journal by systemd. While fd 2 is still that stream (fstat's st_dev and
     * st_ino), the default sink sends native journal entries instead of
     * stderr lines; an explicit PORTSHIM_LOG wins.
     */
    bool journal_stream = false;
    unsigned long long journal_dev = 0;
    unsigned long long journal_ino = 0;
    bool reuseaddr = false;
    bool cloexec = false;
    unsigned wait_seconds = 0;
    bool backtrace = true;
    /**
     * The environment allows colour (https://no-color.org: NO_COLOR unset or
     * empty; TERM not "dumb"); the text format uses it only on a terminal.
     */
    bool colour = true;
    /**
     * The registry directory: PORTSHIM_STATE_DIR, else /run/portshim for root,
     * else $XDG_RUNTIME_DIR/portshim; empty = no registry (no XDG_RUNTIME_DIR,
     * or secure execution).
     */
    char state_dir[512] = {};
    /**
     * Secure execution (AT_SECURE: setuid, setgid, capabilities gained at
     * exec): a report shows only what the real user could see himself
     * (DESIGN.md rule 12).
     */
    bool secure = false;
};

/** One rejected variable; the strings point into the environment and static text. */
struct ConfigError {
    const char* name = nullptr;
    const char* value = nullptr;
    const char* accepted = nullptr;   ///< what the variable takes
    bool secure_ignored = false;      ///< a path ignored under secure execution
};

/** The rejected variables of one parse (there are fewer variables than slots). */
struct ConfigErrors {
    ConfigError items[12];
    int count = 0;
};

/** Reads a variable; nullptr when unset. Lets tests feed values without setenv. */
using EnvGetter = const char* (*)(const char* name);

/**
 * Parses every PORTSHIM_* variable through `get`. A bad value keeps the
 * default and adds one error naming the variable, the value and what is
 * accepted. Under secure execution (AT_SECURE) paths from the environment are
 * ignored, with an error when one was set.
 */
Config parse_config(EnvGetter get, bool secure, ConfigErrors& errors) noexcept;

/** "error", "warn", "info", "debug". */
const char* level_name(Level level);

} // namespace portshim
