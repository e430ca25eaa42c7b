// Parsing of the PORTSHIM_* variables: each bad value becomes one message and
// the default, never a failure (the host program must always run).
#include "config.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <string_view>

namespace portshim {

namespace {

bool parse_bool(std::string_view v, bool& out) {
    if (v == "1" || v == "yes" || v == "true" || v == "on") return out = true, true;
    if (v == "0" || v == "no" || v == "false" || v == "off" || v.empty()) return out = false, true;
    return false;
}

bool copy_path(std::string_view v, char (&out)[512]) {
    if (v.empty() || v.size() >= sizeof out) return false;
    std::memcpy(out, v.data(), v.size());
    out[v.size()] = '\0';
    return true;
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

Config parse_config(EnvGetter get, bool secure, std::vector<std::string>& errors) {
    Config c;
    auto bad = [&](const char* name, std::string_view value, const char* accepted) {
        errors.push_back(fmt::format("{}={:?} is not valid ({}); using the default", name,
                                     value, accepted));
    };

    if (const char* v = get("PORTSHIM_FORMAT")) {
        std::string_view s = v;
        if (s == "text") c.format = Format::text;
        else if (s == "json") c.format = Format::json;
        else if (s == "github") c.format = Format::github;
        else bad("PORTSHIM_FORMAT", s, "text, json or github");
    }
    if (const char* v = get("PORTSHIM_LEVEL")) {
        std::string_view s = v;
        if (s == "error") c.level = Level::error;
        else if (s == "warn" || s == "warning") c.level = Level::warn;
        else if (s == "info") c.level = Level::info;
        else if (s == "debug") c.level = Level::debug;
        else bad("PORTSHIM_LEVEL", s, "error, warn, info or debug");
    }
    if (const char* v = get("PORTSHIM_LOG")) {
        std::string_view s = v;
        if (s == "stderr" || s.empty()) c.sink = Sink::stderr_;
        else if (s == "syslog") c.sink = Sink::syslog;
        else if (secure)
            errors.push_back("PORTSHIM_LOG path ignored under secure execution (setuid/setgid); "
                             "logging to stderr");
        else if (s.front() != '/' || !copy_path(s, c.log_path))
            bad("PORTSHIM_LOG", s, "stderr, syslog or an absolute file path");
        else c.sink = Sink::file;
    }
    if (const char* v = get("PORTSHIM_REUSEADDR"); v && !parse_bool(v, c.reuseaddr))
        bad("PORTSHIM_REUSEADDR", v, "0 or 1");
    if (const char* v = get("PORTSHIM_CLOEXEC"); v && !parse_bool(v, c.cloexec))
        bad("PORTSHIM_CLOEXEC", v, "0 or 1");
    if (const char* v = get("PORTSHIM_BACKTRACE"); v && !parse_bool(v, c.backtrace))
        bad("PORTSHIM_BACKTRACE", v, "0 or 1");
    if (const char* v = get("PORTSHIM_WAIT")) {
        char* end = nullptr;
        errno = 0;
        const unsigned long n = std::strtoul(v, &end, 10);
        if (*v == '\0' || *v == '-' || *end != '\0' || errno != 0 || n > 3600)
            bad("PORTSHIM_WAIT", v, "whole seconds from 0 to 3600");
        else c.wait_seconds = static_cast<unsigned>(n);
    }
    if (const char* v = get("PORTSHIM_STATE_DIR")) {
        std::string_view s = v;
        if (secure)
            errors.push_back("PORTSHIM_STATE_DIR ignored under secure execution (setuid/setgid)");
        else if (s.empty() || s.front() != '/' || !copy_path(s, c.state_dir))
            bad("PORTSHIM_STATE_DIR", s, "an absolute directory path");
    }
    return c;
}

} // namespace portshim
