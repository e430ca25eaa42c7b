// One-line messages shared by portshim(1) and portshim-run (messages.hpp).
#include "messages.hpp"

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

} // namespace portshim::cli
