// `portshim unit`: a systemd drop-in that runs a service's ExecStart under
// portshim-run. Reading a unit file, generating the drop-in and installing it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::cli {

/** One ExecStart= command as systemd.service(5) reads it. */
struct ExecCommand {
    std::string prefixes;  ///< the special characters before the path: any of "-", ":", "@", "+", "!", "!!"
    std::string command;   ///< the rest as written (continuation lines joined): path and arguments
};

/** What the drop-in needs from a service unit and its drop-ins (the [Service] section). */
struct ServiceUnit {
    std::string type;                     ///< Type=, empty when not set (systemd's default: simple)
    std::vector<ExecCommand> exec_start;  ///< after every reset by an empty ExecStart=
};

/**
 * Adds the [Service] settings of one unit file's `text` to `unit`, in the order
 * systemd applies files: the unit first, then its drop-ins, an empty ExecStart=
 * resetting the list. Lines ending in an odd number of backslashes continue
 * on the next line (the backslash becomes a space), comment lines (# or ;)
 * are skipped, also inside a continuation. False with a one-line `error`
 * ("line 7: ...") on a line that is no section, setting or comment.
 */
bool read_unit_text(std::string_view text, ServiceUnit& unit, std::string& error);

/**
 * Splits a command line into words as systemd.service(5) does ("Command
 * lines"): blanks separate, "..." and '...' quote, C escapes (\n \t \\ \" \'
 * \s \xHH \NNN) are unescaped; $VAR and %-specifiers are left as they are.
 * nullopt with `error` set on an unterminated quote or a trailing backslash.
 */
std::optional<std::vector<std::string>> split_unit_words(std::string_view text, std::string& error);

/** `word` as one word of a unit's command line: quoted when needed, % and $ doubled. */
std::string unit_word(std::string_view word);

/** What `portshim unit` was asked for. */
struct DropInRequest {
    std::string unit_name;    ///< "legacy.service"
    std::string source;       ///< where the unit was read from, for the header
    std::string portshim;     ///< absolute path of portshim, for ExecStartPre=
    std::string run;          ///< absolute path of portshim-run
    std::string undo_path;    ///< where --write puts the drop-in, for the header's undo line
    bool reuseaddr = false;
    bool supervise = false;
    unsigned timeout = 30;    ///< portshim wait --timeout
    std::vector<std::string> ports;  ///< [ADDRESS:]PORT for ExecStartPre=portshim wait
};

/**
 * The drop-in for `unit`: a header saying what wrote it and how to undo it,
 * then [Service] with one ExecStartPre=portshim wait per port, an empty
 * ExecStart= and each original command under portshim-run with its prefixes
 * kept. nullopt with a one-line `error` when the unit has no ExecStart,
 * several without Type=oneshot, or a command portshim-run cannot run as
 * systemd would (the @ prefix: a separate argv[0]).
 */
std::optional<std::string> render_drop_in(const ServiceUnit& unit, const DropInRequest& request,
                                          std::string& error);

/** The first line of every drop-in `portshim unit` writes: --write overwrites only such files. */
extern const char* const drop_in_marker;

/** A unit found on disk: its name, its files in the order systemd applies them. */
struct UnitFiles {
    std::string name;                ///< "legacy.service"
    std::vector<std::string> files;  ///< the unit file, then its drop-ins (not portshim.conf)
};

/**
 * Finds UNIT (a name, ".service" added when it has no suffix; or a path to a
 * .service file) under `root` (empty: /) as systemd does: the first of
 * /etc/systemd/system, /run/systemd/system, /lib/systemd/system and
 * /usr/lib/systemd/system that has it (a template foo@.service for
 * foo@bar.service), and the .conf drop-ins in NAME.d/ of those directories by
 * file name, the first directory winning, without the one portshim wrote.
 * nullopt with a one-line `error` for a bad or missing unit.
 */
std::optional<UnitFiles> find_unit(const std::string& unit, const std::string& root, std::string& error);

/** /etc/systemd/system/NAME.d/portshim.conf under `root`. */
std::string drop_in_path(const std::string& name, const std::string& root);

/**
 * Writes `text` to `path` (0644, its directory created 0755), replacing it
 * atomically; refuses a file that does not start with drop_in_marker unless
 * `force`. False with a one-line `error`.
 */
bool write_drop_in(const std::string& path, const std::string& text, bool force, std::string& error);

} // namespace portshim::cli
