// ELF inspection without mapping the file (a library rewritten meanwhile must
// not SIGBUS the host): program headers and the imports in .dynsym (elf(5)).
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string_view>

namespace portshim::elf {

/**
 * Whether the ELF file open on `fd` has a PT_INTERP program header (it is run
 * by the dynamic loader). False when it has none or is no readable ELF file.
 */
bool has_interp(int fd);

/**
 * Whether the ELF file open on `fd` imports `name`: an undefined symbol of that
 * name in its .dynsym, of any version. Unknown when it is no ELF file of this
 * machine's byte order, has no .dynsym (a static program), or its symbol and
 * string tables exceed `budget` bytes; what they take is deducted from it.
 */
Tri imports_symbol(int fd, std::string_view name, std::uint64_t& budget);

} // namespace portshim::elf
