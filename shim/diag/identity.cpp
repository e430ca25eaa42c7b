// Program identity: the same executable, and for interpreters and VMs the same
// main program, decides whether a holder is a previous instance of this program.
// Each runtime's options are read as its launcher reads them (java(1),
// python3(1), node(1), perlrun(1), ruby(1), php(1), bash(1)): an option's
// argument is never taken for the program, and where the main program cannot
// be told (a REPL, stdin, an @argfile) the comparison says so.
#include "identity.hpp"

#include "common/escape.hpp"

#include <initializer_list>

namespace portshim {

namespace {

constexpr std::string_view deleted_suffix = " (deleted)";

std::string_view strip_deleted(std::string_view exe) {
    if (exe.size() > deleted_suffix.size() &&
        exe.substr(exe.size() - deleted_suffix.size()) == deleted_suffix)
        exe.remove_suffix(deleted_suffix.size());
    return exe;
}

std::string_view base_name(std::string_view path) {
    const auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

bool one_of(std::string_view word, std::initializer_list<std::string_view> words) {
    for (std::string_view w : words)
        if (w == word) return true;
    return false;
}

bool has(std::string_view letters, char c) { return letters.find(c) != std::string_view::npos; }

/** How a runtime's launcher reads its command line up to the main program. */
struct Syntax {
    bool clusters = false;              ///< "-uW ignore" is -u -W ignore (getopt style)
    std::string_view main_letters;      ///< the argument is the program: python -c CODE, -m MODULE
    std::string_view arg_letters;       ///< take an argument: the rest of the cluster, else the next word
    std::string_view attached_letters;  ///< take only an attached argument: the rest of the cluster
    std::string_view digit_letters;     ///< take attached octal digits: perl -l0 -0777
    std::string_view command_letters;   ///< sh -c: the first operand is the program
    std::initializer_list<std::string_view> arg_words;   ///< whole options taking the next word or =VALUE
    std::initializer_list<std::string_view> main_words;  ///< whole options whose argument is the program
    std::initializer_list<std::string_view> path_words;  ///< the same, the argument a file (java -jar)
    bool operand_is_class = false;      ///< java: the first operand is a main class, not a file
    bool argfiles = false;              ///< java: @FILE holds more options, unread here
    bool long_values = false;           ///< node: any --option may take the next word as its value
    std::string_view path_letters = {}; ///< take the next word as the program's file: php -f FILE
};

const Syntax java_syntax{
    false, {}, {}, {}, {}, {},
    {"-cp", "-classpath", "--class-path", "-p", "--module-path", "--upgrade-module-path",
     "--add-modules", "--limit-modules", "--add-reads", "--add-exports", "--add-opens",
     "--patch-module", "--enable-native-access", "--source", "-d", "--describe-module"},
    {"-m", "--module"},
    {"-jar"},
    true,
    true};

const Syntax python_syntax{true, "cm", "WX", {}, {}, {}, {"--check-hash-based-pycs"}, {}, {}, false, false};

const Syntax node_syntax{
    false, {}, {}, {}, {}, {},
    {"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
     "--inspect-port", "--debug-port", "--title", "--disable-warning", "--env-file",
     "--openssl-config", "--redirect-warnings", "--report-dir", "--report-directory",
     "--report-filename", "--report-signal", "--secure-heap", "--secure-heap-min",
     "--tls-cipher-list", "--tls-keylog", "--unhandled-rejections", "--icu-data-dir",
     "--input-type", "--diagnostic-dir", "--heapsnapshot-signal", "--dns-result-order",
     "--experimental-policy", "--policy-integrity", "--cpu-prof-dir", "--cpu-prof-name",
     "--heap-prof-dir", "--heap-prof-name", "--watch-path", "--test-reporter",
     "--test-reporter-destination", "--test-name-pattern", "--max-http-header-size"},
    {"-e", "--eval", "-p", "--print", "-pe"},
    {},
    false,
    false,
    true};

const Syntax perl_syntax{true, "eE", "I", "MmdDxiCFV", "l0", {}, {}, {}, {}, false, false};

const Syntax ruby_syntax{true, "e", "IrCE", "xFKW", "0", {},
                         {"--encoding", "--external-encoding", "--internal-encoding", "--enable",
                          "--disable", "--dump"},
                         {}, {}, false, false};

const Syntax php_syntax{true, "rRF", "cdtzSBE", {}, {}, {}, {}, {}, {}, false, false, false, "f"};

const Syntax shell_syntax{true, {}, "oO", {}, {}, "c", {"--rcfile", "--init-file"}, {}, {}, false, false};

const Syntax lua_syntax{false, {}, {}, {}, {}, {}, {"-e", "-l"}, {}, {}, false, false};

const Syntax tcl_syntax{false, {}, {}, {}, {}, {}, {"-encoding"}, {}, {}, false, false};

enum class Family { none, java, python, node, perl, ruby, php, shell, lua, tcl, busybox };

/** The runtime an executable's name says: python3.11, php8.2 and nodejs count; python-config does not. */
Family family_of(std::string_view name) {
    struct Prefix {
        std::string_view prefix;
        Family family;
    };
    static constexpr Prefix prefixes[] = {
        {"python", Family::python}, {"pypy", Family::python}, {"perl", Family::perl},
        {"ruby", Family::ruby},     {"node", Family::node},   {"java", Family::java},
        {"php", Family::php},       {"bash", Family::shell},  {"dash", Family::shell},
        {"zsh", Family::shell},     {"ksh", Family::shell},   {"mksh", Family::shell},
        {"ash", Family::shell},     {"sh", Family::shell},    {"lua", Family::lua},
        {"tclsh", Family::tcl},     {"busybox", Family::busybox}};
    for (const Prefix& p : prefixes) {
        if (name.substr(0, p.prefix.size()) != p.prefix) continue;
        const std::string_view rest = name.substr(p.prefix.size());
        // python3, python3.11, php8.2, nodejs: digits, dots or "js" may follow.
        if (rest.empty() || rest == "js" ||
            rest.find_first_not_of("0123456789.") == std::string_view::npos)
            return p.family;
    }
    return Family::none;
}

/** Sets the main program of `id` from argv[first…] read with `s`; leaves it empty when not established. */
void read_main(const Syntax& s, const std::vector<std::string>& argv, std::size_t first,
               ProgramIdentity& id) {
    bool command_mode = false;
    bool unknown_long = false; // the word before is an option unknown here, without "=VALUE"
    std::size_t i = first;
    const auto next_word = [&](std::string& out) {
        if (i + 1 >= argv.size()) return false;
        out = argv[++i];
        return true;
    };
    const auto set_main = [&](std::string_view option, std::string value, bool path) {
        id.option = std::string(option);
        id.main = std::move(value);
        id.main_is_path = path;
    };
    for (; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if (a == "--") {
            ++i;
            break;
        }
        if (a == "-") return; // the program comes from stdin
        // A shell's "+o OPTION" is an option too (set +o).
        if (s.argfiles && !a.empty() && a[0] == '@') return;
        const bool option = a.size() >= 2 && (a[0] == '-' || (!s.command_letters.empty() && a[0] == '+'));
        if (!option) break;
        const std::size_t eq = a.find('=');
        const std::string_view word = std::string_view(a).substr(0, eq);
        const bool attached = eq != std::string::npos;
        std::string value = attached ? a.substr(eq + 1) : std::string();
        const bool main_word = one_of(word, s.main_words);
        if (main_word || one_of(word, s.path_words)) {
            if (!attached && !next_word(value)) return;
            set_main(word, value, !main_word);
            return;
        }
        if (one_of(word, s.arg_words)) {
            unknown_long = false;
            if (!attached) next_word(value);
            continue;
        }
        unknown_long = s.long_values && a[1] == '-' && !attached;
        if (!s.clusters || a[1] == '-') continue; // a flag of its own
        for (std::size_t j = 1; j < a.size(); ++j) {
            const char c = a[j];
            const std::string rest = a.substr(j + 1);
            if (has(s.main_letters, c) || has(s.path_letters, c)) {
                value = rest;
                if (value.empty() && !next_word(value)) return;
                set_main(std::string{'-', c}, value, has(s.path_letters, c));
                return;
            }
            if (has(s.arg_letters, c)) {
                if (rest.empty()) next_word(value);
                break;
            }
            if (has(s.attached_letters, c)) break;
            if (has(s.digit_letters, c)) {
                while (j + 1 < a.size() && a[j + 1] >= '0' && a[j + 1] <= '7') ++j;
                continue;
            }
            if (has(s.command_letters, c)) command_mode = true;
        }
    }
    if (i >= argv.size() || argv[i] == "-") return;
    if (command_mode) set_main("-c", argv[i], false);
    else set_main("", argv[i], !s.operand_is_class || ends_with(argv[i], ".java"));
    // A script's name ends in .js (.mjs, .cjs, .ts): no unlisted option takes one.
    const std::string& operand = argv[i];
    const bool script = ends_with(operand, ".js") || ends_with(operand, ".mjs") ||
                        ends_with(operand, ".cjs") || ends_with(operand, ".ts") ||
                        ends_with(operand, ".mts");
    if (unknown_long && !script) {
        id.ambiguous = true;
        if (i + 1 < argv.size()) id.alternative = argv[i + 1];
    }
}

const Syntax* syntax_of(Family f) {
    switch (f) {
    case Family::java: return &java_syntax;
    case Family::python: return &python_syntax;
    case Family::node: return &node_syntax;
    case Family::perl: return &perl_syntax;
    case Family::ruby: return &ruby_syntax;
    case Family::php: return &php_syntax;
    case Family::shell: return &shell_syntax;
    case Family::lua: return &lua_syntax;
    case Family::tcl: return &tcl_syntax;
    case Family::busybox:
    case Family::none: break;
    }
    return nullptr;
}

bool same_main(const ProgramIdentity& a, const ProgramIdentity& b) {
    if (a.option != b.option) return false;
    if (a.main == b.main) return true;
    // Relative paths depend on each process's cwd; compare the file names.
    if (a.main_is_path && b.main_is_path && (a.main[0] != '/' || b.main[0] != '/'))
        return base_name(a.main) == base_name(b.main);
    return false;
}

} // namespace

bool is_shell(std::string_view exe) { return family_of(program_name(exe)) == Family::shell; }

bool is_deleted(std::string_view exe) { return strip_deleted(exe).size() != exe.size(); }

std::string_view program_name(std::string_view exe) { return base_name(strip_deleted(exe)); }

ProgramIdentity identify_program(const std::string& exe, const std::vector<std::string>& argv) {
    ProgramIdentity id;
    id.executable = std::string(strip_deleted(exe));
    if (!argv.empty()) id.argv0_name = std::string(base_name(argv[0]));
    const Family family = family_of(!exe.empty() ? program_name(exe) : std::string_view(id.argv0_name));
    if (family == Family::none) return id;
    id.interpreter = true;
    if (family == Family::busybox) {
        // A multi-call binary: the applet is argv[0]'s name, or argv[1] after "busybox".
        std::size_t first = 1;
        std::string applet = id.argv0_name;
        if (applet == "busybox") {
            if (argv.size() < 2) return id;
            applet = argv[1];
            first = 2;
        }
        if (applet == "sh" || applet == "ash" || applet == "hush") read_main(shell_syntax, argv, first, id);
        else id.main = applet;
        return id;
    }
    read_main(*syntax_of(family), argv, 1, id);
    return id;
}

std::string describe_main(const ProgramIdentity& id) {
    if (id.main.empty()) return {};
    std::string main = id.main;
    constexpr std::size_t most = 80; // inline code may run to the command line's 128 KiB
    if (!id.main_is_path && main.size() > most)
        main = main.substr(0, escape::utf8_prefix(main.data(), main.size(), most)) + "…";
    return id.option.empty() ? main : id.option + " " + main;
}

Sameness compare_programs(const ProgramIdentity& a, const ProgramIdentity& b) {
    if (!a.executable.empty() && !b.executable.empty()) {
        if (a.executable != b.executable) return Sameness::different;
    } else {
        // An unreadable exe: argv[0]'s file name stands in for it.
        if (a.argv0_name.empty() || b.argv0_name.empty()) return Sameness::unknown;
        if (a.argv0_name != b.argv0_name) return Sameness::different;
    }
    if (!a.interpreter && !b.interpreter) return Sameness::same;
    if (a.main.empty() || b.main.empty()) return Sameness::unknown;
    const bool same = same_main(a, b);
    if (!a.ambiguous && !b.ambiguous) return same ? Sameness::same : Sameness::different;
    // The other reading of each: an unknown option took the operand as its value.
    const auto other = [](const ProgramIdentity& id) {
        if (!id.ambiguous) return id;
        ProgramIdentity alt = id;
        alt.main = id.alternative;
        return alt;
    };
    const ProgramIdentity alt_a = other(a), alt_b = other(b);
    // No word after the operand: under the other reading node would run no program
    // at all (a REPL), which does not hold a port; only the first reading counts.
    if (alt_a.main.empty() || alt_b.main.empty()) return same ? Sameness::same : Sameness::different;
    const bool alt_same = same_main(alt_a, alt_b);
    if (same == alt_same) return same ? Sameness::same : Sameness::different;
    return Sameness::unknown;
}

bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b) {
    return compare_programs(identify_program(exe_a, argv_a), identify_program(exe_b, argv_b)) ==
           Sameness::same;
}

} // namespace portshim
