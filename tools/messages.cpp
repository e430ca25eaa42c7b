// One-line messages shared by portshim(1) and portshim-run (messages.hpp).
#include "messages.hpp"

#include "diag/cause.hpp"
#include "reference.hpp"

#include <fmt/format.h>
#include <string_view>

namespace portshim::cli {

std::string one_line(const std::string& message) {
    std::string line;
    for (const char c : message) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f) line += fmt::format("\\x{:02x}", u);
        else line += c;
    }
    return line;
}

std::string config_error_text(const ConfigError& e) {
    if (e.secure_ignored) return fmt::format("{} is ignored under secure execution (setuid/setgid)", e.name);
    return fmt::format("{}={:?} is not valid ({})", e.name, std::string_view(e.value != nullptr ? e.value : ""),
                       e.accepted != nullptr ? e.accepted : "see portshim(1)");
}

namespace {

/** Markup of man/reference.hpp made plain: `code` loses its backticks. */
std::string plain(std::string_view text) {
    std::string out;
    for (const char c : text)
        if (c != '`') out += c;
    return out;
}

} // namespace

std::string variables_and_causes_help() {
    std::string text = "variables (check-config; values and defaults in portshim(7)):\n";
    for (const reference::Variable& v : reference::variables)
        text += fmt::format("  {:<20} {}\n", v.name, plain(v.values));
    text += "causes (why, wait; portshim(7)):\n ";
    std::size_t column = 1;
    for (std::size_t i = 0; i < cause_count; ++i) {
        const std::string word = fmt::format(" {}{}", cause_table[i].id, i + 1 < cause_count ? "," : "");
        if (column + word.size() > 88) text += "\n ", column = 1;
        text += word;
        column += word.size();
    }
    return text + "\n";
}

std::string run_options_help() {
    // "  --wait SECONDS  PORTSHIM_WAIT: ..." wrapped at 88 columns under the text.
    constexpr std::size_t indent = 18, width = 88;
    std::string text;
    for (const reference::RunOption& o : reference::run_options) {
        std::string line = fmt::format("  {:<15} {}:", o.option, o.setting);
        std::string_view rest = o.help;
        while (!rest.empty()) {
            const std::size_t space = rest.find(' ');
            const std::string_view word = rest.substr(0, space);
            if (line.size() + 1 + word.size() > width) text += line + "\n", line = std::string(indent - 1, ' ');
            line += ' ';
            line += word;
            rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
        }
        text += line + "\n";
    }
    return text;
}

} // namespace portshim::cli
