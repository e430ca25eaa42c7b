// ELF inspection by pread(2) only: the file header, program headers, and the
// symbol tables its section headers name (elf(5)). 32- and 64-bit files of
// this machine's byte order; anything else is "cannot tell".
#include "elf.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <new>
#include <string>
#include <unistd.h>
#include <vector>

namespace portshim::elf {

namespace {

constexpr unsigned char native_data =
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;

// Tables are read in pieces of this size, never whole.
constexpr std::size_t chunk_size = 64 * 1024;

bool read_at(int fd, void* buf, std::size_t len, std::uint64_t off) {
    std::size_t done = 0;
    while (done < len) {
        const ssize_t n = ::pread(fd, static_cast<char*>(buf) + done, len - done,
                                  static_cast<off_t>(off + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        done += static_cast<std::size_t>(n);
    }
    return true;
}

/** ELFCLASS32 or ELFCLASS64 for an ELF file of our byte order, else 0. */
int elf_class(int fd) {
    unsigned char ident[EI_NIDENT];
    if (!read_at(fd, ident, sizeof ident, 0) || std::memcmp(ident, ELFMAG, SELFMAG) != 0 ||
        ident[EI_DATA] != native_data)
        return 0;
    return ident[EI_CLASS] == ELFCLASS64 || ident[EI_CLASS] == ELFCLASS32 ? ident[EI_CLASS] : 0;
}

/** Calls visit(phdr) on each program header until it returns false; false on a read error. */
template <typename Ehdr, typename Phdr, typename Visit>
bool for_each_program_header(int fd, Visit visit) {
    Ehdr eh;
    if (!read_at(fd, &eh, sizeof eh, 0) || eh.e_phentsize < sizeof(Phdr) ||
        eh.e_phentsize > 2 * sizeof(Phdr))
        return false;
    constexpr unsigned per_read = 16;  // the usual dozen headers in one read
    char buf[per_read * 2 * sizeof(Phdr)];
    for (unsigned first = 0; first < eh.e_phnum; first += per_read) {
        const unsigned n = std::min<unsigned>(per_read, eh.e_phnum - first);
        if (!read_at(fd, buf, std::size_t{n} * eh.e_phentsize,
                     eh.e_phoff + std::uint64_t{first} * eh.e_phentsize))
            return false;
        for (unsigned i = 0; i < n; ++i) {
            Phdr ph;
            std::memcpy(&ph, buf + std::size_t{i} * eh.e_phentsize, sizeof ph);
            if (!visit(ph)) return true;
        }
    }
    return true;
}

template <typename Ehdr, typename Phdr>
bool has_interp_as(int fd) {
    bool found = false;
    for_each_program_header<Ehdr, Phdr>(fd, [&](const Phdr& ph) {
        found = ph.p_type == PT_INTERP;
        return !found;
    });
    return found;
}

template <typename Ehdr, typename Phdr>
std::string build_id_as(int fd) {
    constexpr std::uint64_t largest_notes = 64 * 1024;
    std::string id, notes;
    for_each_program_header<Ehdr, Phdr>(fd, [&](const Phdr& ph) {
        if (ph.p_type != PT_NOTE || ph.p_filesz > largest_notes) return true;
        notes.resize(static_cast<std::size_t>(ph.p_filesz));
        if (read_at(fd, &notes[0], notes.size(), ph.p_offset))
            id = build_id_in_notes(notes, ph.p_align);
        return id.empty();
    });
    return id;
}

/**
 * Offsets (from `off`) in the string table [off, off + size) where `name`
 * followed by NUL starts: a symbol's st_name may point into the middle of a
 * longer string, so every occurrence counts. False on a read error.
 */
bool find_name(int fd, std::uint64_t off, std::uint64_t size, std::string_view name,
               std::vector<std::uint64_t>& hits) {
    const std::string needle = std::string(name) + '\0';
    std::string buf;
    std::uint64_t base = 0;  // table offset of buf[0]
    for (std::uint64_t pos = 0; pos < size;) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_size, size - pos));
        const std::size_t keep = buf.size();
        buf.resize(keep + n);
        if (!read_at(fd, &buf[keep], n, off + pos)) return false;
        pos += n;
        for (std::size_t at = buf.find(needle); at != std::string::npos;
             at = buf.find(needle, at + 1))
            hits.push_back(base + at);
        // Keep a tail shorter than the needle: a match may straddle two pieces.
        const std::size_t tail = std::min(buf.size(), needle.size() - 1);
        base += buf.size() - tail;
        buf.erase(0, buf.size() - tail);
    }
    return true;
}

/** The file header, when the file has section headers of the expected size. */
template <typename Ehdr, typename Shdr>
bool section_headers_as(int fd, Ehdr& eh) {
    return read_at(fd, &eh, sizeof eh, 0) && eh.e_shoff != 0 && eh.e_shnum != 0 &&
           eh.e_shentsize >= sizeof(Shdr);
}

/** The first section of `type` (SHT_SYMTAB, SHT_DYNSYM) and the string table it links to. */
template <typename Ehdr, typename Shdr, typename Sym>
bool symbol_table_as(int fd, const Ehdr& eh, unsigned type, Shdr& table, Shdr& strtab) {
    // All headers in one read (a few KiB): a library has dozens of sections.
    constexpr std::size_t largest_headers = 1024 * 1024;
    if (eh.e_shentsize > 2 * sizeof(Shdr) ||
        std::size_t{eh.e_shnum} * eh.e_shentsize > largest_headers)
        return false;
    std::string headers(std::size_t{eh.e_shnum} * eh.e_shentsize, '\0');
    if (!read_at(fd, &headers[0], headers.size(), eh.e_shoff)) return false;
    auto section = [&](unsigned i, Shdr& sh) {
        std::memcpy(&sh, headers.data() + std::size_t{i} * eh.e_shentsize, sizeof sh);
    };
    bool found = false;
    for (unsigned i = 0; i < eh.e_shnum && !found; ++i) {
        section(i, table);
        found = table.sh_type == type;
    }
    if (!found || table.sh_link >= eh.e_shnum || table.sh_entsize < sizeof(Sym)) return false;
    section(table.sh_link, strtab);
    return strtab.sh_type == SHT_STRTAB;
}

/** Calls visit(sym) on each entry of the table until it returns false; false on a read error. */
template <typename Sym, typename Shdr, typename Visit>
bool for_each_symbol(int fd, const Shdr& table, Visit visit) {
    const std::uint64_t count = table.sh_size / table.sh_entsize;
    const std::size_t per_chunk = std::max<std::size_t>(1, chunk_size / table.sh_entsize);
    std::string buf;
    for (std::uint64_t first = 0; first < count; first += per_chunk) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(per_chunk, count - first));
        buf.resize(n * table.sh_entsize);
        if (!read_at(fd, &buf[0], buf.size(), table.sh_offset + first * table.sh_entsize))
            return false;
        for (std::size_t i = 0; i < n; ++i) {
            Sym sym;
            std::memcpy(&sym, buf.data() + i * table.sh_entsize, sizeof sym);
            if (!visit(sym)) return true;
        }
    }
    return true;
}

