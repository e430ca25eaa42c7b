// The path to libportshim-engine.so: found next to this library, dlopen'ed
// RTLD_LOCAL at the first event worth a diagnosis, its entry points resolved once.
#pragma once

#include "common/engine_api.hpp"

namespace portshim {

/** The engine's entry points (engine_api.hpp), all set once the engine is loaded. */
struct EngineCalls {
    portshim_engine_report_fn report = nullptr;
    portshim_engine_config_errors_fn config_errors = nullptr;
    portshim_engine_listened_fn listened = nullptr;
    portshim_engine_inherited_fn inherited = nullptr;
};

/**
 * Loads the engine on the first call and fills `out` with its entry points.
 * Returns false when it could not be loaded (engine_error() says why): a
 * missing engine stays failed for the life of the process, a transient
 * failure (out of descriptors or memory) is tried again at the next call.
 * Call it on the engine's own stack, under the re-entry guard.
 */
bool load_engine(EngineCalls& out) noexcept;

/** Why the last load_engine() failed (dlerror's text), "" before any failure. */
const char* engine_error() noexcept;

} // namespace portshim
