// Program identity: whether two processes run the same program, from their
// executables and command lines. Pure; the rules and the inherited event use it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace portshim {

/**
 * Whether two processes run the same program: the same executable (a
 * " (deleted)" suffix ignored), and for interpreters the same script or module.
 */
bool same_program(const std::string& exe_a, const std::vector<std::string>& argv_a,
                  const std::string& exe_b, const std::vector<std::string>& argv_b);

/** Whether readlink of /proc/PID/exe says the file was replaced or removed (" (deleted)"). */
bool is_deleted(std::string_view exe);

/** The executable's file name without a " (deleted)" suffix: "nginx" for "/usr/sbin/nginx (deleted)". */
std::string_view program_name(std::string_view exe);

} // namespace portshim