template <typename Ehdr, typename Shdr, typename Sym>
Tri imports_as(int fd, std::string_view name, std::uint64_t& budget) {
    Ehdr eh;
    Shdr dynsym{}, strtab{};
    // No .dynsym: a static program, whose calls cannot be seen from here.
    if (!section_headers_as<Ehdr, Shdr>(fd, eh) ||
        !symbol_table_as<Ehdr, Shdr, Sym>(fd, eh, SHT_DYNSYM, dynsym, strtab) ||
        dynsym.sh_size > budget || strtab.sh_size > budget - dynsym.sh_size)
        return Tri::unknown;
    budget -= dynsym.sh_size + strtab.sh_size;

    std::vector<std::uint64_t> hits;
    if (!find_name(fd, strtab.sh_offset, strtab.sh_size, name, hits)) return Tri::unknown;
    if (hits.empty()) return Tri::no;

    bool imported = false;
    const bool read = for_each_symbol<Sym>(fd, dynsym, [&](const Sym& sym) {
        imported = sym.st_shndx == SHN_UNDEF && sym.st_name != 0 &&
                   std::binary_search(hits.begin(), hits.end(), std::uint64_t{sym.st_name});
        return !imported;
    });
    if (!read) return Tri::unknown;
    return imported ? Tri::yes : Tri::no;
}

/** The NUL-terminated string at `at` in the string table `strtab`; false past its end. */
template <typename Shdr>
bool read_string(int fd, const Shdr& strtab, std::uint64_t at, std::string& out,
                 std::uint64_t& budget) {
    constexpr std::size_t piece = 256, longest = 4096;  // C++ names can be long
    out.clear();
    while (at < strtab.sh_size && out.size() < longest && budget >= piece) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, strtab.sh_size - at));
        char buf[piece];
        if (!read_at(fd, buf, n, strtab.sh_offset + at)) return false;
        budget -= piece;
        const std::size_t len = strnlen(buf, n);
        out.append(buf, len);
        if (len < n) return true;
        at += n;
    }
    return false;
}

