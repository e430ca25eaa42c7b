// The caller's stack when a report fires (PORTSHIM_BACKTRACE): which code of
// the host called the failing bind or listen. Part of the engine only.
#pragma once

#include "diag/types.hpp"

#include <cstddef>
#include <vector>

namespace portshim {

/**
 * The stack of the calling thread, innermost first, without the frames of
 * libportshim-engine.so and libportshim.so: at most `max_frames` frames, each
 * with its module (path, offset for addr2line) and, where a symbol table has
 * one, its function name (demangled) and offset. Empty when the stack runs
 * through a signal handler (nothing more is done there than the walk, which
 * neither allocates nor locks) or on any failure. Never throws; keeps errno
 * and the fd set.
 */
std::vector<Frame> capture_backtrace(std::size_t max_frames = 32);

} // namespace portshim
