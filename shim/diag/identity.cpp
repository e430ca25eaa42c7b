// Program identity: the same executable, and for interpreters the same script
// or module, decides whether a holder is a previous instance of this program.
#include "identity.hpp"

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

/** Interpreters whose identity is the script they run, not their own binary. */
bool is_interpreter(std::string_view exe) {
    const std::string_view name = program_name(exe);
    static constexpr std::string_view prefixes[] = {"python", "perl", "ruby", "node", "java",
                                                    "php", "bash", "dash", "sh", "lua",
                                                    "tclsh", "busybox"};
    for (std::string_view p : prefixes) {
        if (name.substr(0, p.size()) != p) continue;
        const std::string_view rest = name.substr(p.size());
        // python3, python3.11, php8.2, nodejs: digits, dots or "js" may follow.
        if (rest.empty() || rest == "js" ||
            rest.find_first_not_of("0123456789.") == std::string_view::npos)
            return true;
    }
    return false;
}

/** The script or module an interpreter runs: "app.py", "-m http.server", "-jar x.jar". */
std::string script_of(const std::vector<std::string>& argv) {
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string& a = argv[i];
        if ((a == "-m" || a == "-jar" || a == "-c" || a == "-e") && i + 1 < argv.size())
            return a + " " + argv[i + 1];
        if (!a.empty() && a[0] == '-') continue;
        return a;
    }
    return {};
}

bool same_script(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return a == b;
    if (a == b) return true;
    // Relative script paths depend on each process's cwd; compare the file names.
    if (a[0] != '/' || b[0] != '/') return base_name(a) == base_name(b);
    return false;
}

} // namespace

bool is_deleted(std::string_view exe) { return strip_deleted(exe).size() != exe.size(); }

std::string_view program_name(std::string_view exe) { return base_name(strip_deleted(exe)); }

bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b) {
    if (exe_a.empty() || exe_b.empty()) {
        // Unreadable exe: fall back to argv[0]'s file name.
        if (argv_a.empty() || argv_b.empty()) return false;
        return base_name(argv_a[0]) == base_name(argv_b[0]);
    }
    if (strip_deleted(exe_a) != strip_deleted(exe_b)) return false;
    if (!is_interpreter(exe_a)) return true;
    return same_script(script_of(argv_a), script_of(argv_b));
}

} // namespace portshim
