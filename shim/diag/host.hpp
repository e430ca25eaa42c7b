// Host facts used in explanations: the ephemeral port range, reserved ports,
// boot time and user names, read from files so tests can replay them.
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace portshim::host {

/** Port range, reserved ports and the wall clock, read from PROC_ROOT/sys. */
HostFacts read_facts(const std::string& proc_root);

/** "btime" from PROC_ROOT/stat, seconds since the epoch; 0 unknown. */
double boot_time(const std::string& proc_root);

/** The user name for `uid` in passwd-format text; empty when absent. */
std::string user_from_passwd(std::string_view passwd_text, std::uint32_t uid);

/** user_from_passwd on the file at `passwd_path`; never calls NSS. */
std::string user_name(const std::string& passwd_path, std::uint32_t uid);

} // namespace portshim::host
