// `portshim unit`: reads a service's ExecStart as systemd does (systemd.unit(5),
// systemd.service(5)) and writes the drop-in that runs it under portshim-run.
#include "unit.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::cli {

const char* const drop_in_marker = "# Written by `portshim unit`";

namespace {

constexpr std::string_view blanks = " \t\r\n";

std::string_view trim(std::string_view s) {
    const std::size_t b = s.find_first_not_of(blanks);
    if (b == std::string_view::npos) return {};
    const std::size_t e = s.find_last_not_of(blanks);
    return s.substr(b, e - b + 1);
}

/** Whether `line` ends in an odd number of backslashes: it continues on the next line. */
bool continues(std::string_view line) {
    std::size_t n = 0;
    while (n < line.size() && line[line.size() - 1 - n] == '\\') ++n;
    return n % 2 == 1;
}

bool ascii_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/** A C escape after the backslash at text[i]: appends it to `word`, advances `i` past it. */
bool unescape(std::string_view text, std::size_t& i, std::string& word, std::string& error) {
    if (i + 1 >= text.size()) {
        error = "a command line ends in a backslash";
        return false;
    }
    const char c = text[++i];
    switch (c) {
    case 'a': word += '\a'; break;
    case 'b': word += '\b'; break;
    case 'f': word += '\f'; break;
    case 'n': word += '\n'; break;
    case 'r': word += '\r'; break;
    case 't': word += '\t'; break;
    case 'v': word += '\v'; break;
    case 's': word += ' '; break;
    case 'x': {
        const int hi = i + 1 < text.size() ? hex_value(text[i + 1]) : -1;
        const int lo = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            error = "\\x needs two hex digits";
            return false;
        }
        word += static_cast<char>(hi * 16 + lo);
        i += 2;
        break;
    }
    default:
        if (c >= '0' && c <= '7') {
            if (i + 2 >= text.size() || text[i + 1] < '0' || text[i + 1] > '7' || text[i + 2] < '0' ||
                text[i + 2] > '7') {
                error = "an octal escape needs three digits";
                return false;
            }
            word += static_cast<char>((c - '0') * 64 + (text[i + 1] - '0') * 8 + (text[i + 2] - '0'));
            i += 2;
        } else {
            word += c; // \\ \" \' and any other character as it is
        }
    }
    return true;
}

} // namespace

bool read_unit_text(std::string_view text, ServiceUnit& unit, std::string& error) {
    std::string section;
    std::string pending;  // a setting continued over lines
    int pending_line = 0;
    int number = 0;
    std::size_t pos = 0;
    while (pos <= text.size()) {
        const std::size_t nl = text.find('\n', pos);
        const std::string_view raw =
            text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++number;
        const std::string_view line = trim(raw);
        if (!line.empty() && (line[0] == '#' || line[0] == ';')) continue;  // also inside a continuation
        if (pending.empty()) pending_line = number;
        pending += line;
        if (continues(line)) {
            pending.back() = ' ';
            if (pos <= text.size()) continue;
        }
        const std::string logical = std::move(pending);
        pending.clear();
        const std::string_view l = trim(logical);
        if (l.empty()) continue;
        if (l.front() == '[') {
            if (l.back() != ']') {
                error = fmt::format("line {}: a section header without ']'", pending_line);
                return false;
            }
            section = std::string(l.substr(1, l.size() - 2));
            continue;
        }
        const std::size_t eq = l.find('=');
        if (eq == std::string_view::npos) {
            error = fmt::format("line {}: neither a [section], a setting nor a comment", pending_line);
            return false;
        }
        if (section != "Service") continue;
        const std::string_view key = trim(l.substr(0, eq));
        const std::string_view value = trim(l.substr(eq + 1));
        if (key == "Type") {
            unit.type = std::string(value);
        } else if (key == "ExecStart") {
            if (value.empty()) {
                unit.exec_start.clear();
                continue;
            }
            ExecCommand c;
            std::size_t i = 0;
            // "-", ":", "@", "+", "!" and "!!" in any order (systemd.service(5), table 1); "|" (v256).
            while (i < value.size() && std::strchr("-:@+!|", value[i]) != nullptr) ++i;
            c.prefixes = std::string(value.substr(0, i));
            c.command = std::string(trim(value.substr(i)));
            unit.exec_start.push_back(std::move(c));
        }
    }
    return true;
}

