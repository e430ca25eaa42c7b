// Finds and loads the diagnosis engine. The engine (C++, fmt, probes) lives in
// libportshim-engine.so and is loaded with dlopen(RTLD_LOCAL) only when there
// is something to report, so a process that never fails a bind pays nothing
// for it. No C++ runtime, no allocation of ours (dlopen allocates: it runs on
// the engine's own stack, never in a fork child or a signal handler).
#include "engine_loader.hpp"

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstddef>
#include <cstring>
#include <dlfcn.h>
#include <link.h>
#include <unistd.h>

namespace portshim {

namespace {

/**
 * The engine's entry points, resolved once. dlopen(RTLD_LOCAL) keeps the
 * engine's symbols (and its static C++ runtime) out of the host's global
 * scope; RTLD_NODELETE keeps it mapped for the life of the process.
 */
struct Engine {
    std::atomic<int> state{0};  // 0 not tried, 1 loaded, -1 failed
    std::atomic<portshim_engine_report_fn> report{nullptr};
    std::atomic<portshim_engine_config_errors_fn> config_errors{nullptr};
    std::atomic<portshim_engine_listened_fn> listened{nullptr};
    std::atomic<portshim_engine_inherited_fn> inherited{nullptr};
    char error[256] = {};
};
Engine g_engine;

/** Appends `text` to buf[0..size) at *len, truncating; keeps buf NUL-terminated. */
void append(char* buf, std::size_t size, std::size_t& len, const char* text) {
    while (*text != '\0' && len + 1 < size) buf[len++] = *text++;
    buf[len] = '\0';
}

bool loaded(EngineCalls& out) {
    out.report = g_engine.report.load(std::memory_order_relaxed);
    out.config_errors = g_engine.config_errors.load(std::memory_order_relaxed);
    out.listened = g_engine.listened.load(std::memory_order_relaxed);
    out.inherited = g_engine.inherited.load(std::memory_order_relaxed);
    return true;
}

} // namespace

const char* engine_error() noexcept { return g_engine.error; }

bool load_engine(EngineCalls& out) noexcept {
    const int state = g_engine.state.load(std::memory_order_acquire);
    if (state != 0) return state == 1 && loaded(out);
    // The engine sits next to this library: lib/portshim/ in the build and install
    // trees. RTLD_DI_ORIGIN is the directory ld.so resolved when it loaded us, made
    // absolute then: a relative LD_PRELOAD must not follow the host's later chdir.
    Dl_info info{};
    link_map* self = nullptr;
    char origin[PATH_MAX] = {};
    if (::dladdr1(reinterpret_cast<void*>(&load_engine), &info, reinterpret_cast<void**>(&self),
                  RTLD_DL_LINKMAP) == 0 ||
        self == nullptr || ::dlinfo(self, RTLD_DI_ORIGIN, origin) != 0 || origin[0] != '/') {
        std::strcpy(g_engine.error, "cannot find the directory of libportshim.so (dlinfo)");
        g_engine.state.store(-1, std::memory_order_release);
        return false;
    }
    char path[PATH_MAX + sizeof PORTSHIM_ENGINE_FILE + 1];
    std::size_t len = 0;
    append(path, sizeof path, len, origin);
    append(path, sizeof path, len, "/");
    append(path, sizeof path, len, PORTSHIM_ENGINE_FILE);
    errno = 0;
    void* handle = ::dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    const int open_errno = errno;
    if (handle != nullptr) {
        auto report = reinterpret_cast<portshim_engine_report_fn>(::dlsym(handle, "portshim_engine_report"));
        auto errors = reinterpret_cast<portshim_engine_config_errors_fn>(
            ::dlsym(handle, "portshim_engine_config_errors"));
        auto listened = reinterpret_cast<portshim_engine_listened_fn>(
            ::dlsym(handle, "portshim_engine_listened"));
        auto inherited = reinterpret_cast<portshim_engine_inherited_fn>(
            ::dlsym(handle, "portshim_engine_inherited"));
        if (report != nullptr && errors != nullptr && listened != nullptr && inherited != nullptr) {
            g_engine.report.store(report, std::memory_order_relaxed);
            g_engine.inherited.store(inherited, std::memory_order_relaxed);
            g_engine.listened.store(listened, std::memory_order_relaxed);
            g_engine.config_errors.store(errors, std::memory_order_relaxed);
            g_engine.state.store(1, std::memory_order_release);
            return loaded(out);
        }
    }
    const char* why = ::dlerror();
    std::size_t elen = 0;
    append(g_engine.error, sizeof g_engine.error, elen, why != nullptr ? why : path);
    // Out of descriptors or memory passes: try again at the next failure (dlopen
    // does not keep errno reliably, so: the file is there, yet did not load). A
    // missing engine stays failed for the life of the process.
    const bool transient = handle == nullptr &&
                           (open_errno == EMFILE || open_errno == ENFILE || open_errno == ENOMEM ||
                            ::access(path, R_OK) == 0);
    g_engine.state.store(transient ? 0 : -1, std::memory_order_release);
    return false;
}

} // namespace portshim
