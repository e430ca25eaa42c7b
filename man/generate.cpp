// portshim-reference: renders the tables of man/reference.hpp, the causes of
// shim/diag/cause.hpp and the event keys of the golden file into roff (the man
// pages) and into the generated blocks of docs/*.md, and lists names for the tests.
// Refuses (exit 1) when the tables disagree with the code's own lists.
//   portshim-reference roff GOLDEN VERSION TEMPLATE OUT
//   portshim-reference markdown GOLDEN [--check] FILE...
//   portshim-reference list variables|fields|run-options|run-variables|causes
#include "reference.hpp"

#include "diag/cause.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace portshim;
using namespace portshim::reference;

[[noreturn]] void fail(const std::string& message) {
    std::fprintf(stderr, "portshim-reference: %s\n", message.c_str());
    std::exit(1);
}

std::string read_file(const std::string& path) {
    std::ifstream in(path);
    if (!in) fail("cannot read " + path);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

/** The top-level keys of each event in the golden file, merged over its lines: "`port` or `path`". */
std::map<std::string, std::string> golden_keys(const std::string& path) {
    std::map<std::string, std::vector<std::vector<std::string>>> lines;
    std::istringstream in(read_file(path));
    for (std::string line; std::getline(in, line);) {
        const auto q1 = line.find('"'), q2 = line.find('"', q1 + 1), brace = line.find('{');
        if (q1 == std::string::npos || q2 == std::string::npos || brace == std::string::npos) continue;
        std::vector<std::string> keys;
        int depth = 0;
        for (std::size_t i = brace; i < line.size(); ++i) {
            const char c = line[i];
            if (c == '{' || c == '[') ++depth;
            else if (c == '}' || c == ']') --depth;
            else if (c == '"') {
                const std::size_t end = line.find('"', i + 1);
                if (end == std::string::npos) break;
                if (depth == 1 && end + 1 < line.size() && line[end + 1] == ':')
                    keys.push_back(line.substr(i + 1, end - i - 1));
                i = end;
            }
        }
        lines[line.substr(q1 + 1, q2 - q1 - 1)].push_back(keys);
    }
    std::map<std::string, std::string> out;
    const std::set<std::string> common = {"event", "time", "pid", "exe"};
    for (const auto& [event, variants] : lines) {
        std::vector<std::string> merged;
        for (const auto& keys : variants) {
            for (std::size_t i = 0; i < keys.size(); ++i) {
                if (std::find(merged.begin(), merged.end(), keys[i]) != merged.end()) continue;
                auto at = merged.begin();
                if (i > 0) at = std::find(merged.begin(), merged.end(), keys[i - 1]) + 1;
                // After the alternatives other lines have there: "`port` or `path`".
                while (at != merged.end() && std::find(keys.begin(), keys.end(), *at) == keys.end()) ++at;
                merged.insert(at, keys[i]);
            }
        }
        auto together = [&](const std::string& a, const std::string& b) {
            for (const auto& keys : variants)
                if (std::find(keys.begin(), keys.end(), a) != keys.end() &&
                    std::find(keys.begin(), keys.end(), b) != keys.end())
                    return true;
            return false;
        };
        std::string text;
        for (std::size_t i = 0; i < merged.size(); ++i) {
            if (common.count(merged[i])) continue;
            if (!text.empty()) text += ", ";
            text += "`" + merged[i] + "`";
            if (i + 1 < merged.size() && !together(merged[i], merged[i + 1])) text += " or `" + merged[++i] + "`";
        }
        out[event] = text;
    }
    return out;
}

/** The tables agree with the code: every cause has its text, every golden event its row. */
void check_tables(const std::map<std::string, std::string>& keys) {
    if (std::size(cause_texts) != cause_count) fail("man/reference.hpp: cause_texts and cause_table differ in length");
    for (std::size_t i = 0; i < cause_count; ++i)
        if (cause_texts[i].id != cause_table[i].id)
            fail("man/reference.hpp: cause_texts[" + std::to_string(i) + "] is " + std::string(cause_texts[i].id) +
                 ", shim/diag/cause.hpp has " + std::string(cause_table[i].id));
    std::set<std::string> listed;
    for (const Event& e : events) {
        listed.insert(std::string(e.name));
        if (!keys.count(std::string(e.name)) && e.keys.empty())
            fail("man/reference.hpp: event " + std::string(e.name) + " has no keys and is not in the golden file");
    }
    for (const auto& entry : keys)
        if (!listed.count(entry.first)) fail("man/reference.hpp: event " + entry.first + " of the golden file is not listed");
}

std::string event_keys(const Event& e, const std::map<std::string, std::string>& keys) {
    const auto it = keys.find(std::string(e.name));
    return it != keys.end() ? it->second : std::string(e.keys);
}

// Markdown -----------------------------------------------------------------------

std::string cell(std::string_view text) {
    std::string out;
    for (const char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
    return out;
}

std::string md_variables(const Variable* begin, const Variable* end) {
    std::string out = "| variable | default | values | meaning |\n| --- | --- | --- | --- |\n";
    for (const Variable* v = begin; v != end; ++v)
        out += "| `" + std::string(v->name) + "` | " + cell(v->default_value.empty() ? "unset" : v->default_value) +
               " | " + cell(v->values) + " | " + cell(v->meaning) + " |\n";
    return out;
}

std::string md_block(const std::string& name, const std::map<std::string, std::string>& keys) {
    std::string out;
    if (name == "variables") return md_variables(std::begin(variables), std::end(variables));
    if (name == "foreign-variables") return md_variables(std::begin(foreign_variables), std::end(foreign_variables));
    if (name == "sinks") {
        out = "| `PORTSHIM_LOG` | where events go |\n| --- | --- |\n";
        for (const SinkInfo& s : sinks) out += "| `" + std::string(s.name) + "` | " + cell(s.meaning) + " |\n";
    } else if (name == "journal-fields") {
        out = "| field | value |\n| --- | --- |\n";
        for (const JournalField& f : journal_fields)
            out += "| `" + std::string(f.name) + "` | " + cell(f.meaning) + " |\n";
    } else if (name == "run-options") {
        out = "| option | sets | meaning |\n| --- | --- | --- |\n";
        for (const RunOption& o : run_options)
            out += "| `" + std::string(o.option) + "` | `" + std::string(o.setting) + "` | " + cell(o.help) + " |\n";
    } else if (name == "causes") {
        out = "| id | clears by itself | when |\n| --- | --- | --- |\n";
        for (std::size_t i = 0; i < cause_count; ++i)
            out += "| `" + std::string(cause_table[i].id) + "` | " + (cause_table[i].clears_by_itself ? "yes" : "no") +
                   " | " + cell(cause_texts[i].when) + " |\n";
    } else if (name == "events") {
        out = "| event | level | keys after the common ones | when |\n| --- | --- | --- | --- |\n";
        for (const Event& e : events)
            out += "| `" + std::string(e.name) + "` | " + cell(e.level) + " | " + cell(event_keys(e, keys)) + " | " +
                   cell(e.meaning) + " |\n";
    } else {
        fail("unknown generated block '" + name + "'");
    }
    return out;
}

/** FILE with each block between `<!-- generated:NAME -->` and `<!-- end generated -->` rendered anew. */
std::string render_markdown(const std::string& path, const std::map<std::string, std::string>& keys) {
    const std::string text = read_file(path);
    const std::string open = "<!-- generated:", close = "<!-- end generated -->";
    std::string out;
    std::size_t at = 0;
    for (;;) {
        const std::size_t start = text.find(open, at);
        if (start == std::string::npos) break;
        const std::size_t name_end = text.find(" -->\n", start);
        const std::size_t end = text.find(close, start);
        if (name_end == std::string::npos || end == std::string::npos || end < name_end)
            fail(path + ": a generated block without its end marker");
        const std::string name = text.substr(start + open.size(), name_end - start - open.size());
        out += text.substr(at, name_end + 5 - at) + md_block(name, keys);
        at = end;
    }
    return out + text.substr(at);
}

// roff ---------------------------------------------------------------------------

/** Text with `code` in bold; roff's special characters escaped. */
std::string roff(std::string_view text) {
    std::string out;
    bool code = false;
    for (const char c : text) {
        if (c == '`') {
            out += code ? "\\fR" : "\\fB\\%"; // \% : a name is never hyphenated
            code = !code;
        } else if (c == '\\') {
            out += "\\e";
        } else if (c == '-' && code) {
            out += "\\-";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    if (code) out += "\\fR";
    if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out = "\\&" + out;
    return out;
}

/** ".TP" item whose tag is `tag` in bold (first word) and italics (the rest). */
std::string roff_item(std::string_view tag, const std::string& body) {
    const std::size_t space = tag.find(' ');
    std::string head = "\\fB" + roff(tag.substr(0, space)) + "\\fR";
    if (space != std::string_view::npos) head += " \\fI" + roff(tag.substr(space + 1)) + "\\fR";
    std::string dashed;
    for (const char c : head) dashed += c == '-' ? std::string("\\-") : std::string(1, c);
    return ".TP\n" + dashed + "\n" + body + "\n";
}

std::string roff_variables(const Variable* begin, const Variable* end) {
    std::string out;
    for (const Variable* v = begin; v != end; ++v) {
        std::string body = roff(v->meaning) + ".\n.br\nValues: " + roff(v->values) + ".";
        if (!v->default_value.empty()) body += " Default: " + roff(v->default_value) + ".";
        out += roff_item(v->name, body);
    }
    return out;
}

std::string roff_block(const std::string& name, const std::map<std::string, std::string>& keys) {
    std::string out;
    if (name == "variables") return roff_variables(std::begin(variables), std::end(variables));
    if (name == "foreign-variables") return roff_variables(std::begin(foreign_variables), std::end(foreign_variables));
    if (name == "sinks") {
        for (const SinkInfo& s : sinks) out += roff_item(s.name, roff(s.meaning) + ".");
    } else if (name == "journal-fields") {
        for (const JournalField& f : journal_fields) out += roff_item(f.name, roff(f.meaning) + ".");
    } else if (name == "run-options") {
        for (const RunOption& o : run_options)
            out += roff_item(o.option, "Sets " + roff("`" + std::string(o.setting) + "`") + ": " + roff(o.help) + ".");
    } else if (name == "causes") {
        for (std::size_t i = 0; i < cause_count; ++i)
            out += roff_item(cause_table[i].id, roff(cause_texts[i].when) + "." +
                                                    (cause_table[i].clears_by_itself ? " Clears by itself." : ""));
    } else if (name == "cause-ids") {
        for (std::size_t i = 0; i < cause_count; ++i)
            out += roff("`" + std::string(cause_table[i].id) + "`") + (i + 1 < cause_count ? ",\n" : ".\n");
    } else if (name == "events") {
        for (const Event& e : events)
            out += roff_item(e.name, roff(e.meaning) + " (" + roff(e.level) + ").\n.br\nKeys: " +
                                         roff(event_keys(e, keys)) + ".");
    } else {
        fail("unknown generated block '" + name + "'");
    }
    return out;
}

/** TEMPLATE with each `.\" generated:NAME` line replaced by its roff and @VERSION@ by the version. */
std::string render_roff(const std::string& path, const std::string& version,
                        const std::map<std::string, std::string>& keys) {
    std::istringstream in(read_file(path));
    std::string out;
    const std::string marker = ".\\\" generated:";
    for (std::string line; std::getline(in, line);) {
        if (line.rfind(marker, 0) == 0) {
            out += roff_block(line.substr(marker.size()), keys);
            continue;
        }
        for (std::size_t at; (at = line.find("@VERSION@")) != std::string::npos;) line.replace(at, 9, version);
        out += line + "\n";
    }
    return out;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out) fail("cannot write " + path);
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.size() == 2 && args[0] == "list") {
        if (args[1] == "variables")
            for (const Variable& v : variables) std::printf("%.*s\n", int(v.name.size()), v.name.data());
        else if (args[1] == "fields")
            for (const JournalField& f : journal_fields) std::printf("%.*s\n", int(f.name.size()), f.name.data());
        else if (args[1] == "run-options")
            for (const RunOption& o : run_options) std::printf("%.*s\n", int(o.option.size()), o.option.data());
        else if (args[1] == "run-variables")
            for (const RunOption& o : run_options) {
                const std::string_view name = o.setting.substr(0, o.setting.find('='));
                std::printf("%.*s\n", int(name.size()), name.data());
            }
        else if (args[1] == "causes")
            for (const CauseInfo& c : cause_table) std::printf("%.*s\n", int(c.id.size()), c.id.data());
        else fail("list variables|fields|run-options|run-variables|causes");
        return 0;
    }
    if (args.size() < 3) fail("usage: roff GOLDEN VERSION TEMPLATE OUT | markdown GOLDEN [--check] FILE... | list WHAT");
    const auto keys = golden_keys(args[1]);
    check_tables(keys);
    if (args[0] == "roff" && args.size() == 5) {
        write_file(args[4], render_roff(args[3], args[2], keys));
        return 0;
    }
    if (args[0] == "markdown") {
        const bool check = args[2] == "--check";
        int stale = 0;
        for (std::size_t i = check ? 3 : 2; i < args.size(); ++i) {
            const std::string now = render_markdown(args[i], keys), committed = read_file(args[i]);
            if (now == committed) continue;
            if (check) {
                // The first line that differs, so that the failure shows what changed.
                std::istringstream a(committed), b(now);
                std::string la, lb;
                int line = 0;
                while (++line, std::getline(a, la) && std::getline(b, lb) && la == lb) {}
                std::fprintf(stderr, "portshim-reference: %s:%d: a generated block is stale (run man/generate)\n"
                             "  committed: %s\n  generated: %s\n", args[i].c_str(), line, la.c_str(), lb.c_str());
                ++stale;
            } else {
                write_file(args[i], now);
            }
        }
        return stale > 0 ? 1 : 0;
    }
    fail("unknown command '" + args[0] + "'");
}