template <typename Ehdr, typename Shdr, typename Sym>
std::vector<FunctionSymbol> functions_as(int fd, const std::vector<std::uint64_t>& addresses,
                                         std::uint64_t& budget) {
    std::vector<FunctionSymbol> out(addresses.size());
    Ehdr eh;
    Shdr table{}, strtab{};
    if (!section_headers_as<Ehdr, Shdr>(fd, eh) ||
        !symbol_table_as<Ehdr, Shdr, Sym>(fd, eh, SHT_SYMTAB, table, strtab) ||
        table.sh_size > budget)
        return out;
    budget -= table.sh_size;

    auto is_local = [](const Sym& sym) { return (sym.st_info >> 4) == STB_LOCAL; };
    std::vector<Sym> best(addresses.size());
    std::vector<bool> found(addresses.size());
    const bool read = for_each_symbol<Sym>(fd, table, [&](const Sym& sym) {
        const unsigned type = sym.st_info & 0xf;
        if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sym.st_shndx == SHN_UNDEF ||
            sym.st_size == 0)
            return true;
        for (std::size_t i = 0; i < addresses.size(); ++i) {
            if (addresses[i] < sym.st_value || addresses[i] - sym.st_value >= sym.st_size) continue;
            if (!found[i] || (is_local(best[i]) && !is_local(sym))) best[i] = sym;
            found[i] = true;
        }
        return true;
    });
    if (!read) return out;
    for (std::size_t i = 0; i < addresses.size(); ++i)
        if (found[i] && read_string(fd, strtab, best[i].st_name, out[i].name, budget))
            out[i].start = best[i].st_value;
        else
            out[i].name.clear();
    return out;
}

} // namespace

bool has_interp(int fd) {
    switch (elf_class(fd)) {
    case ELFCLASS64: return has_interp_as<Elf64_Ehdr, Elf64_Phdr>(fd);
    case ELFCLASS32: return has_interp_as<Elf32_Ehdr, Elf32_Phdr>(fd);
    default: return false;
    }
}

Tri imports_symbol(int fd, std::string_view name, std::uint64_t& budget) {
    try {
        switch (elf_class(fd)) {
        case ELFCLASS64: return imports_as<Elf64_Ehdr, Elf64_Shdr, Elf64_Sym>(fd, name, budget);
        case ELFCLASS32: return imports_as<Elf32_Ehdr, Elf32_Shdr, Elf32_Sym>(fd, name, budget);
        default: return Tri::unknown;
        }
    } catch (const std::bad_alloc&) {
        return Tri::unknown;
    }
}

std::string build_id_in_notes(std::string_view notes, std::uint64_t align) {
    const std::size_t pad = align == 8 ? 8 : 4;
    auto padded = [pad](std::size_t n) { return (n + pad - 1) / pad * pad; };
    for (std::size_t at = 0; notes.size() - at >= sizeof(Elf64_Nhdr);) {
        Elf64_Nhdr nh;  // the same three 32-bit words in 32- and 64-bit files
        std::memcpy(&nh, notes.data() + at, sizeof nh);
        const std::size_t name_at = at + sizeof nh;
        if (nh.n_namesz > notes.size() - name_at) break;
        const std::size_t desc_at = name_at + padded(nh.n_namesz);
        if (desc_at > notes.size() || nh.n_descsz > notes.size() - desc_at) break;
        if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
            notes.compare(name_at, 4, std::string_view(ELF_NOTE_GNU, 4)) == 0)
            return std::string(notes.substr(desc_at, nh.n_descsz));
        at = desc_at + padded(nh.n_descsz);
        if (at > notes.size()) break;
    }
    return {};
}

std::string build_id(int fd) {
    try {
        switch (elf_class(fd)) {
        case ELFCLASS64: return build_id_as<Elf64_Ehdr, Elf64_Phdr>(fd);
        case ELFCLASS32: return build_id_as<Elf32_Ehdr, Elf32_Phdr>(fd);
        default: return {};
        }
    } catch (const std::bad_alloc&) {
        return {};
    }
}

std::vector<FunctionSymbol> functions_containing(int fd, const std::vector<std::uint64_t>& addresses,
                                                 std::uint64_t& budget) {
    try {
        switch (elf_class(fd)) {
        case ELFCLASS64: return functions_as<Elf64_Ehdr, Elf64_Shdr, Elf64_Sym>(fd, addresses, budget);
        case ELFCLASS32: return functions_as<Elf32_Ehdr, Elf32_Shdr, Elf32_Sym>(fd, addresses, budget);
        default: return std::vector<FunctionSymbol>(addresses.size());
        }
    } catch (const std::bad_alloc&) {
        return {};
    }
}

} // namespace portshim::elf
