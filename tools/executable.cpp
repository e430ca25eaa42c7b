// ELF inspection for portshim-run: reads the program headers for PT_INTERP
// (elf(5)) and scans for Go's build-info magic ("\xff Go buildinf:", see Go's
// debug/buildinfo), which every Go binary since 1.13 carries.
#include "executable.hpp"

#include "elf.hpp"

#include <cerrno>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <string_view>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace portshim::cli {

Reach inspect_executable(const std::string& path, std::string& detail) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        detail = path + ": " + std::strerror(errno);
        return Reach::unreadable;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 4) {
        ::close(fd);
        detail = path + ": not a regular executable file";
        return Reach::unreadable;
    }
    const auto size = static_cast<std::size_t>(st.st_size);
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        detail = path + ": " + std::strerror(errno);
        ::close(fd);
        return Reach::unreadable;
    }
    const auto* data = static_cast<const unsigned char*>(map);
    Reach reach = Reach::preloadable;
    if (data[0] == '#' && data[1] == '!') {
        reach = Reach::preloadable;
    } else if (std::memcmp(data, ELFMAG, SELFMAG) != 0 || size < EI_NIDENT) {
        detail = path + ": neither an ELF binary nor a script";
        reach = Reach::unreadable;
    } else {
        const bool interp = elf::has_interp(fd);
        constexpr std::string_view go_magic = "\xff Go buildinf:";
        const std::string_view bytes(reinterpret_cast<const char*>(data), size);
        if (bytes.find(go_magic) != std::string_view::npos) {
            detail = path + " is a Go program: its net package makes socket system calls "
                            "directly, so LD_PRELOAD cannot see its binds";
            reach = Reach::go_binary;
        } else if (!interp) {
            detail = path + " is statically linked (no PT_INTERP): the dynamic loader, and "
                            "with it LD_PRELOAD, never runs";
            reach = Reach::static_binary;
        }
    }
    ::munmap(map, size);
    ::close(fd);
    return reach;
}

} // namespace portshim::cli
