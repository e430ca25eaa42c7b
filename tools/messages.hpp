// The one-line messages that portshim(1) and portshim-run share: a message made safe
// for one line, the refusal of a PORTSHIM_* value as the library words it, and the
// parts of --help rendered from man/reference.hpp (variables, causes, options).
#pragma once

#include "common/config.hpp"

#include <string>

namespace portshim::cli {

/** `message` with every control character (below 0x20, and 0x7f) written as \xNN. */
std::string one_line(const std::string& message);

/** Why parse_config refused a value: `NAME="VALUE" is not valid (ACCEPTED)`, or the secure-execution line. */
std::string config_error_text(const ConfigError& error);

/** portshim --help: every PORTSHIM_* variable with its values, and every cause id. */
std::string variables_and_causes_help();

/** portshim-run --help: one entry per option that sets a variable. */
std::string run_options_help();

} // namespace portshim::cli
