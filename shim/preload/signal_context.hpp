// Is this thread running a signal handler? A bind() there may interrupt the
// host's own malloc or hold its locks, so the engine (which allocates and may
// dlopen) must not run: the hook writes the async-signal-safe note instead.
#pragma once

namespace portshim {

/**
 * True when the stack above the caller passes through a signal frame. Walks it
 * with libgcc's unwinder (linked statically and hidden), which finds frames
 * through _dl_find_object: no lock and no allocation; the kernel's sigreturn
 * trampoline carries the "S" augmentation that marks a signal frame. No frames
 * are registered with it (crtbeginS does not, on a PT_GNU_EH_FRAME system), so
 * it never takes its object mutex nor sorts FDEs with malloc.
 */
bool in_signal_handler() noexcept;

} // namespace portshim
