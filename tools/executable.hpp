// Whether a program can run at all, found as execvp(3) finds it, and whether
// LD_PRELOAD can reach it: a statically linked binary has no dynamic loader,
// and Go programs make their socket calls directly.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portshim::cli {

enum class Reach {
    preloadable,     ///< dynamically linked ELF, a script, or a file /bin/sh would run
    static_binary,   ///< ELF without PT_INTERP: no ld.so, LD_PRELOAD is ignored
    go_binary,       ///< Go build info present: net uses raw system calls, not libc's bind
    not_found,       ///< no such file (or interpreter), or no PATH entry has it: a shell's 127
    cannot_run,      ///< execve would refuse it: a directory, FIFO, device, no execute permission: 126
};

/**
 * The file execvp(3) would run for `name`: `name` itself when it contains a
 * '/', else the first PATH entry (`path_env`; glibc's "/bin:/usr/bin" when
 * null; an empty entry is the current directory) holding an executable
 * regular file of that name. Shell builtins do not count: `true` is
 * /usr/bin/true. Empty when none; `reach` then says not_found or, when only
 * non-executable candidates were found (execvp's EACCES), cannot_run, and
 * `detail` a one-line reason.
 */
std::string find_program(std::string_view name, const char* path_env, Reach& reach,
                         std::string& detail);

/** How a started program shows in /proc: readlink of /proc/PID/exe and its cmdline. */
struct RunAs {
    std::string exe;                  ///< the real path of the binary that runs (symlinks resolved)
    std::vector<std::string> argv;
    /** A script run by a shell through its #! line: it may exec another program (a pyenv shim). */
    bool shell_script = false;
};

/**
 * What exec of `words` (found as execvp finds words[0] in `path_env`) would run, as
 * /proc would show it: a script's #! line (and #!/usr/bin/env NAME) followed as the
 * kernel does, so that "./app.py" runs /usr/bin/python3.11 with argv
 * "/usr/bin/python3 ./app.py". nullopt with a one-line `detail` when it is not found.
 */
std::optional<RunAs> program_as_run(const std::vector<std::string>& words, const char* path_env,
                                    std::string& detail);

/**
 * Inspects the program at `path` without ever blocking or opening anything but
 * a regular file (a FIFO or a device is refused from stat alone). A script's
 * #! interpreter is checked the same way; a file without #! that is no ELF
 * binary is run by execvp through /bin/sh, so it is preloadable. An
 * executable that cannot be read (mode --x) cannot be inspected and counts as
 * preloadable: the kernel decides. `detail` gets a one-line reason for
 * anything but preloadable.
 */
Reach inspect_executable(const std::string& path, std::string& detail);

/**
 * The exit status of `portshim check-preload`: 0 preloadable, 1 static or Go,
 * and a shell's for a program that cannot be started: 127 not_found, 126 cannot_run.
 */
int exit_status_of(Reach reach);

} // namespace portshim::cli
