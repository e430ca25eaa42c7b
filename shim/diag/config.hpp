// PORTSHIM_* configuration: parsed once from the environment into a plain
// struct (no destructors, so the library can keep it in static storage).
#pragma once

#include <string>
#include <vector>

namespace portshim {

enum class Format : unsigned char { text, json, github };
enum class Level : unsigned char { error, warn, info, debug };
enum class Sink : unsigned char { stderr_, syslog, file };

/** The settings of DESIGN.md's configuration table, defaults included. */
struct Config {
    Format format = Format::text;
    Level level = Level::info;
    Sink sink = Sink::stderr_;
    char log_path[512] = {};          ///< with Sink::file
    bool reuseaddr = false;
    bool cloexec = false;
    unsigned wait_seconds = 0;
    bool backtrace = true;
    char state_dir[512] = {};         ///< empty = per-user default
};

/** Reads a variable; nullptr when unset. Lets tests feed values without setenv. */
using EnvGetter = const char* (*)(const char* name);

/**
 * Parses every PORTSHIM_* variable through `get`. A bad value keeps the
 * default and appends one message naming the variable, the value and what is
 * accepted. Under secure execution (AT_SECURE) paths from the environment are
 * ignored, with a message when one was set.
 */
Config parse_config(EnvGetter get, bool secure, std::vector<std::string>& errors);

/** "error", "warn", "info", "debug". */
const char* level_name(Level level);

} // namespace portshim
