// libFuzzer target: the ELF reader (program headers, .dynsym imports, .symtab
// functions, build-ID notes). It reads files by pread, so the input is put in
// a memfd and read from there, like an executable from /proc/PID/exe.
#include "diag/elf.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

using namespace portshim;

namespace {

int memory_file() {
    static const int fd = ::memfd_create("portshim-fuzz-elf", MFD_CLOEXEC);
    return fd;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const int fd = memory_file();
    if (fd < 0 || ::ftruncate(fd, 0) != 0) __builtin_trap();
    if (size > 0 && ::pwrite(fd, data, size, 0) != static_cast<ssize_t>(size)) __builtin_trap();

    elf::has_interp(fd);
    std::uint64_t budget = 1 << 20;
    elf::imports_symbol(fd, "listen", budget);
    if (budget > (1 << 20)) __builtin_trap();  // only ever deducted
    const std::vector<std::uint64_t> addresses = {0, 0x400480, 0x400576, 0x401139, ~std::uint64_t{0}};
    budget = 1 << 20;
    const auto functions = elf::functions_containing(fd, addresses, budget);
    if (!functions.empty() && functions.size() != addresses.size()) __builtin_trap();
    elf::build_id(fd);
    // The same bytes as one PT_NOTE segment, both paddings.
    const std::string_view notes(reinterpret_cast<const char*>(data), size);
    elf::build_id_in_notes(notes, 4);
    elf::build_id_in_notes(notes, 8);
    return 0;
}
