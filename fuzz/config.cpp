// libFuzzer target: PORTSHIM_* parsing with a fuzzed environment. Input: the
// first byte says whether this is secure execution, then one value per line
// for the variables below in order; a line "\x7f" leaves a variable unset.
#include "common/config.hpp"

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

using namespace portshim;

namespace {

constexpr const char* names[] = {"PORTSHIM_FORMAT",    "PORTSHIM_LEVEL", "PORTSHIM_LOG",
                                 "PORTSHIM_REUSEADDR", "PORTSHIM_CLOEXEC", "PORTSHIM_WAIT",
                                 "PORTSHIM_BACKTRACE", "PORTSHIM_STATE_DIR", "NO_COLOR",
                                 "TERM",               "XDG_RUNTIME_DIR"};
constexpr std::size_t count = sizeof names / sizeof names[0];

// parse_config takes a plain function pointer, so the values live here.
std::vector<std::string> values;
bool set[count];

const char* get(const char* name) {
    for (std::size_t i = 0; i < count; ++i)
        if (std::strcmp(name, names[i]) == 0) return i < values.size() && set[i] ? values[i].c_str() : nullptr;
    return nullptr;  // a variable the parser does not read
}

bool terminated(const char (&buffer)[512]) { return std::memchr(buffer, '\0', sizeof buffer) != nullptr; }

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const bool secure = data[0] & 1;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    values.clear();
    std::size_t pos = 0;
    for (std::size_t i = 0; i < count && pos <= text.size(); ++i) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        values.push_back(text.substr(pos, end - pos));
        set[i] = values.back() != "\x7f";
        pos = end + 1;
    }
    for (std::size_t i = values.size(); i < count; ++i) set[i] = false;

    ConfigErrors errors;
    const Config config = parse_config(get, secure, errors);
    if (errors.count < 0 || errors.count > static_cast<int>(sizeof errors.items / sizeof errors.items[0]))
        __builtin_trap();
    for (int i = 0; i < errors.count; ++i)
        if (errors.items[i].name == nullptr ||
            (errors.items[i].accepted == nullptr) != errors.items[i].secure_ignored)
            __builtin_trap();
    if (!terminated(config.log_path) || !terminated(config.state_dir)) __builtin_trap();
    // Rule 8: under secure execution no path from the environment is used.
    if (secure && (config.sink == Sink::file || config.state_dir[0] != '\0')) __builtin_trap();
    return 0;
}