std::optional<std::vector<std::string>> split_unit_words(std::string_view text, std::string& error) {
    std::vector<std::string> words;
    std::size_t i = 0;
    while (i < text.size()) {
        while (i < text.size() && ascii_blank(text[i])) ++i;
        if (i >= text.size()) break;
        std::string word;
        char quote = 0;
        for (; i < text.size(); ++i) {
            const char c = text[i];
            if (quote != 0) {
                if (c == quote) quote = 0;
                else if (c == '\\') {
                    if (!unescape(text, i, word, error)) return std::nullopt;
                } else word += c;
            } else if (ascii_blank(c)) {
                break;
            } else if (c == '"' || c == '\'') {
                quote = c;
            } else if (c == '\\') {
                if (!unescape(text, i, word, error)) return std::nullopt;
            } else {
                word += c;
            }
        }
        if (quote != 0) {
            error = fmt::format("an unterminated {} quote", quote);
            return std::nullopt;
        }
        words.push_back(std::move(word));
    }
    return words;
}

std::string unit_word(std::string_view word) {
    std::string out;
    bool quote = word.empty();
    for (const char c : word) {
        if (c == '%' || c == '$') out += c;  // a specifier, a variable: doubled, taken literally
        if (c == '"' || c == '\\') out += '\\';
        if (ascii_blank(c) || c == '\'' || c == '"' || c == '\\' || c == ';') quote = true;
        out += c;
    }
    return quote ? '"' + out + '"' : out;
}

std::optional<std::string> render_drop_in(const ServiceUnit& unit, const DropInRequest& request,
                                          std::string& error) {
    if (unit.exec_start.empty()) {
        error = request.unit_name + " has no ExecStart= (" + request.source + ")";
        return std::nullopt;
    }
    if (unit.exec_start.size() > 1 && unit.type != "oneshot") {
        error = fmt::format("{} has {} ExecStart= lines but Type={}: only Type=oneshot may have several",
                            request.unit_name, unit.exec_start.size(),
                            unit.type.empty() ? "simple" : unit.type);
        return std::nullopt;
    }
    std::string run_options;
    if (request.reuseaddr) run_options += " --reuseaddr";
    if (request.supervise) run_options += " --supervise";
    std::string out = fmt::format(
        "{} (portshim {}) from {}:\n"
        "# its ExecStart= runs under portshim-run, which explains a bind that fails with\n"
        "# EADDRINUSE (who holds the port, why, what to do) in the journal.\n"
        "# Undo: rm {} && systemctl daemon-reload && systemctl restart {}\n"
        "[Service]\n",
        drop_in_marker, PORTSHIM_VERSION, request.source, request.undo_path, request.unit_name);
    for (const std::string& port : request.ports)
        out += fmt::format("ExecStartPre={} wait --timeout {}{} {}\n", unit_word(request.portshim),
                           request.timeout, request.reuseaddr ? " --reuseaddr" : "", unit_word(port));
    out += "ExecStart=\n";
    for (const ExecCommand& c : unit.exec_start) {
        if (c.prefixes.find('@') != std::string::npos) {
            error = request.unit_name + ": ExecStart=@ (a separate argv[0]) cannot be kept under portshim-run";
            return std::nullopt;
        }
        if (c.prefixes.find('|') != std::string::npos) {
            error = request.unit_name + ": ExecStart=| (a shell command line) is not supported";
            return std::nullopt;
        }
        const auto words = split_unit_words(c.command, error);
        if (!words) {
            error = request.unit_name + ": ExecStart=: " + error;
            return std::nullopt;
        }
        if (words->empty()) {
            error = request.unit_name + ": an ExecStart= without a command";
            return std::nullopt;
        }
        // A unit that already runs under portshim (the example unit, a hand edit) would run it twice.
        const std::string_view first = words->front();
        const std::string_view base = first.substr(first.find_last_of('/') + 1);
        if (base == "portshim-run" || base == "portshim-supervise") {
            error = fmt::format("{}: ExecStart= already runs under {}; nothing to add", request.unit_name,
                                first);
            return std::nullopt;
        }
        // The prefixes stay in front: "-" (failure ignored), ":" (no variables expanded), "+", "!" and
        // "!!" (privileges) apply to the process, which portshim-run becomes by exec.
        out += fmt::format("ExecStart={}{}{} -- {}\n", c.prefixes, unit_word(request.run), run_options, c.command);
    }
    return out;
}

