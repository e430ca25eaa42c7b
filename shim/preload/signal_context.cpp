// See signal_context.hpp.
#include "signal_context.hpp"

#include <unwind.h>

namespace portshim {

namespace {

struct Walk {
    int frames = 0;
    bool signal = false;
};

_Unwind_Reason_Code on_frame(_Unwind_Context* context, void* arg) {
    auto* walk = static_cast<Walk*>(arg);
    int ip_before_insn = 0;
    _Unwind_GetIPInfo(context, &ip_before_insn);
    // The frame a signal interrupted has its pc before the instruction (not a return address).
    if (ip_before_insn != 0) {
        walk->signal = true;
        return _URC_END_OF_STACK;
    }
    return ++walk->frames < 256 ? _URC_NO_REASON : _URC_END_OF_STACK;
}

} // namespace

bool in_signal_handler() noexcept {
    Walk walk;
    _Unwind_Backtrace(on_frame, &walk);
    return walk.signal;
}

} // namespace portshim
