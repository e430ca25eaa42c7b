// Command-line targets of the portshim CLI: "[ADDRESS:]PORT" or "unix:PATH",
// parsed into what a failing bind would have asked for.
#pragma once

#include "diag/types.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::cli {

/** What to check: an inet address and port (TCP or UDP), or a unix socket path. */
struct Target {
    Proto proto = Proto::tcp;
    Endpoint local;            ///< for tcp/udp
    std::string unix_path;     ///< for unix ("@name" for an abstract name)
};

/**
 * Parses "8080" (0.0.0.0), "127.0.0.1:8080", "[::1]:8080", "[::]:8080",
 * "unix:/run/app.sock" or "unix:@name". On failure returns nullopt and sets
 * `error` to a one-line reason ("port 70000 is out of range (1-65535)").
 */
std::optional<Target> parse_target(std::string_view text, bool udp, std::string& error);

/**
 * Splits `--for`'s PROGRAM into words as a POSIX shell would without expanding
 * anything: blanks separate words, '…' is literal, "…" keeps blanks (\" \\ \$ \`
 * escaped), a backslash outside quotes takes the next character as it is.
 * nullopt with `error` set on an unterminated quote or when no word is left.
 */
std::optional<std::vector<std::string>> split_command_line(std::string_view text, std::string& error);

/** Whole seconds 0..86400 for --timeout; nullopt otherwise. */
std::optional<unsigned> parse_seconds(std::string_view text);

} // namespace portshim::cli
