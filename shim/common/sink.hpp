// Where an event goes: stderr, syslog, the journal or a file, in one write per event, never
// stdout. Plain system calls only (async-signal-safe), shared by the hooks'
// own events (fork, exec-leak) and the engine's reports.
#pragma once

#include "config.hpp"
#include "engine_api.hpp"
#include "journal.hpp"

#include <cstddef>

namespace portshim::sink {

/**
 * Whom an event is about. Only a failure of this very process (bind-failed,
 * waiting, repeated, not diagnosed) may go to a piped or redirected stderr:
 * any other event there could be read as data by the parent that reads this
 * process's output (DESIGN.md rule 13), so by default it goes to stderr only
 * when that is a terminal, else to syslog (PORTSHIM_LOG=stderr overrides).
 */
enum class Origin : unsigned char { own_failure, other };

/**
 * Writes one rendered event (one or more '\n'-terminated lines). stderr when
 * fd 2 is open, not a socket and still the file it was at load (`identity`),
 * and `origin` allows it (see Origin); else syslog (datagram to /dev/log,
 * without openlog so the host's identity stays its own); or the configured
 * file, used only when it is a regular file owned by us on an ordinary file
 * system (own_files.hpp): checked with lstat and statfs before it is opened (a
 * symlink, FIFO or device is never opened, nor a file on proc or sysfs),
 * opened O_APPEND|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC per event and checked again.
 * A refused file falls back to stderr/syslog, with one config-error per
 * process saying why. Never blocks: a pipe or FIFO on fd 2 is written through
 * a non-blocking descriptor of its own (the host's file status flags stay as
 * they are), a terminal only when poll(2) says it can take the event. An event
 * that cannot be written at once, or not whole under RLIMIT_FSIZE, is dropped
 * and counted, never cut, and the next event written is preceded by a line
 * saying how many were dropped. SIGPIPE and SIGXFSZ are swallowed. Every fd it
 * opens is closed before it returns. Keeps errno.
 *
 * The journal (PORTSHIM_LOG=journal, or by default while fd 2 is the stream
 * JOURNAL_STREAM names): one native entry per event, datagram to
 * /run/systemd/journal/socket (journal.hpp), with `fields` (nullptr: MESSAGE
 * is the text's first line and only the sink's own fields are set). When no
 * journald takes it (no socket, refused), the event goes where the default
 * sink would put it: stderr or syslog, by the rules above.
 */
void write_event(const Config& config, Level level, const char* text, std::size_t len,
                 const StderrIdentity* identity, Origin origin,
                 const journal::Fields* fields = nullptr) noexcept;

/**
 * Under a seccomp filter (seccomp_state.hpp): one short event to fd 2 with no
 * system call but fstat, poll and write (not even a signal mask: poll makes
 * sure a reader is there), and nowhere else (no syslog socket,
 * no file to open). Dropped and counted when fd 2 cannot take it at once.
 */
void write_restricted(const char* text, std::size_t len,
                      const StderrIdentity* identity) noexcept;

/** The once-per-process notes (bits of StderrIdentity::notes_told). */
enum class Note : unsigned { log_refused = 1, state_dir_refused = 2 };

/**
 * Once per process (a fork child inherits the mark): a config-error event at
 * level warn saying that `subject` ("PORTSHIM_STATE_DIR=/run/portshim") was
 * refused, `why` and what follows, in the configured format (text line, JSON
 * object, GitHub annotation), written like any event. The log file's refusal
 * is said by write_event itself, with Note::log_refused. Keeps errno.
 */
void write_refusal(const Config& config, Note note, const char* subject, const char* why,
                   const char* consequence, const StderrIdentity* identity) noexcept;

/**
 * fd 2 is a terminal that write_event would write to (open, not a socket, the
 * same file as at load): with Sink::stderr_, events go there. For colour
 * (markup::use_colour). tcgetattr(3) rather than isatty(3): POSIX lists it as
 * async-signal-safe. Keeps errno.
 */
bool stderr_is_terminal(const StderrIdentity* identity) noexcept;

} // namespace portshim::sink
