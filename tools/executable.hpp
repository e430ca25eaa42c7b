// Whether LD_PRELOAD can reach a program at all: a statically linked binary
// has no dynamic loader, and Go programs make their socket calls directly.
#pragma once

#include <string>

namespace portshim::cli {

enum class Reach {
    preloadable,     ///< dynamically linked ELF, or a script (its interpreter is checked at exec)
    static_binary,   ///< ELF without PT_INTERP: no ld.so, LD_PRELOAD is ignored
    go_binary,       ///< Go build info present: net uses raw system calls, not libc's bind
    unreadable,      ///< cannot open or not an ELF file nor a script
};

/** Inspects the file at `path`; `detail` gets a one-line reason for anything but preloadable. */
Reach inspect_executable(const std::string& path, std::string& detail);

} // namespace portshim::cli
