// The caller's stack for reports. Walked by libgcc's unwinder, which the engine
// already carries (static libgcc, hidden), rather than libunwind (README, "Caller
// backtrace": why); named by dladdr, then by the modules' symbol tables.
#include "backtrace.hpp"

#include "diag/elf.hpp"
#include "diag/host.hpp"
#include "common/engine_api.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cxxabi.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <map>
#include <string>
#include <string_view>
#include <unistd.h>
#include <unwind.h>

namespace portshim {

namespace {

/** Return addresses kept from the walk: our own frames (a handful) plus the reported ones. */
constexpr std::size_t max_kept = 128;
/** Frames walked at most, looking for a signal frame; bounds a walk through a corrupt stack. */
constexpr std::size_t max_walked = 4096;
/** Symbol table bytes read per capture; frames beyond it keep their module and offset. */
constexpr std::uint64_t symbol_budget = 16 * 1024 * 1024;

/** What the walk saw: return addresses, innermost first. */
struct Walk {
    std::uintptr_t pcs[max_kept];
    std::size_t kept = 0;
    std::size_t walked = 0;
    bool through_signal_handler = false;
};

/**
 * One frame of _Unwind_Backtrace. It finds frames with _dl_find_object
 * (glibc 2.35+), so the walk takes no lock and allocates nothing: safe to
 * run before we know whether we are inside a signal handler.
 */
_Unwind_Reason_Code on_frame(_Unwind_Context* context, void* arg) {
    Walk& walk = *static_cast<Walk*>(arg);
    // ip_before_insn is set for the frame a signal interrupted: its pc is the
    // interrupted instruction, not a return address (libgcc's unwind-dw2.c).
    int ip_before_insn = 0;
    const _Unwind_Ptr pc = _Unwind_GetIPInfo(context, &ip_before_insn);
    if (ip_before_insn != 0) {
        walk.through_signal_handler = true;
        return _URC_END_OF_STACK;
    }
    if (pc == 0) return _URC_END_OF_STACK;
    if (walk.kept < max_kept) walk.pcs[walk.kept++] = pc;
    return ++walk.walked == max_walked ? _URC_END_OF_STACK : _URC_NO_REASON;
}

/** Whether `path` names libportshim.so or libportshim-engine.so. */
bool is_ours(std::string_view path) {
    const std::size_t slash = path.rfind('/');
    const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
    return file == "libportshim.so" || file == PORTSHIM_ENGINE_FILE;
}

/** A C++ name as the source spells it; any other name as it is. */
std::string demangled(const char* name) {
    int status = -1;
    char* readable = abi::__cxa_demangle(name, nullptr, nullptr, &status);
    std::string out = status == 0 && readable != nullptr ? readable : name;
    std::free(readable);
    return out;
}

/** A frame whose function dladdr did not name: looked up in its module's symbol table. */
struct Unnamed {
    std::size_t frame;
    std::uint64_t address;  ///< the call site (pc - 1) minus the load bias
};

/** The loaded objects' build IDs, read from their PT_NOTE segments in memory. */
int collect_build_id(dl_phdr_info* info, std::size_t, void* arg) {
    auto& ids = *static_cast<std::map<std::uintptr_t, std::string>*>(arg);
    const auto it = ids.find(info->dlpi_addr);
    if (it == ids.end()) return 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum && it->second.empty(); ++i) {
        const ElfW(Phdr)& ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_NOTE)
            it->second = elf::build_id_in_notes(
                std::string_view(reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr),
                                 ph.p_filesz),
                ph.p_align);
    }
    return 0;
}

/**
 * Names the frames dladdr could not (functions absent from .dynsym: static
 * ones, and a program's own unless linked -rdynamic) from .symtab. The main
 * program is read through /proc/self/exe, which is the running image even if
 * the file was replaced; a library only when its file still has the build ID
 * of the loaded copy, so an upgraded library on disk cannot lend wrong names.
 */
