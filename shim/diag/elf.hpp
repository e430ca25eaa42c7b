// ELF inspection without mapping the file (a library rewritten meanwhile must
// not SIGBUS the host): program headers, the imports in .dynsym, and the
// function symbols that name a backtrace's frames (elf(5)).
#pragma once

#include "types.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

/** A function symbol: its name as the table has it (mangled for C++) and its start address. */
struct FunctionSymbol {
    std::string name;          ///< empty: no symbol contains the address
    std::uint64_t start = 0;
};

/**
 * For each of `addresses` (virtual addresses as the file's program headers
 * lay it out, i.e. a runtime address minus the load bias), the defined
 * function symbol in .symtab whose [start, start + size) contains it: the
 * static symbol table, which names what .dynsym (dladdr's table) does not,
 * static functions and a program's own. A global name wins over a local
 * alias. Entries stay empty for addresses no symbol contains, and all of them
 * when the file has no .symtab (stripped), is no ELF file of this machine's
 * byte order, or its table exceeds `budget` bytes (what is read is deducted).
 * Out of memory: no entries at all.
 */
std::vector<FunctionSymbol> functions_containing(int fd, const std::vector<std::uint64_t>& addresses,
                                                 std::uint64_t& budget);

/**
 * The NT_GNU_BUILD_ID descriptor among the notes of one PT_NOTE segment
 * (`align`: the segment's p_align; 8 pads entries to 8 bytes, anything else
 * to 4); empty when there is none. Works on a file's bytes and on a loaded
 * object's memory alike, which is how a file on disk is checked to be the
 * one that was loaded.
 */
std::string build_id_in_notes(std::string_view notes, std::uint64_t align);

/** The build ID of the ELF file open on `fd`, from its PT_NOTE segments; empty when none. */
std::string build_id(int fd);

} // namespace portshim::elf
