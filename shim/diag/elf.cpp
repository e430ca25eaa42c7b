// ELF inspection by pread(2) only: the file header, program headers, and the
// .dynsym/.dynstr pair its section headers name (elf(5)). 32- and 64-bit
// files of this machine's byte order; anything else is "cannot tell".
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

template <typename Ehdr, typename Phdr>
bool has_interp_as(int fd) {
    Ehdr eh;
    if (!read_at(fd, &eh, sizeof eh, 0) || eh.e_phentsize < sizeof(Phdr)) return false;
    for (unsigned i = 0; i < eh.e_phnum; ++i) {
        Phdr ph;
        if (!read_at(fd, &ph, sizeof ph, eh.e_phoff + std::uint64_t{i} * eh.e_phentsize))
            return false;
        if (ph.p_type == PT_INTERP) return true;
    }
    return false;
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

template <typename Ehdr, typename Shdr, typename Sym>
Tri imports_as(int fd, std::string_view name, std::uint64_t& budget) {
    Ehdr eh;
    if (!read_at(fd, &eh, sizeof eh, 0) || eh.e_shoff == 0 || eh.e_shnum == 0 ||
        eh.e_shentsize < sizeof(Shdr))
        return Tri::unknown;
    auto section = [&](unsigned i, Shdr& sh) {
        return read_at(fd, &sh, sizeof sh, eh.e_shoff + std::uint64_t{i} * eh.e_shentsize);
    };
    Shdr dynsym{};
    bool found = false;
    for (unsigned i = 0; i < eh.e_shnum && !found; ++i) {
        if (!section(i, dynsym)) return Tri::unknown;
        found = dynsym.sh_type == SHT_DYNSYM;
    }
    Shdr strtab{};
    // No .dynsym: a static program, whose calls cannot be seen from here.
    if (!found || dynsym.sh_link >= eh.e_shnum || dynsym.sh_entsize < sizeof(Sym) ||
        !section(dynsym.sh_link, strtab) || strtab.sh_type != SHT_STRTAB ||
        dynsym.sh_size > budget || strtab.sh_size > budget - dynsym.sh_size)
        return Tri::unknown;
    budget -= dynsym.sh_size + strtab.sh_size;

    std::vector<std::uint64_t> hits;
    if (!find_name(fd, strtab.sh_offset, strtab.sh_size, name, hits)) return Tri::unknown;
    if (hits.empty()) return Tri::no;

    const std::uint64_t count = dynsym.sh_size / dynsym.sh_entsize;
    const std::size_t per_chunk = std::max<std::size_t>(1, chunk_size / dynsym.sh_entsize);
    std::string buf;
    for (std::uint64_t first = 0; first < count; first += per_chunk) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(per_chunk, count - first));
        buf.resize(n * dynsym.sh_entsize);
        if (!read_at(fd, &buf[0], buf.size(), dynsym.sh_offset + first * dynsym.sh_entsize))
            return Tri::unknown;
        for (std::size_t i = 0; i < n; ++i) {
            Sym sym;
            std::memcpy(&sym, buf.data() + i * dynsym.sh_entsize, sizeof sym);
            if (sym.st_shndx == SHN_UNDEF && sym.st_name != 0 &&
                std::binary_search(hits.begin(), hits.end(), std::uint64_t{sym.st_name}))
                return Tri::yes;
        }
    }
    return Tri::no;
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

} // namespace portshim::elf