void name_from_symbol_tables(std::vector<Frame>& frames,
                             const std::map<std::string, std::vector<Unnamed>>& by_module,
                             const std::map<std::string, std::uintptr_t>& bias_of) {
    std::map<std::uintptr_t, std::string> loaded_ids;
    for (const auto& [path, unnamed] : by_module)
        if (path != "/proc/self/exe") loaded_ids[bias_of.at(path)];
    if (!loaded_ids.empty()) ::dl_iterate_phdr(collect_build_id, &loaded_ids);

    std::uint64_t budget = symbol_budget;
    for (const auto& [path, unnamed] : by_module) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        const bool same_file = path == "/proc/self/exe" || [&] {
            const std::string& loaded = loaded_ids[bias_of.at(path)];
            return !loaded.empty() && elf::build_id(fd) == loaded;
        }();
        std::vector<elf::FunctionSymbol> found;
        if (same_file) {
            std::vector<std::uint64_t> addresses;
            for (const Unnamed& u : unnamed) addresses.push_back(u.address);
            found = elf::functions_containing(fd, addresses, budget);
        }
        ::close(fd);
        for (std::size_t i = 0; i < found.size(); ++i) {
            if (found[i].name.empty()) continue;
            Frame& frame = frames[unnamed[i].frame];
            frame.symbol = demangled(found[i].name.c_str());
            frame.offset = unnamed[i].address + 1 - found[i].start;
        }
    }
}

} // namespace

std::vector<Frame> capture_backtrace(std::size_t max_frames) {
    const int saved = errno;
    std::vector<Frame> frames;
    try {
        Walk walk;
        _Unwind_Backtrace(on_frame, &walk);
        if (walk.through_signal_handler) {
            errno = saved;
            return frames;
        }
        std::map<std::string, std::vector<Unnamed>> by_module;  // file to read -> frames
        std::map<std::string, std::uintptr_t> bias_of;
        std::string self_exe;
        for (std::size_t i = 0; i < walk.kept && frames.size() < max_frames; ++i) {
            const std::uintptr_t pc = walk.pcs[i];
            // The call site: a call that never returns may end its function, and
            // then the return address is the first byte of the next one.
            const std::uintptr_t site = pc - 1;
            Dl_info info{};
            link_map* map = nullptr;
            const bool loaded = ::dladdr1(reinterpret_cast<void*>(site), &info,
                                          reinterpret_cast<void**>(&map), RTLD_DL_LINKMAP) != 0 &&
                                map != nullptr;
            // glibc gives the main program the empty name (and dladdr its argv[0]).
            const bool main_program = loaded && (map->l_name == nullptr || map->l_name[0] == '\0');
            if (loaded && !main_program && is_ours(map->l_name)) continue;
            Frame frame;
            frame.pc = pc;
            if (loaded) {
                // Without /proc, argv[0] is the best name there is for the program.
                if (main_program && self_exe.empty()) self_exe = host::self_exe();
                if (main_program && self_exe.empty() && info.dli_fname != nullptr)
                    self_exe = info.dli_fname;
                frame.module = main_program ? self_exe : std::string(map->l_name);
                frame.module_offset = pc - map->l_addr;
                if (info.dli_sname != nullptr && info.dli_saddr != nullptr) {
                    frame.symbol = demangled(info.dli_sname);
                    frame.offset = pc - reinterpret_cast<std::uintptr_t>(info.dli_saddr);
                } else {
                    const std::string file = main_program ? "/proc/self/exe" : frame.module;
                    by_module[file].push_back({frames.size(), site - map->l_addr});
                    bias_of[file] = map->l_addr;
                }
            }
            frames.push_back(std::move(frame));
        }
        name_from_symbol_tables(frames, by_module, bias_of);
    } catch (...) {
        // Out of memory: what was named so far is still worth reporting.
    }
    errno = saved;
    return frames;
}

} // namespace portshim
