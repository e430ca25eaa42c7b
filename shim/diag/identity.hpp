// Program identity: whether two processes run the same program, from their
// executables and command lines. Pure; the rules and the inherited event use it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace portshim {

/** Whether two processes run the same program, as far as executables and command lines tell. */
enum class Sameness : std::uint8_t {
    same,       ///< one executable, and for an interpreter the same main program on both sides
    different,  ///< other executables, or one interpreter running two different main programs
    unknown,    ///< one interpreter, but a side's main program cannot be established (or no side known)
};

/** What a process runs: its executable and, for an interpreter or VM, the main program. */
struct ProgramIdentity {
    std::string executable;    ///< exe without " (deleted)"; "" when unreadable
    std::string argv0_name;    ///< argv[0]'s file name, compared when an exe is unreadable
    bool interpreter = false;  ///< java, python, node, perl, ruby, php, a shell…: the main program decides
    /** The option that names the main program ("-m", "-jar", "-c", "--eval"), "" for an operand. */
    std::string option;
    /**
     * The main program as the runtime parses its options: "app.py", "http.server" (-m),
     * "app.jar" (-jar), "Alpha" (a main class), the code of -c; empty when it cannot be
     * established (a REPL, stdin, an @argfile, a renamed process).
     */
    std::string main;
    bool main_is_path = false; ///< `main` is a file path (a script or a jar), compared by name when relative
    /**
     * node: `main` directly follows an option this parser does not know, given
     * without "=VALUE" (node's value options also take the next word). Were it
     * that option's value, the main program would be `alternative` (the word
     * after; "" when none): two processes are the same only under both readings.
     */
    bool ambiguous = false;
    std::string alternative;
};

/**
 * "app.py", "-m http.server", "-jar app.jar": the main program in words; "" when
 * not established. Code given inline (-c, -e) is cut to 80 characters ("…").
 */
std::string describe_main(const ProgramIdentity& id);

/** Identifies the program of a process from readlink(/proc/PID/exe) and its argv. */
ProgramIdentity identify_program(const std::string& exe, const std::vector<std::string>& argv);

/**
 * Compares two programs: `same` only when the executable is the same (a
 * " (deleted)" suffix ignored) and, for an interpreter, the main program is
 * established on both sides and is the same; `unknown` when nothing is known
 * of a side (no exe, no argv) or an interpreter's main program of a side is not established.
 */
Sameness compare_programs(const ProgramIdentity& a, const ProgramIdentity& b);

/** compare_programs(identify_program(a), identify_program(b)) == Sameness::same. */
bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b);

/** Whether the executable (or a bare name: "bash") is a shell: sh, bash, dash, zsh, ksh… */
bool is_shell(std::string_view exe);

/** Whether readlink of /proc/PID/exe says the file was replaced or removed (" (deleted)"). */
bool is_deleted(std::string_view exe);

/** The executable's file name without a " (deleted)" suffix: "nginx" for "/usr/sbin/nginx (deleted)". */
std::string_view program_name(std::string_view exe);

} // namespace portshim