namespace {

bool is_file(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

/** systemd's unit name characters (systemd.unit(5)): ASCII letters, digits, ":-_.\" and "@". */
bool valid_unit_name(std::string_view name) {
    if (name.empty() || name.size() > 255) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               std::strchr(":-_.\\@", c) != nullptr;
    });
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

const char* const unit_dirs[] = {"/etc/systemd/system", "/run/systemd/system", "/lib/systemd/system",
                                 "/usr/lib/systemd/system"};

/** The *.conf files of `dir`, by name. */
std::vector<std::string> conf_files(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (ends_with(name, ".conf") && is_file(dir + "/" + name)) names.push_back(name);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

std::string drop_in_path(const std::string& name, const std::string& root) {
    return root + "/etc/systemd/system/" + name + ".d/portshim.conf";
}

std::optional<UnitFiles> find_unit(const std::string& unit, const std::string& root, std::string& error) {
    UnitFiles found;
    if (unit.find('/') != std::string::npos) {
        // A path to a unit file: read as it is, its drop-ins are those of its name.
        found.name = unit.substr(unit.rfind('/') + 1);
        if (!ends_with(found.name, ".service") || !valid_unit_name(found.name)) {
            error = "'" + unit + "' is no .service unit name (portshim unit takes NAME.service or a path to one)";
            return std::nullopt;
        }
        if (!is_file(unit)) {
            error = "no unit file " + unit;
            return std::nullopt;
        }
        found.files.push_back(unit);
    } else {
        found.name = unit;
        const std::size_t dot = unit.rfind('.');
        if (dot == std::string::npos) found.name += ".service";
        else if (unit.substr(dot) != ".service") {
            error = "'" + unit + "' is no service: portshim unit takes the .service a " + unit.substr(dot + 1) +
                    " unit starts";
            return std::nullopt;
        }
        if (!valid_unit_name(found.name) || found.name.front() == '.' || found.name.front() == '-') {
            error = "'" + unit + "' is no valid unit name";
            return std::nullopt;
        }
        // foo@bar.service reads foo@.service when there is no foo@bar.service.
        std::vector<std::string> names{found.name};
        const std::size_t at = found.name.find('@');
        if (at != std::string::npos && at + 1 < found.name.size() - 8)
            names.push_back(found.name.substr(0, at + 1) + ".service");
        for (const std::string& name : names) {
            for (const char* dir : unit_dirs)
                if (is_file(root + dir + "/" + name)) {
                    found.files.push_back(root + dir + "/" + name);
                    break;
                }
            if (!found.files.empty()) break;
        }
        if (found.files.empty()) {
            error = "no unit " + found.name + " in /etc/systemd/system, /run/systemd/system, /lib/systemd/system or /usr/lib/systemd/system" +
                    (root.empty() ? "" : " under " + root);
            return std::nullopt;
        }
    }
    std::vector<std::string> seen;
    std::vector<std::string> drop_ins;
    for (const char* dir : unit_dirs) {
        const std::string d = root + dir + "/" + found.name + ".d";
        for (const std::string& name : conf_files(d)) {
            if (name == "portshim.conf" || std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
            seen.push_back(name);
            drop_ins.push_back(d + "/" + name);
        }
    }
    std::sort(drop_ins.begin(), drop_ins.end(), [](const std::string& a, const std::string& b) {
        return a.substr(a.rfind('/') + 1) < b.substr(b.rfind('/') + 1);
    });
    found.files.insert(found.files.end(), drop_ins.begin(), drop_ins.end());
    return found;
}

bool write_drop_in(const std::string& path, const std::string& text, bool force, std::string& error) {
    const std::string dir = path.substr(0, path.rfind('/'));
    // The parents of NAME.d exist on any systemd machine; under --root they may not.
    for (std::size_t end = dir.find('/', 1);; end = dir.find('/', end + 1)) {
        const std::string part = dir.substr(0, end);
        if (::mkdir(part.c_str(), 0755) != 0 && errno != EEXIST) {
            error = "cannot create " + part + ": " + std::strerror(errno);
            return false;
        }
        if (end == std::string::npos) break;
    }
    if (std::FILE* old = std::fopen(path.c_str(), "re")) {
        char first[64] = {};
        const bool ours = std::fgets(first, sizeof first, old) != nullptr &&
                          std::strncmp(first, drop_in_marker, std::strlen(drop_in_marker)) == 0;
        std::fclose(old);
        if (!ours && !force) {
            error = path + " exists and portshim did not write it (--force replaces it)";
            return false;
        }
    }
    const std::string temp = path + ".portshim-new";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        error = "cannot write " + temp + ": " + std::strerror(errno);
        return false;
    }
    const bool written = ::fchmod(fd, 0644) == 0 &&
                         ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                         ::fsync(fd) == 0;
    const int e = errno;
    ::close(fd);
    if (!written || ::rename(temp.c_str(), path.c_str()) != 0) {
        error = "cannot write " + path + ": " + std::strerror(written ? errno : e);
        ::unlink(temp.c_str());
        return false;
    }
    return true;
}

} // namespace portshim::cli
